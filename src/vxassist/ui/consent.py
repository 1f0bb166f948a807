"""The consent prompt of the tray: a :class:`~vxassist.remote.consent.Prompter` on Qt.

:class:`QtPrompter` is asked on the agent's event loop thread; it hands each
question to the GUI thread through a queued signal and awaits a future that the
GUI thread resolves with ``loop.call_soon_threadsafe``. Each request gets its own
non-modal :class:`ConsentDialog` (several requests, several dialogs, each its own
decision). The dialog comes to the front, but Deny is the default button and
Allow can be pressed only after :data:`ALLOW_DELAY_MS`, so a keystroke already on
its way (Enter, Space) never approves anything. No answer before the countdown
ends, closing the dialog, or the desk withdrawing the request: all deny.

Extension requests (:meth:`QtPrompter.ask_extension`) become an
:class:`ExtensionPrompt` widget, shown inside the live-session window when it
shows that session (:attr:`QtPrompter.extension_host`), else in a window of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from typing import Any

from vxassist.remote.activity import describe_scope
from vxassist.remote.grants import ConsentDecision, Grant, Scope, SessionRequest
from vxassist.ui.qt import QObject, Qt, QtCore, QtGui, QTimer, QtWidgets, Signal, Slot, tr

#: Allow (and an extension's Allow) stays disabled this long after the prompt appears
ALLOW_DELAY_MS = 1500
#: how much longer than its own countdown the loop side waits for a dialog's answer
GUARD_S = 5.0


def countdown_text(seconds_left: float) -> str:
    """``1:05`` for 65 seconds (never below zero)."""
    seconds = max(0, int(seconds_left + 0.999))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _value(text: str, *, selectable: bool = True) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class _Guarded:
    """The Allow button's guard: enabled only after a delay, never the default button."""

    def __init__(self, allow: QtWidgets.QPushButton, deny: QtWidgets.QPushButton, delay_ms: int):
        self.allow, self.deny = allow, deny
        self.armed = False
        allow.setEnabled(False)
        allow.setAutoDefault(False)
        allow.setDefault(False)
        deny.setAutoDefault(True)
        deny.setDefault(True)
        deny.setFocus(Qt.FocusReason.OtherFocusReason)
        QTimer.singleShot(max(0, delay_ms), self._arm)

    def _arm(self) -> None:
        self.armed = True
        self.update()

    def update(self, extra_ok: bool = True) -> None:
        with contextlib.suppress(RuntimeError):  # the dialog is gone
            self.allow.setEnabled(self.armed and extra_ok)


