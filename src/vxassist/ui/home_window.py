"""The tray's actions in a small window, for desktops with no system tray."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from vxassist.ui.qt import QtCore, QtGui, QtWidgets
from vxassist.ui.tray import WINDOW_ENTRIES, ShellActions, ShellState, left_text, state_pixmap

CTX = "HomeWindow"


class HomeWindow(QtWidgets.QWidget):
    """Request Support, My Cases, the live sessions, Audit, Knowledge base, Settings, Quit.

    With no tray this window is the agent's only face: closing it minimises it,
    and the agent keeps answering engineers' requests behind it. Opened from the
    tray (``minimize_on_close=False``), closing hides it.
    """

    def __init__(
        self,
        state: ShellState,
        actions: ShellActions,
        clock: Callable[[], datetime],
        parent: QtWidgets.QWidget | None = None,
        *,
        minimize_on_close: bool = True,
    ) -> None:
        super().__init__(parent)
        self._minimize_on_close = minimize_on_close
        self._state = state
        self._actions = actions
        self._clock = clock
        self.setObjectName("home-window")
        self.setWindowTitle(self.tr("vxassist: remote support"))
        self.setMinimumWidth(360)

        self._icon = QtWidgets.QLabel()
        self._icon.setAccessibleName(self.tr("State"))
        self._summary = QtWidgets.QLabel()
        self._summary.setWordWrap(True)
        self._summary.setObjectName("summary")
        self._summary.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self._summary.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self._summary.setFont(font)
        head = QtWidgets.QHBoxLayout()
        head.addWidget(self._icon)
        head.addWidget(self._summary, 1)

        labels = dict(WINDOW_ENTRIES)
        self.buttons: dict[str, QtWidgets.QPushButton] = {}
        self._enroll = self._button("enroll", self.tr("Enroll this computer…"))
        self.buttons["request"] = self._button("request", self.tr(labels["request"]))
        self.buttons["request"].setDefault(True)
        self.buttons["cases"] = self._button("cases", self.tr(labels["cases"]))

        self._sessions_box = QtWidgets.QGroupBox(self.tr("Live sessions"))
        self._sessions_layout = QtWidgets.QVBoxLayout(self._sessions_box)

        more = QtWidgets.QHBoxLayout()
        for name in ("audit", "kb", "settings"):
            button = self._button(name, self.tr(labels[name]))
            self.buttons[name] = button
            more.addWidget(button)

        quit_button = QtWidgets.QPushButton(self.tr("Quit"))
        quit_button.setAccessibleName(self.tr("Quit vxassist"))
        quit_button.clicked.connect(lambda: self._actions.quit_asked())
        self.buttons["quit"] = quit_button
        bottom = QtWidgets.QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(quit_button)

        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(head)
        layout.addSpacing(6)
        layout.addWidget(self._enroll)
        layout.addWidget(self.buttons["request"])
        layout.addWidget(self.buttons["cases"])
        layout.addWidget(self._sessions_box)
        layout.addLayout(more)
        layout.addStretch(1)
        layout.addLayout(bottom)

        # the time left moves while a session is live
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(15_000)
        self._timer.timeout.connect(self.refresh)
        self.refresh()

    def _button(self, name: str, text: str) -> QtWidgets.QPushButton:
        button = QtWidgets.QPushButton(text)
        button.setObjectName(f"open-{name}")
        button.setAccessibleName(text.rstrip("…"))
        button.clicked.connect(lambda _checked=False: self._actions.open_window(name))
        return button

    def refresh(self) -> None:
        now = self._clock()
        state = self._state
        self._icon.setPixmap(state_pixmap(state.glance(), 40))
        self._summary.setText(state.summary(now))
        self._icon.setToolTip(state.summary(now))
        self._enroll.setVisible(not state.enrolled)
        waiting = len(state.waiting_cases())
        text = self.tr("My Cases")
        if waiting:
            text += self.tr(" ({n} waiting on you)").format(n=waiting)
        self.buttons["cases"].setText(text)

        while self._sessions_layout.count():
            item = self._sessions_layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for sid in sorted(state.live):
            self._sessions_layout.addWidget(self._session_row(sid, now))
        self._sessions_box.setVisible(bool(state.live))
        if state.live:
            self._timer.start()
        else:
            self._timer.stop()

    def _session_row(self, sid: str, now: datetime) -> QtWidgets.QWidget:
        session = self._state.live[sid]
        row = QtWidgets.QWidget()
        row.setObjectName(f"session-{sid}")
        line = QtWidgets.QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        case = (
            self.tr(", case {n}").format(n=session.case_number)
            if session.case_number is not None
            else ""
        )
        label = QtWidgets.QLabel(
            self.tr("{engineer}{case}: {left} left").format(
                engineer=session.engineer or self.tr("an engineer"),
                case=case,
                left=left_text(session.seconds_left(now)),
            )
        )
        show = QtWidgets.QPushButton(self.tr("Show"))
        show.setAccessibleName(self.tr("Show the session with {e}").format(e=session.engineer))
        show.clicked.connect(lambda: self._actions.open_window("session", session_id=sid))
        end = QtWidgets.QPushButton(self.tr("End now"))
        end.setObjectName("end-now")
        end.setAccessibleName(self.tr("End the session with {e} now").format(e=session.engineer))
        end.clicked.connect(lambda: self._actions.end_session(sid))
        line.addWidget(label, 1)
        line.addWidget(show)
        line.addWidget(end)
        return row

    def bring_forward(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        if not self._minimize_on_close:
            super().closeEvent(event)
            return
        event.ignore()
        self.showMinimized()
