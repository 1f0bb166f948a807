"""The tray agent's composition root: QApplication, the bridge, the tray and the windows.

One :class:`TrayApp` owns everything the customer sees. The agent runtime runs
behind the :class:`~vxassist.ui.bridge.Bridge` on its own thread; its events
fold into a :class:`~vxassist.ui.tray.ShellState` that the tray icon (or, with
no tray, the home window) shows. Windows open through a :class:`WindowRegistry`
of factories, one instance per window (per session for a session's window).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import logging
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from vxassist.cliutil import Context
from vxassist.ui.bridge import Bridge
from vxassist.ui.case_common import status_text
from vxassist.ui.home_window import HomeWindow
from vxassist.ui.qt import QObject, Qt, QtCore, QtGui, QtWidgets, Signal, Slot, tr
from vxassist.ui.settings_window import UiPrefs, ui_prefs
from vxassist.ui.tray import ShellState, TrayIcon

log = logging.getLogger(__name__)

CTX = "TrayApp"

#: a window factory: ``factory(app, **kwargs)`` returns the window to show
WindowFactory = Callable[..., QtWidgets.QWidget]

#: the events that start a live session (and make the live-session window)
SESSION_STARTS = frozenset({"session_start", "session_open"})

#: the events that went wrong on their own; the tray says so in a calm line
NOTED = frozenset({"refused", "session_failed"})

#: how long Quit waits for the live sessions to end before it stops the agent anyway
QUIT_END_ALL_TIMEOUT_MS = 10_000


def utc_now() -> datetime:
    return datetime.now(UTC)


class WindowRegistry:
    """Window factories by name; one open window per (name, key), brought forward again."""

    def __init__(self, not_available: Callable[[str], None]) -> None:
        self._factories: dict[str, WindowFactory] = {}
        self._open: dict[tuple[str, str], QtWidgets.QWidget] = {}
        self._not_available = not_available

    def register(self, name: str, factory: WindowFactory) -> None:
        self._factories[name] = factory

    def has(self, name: str) -> bool:
        return name in self._factories

    def window(self, name: str, key: str = "") -> QtWidgets.QWidget | None:
        window = self._open.get((name, key))
        if window is None:
            return None
        try:
            window.isVisible()
        except RuntimeError:  # its C++ side is gone
            self._open.pop((name, key), None)
            return None
        return window

    def open(self, app: Any, name: str, **kwargs: Any) -> QtWidgets.QWidget | None:
        """Bring the window forward; one that was closed is made afresh (fresh data)."""
        key = str(kwargs.get("session_id") or "")
        window = self.window(name, key)
        if window is None or not (window.isVisible() or window.isMinimized()):
            factory = self._factories.get(name)
            if factory is None:
                self._not_available(name)
                return None
            try:
                made = factory(app, **kwargs)
            except Exception:
                log.exception("the %s window could not be opened", name)
                self._not_available(name)
                return None
            if window is not None and made is not window:
                window.deleteLater()
            window = made
            window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
            self._open[(name, key)] = window
        window.show()
        if window.isMinimized():
            window.showNormal()
        window.raise_()
        window.activateWindow()
        return window

    def close_all(self) -> None:
        for window in list(self._open.values()):
            with contextlib.suppress(RuntimeError):
                window.close()
        self._open.clear()


def _module_window(module: str, attr: str) -> WindowFactory:
    """A factory that imports ``module`` only when the window is first opened."""

    def factory(app: Any, **kwargs: Any) -> QtWidgets.QWidget:
        cls = getattr(importlib.import_module(module), attr)
        window: QtWidgets.QWidget = cls(app, **kwargs)
        return window

    return factory


def _cases_window(app: Any, **_kwargs: Any) -> QtWidgets.QWidget:
    from vxassist.ui.cases_window import MyCasesWindow

    return MyCasesWindow(
        app.bridge,
        app.ctx.settings.support,
        open_request=lambda: app.open_window("request"),
        paths=app.ctx.paths,
    )


def _audit_window(app: Any, **_kwargs: Any) -> QtWidgets.QWidget:
    from vxassist.remote.audit import AuditLog
    from vxassist.ui.audit_window import AuditWindow

    return AuditWindow(AuditLog.for_paths(app.ctx.paths, app.clock))


def _optional(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


class TrayApp(QObject):
    """The tray face of the agent (see the module's docstring)."""

    #: Quit was confirmed and the agent has stopped
    quitted = Signal()

    def __init__(
        self,
        ctx: Context,
        make_runtime: Callable[[Any, Callable[[Mapping[str, Any]], None]], Any],
        prompter: Any,
        *,
        clock: Callable[[], datetime] = utc_now,
        use_tray: bool | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.clock = clock
        self.state = ShellState()
        self.prompter = prompter
        self.bridge = Bridge(make_runtime, prompter, self)
        self.bridge.event_received.connect(self.on_event)
        self.bridge.runtime_finished.connect(self._runtime_finished)
        self.windows = WindowRegistry(self.not_available)
        self._messages: list[QtWidgets.QMessageBox] = []
        self._fault_box: QtWidgets.QMessageBox | None = None
        self._quitting = False
        self._finished = False
        self._opening: dict[str, Any] = {}
        #: why the host cannot take sessions (None once enrolled), for the enroll window
        self.enrollment_problem: BaseException | None = None
        self.prefs = UiPrefs()
        if use_tray is None:
            use_tray = QtWidgets.QSystemTrayIcon.isSystemTrayAvailable()
        self.tray: TrayIcon | None = TrayIcon(self.state, self, clock, self) if use_tray else None
        self.home: HomeWindow | None = None if use_tray else HomeWindow(self.state, self, clock)
        self._register_windows()
        self._tick = QtCore.QTimer(self)
        self._tick.setInterval(30_000)  # the tooltip's time left
        self._tick.timeout.connect(self.refresh)

    # --- start ---------------------------------------------------------------------

    def start(self) -> None:
        self.bridge.start()
        if self.tray is not None:
            self.tray.show()
        if self.home is not None:
            self.home.show()
        paths = self.ctx.paths
        try:
            self.bridge.submit(
                lambda rt: _initial_state(rt, paths),
                on_done=self._initial_state_known,
                on_error=_log_error,
            )
        except RuntimeError:  # the agent failed at once; runtime_finished says why
            log.info("the agent stopped before the tray could ask for its state")

    def _initial_state_known(self, initial: tuple[BaseException | None, UiPrefs]) -> None:
        problem, self.prefs = initial
        self.state.enrolled = problem is None
        self.enrollment_problem = problem
        self.refresh()
        if problem is not None:
            self.open_window("enroll")
            return
        self.bridge.submit(
            lambda rt: rt.list_cases(), on_done=self._cases_known, on_error=_log_error
        )

    def _cases_known(self, cases: list[dict[str, Any]]) -> None:
        self.state.set_cases(cases)
        self.refresh()

    def _register_windows(self) -> None:
        reg = self.windows
        reg.register("enroll", _module_window("vxassist.ui.enroll", "EnrollWindow"))
        reg.register("settings", _module_window("vxassist.ui.settings_window", "SettingsWindow"))
        reg.register("home", lambda app, **kw: self._home_window())
        # the other windows plug in when their modules are part of the build
        if _optional("vxassist.ui.request"):
            reg.register("request", _module_window("vxassist.ui.request", "RequestWindow"))
        if _optional("vxassist.ui.cases_window"):
            reg.register("cases", _cases_window)
        if _optional("vxassist.ui.audit_window"):
            reg.register("audit", _audit_window)

        # one window for every live session, made when the first session starts (it
        # costs memory an idle agent need not pay); it shows itself when a session
        # starts and cannot be hidden while one is live
        self.session_window: Any = None
        self._sessions_shown = _optional("vxassist.ui.session_window")
        if self._sessions_shown:
            reg.register("session", lambda app, **kw: self._present_sessions())

    def _live_session_window(self, first_event: Mapping[str, Any] | None = None) -> Any:
        if self.session_window is None and self._sessions_shown:
            from vxassist.ui.session_window import LiveSessionWindow

            window = LiveSessionWindow(clock=self.clock)
            window.attach(self.bridge, self.prompter)
            self.session_window = window
            if first_event is not None:
                # connected during this event's delivery, it would not get the event itself
                window.handle_event(first_event)
        return self.session_window

    def _present_sessions(self) -> QtWidgets.QWidget:
        window: Any = self._live_session_window()
        assert window is not None
        session_id = str(self._opening.get("session_id") or "")
        panel = getattr(window, "panel", lambda _sid: None)(session_id)
        if panel is not None:
            window.tabs.setCurrentWidget(panel)
        shown: QtWidgets.QWidget = window
        return shown

    def _home_window(self) -> QtWidgets.QWidget:
        if self.home is None:
            # asked for from the tray: the tray stays, so closing this window hides it
            self.home = HomeWindow(self.state, self, self.clock, minimize_on_close=False)
        return self.home

    # --- events --------------------------------------------------------------------

    @Slot(dict)
    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind in SESSION_STARTS and self.session_window is None:
            self._live_session_window(event)
        changed = self.state.apply(event)
        if kind in NOTED and self.state.note:
            self.notify(tr(CTX, "vxassist"), self.state.note)
        if kind == "case_changed":
            self._case_changed(event)
        elif kind == "show_requested":
            self.bring_forward()
        if changed:
            self.refresh()

    def refresh(self) -> None:
        if self.tray is not None:
            self.tray.refresh()
        if self.home is not None:
            self.home.refresh()
        if self.state.live:
            self._tick.start()
        else:
            self._tick.stop()

    def _case_changed(self, event: Mapping[str, Any]) -> None:
        if not self.prefs.notifications:
            return
        title = tr(CTX, "Case {n}: {status}").format(
            n=event.get("case_number"), status=status_text(event.get("status"))
        )
        self.notify(title, str(event.get("brief") or ""))

    def notify(self, title: str, message: str) -> None:
        """A desktop notification (the tray's balloon; with no tray, the home window)."""
        if self.tray is not None and QtWidgets.QSystemTrayIcon.supportsMessages():
            self.tray.notify(title, message)
        elif self.home is not None:
            from vxassist.ui.platform import notifier

            notifier().notify(title, message)

    @Slot()
    def bring_forward(self) -> None:
        """A second ``vxassist`` was started: show the most useful window."""
        if self.home is not None:
            self.home.bring_forward()  # with no tray it is the agent's face
        if self.state.live and self.open_window("session", session_id=min(self.state.live)):
            return
        if not self.state.enrolled and self.open_window("enroll"):
            return
        if self.home is None:
            self.open_window("home")

    # --- actions (ShellActions) ----------------------------------------------------

    def open_window(self, name: str, **kwargs: Any) -> QtWidgets.QWidget | None:
        if name == "kb" and not self.windows.has("kb"):
            self._open_knowledge_base()
            return None
        if name == "consent" and not self.windows.has("consent"):
            return self._raise_prompts()
        self._opening = kwargs
        return self.windows.open(self, name, **kwargs)

    def _raise_prompts(self) -> QtWidgets.QWidget | None:
        """The consent prompts are on screen already; bring them to the top."""
        prompts: list[QtWidgets.QWidget] = getattr(self.prompter, "open_prompts", list)()
        for prompt in prompts:
            prompt.show()
            prompt.raise_()
            prompt.activateWindow()
        return prompts[-1] if prompts else None

    def _open_knowledge_base(self) -> None:
        site = self.ctx.settings.support.website
        if site and QtGui.QDesktopServices.openUrl(QtCore.QUrl(site)):
            return
        if self.windows.has("request"):
            self.open_window("request")
            return
        support = self.ctx.settings.support
        self.message(
            tr(CTX, "Knowledge base"),
            tr(
                CTX,
                "The knowledge base is not available from this computer. "
                "Support answers at {phone} and {email}.",
            ).format(phone=support.phone, email=support.email),
        )

    def end_session(self, session_id: str) -> None:
        def failed(exc: BaseException) -> None:
            from vxassist.ui.case_common import error_sentence

            self.message(tr(CTX, "End the session"), error_sentence(exc), warning=True)

        try:
            self.bridge.submit(
                lambda rt: rt.end_session(session_id, "ended by the customer"), on_error=failed
            )
        except RuntimeError as exc:  # the agent is gone, and its sessions with it
            failed(exc)

    def not_available(self, name: str) -> None:
        self.message(
            tr(CTX, "Not available"),
            tr(CTX, "This part of vxassist is not available in this version yet."),
        )

    def message(self, title: str, text: str, *, warning: bool = False) -> QtWidgets.QMessageBox:
        """A message box that blocks nothing (shown, never exec()'d nor modal)."""
        box = QtWidgets.QMessageBox(
            QtWidgets.QMessageBox.Icon.Warning
            if warning
            else QtWidgets.QMessageBox.Icon.Information,
            title,
            text,
            QtWidgets.QMessageBox.StandardButton.Ok,
        )
        box.setObjectName("message")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        box.setWindowModality(Qt.WindowModality.NonModal)
        self._messages.append(box)
        box.finished.connect(lambda _r: self._forget(box))
        box.show()
        return box

    def _forget(self, box: QtWidgets.QMessageBox) -> None:
        if box in self._messages:
            self._messages.remove(box)

    # --- faults --------------------------------------------------------------------

    def install_exception_hook(self) -> Callable[[], None]:
        """Errors raised in a window's slot or paint go to the log and one sentence.

        Qt calls ``sys.excepthook`` for them and goes on with its loop; this hook
        logs the traceback to the log file and tells the customer once (one box
        at a time), so a fault in one window never ends the app, and the
        sessions' teardown, which runs on the agent's own thread, is untouched.
        Returns the function that puts the previous hook back.
        """
        previous = sys.excepthook

        def hook(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
            if issubclass(kind, KeyboardInterrupt):
                previous(kind, exc, tb)
                return
            log.error("a window failed", exc_info=(kind, exc, tb))
            try:
                self.window_failed()
            except Exception:  # the hook itself must never raise
                log.exception("the window failure could not be shown")

        sys.excepthook = hook

        def restore() -> None:
            if sys.excepthook is hook:
                sys.excepthook = previous

        return restore

    def window_failed(self) -> None:
        """One sentence for a window's fault (not again while it is on screen)."""
        if self._fault_box is not None and self._fault_box in self._messages:
            return
        box = self.message(
            tr(CTX, "Something went wrong"),
            tr(
                CTX,
                "A vxassist window hit an error and may show something out of date; "
                "close and open it again (the agent and its sessions keep running, "
                "the details are in the log).",
            ),
            warning=True,
        )
        box.setObjectName("window-fault")
        self._fault_box = box

    # --- quit ----------------------------------------------------------------------

    def quit_asked(self) -> QtWidgets.QMessageBox:
        """Ask before quitting; live sessions end first (non-modal)."""
        live = sorted(self.state.live.values(), key=lambda s: s.session_id)
        text = tr(CTX, "Quit vxassist?")
        if live:
            names = ", ".join(s.engineer or tr(CTX, "an engineer") for s in live)
            info = tr(
                CTX,
                "The live session with {names} ends now. Engineers cannot ask to connect "
                "until you start vxassist again.",
            ).format(names=names)
        else:
            info = tr(
                CTX,
                "Engineers cannot ask to connect, and your cases are not followed, "
                "until you start vxassist again.",
            )
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Question, tr(CTX, "Quit"), text)
        box.setObjectName("quit-confirm")
        box.setInformativeText(info)
        quit_button = box.addButton(tr(CTX, "Quit"), QtWidgets.QMessageBox.ButtonRole.AcceptRole)
        stay = box.addButton(tr(CTX, "Keep running"), QtWidgets.QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(stay)
        box.setEscapeButton(stay)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)

        def answered(_result: int) -> None:
            if box.clickedButton() is quit_button:
                self.quit_now()

        box.finished.connect(answered)
        self._messages.append(box)
        box.show()
        return box

    def quit_now(self) -> None:
        """End the live sessions, stop the agent, leave the event loop."""
        if self._quitting:
            return
        self._quitting = True
        log.info("quitting: ending every session")
        set_enabled = getattr(self.prompter, "set_enabled", None)
        if set_enabled is not None:
            set_enabled(False)  # a request arriving now is refused, not prompted
        guard = QtCore.QTimer(self)
        guard.setSingleShot(True)
        guard.setInterval(QUIT_END_ALL_TIMEOUT_MS)
        guard.timeout.connect(self._finish_quit)
        guard.start()
        try:
            self.bridge.submit(
                lambda rt: rt.end_all("vxassist was quit by the customer"),
                on_done=lambda _r: self._finish_quit(),
                on_error=self._end_all_failed,
            )
        except RuntimeError:  # the agent already stopped
            self._finish_quit()

    def _end_all_failed(self, exc: BaseException) -> None:
        _log_error(exc)
        self._finish_quit()

    def _finish_quit(self) -> None:
        if not self._quitting or self._finished:
            return
        self._finished = True
        self.windows.close_all()
        if self.session_window is not None:
            self.session_window.close()
        if self.tray is not None:
            self.tray.hide()
        if self.home is not None:
            self.home.hide()
        self.bridge.stop(10.0)
        self.quitted.emit()
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.quit()

    def _runtime_finished(self, outcome: object) -> None:
        if self._quitting:
            return
        # the agent stopped on its own: say why, then leave when the customer has read it
        text = (
            str(outcome)
            if _is_vx(outcome)
            else tr(CTX, "The agent stopped unexpectedly; start vxassist again. See the log.")
        )
        box = self.message(tr(CTX, "vxassist stopped"), text, warning=True)
        box.finished.connect(lambda _r: self._leave())

    def _leave(self) -> None:
        self._quitting = True
        self._finish_quit()


async def _initial_state(rt: Any, paths: Any) -> tuple[BaseException | None, UiPrefs]:
    """Why this host cannot take sessions yet (not enrolled...) or None; the UI prefs."""
    problem: BaseException | None = await asyncio.to_thread(rt.enrollment_problem)
    prefs = await asyncio.to_thread(ui_prefs, paths)
    return problem, prefs


def _is_vx(exc: object) -> bool:
    from vxassist.errors import VxError

    return isinstance(exc, VxError)


def _log_error(exc: BaseException) -> None:
    log.warning("background work failed: %s", exc, exc_info=exc)


def make_prompter() -> Any:
    """The consent prompt of the tray (Qt); the deny-all prompter where it is missing."""
    try:
        consent = importlib.import_module("vxassist.ui.consent")
        return consent.QtPrompter()
    except (ImportError, AttributeError):
        from vxassist.remote.consent import DenyPrompter

        log.warning("no consent window in this build: every session request is refused")
        return DenyPrompter()


def run_tray(ctx: Context, argv: list[str] | None = None) -> int:
    """``vxassist``: the tray agent (one per user; a second one brings the first forward)."""
    from vxassist import control

    try:
        answered = control.ask(ctx.paths, "show", timeout_s=5.0)
    except control.ControlError as exc:
        print(f"vxassist: {exc.message}", file=sys.stderr)
        return 1
    if isinstance(answered, dict) and answered.get("face") == "headless":
        print(
            "vxassist: the headless agent (`vxassist agent`) already runs for this account; "
            "stop it to use the tray instead.",
            file=sys.stderr,
        )
        return 1
    if answered is not None:
        print("vxassist: already running; its window was brought forward.", file=sys.stderr)
        return 0

    from vxassist.runtime import AgentRuntime

    qapp = QtWidgets.QApplication.instance() or QtWidgets.QApplication(argv or sys.argv[:1])
    assert isinstance(qapp, QtWidgets.QApplication)
    qapp.setApplicationName("vxassist")
    qapp.setApplicationDisplayName("vxassist")
    qapp.setQuitOnLastWindowClosed(False)

    def make_runtime(prompter: Any, emit: Callable[[Mapping[str, Any]], None]) -> Any:
        # a second vxassist's "show" arrives as the show_requested event (no on_show)
        return AgentRuntime(ctx, prompter, emit, face="tray")

    app = TrayApp(ctx, make_runtime, make_prompter())  # the prompter lives on the GUI thread
    restore_hook = app.install_exception_hook()
    app.start()
    try:
        with _quit_on_signals(app.quit_now):
            code = qapp.exec()
        app.bridge.stop(10.0)
    finally:
        restore_hook()
    return int(code)


@contextlib.contextmanager
def _quit_on_signals(quit_now: Callable[[], None]) -> Iterator[None]:
    """SIGINT/SIGTERM end the sessions and quit, through Qt's loop (PITFALLS.md).

    Python runs signal handlers only between bytecodes, which never happen while
    Qt's loop waits; the wake-up fd makes the loop notice the signal at once.
    """
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    sigs = [signal.SIGINT, signal.SIGTERM] if hasattr(signal, "SIGTERM") else [signal.SIGINT]
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in sigs}
    old_fd = signal.set_wakeup_fd(writer.fileno())
    notifier = QtCore.QSocketNotifier(reader.fileno(), QtCore.QSocketNotifier.Type.Read)

    def woke() -> None:
        with contextlib.suppress(OSError):
            reader.recv(64)
        quit_now()

    notifier.activated.connect(woke)
    try:
        yield
    finally:
        notifier.setEnabled(False)
        signal.set_wakeup_fd(old_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        reader.close()
        writer.close()