class ConsentDialog(QtWidgets.QWidget):
    """One session request: who, which case, why, what, how long; Deny is the default.

    ``decided`` carries the :class:`ConsentDecision` once (allow, deny, timeout or close).
    """

    decided = Signal(object)

    def __init__(
        self,
        req: SessionRequest,
        timeout_s: float,
        *,
        allow_delay_ms: int = ALLOW_DELAY_MS,
        monotonic: Callable[[], float] = time.monotonic,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window | Qt.WindowType.WindowStaysOnTopHint)
        self.req = req
        self._monotonic = monotonic
        self._deadline = monotonic() + timeout_s
        self._answered = False
        self.setWindowTitle(
            tr("ConsentDialog", "Remote access request - case {0}").format(req.case_number)
        )
        self.setAccessibleName(self.windowTitle())
        self.setMinimumWidth(600)

        title = QtWidgets.QLabel(
            tr("ConsentDialog", "{0} asks to connect to this computer").format(req.engineer)
        )
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        title.setFont(font)
        title.setWordWrap(True)
        intro = _value(
            tr(
                "ConsentDialog",
                "A support engineer asks for remote access for your support case. "
                "Nothing happens unless you allow it. You can end the session at any time.",
            ),
            selectable=False,
        )

        form = QtWidgets.QFormLayout()
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        form.addRow(
            tr("ConsentDialog", "Engineer:"),
            _value(
                tr("ConsentDialog", "{0} (signed in at the vendor's desk)").format(req.engineer)
            ),
        )
        case = f"{req.case_number}" + (f" - {req.case_brief}" if req.case_brief else "")
        form.addRow(tr("ConsentDialog", "Case:"), _value(case))
        form.addRow(
            tr("ConsentDialog", "Reason:"),
            _value(req.reason or tr("ConsentDialog", "(no reason given)")),
        )

        code = QtWidgets.QLabel(req.verification_code or "-")
        mono = QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont)
        mono.setPointSizeF(font.pointSizeF() * 1.2)
        mono.setBold(True)
        code.setFont(mono)
        code.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        code.setAccessibleName(tr("ConsentDialog", "Verification code"))
        code_box = QtWidgets.QVBoxLayout()
        code_box.setSpacing(2)
        code_box.addWidget(code)
        code_box.addWidget(
            _value(
                tr(
                    "ConsentDialog",
                    "The engineer sees the same code. Allow only if it matches what they tell you.",
                ),
                selectable=False,
            )
        )
        form.addRow(tr("ConsentDialog", "Verification code:"), code_box)

        scopes_box = QtWidgets.QVBoxLayout()
        scopes_box.setSpacing(2)
        self.scope_boxes: dict[Scope, QtWidgets.QCheckBox] = {}
        for scope in req.scopes:
            box = QtWidgets.QCheckBox(describe_scope(str(scope)))
            box.setChecked(True)
            box.setToolTip(str(scope))
            box.toggled.connect(self._changed)
            scopes_box.addWidget(box)
            self.scope_boxes[scope] = box
        hint = _value(
            tr("ConsentDialog", "Untick what you do not want to allow."), selectable=False
        )
        hint.setContentsMargins(0, 2, 0, 0)
        hint.setStyleSheet("color: #5a6270;")
        scopes_box.addWidget(hint)
        form.addRow(tr("ConsentDialog", "Allow:"), scopes_box)

        self.minutes = QtWidgets.QSpinBox()
        self.minutes.setRange(1, max(1, req.minutes))
        self.minutes.setValue(max(1, req.minutes))
        self.minutes.setSuffix(tr("ConsentDialog", " minutes"))
        self.minutes.setAccessibleName(tr("ConsentDialog", "Duration in minutes"))
        minutes_row = QtWidgets.QHBoxLayout()
        minutes_row.addWidget(self.minutes)
        minutes_row.addWidget(
            _value(
                tr("ConsentDialog", "at most {0} (you can shorten it)").format(req.minutes),
                selectable=False,
            ),
            1,
        )
        form.addRow(tr("ConsentDialog", "For:"), minutes_row)

        self.countdown = QtWidgets.QLabel()
        self.countdown.setAccessibleName(tr("ConsentDialog", "Time left to answer"))
        self.deny_button = QtWidgets.QPushButton(tr("ConsentDialog", "Deny"))
        self.allow_button = QtWidgets.QPushButton(tr("ConsentDialog", "Allow"))
        self.deny_button.setAccessibleName(tr("ConsentDialog", "Deny the request"))
        self.allow_button.setAccessibleName(tr("ConsentDialog", "Allow the request"))
        self.deny_button.clicked.connect(self._deny)
        self.allow_button.clicked.connect(self._allow)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.countdown, 1)
        buttons.addWidget(self.deny_button)
        buttons.addWidget(self.allow_button)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addSpacing(4)
        layout.addLayout(buttons)

        self._guard = _Guarded(self.allow_button, self.deny_button, allow_delay_ms)
        self._ticker = QTimer(self)
        self._ticker.setInterval(250)
        self._ticker.timeout.connect(self._tick)
        self._ticker.start()
        self._tick()

    # -- state ----------------------------------------------------------------------

    @property
    def answered(self) -> bool:
        return self._answered

    def picked_scopes(self) -> tuple[Scope, ...]:
        return tuple(s for s, box in self.scope_boxes.items() if box.isChecked())

    def seconds_left(self) -> float:
        return self._deadline - self._monotonic()

    def _changed(self) -> None:
        self._guard.update(bool(self.picked_scopes()))

    def _tick(self) -> None:
        left = self.seconds_left()
        if left <= 0:
            self._finish(ConsentDecision.deny("no answer within the timeout"))
            return
        self.countdown.setText(
            tr("ConsentDialog", "Denied automatically in {0} if you do not answer.").format(
                countdown_text(left)
            )
        )

    # -- answers --------------------------------------------------------------------

    def _allow(self) -> None:
        scopes = self.picked_scopes()
        if not self._guard.armed or not scopes:
            return
        self._finish(
            ConsentDecision(True, scopes, int(self.minutes.value()), "approved in the tray prompt")
        )

    def _deny(self) -> None:
        self._finish(ConsentDecision.deny("denied in the tray prompt"))

    def withdraw(self) -> None:
        """The request is gone (withdrawn at the desk): close without an answer."""
        self._answered = True
        self._ticker.stop()
        self.close()

    def _finish(self, decision: ConsentDecision) -> None:
        if self._answered:
            return
        self._answered = True
        self._ticker.stop()
        self.decided.emit(decision)
        self.close()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        if not self._answered:  # closing the window is a no
            self._finish(ConsentDecision.deny("the prompt was closed without allowing"))
        super().closeEvent(event)

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self._deny()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            # Enter never reaches Allow: the default button is Deny
            focused = self.focusWidget()
            if focused is self.allow_button and self._guard.armed:
                self._allow()
            else:
                self._deny()
            return
        super().keyPressEvent(event)

    def present(self) -> None:
        """Show on top and take focus (the keyboard lands on Deny)."""
        self.show()
        self.raise_()
        self.activateWindow()
        self.deny_button.setFocus(Qt.FocusReason.ActiveWindowFocusReason)


