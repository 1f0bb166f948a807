"""The live-session window: who is connected, for how long, what they do, and End now.

It is built from the runtime's events (``handle_event``, fed by the bridge): a
session appears on ``session_start``/``session_open``, its end moves on
``session_extended``, and it is over on ``teardown``/``session_end``. Each session
gets a panel: engineer and case, the time left (counted down once a second from
the grant's end), an activity feed in plain words
(:func:`vxassist.remote.activity.describe_activity`), the engineer's terminal live
and read-only (``terminal_output`` events, drawn by :class:`TerminalView`), End now,
and any request for more time (:class:`~vxassist.ui.consent.ExtensionPrompt`).

While a session is live the window stays on top and cannot be closed, hidden or
minimised: closing it shrinks it to a strip that still shows who is connected,
the time left and End now.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from vxassist.remote.activity import describe_activity, describe_scope
from vxassist.ui.consent import ExtensionPrompt
from vxassist.ui.qt import Qt, QtGui, QTimer, QtWidgets, Signal, tr
from vxassist.ui.terminal_view import TerminalView

log = logging.getLogger(__name__)

#: most lines kept in one session's activity feed
MAX_ACTIVITY = 500

_STARTS = {"session_start", "session_open"}
_ENDS = {"teardown", "session_end", "session_failed"}


def left_text(left: timedelta) -> str:
    """``22 min 48 s left`` / ``1 h 02 min left``: never read as a time of day."""
    seconds = max(0, int(left.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        text = tr("LiveSessionWindow", "{0} h {1:02d} min left")
        return text.format(hours, minutes)
    if minutes:
        return tr("LiveSessionWindow", "{0} min {1:02d} s left").format(minutes, secs)
    return tr("LiveSessionWindow", "{0} s left").format(secs)


def _parse_time(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _local_clock(when: datetime, seconds: bool = True) -> str:
    return when.astimezone().strftime("%H:%M:%S" if seconds else "%H:%M")


class SessionPanel(QtWidgets.QWidget):
    """One live session: header, time left, End now, extension, activity and terminal."""

    end_requested = Signal(str)

    def __init__(
        self,
        session_id: str,
        engineer: str,
        case_number: Any,
        scopes: list[str],
        not_after: datetime,
        clock: Callable[[], datetime],
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session_id = session_id
        self.engineer = engineer
        self.case_number = case_number
        self.not_after = not_after
        self.ended_reason: str | None = None
        self._clock = clock
        self.terminals: dict[str, TerminalView] = {}

        self.who = QtWidgets.QLabel()
        bold = self.who.font()
        bold.setBold(True)
        bold.setPointSizeF(bold.pointSizeF() * 1.15)
        self.who.setFont(bold)
        self.who.setTextFormat(Qt.TextFormat.PlainText)
        self.time_left = QtWidgets.QLabel()
        big = QtGui.QFont(bold)
        big.setPointSizeF(bold.pointSizeF() * 1.2)
        self.time_left.setFont(big)
        self.time_left.setAccessibleName(tr("LiveSessionWindow", "Time left"))
        self.until = QtWidgets.QLabel()
        self.until.setStyleSheet("color: #5a6270;")
        self.end_button = QtWidgets.QPushButton(tr("LiveSessionWindow", "End now"))
        self.end_button.setAccessibleName(
            tr("LiveSessionWindow", "End the session of {0} now").format(engineer)
        )
        self.end_button.setStyleSheet(
            "QPushButton { background: #b3261e; color: white; font-weight: bold;"
            " padding: 6px 16px; border-radius: 4px; }"
            "QPushButton:disabled { background: #c9c9c9; color: #555; }"
        )
        self.end_button.setAutoDefault(False)
        self.end_button.clicked.connect(self._end_clicked)
        self.scopes = QtWidgets.QLabel(
            tr("LiveSessionWindow", "Allowed: {0}").format(
                "; ".join(describe_scope(s) for s in scopes) or "-"
            )
        )
        self.scopes.setWordWrap(True)
        self.status = QtWidgets.QLabel()
        self.status.setWordWrap(True)
        self.status.hide()

        head = QtWidgets.QHBoxLayout()
        names = QtWidgets.QVBoxLayout()
        names.setSpacing(2)
        names.addWidget(self.who)
        names.addWidget(self.scopes)
        head.addLayout(names, 1)
        times = QtWidgets.QVBoxLayout()
        times.setSpacing(0)
        times.addWidget(self.time_left, 0, Qt.AlignmentFlag.AlignRight)
        times.addWidget(self.until, 0, Qt.AlignmentFlag.AlignRight)
        head.addLayout(times)
        head.addSpacing(12)
        head.addWidget(self.end_button, 0, Qt.AlignmentFlag.AlignVCenter)

        self.extensions = QtWidgets.QVBoxLayout()

        self.activity = QtWidgets.QListWidget()
        self.activity.setAccessibleName(tr("LiveSessionWindow", "What the engineer did"))
        self.activity.setWordWrap(True)
        self.activity.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        self.activity.setSpacing(3)
        self.activity.setAlternatingRowColors(True)
        activity_box = QtWidgets.QVBoxLayout()
        activity_box.setContentsMargins(0, 0, 0, 0)
        activity_box.addWidget(QtWidgets.QLabel(tr("LiveSessionWindow", "Activity")))
        activity_box.addWidget(self.activity)
        activity_widget = QtWidgets.QWidget()
        activity_widget.setLayout(activity_box)

        self.terminal_tabs = QtWidgets.QTabWidget()
        self.terminal_tabs.setTabBarAutoHide(True)
        self.no_terminal = QtWidgets.QLabel(
            tr(
                "LiveSessionWindow",
                "No terminal is open. When the engineer opens one, you see here what they "
                "type and what they see.",
            )
        )
        self.no_terminal.setWordWrap(True)
        self.no_terminal.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.no_terminal.setStyleSheet("color: #5a6270; padding: 24px;")
        self.terminal_stack = QtWidgets.QStackedWidget()
        self.terminal_stack.addWidget(self.no_terminal)
        self.terminal_stack.addWidget(self.terminal_tabs)
        terminal_box = QtWidgets.QVBoxLayout()
        terminal_box.setContentsMargins(0, 0, 0, 0)
        terminal_box.addWidget(
            QtWidgets.QLabel(tr("LiveSessionWindow", "The engineer's terminal (you watch only)"))
        )
        terminal_box.addWidget(self.terminal_stack)
        terminal_widget = QtWidgets.QWidget()
        terminal_widget.setLayout(terminal_box)

        self.details = QtWidgets.QSplitter(Qt.Orientation.Horizontal)
        self.details.addWidget(activity_widget)
        self.details.addWidget(terminal_widget)
        self.details.setStretchFactor(0, 1)
        self.details.setStretchFactor(1, 3)
        self.details.setChildrenCollapsible(False)
        self.details.setSizes([320, 680])

        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.status)
        layout.addLayout(self.extensions)
        layout.addWidget(self.details, 1)
        self.set_engineer(engineer, case_number)
        self.tick()

    # -- state --------------------------------------------------------------------------

    @property
    def live(self) -> bool:
        return self.ended_reason is None

    def set_engineer(self, engineer: str, case_number: Any) -> None:
        self.engineer, self.case_number = engineer, case_number
        self.who.setText(
            tr("LiveSessionWindow", "{0} - case {1}").format(engineer or "?", case_number or "?")
        )

    def set_not_after(self, not_after: datetime) -> None:
        self.not_after = not_after
        self.tick()

    def tick(self) -> None:
        if not self.live:
            return
        self.time_left.setText(left_text(self.not_after - self._clock()))
        self.until.setText(
            tr("LiveSessionWindow", "ends at {0}").format(_local_clock(self.not_after, False))
        )

    def set_compact(self, compact: bool) -> None:
        self.details.setVisible(not compact)
        self.scopes.setVisible(not compact)
        self.until.setVisible(not compact)

    def mark_ended(self, reason: str) -> None:
        if not self.live:
            return
        self.ended_reason = reason
        self.time_left.setText(tr("LiveSessionWindow", "Ended"))
        self.until.setText(reason)
        self.end_button.setEnabled(False)
        self.end_button.setText(tr("LiveSessionWindow", "Ended"))
        for index in range(self.extensions.count()):
            item = self.extensions.itemAt(index)
            widget = item.widget() if item is not None else None
            if isinstance(widget, ExtensionPrompt):
                widget.withdraw()

    def show_problem(self, message: str) -> None:
        self.status.setText(message)
        self.status.setStyleSheet("color: #8a1c14;")
        self.status.show()

    # -- feed ---------------------------------------------------------------------------

    def add_activity(self, text: str, when: datetime) -> None:
        self.activity.addItem(f"{_local_clock(when)}  {text}")
        while self.activity.count() > MAX_ACTIVITY:
            self.activity.takeItem(0)
        self.activity.scrollToBottom()

    def activity_lines(self) -> list[str]:
        return [self.activity.item(i).text() for i in range(self.activity.count())]

    def terminal_event(self, event: Mapping[str, Any]) -> None:
        channel = str(event.get("channel", ""))
        kind = event.get("event")
        view = self.terminals.get(channel)
        if view is None:
            if kind == "terminal_closed":
                return
            view = TerminalView(int(event.get("width") or 80), int(event.get("height") or 24))
            self.terminals[channel] = view
            number = len(self.terminals)
            self.terminal_tabs.addTab(view, tr("LiveSessionWindow", "Terminal {0}").format(number))
            self.terminal_tabs.setCurrentWidget(view)
            self.terminal_stack.setCurrentWidget(self.terminal_tabs)
        if kind == "terminal_output":
            data = event.get("data")
            if isinstance(data, bytes | bytearray):
                view.feed(bytes(data))
        elif kind == "terminal_resize":
            view.resize_terminal(int(event.get("width") or 80), int(event.get("height") or 24))
        elif kind == "terminal_closed":
            view.drain()
            view.show_cursor = False
            index = self.terminal_tabs.indexOf(view)
            if index >= 0:
                label = self.terminal_tabs.tabText(index)
                self.terminal_tabs.setTabText(
                    index, tr("LiveSessionWindow", "{0} (closed)").format(label)
                )

    def add_extension(self, prompt: ExtensionPrompt) -> None:
        self.extensions.addWidget(prompt)
        prompt.show()

    def _end_clicked(self) -> None:
        self.end_button.setEnabled(False)
        self.end_button.setText(tr("LiveSessionWindow", "Ending..."))
        self.end_requested.emit(self.session_id)

    def end_failed(self, message: str) -> None:
        if self.live:
            self.end_button.setEnabled(True)
            self.end_button.setText(tr("LiveSessionWindow", "End now"))
        self.show_problem(message)


class LiveSessionWindow(QtWidgets.QWidget):
    """Every live session, on top; it cannot go away while one is live.

    ``end_session(session_id, on_error)`` asks the runtime to end a session (the
    window learns of the end from the ``teardown`` event); ``on_error`` takes a
    sentence to show when that failed.
    """

    def __init__(
        self,
        end_session: Callable[[str, Callable[[str], None]], None] | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window | Qt.WindowType.WindowStaysOnTopHint)
        self._end_session = end_session
        self._clock = clock or (lambda: datetime.now(UTC))
        self.panels: dict[str, SessionPanel] = {}
        self.compact = False
        self.setWindowTitle(tr("LiveSessionWindow", "Remote session - vxassist"))
        self.setAccessibleName(self.windowTitle())

        self.banner = QtWidgets.QLabel()
        self.banner.setWordWrap(True)
        self.size_button = QtWidgets.QPushButton()
        self.size_button.setAutoDefault(False)
        self.size_button.clicked.connect(lambda: self.set_compact(not self.compact))
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.banner, 1)
        top.addWidget(self.size_button)
        self.banner_frame = QtWidgets.QFrame()
        self.banner_frame.setObjectName("sessionBanner")
        self.banner_frame.setLayout(top)

        self.tabs = QtWidgets.QTabWidget()
        self.tabs.setTabBarAutoHide(True)
        self.tabs.setDocumentMode(True)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.banner_frame)
        layout.addWidget(self.tabs, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self.tick)
        self._update_banner()
        self.set_compact(False)

    # -- wiring ---------------------------------------------------------------------------

    def attach(self, bridge: Any, prompter: Any = None) -> None:
        """Take the bridge's events, end sessions through it, host extension prompts."""
        bridge.event_received.connect(self.handle_event)

        def end(session_id: str, on_error: Callable[[str], None]) -> None:
            def failed(exc: BaseException) -> None:
                from vxassist.runtime import SessionNotFound

                if isinstance(exc, SessionNotFound):  # it ended meanwhile: its end event follows
                    on_error(tr("LiveSessionWindow", "This session has already ended."))
                else:
                    on_error(getattr(exc, "message", "") or str(exc))

            bridge.submit(lambda rt: rt.end_session(session_id), on_error=failed)

        self._end_session = end
        if prompter is not None:
            prompter.extension_host = self.add_extension

    # -- state ----------------------------------------------------------------------------

    def live_panels(self) -> list[SessionPanel]:
        return [p for p in self.panels.values() if p.live]

    @property
    def has_live(self) -> bool:
        return bool(self.live_panels())

    def panel(self, session_id: str) -> SessionPanel | None:
        return self.panels.get(session_id)

    def _update_banner(self) -> None:
        live = self.live_panels()
        if live:
            names = ", ".join(sorted({p.engineer for p in live}))
            text = tr("LiveSessionWindow", "A support engineer is connected to this computer: {0}")
            self.banner.setText(text.format(names))
            style = "#sessionBanner { background: #fde8c4; border-radius: 4px; }"
        else:
            self.banner.setText(tr("LiveSessionWindow", "No engineer is connected now."))
            style = "#sessionBanner { background: #e3eef9; border-radius: 4px; }"
        self.banner_frame.setStyleSheet(style + " #sessionBanner QLabel { color: #1d232b; }")
        if live and not self._timer.isActive():
            self._timer.start()
        elif not live:
            self._timer.stop()

    def set_compact(self, compact: bool) -> None:
        """The strip (who, time left, End now) or the whole window."""
        self.compact = compact
        for panel in self.panels.values():
            panel.set_compact(compact)
        self.size_button.setText(
            tr("LiveSessionWindow", "Show details")
            if compact
            else tr("LiveSessionWindow", "Make smaller")
        )
        if compact:
            self.setMinimumSize(0, 0)
            self.adjustSize()
            self.resize(max(self.width(), 560), self.minimumSizeHint().height())
        else:
            self.setMinimumSize(720, 480)

    def tick(self) -> None:
        for panel in self.panels.values():
            panel.tick()

    # -- events ---------------------------------------------------------------------------

    def handle_event(self, event: Mapping[str, Any]) -> None:
        """One runtime event (GUI thread); anything not about a session here is ignored."""
        try:
            self._handle(event)
        except Exception:  # one odd event must not stop the window following the session
            log.exception("live-session window could not show %s", event.get("event"))

    def _handle(self, event: Mapping[str, Any]) -> None:
        kind = str(event.get("event", ""))
        session_id = str(event.get("session_id", ""))
        if not session_id:
            return
        if kind.startswith("terminal_"):
            panel = self.panels.get(session_id)
            if panel is not None:
                shown = len(panel.terminals)
                panel.terminal_event(event)
                if len(panel.terminals) > shown and not self.compact:
                    self._make_room(panel)
            return
        if kind in _STARTS:
            self._start(session_id, event)
        panel = self.panels.get(session_id)
        if panel is None:
            return
        if kind in ("session_extended", "extension_undone"):
            not_after = _parse_time(event.get("not_after"))
            if not_after is not None:
                panel.set_not_after(not_after)
        text = describe_activity(event)
        if text and kind not in ("session_end",) and panel.live:
            when = _parse_time(event.get("ts") or event.get("at")) or self._clock()
            panel.add_activity(text, when)
        if kind in _ENDS:
            panel.mark_ended(str(event.get("reason") or tr("LiveSessionWindow", "ended")))
            self._update_banner()

    def _start(self, session_id: str, event: Mapping[str, Any]) -> None:
        not_after = _parse_time(event.get("not_after")) or self._clock()
        panel = self.panels.get(session_id)
        if panel is not None:
            if panel.live:
                panel.set_engineer(
                    str(event.get("engineer") or panel.engineer),
                    event.get("case_number") or panel.case_number,
                )
                panel.set_not_after(not_after)
            return
        scopes = [str(s) for s in event.get("scopes") or []]
        panel = SessionPanel(
            session_id,
            str(event.get("engineer") or ""),
            event.get("case_number"),
            scopes,
            not_after,
            self._clock,
        )
        panel.end_requested.connect(self._end_requested)
        panel.set_compact(self.compact)
        self.panels[session_id] = panel
        title = tr("LiveSessionWindow", "Case {0} - {1}").format(panel.case_number, panel.engineer)
        self.tabs.addTab(panel, title)
        self.tabs.setCurrentWidget(panel)
        self._update_banner()
        self.present()

    def _make_room(self, panel: SessionPanel) -> None:
        """Grow (never shrink) so a new terminal shows whole beside the activity, on screen."""
        want = panel.terminal_tabs.sizeHint()
        activity = max(panel.details.sizes()[0], 240)
        extra_w = max(0, activity + want.width() - sum(panel.details.sizes()))
        extra_h = max(0, want.height() - panel.terminal_tabs.height())
        width, height = self.width() + extra_w, self.height() + extra_h
        screen = self.screen()
        if screen is not None:
            room = screen.availableGeometry()
            width, height = min(width, room.width()), min(height, room.height())
        self.resize(width, height)
        layout = self.layout()
        if layout is not None:
            layout.activate()
        total = sum(panel.details.sizes())
        panel.details.setSizes([max(total - want.width(), total // 4), min(want.width(), total)])

    def _end_requested(self, session_id: str) -> None:
        panel = self.panels.get(session_id)
        if self._end_session is None or panel is None:
            return

        def failed(message: str) -> None:
            with contextlib.suppress(RuntimeError):  # the window is gone
                panel.end_failed(message)

        self._end_session(session_id, failed)

    def add_extension(self, prompt: ExtensionPrompt) -> bool:
        """Show an extension request in its session's panel (False: not a session here)."""
        panel = self.panels.get(prompt.grant.session_id)
        if panel is None or not panel.live:
            return False
        panel.add_extension(prompt)
        if self.compact:
            self.set_compact(False)
        self.tabs.setCurrentWidget(panel)
        self.present()
        return True

    def present(self) -> None:
        self.show()
        self.raise_()

    # -- staying visible -----------------------------------------------------------------

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        if self.has_live:
            event.ignore()
            self.set_compact(True)
            return
        # nothing live: drop the ended sessions, the next one starts clean
        for session_id in list(self.panels):
            panel = self.panels.pop(session_id)
            self.tabs.removeTab(self.tabs.indexOf(panel))
            panel.deleteLater()
        self._update_banner()
        super().closeEvent(event)

    def setVisible(self, visible: bool) -> None:
        if not visible and self.has_live:
            return  # hidden while an engineer is connected: never
        super().setVisible(visible)

    def changeEvent(self, event: Any) -> None:
        super().changeEvent(event)
        if event.type() == event.Type.WindowStateChange and self.isMinimized() and self.has_live:
            QTimer.singleShot(0, self._unminimise)

    def _unminimise(self) -> None:
        self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.set_compact(True)
        self.show()