class ExtensionPrompt(QtWidgets.QFrame):
    """An engineer's request for more minutes: approve (maybe fewer) or refuse.

    ``decided`` carries the minutes approved, or None for a refusal (also on timeout).
    """

    decided = Signal(object)

    def __init__(
        self,
        grant: Grant,
        minutes: int,
        reason: str,
        timeout_s: float,
        *,
        allow_delay_ms: int = ALLOW_DELAY_MS,
        monotonic: Callable[[], float] = time.monotonic,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.grant = grant
        self._monotonic = monotonic
        self._deadline = monotonic() + timeout_s
        self._answered = False
        self.own_window: QtWidgets.QWidget | None = None
        self.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        self.setObjectName("extensionPrompt")
        self.setStyleSheet(
            "#extensionPrompt { background: #fff6e0; border: 1px solid #e0b050;"
            " border-radius: 4px; }"
            "#extensionPrompt QLabel { color: #3a2e10; }"
        )
        self.setAccessibleName(tr("ExtensionPrompt", "Request for more time"))
        head = QtWidgets.QLabel(
            tr("ExtensionPrompt", "{0} asks for {1} more minutes").format(grant.engineer, minutes)
        )
        bold = head.font()
        bold.setBold(True)
        head.setFont(bold)
        why = _value(
            tr("ExtensionPrompt", "Reason: {0}").format(reason)
            if reason
            else tr("ExtensionPrompt", "No reason given."),
            selectable=False,
        )
        self.minutes = QtWidgets.QSpinBox()
        self.minutes.setRange(1, max(1, minutes))
        self.minutes.setValue(max(1, minutes))
        self.minutes.setSuffix(tr("ExtensionPrompt", " more minutes"))
        self.minutes.setAccessibleName(tr("ExtensionPrompt", "Extra minutes to allow"))
        self.countdown = QtWidgets.QLabel()
        self.refuse_button = QtWidgets.QPushButton(tr("ExtensionPrompt", "Refuse"))
        self.allow_button = QtWidgets.QPushButton(tr("ExtensionPrompt", "Allow more time"))
        self.refuse_button.clicked.connect(self._refuse)
        self.allow_button.clicked.connect(self._allow)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.minutes)
        row.addWidget(self.countdown, 1)
        row.addWidget(self.refuse_button)
        row.addWidget(self.allow_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(head)
        layout.addWidget(why)
        layout.addLayout(row)
        self._guard = _Guarded(self.allow_button, self.refuse_button, allow_delay_ms)
        self._ticker = QTimer(self)
        self._ticker.setInterval(250)
        self._ticker.timeout.connect(self._tick)
        self._ticker.start()
        self._tick()

    @property
    def answered(self) -> bool:
        return self._answered

    def _tick(self) -> None:
        left = self._deadline - self._monotonic()
        if left <= 0:
            self._finish(None)
            return
        self.countdown.setText(
            tr("ExtensionPrompt", "Refused automatically in {0}").format(countdown_text(left))
        )

    def _allow(self) -> None:
        if self._guard.armed:
            self._finish(int(self.minutes.value()))

    def _refuse(self) -> None:
        self._finish(None)

    def withdraw(self) -> None:
        self._answered = True
        self._ticker.stop()
        self._dispose()

    def _finish(self, minutes: int | None) -> None:
        if self._answered:
            return
        self._answered = True
        self._ticker.stop()
        self.decided.emit(minutes)
        self._dispose()

    def _dispose(self) -> None:
        window = self.window()
        if window is not self and isinstance(window, _ExtensionWindow):
            window.close()
        self.hide()
        self.deleteLater()


class _ExtensionWindow(QtWidgets.QWidget):
    """An extension prompt on its own, when no live-session window shows the session."""

    def __init__(self, prompt: ExtensionPrompt) -> None:
        super().__init__(None, Qt.WindowType.Window | Qt.WindowType.WindowStaysOnTopHint)
        self.setWindowTitle(
            tr("ExtensionPrompt", "More time for case {0}?").format(prompt.grant.case_number)
        )
        self.prompt = prompt
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(prompt)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        with contextlib.suppress(RuntimeError):
            if not self.prompt.answered:
                self.prompt._refuse()
        super().closeEvent(event)


class QtPrompter(QObject):
    """Answers session requests with dialogs on the GUI thread; asked on the loop thread.

    Build it on the GUI thread (it lives there); :meth:`ask` and :meth:`ask_extension`
    are awaited on the agent's loop. ``dialog_opened`` tells the tray a prompt is up.
    """

    #: a ConsentDialog was shown (GUI thread)
    dialog_opened = Signal(object)
    #: an ExtensionPrompt was made (GUI thread), before it is placed
    extension_opened = Signal(object)

    _open_posted = Signal(object)
    _close_posted = Signal(object)

    def __init__(
        self, parent: QObject | None = None, *, allow_delay_ms: int = ALLOW_DELAY_MS
    ) -> None:
        super().__init__(parent)
        self.allow_delay_ms = allow_delay_ms
        self._enabled = True
        self._ids = itertools.count(1)
        self._open: dict[int, QtWidgets.QWidget] = {}
        #: shows an extension prompt in the live-session window; False: not shown there
        self.extension_host: Callable[[ExtensionPrompt], bool] | None = None
        self._open_posted.connect(self._open_on_gui, Qt.ConnectionType.QueuedConnection)
        self._close_posted.connect(self._close_on_gui, Qt.ConnectionType.QueuedConnection)

    @property
    def can_prompt(self) -> bool:
        return self._enabled

    def set_enabled(self, enabled: bool) -> None:
        """False while the app cannot show prompts (requests are then refused unasked)."""
        self._enabled = enabled

    def open_prompts(self) -> list[QtWidgets.QWidget]:
        """The prompts shown now (GUI thread)."""
        return list(self._open.values())

    # -- loop thread ----------------------------------------------------------------

    async def _await_answer(self, kind: str, args: tuple[Any, ...], timeout_s: float) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        token = next(self._ids)

        def answer(value: Any) -> None:  # GUI thread
            def deliver() -> None:
                if not future.done():
                    future.set_result(value)

            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(deliver)

        self._open_posted.emit((kind, token, args, timeout_s, answer))
        try:
            return await asyncio.wait_for(future, timeout_s + GUARD_S)
        finally:
            if not future.done() or future.cancelled():
                self._close_posted.emit(token)

    async def ask(self, req: SessionRequest, timeout_s: float) -> ConsentDecision:
        if not self._enabled:
            return ConsentDecision.deny("no one can answer prompts now")
        try:
            decision = await self._await_answer("consent", (req,), timeout_s)
        except TimeoutError:
            return ConsentDecision.deny("no answer within the timeout")
        assert isinstance(decision, ConsentDecision)
        return decision

    async def ask_extension(
        self, grant: Grant, minutes: int, reason: str, timeout_s: float
    ) -> int | None:
        if not self._enabled:
            return None
        try:
            answer = await self._await_answer("extension", (grant, minutes, reason), timeout_s)
        except TimeoutError:
            return None
        return int(answer) if isinstance(answer, int) else None

    # -- GUI thread -----------------------------------------------------------------

    @Slot(object)
    def _open_on_gui(self, payload: tuple[str, int, tuple[Any, ...], float, Any]) -> None:
        kind, token, args, timeout_s, answer = payload

        def done(value: Any) -> None:
            self._open.pop(token, None)
            answer(value)

        if kind == "consent":
            dialog = ConsentDialog(args[0], timeout_s, allow_delay_ms=self.allow_delay_ms)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.decided.connect(done)
            self._open[token] = dialog
            offset = 28 * (len(self._open) - 1)
            dialog.present()
            if offset:
                dialog.move(dialog.pos() + QtCore.QPoint(offset, offset))
            self.dialog_opened.emit(dialog)
            return
        grant, minutes, reason = args
        prompt = ExtensionPrompt(
            grant, minutes, reason, timeout_s, allow_delay_ms=self.allow_delay_ms
        )
        prompt.decided.connect(done)
        self._open[token] = prompt
        self.extension_opened.emit(prompt)
        host = self.extension_host
        if host is None or not host(prompt):
            window = _ExtensionWindow(prompt)
            window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            prompt.own_window = window  # kept while the prompt lives
            window.show()
            window.raise_()
            window.activateWindow()

    @Slot(object)
    def _close_on_gui(self, token: int) -> None:
        widget = self._open.pop(token, None)
        if isinstance(widget, ConsentDialog | ExtensionPrompt):
            with contextlib.suppress(RuntimeError):  # already deleted
                widget.withdraw()
