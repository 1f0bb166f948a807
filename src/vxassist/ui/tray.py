"""The tray icon: the agent's state at a glance, its menu built from live state.

:class:`ShellState` folds the runtime's events into what the customer needs to
see (live sessions, session requests on screen, cases waiting on the
customer); it holds no Qt. :class:`TrayIcon` paints one icon per state and
rebuilds its menu each time it opens (``aboutToShow``), so the menu never shows
a stale session or time.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from vxassist.ui.qt import QObject, Qt, QtCore, QtGui, QtWidgets, tr, translate_noop

CTX = "Tray"


class Glance(enum.Enum):
    """What the icon says, most urgent first."""

    LIVE = "live"
    REQUEST = "request"
    CASE_WAITING = "case_waiting"
    IDLE = "idle"


@dataclass
class LiveSession:
    session_id: str
    engineer: str
    case_number: int | None
    not_after: datetime | None

    def seconds_left(self, now: datetime) -> int | None:
        if self.not_after is None:
            return None
        return max(0, int((self.not_after - now).total_seconds()))


@dataclass
class CaseNote:
    case_number: int
    status: str
    brief: str


#: the desk's status for "the engineer needs an answer from you"
WAITING_ON_CUSTOMER = "waiting_customer"
#: how many engineers' names (by session) are kept for the calm lines
ENGINEERS_KEPT = 20
_ENDED = {"session_end", "session_failed", "revoked", "teardown"}
_PROMPT_GONE = {"refused", "withdrawn", "decision"}


def _when(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class ShellState:
    """The customer-facing state, folded from runtime events (GUI thread only)."""

    enrolled: bool = False
    live: dict[str, LiveSession] = field(default_factory=dict)
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    cases: dict[int, CaseNote] = field(default_factory=dict)
    #: a calm line about the last thing that went wrong on its own (a request refused,
    #: a session that could not start); shown while nothing else needs the customer
    note: str = ""
    _engineers: dict[str, str] = field(default_factory=dict)

    def apply(self, event: Mapping[str, Any]) -> bool:
        """Fold one event in; True when what the customer sees may have changed."""
        kind = str(event.get("event", ""))
        sid = str(event.get("session_id", ""))
        if kind in {"request", "prompt"} and sid:
            self.requests.setdefault(sid, {}).update(event)
            if event.get("engineer"):
                # kept past the session's end events: a failed start is reported after them
                self._engineers[sid] = str(event["engineer"])
                for old in list(self._engineers)[:-ENGINEERS_KEPT]:
                    del self._engineers[old]
            self.note = ""
            return True
        if kind == "refused" and sid:
            self.note = tr(
                CTX, "{engineer}'s request to connect was refused on its own: {why}"
            ).format(
                engineer=self._engineers.pop(sid, "") or tr(CTX, "An engineer"),
                why=_clause(event.get("reason")),
            )
            self.requests.pop(sid, None)
            return True
        if kind == "session_failed" and sid:
            self.note = tr(CTX, "The session with {engineer} could not start: {why}").format(
                engineer=self._engineers.pop(sid, "") or tr(CTX, "an engineer"),
                why=_clause(event.get("reason")),
            )
            self.live.pop(sid, None)
            self.requests.pop(sid, None)
            return True
        if kind in _PROMPT_GONE and sid:
            return self.requests.pop(sid, None) is not None
        if kind == "session_open" and sid:
            self.requests.pop(sid, None)
            self.note = ""
            self.live[sid] = LiveSession(
                session_id=sid,
                engineer=str(event.get("engineer") or ""),
                case_number=_int_or_none(event.get("case_number")),
                not_after=_when(event.get("not_after")),
            )
            return True
        if kind in {"session_extended", "extension_undone"} and sid in self.live:
            # an approved extension (or one the desk did not take) moves the end
            self.live[sid].not_after = _when(event.get("not_after"))
            return True
        if kind in _ENDED and sid:
            gone = self.live.pop(sid, None) is not None
            return self.requests.pop(sid, None) is not None or gone
        if kind == "case_changed":
            number = _int_or_none(event.get("case_number"))
            if number is None:
                return False
            self.cases[number] = CaseNote(
                number, str(event.get("status") or ""), str(event.get("brief") or "")
            )
            return True
        if kind == "enrolled":
            self.enrolled = True
            return True
        return False

    def set_cases(self, cases: Sequence[Mapping[str, Any]]) -> None:
        self.cases = {}
        for case in cases:
            number = _int_or_none(case.get("case_number"))
            if number is not None:
                self.cases[number] = CaseNote(
                    number, str(case.get("status") or ""), str(case.get("brief") or "")
                )

    def waiting_cases(self) -> list[CaseNote]:
        return sorted(
            (c for c in self.cases.values() if c.status == WAITING_ON_CUSTOMER),
            key=lambda c: c.case_number,
        )

    def glance(self) -> Glance:
        if self.live:
            return Glance.LIVE
        if self.requests:
            return Glance.REQUEST
        if self.waiting_cases():
            return Glance.CASE_WAITING
        return Glance.IDLE

    def summary(self, now: datetime) -> str:
        """One sentence for the tooltip and the menu's first line."""
        glance = self.glance()
        if glance is Glance.LIVE:
            session = sorted(self.live.values(), key=lambda s: s.session_id)[0]
            text = tr(CTX, "Live session with {engineer}, {left} left").format(
                engineer=session.engineer or tr(CTX, "an engineer"),
                left=left_text(session.seconds_left(now)),
            )
            if len(self.live) > 1:
                text += tr(CTX, " (and {n} more)").format(n=len(self.live) - 1)
            return text
        if glance is Glance.REQUEST:
            request = next(iter(self.requests.values()))
            return tr(CTX, "{engineer} asks to connect: answer the prompt").format(
                engineer=str(request.get("engineer") or tr(CTX, "An engineer"))
            )
        if glance is Glance.CASE_WAITING:
            waiting = self.waiting_cases()
            if len(waiting) == 1:
                return tr(CTX, "Case {n} waits for your answer").format(n=waiting[0].case_number)
            return tr(CTX, "{n} cases wait for your answer").format(n=len(waiting))
        if not self.enrolled:
            return tr(CTX, "Not enrolled yet: enroll this computer to reach support")
        return self.note or tr(CTX, "Nothing needs you")


def _clause(reason: object) -> str:
    """A reason sentence as the end of another: 'The relay ... .' -> 'the relay ... .'"""
    text = str(reason or "").strip() or tr(CTX, "no reason was given")
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        text = text[0].lower() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def left_text(seconds: int | None) -> str:
    """'12 min', '45 s' or '?' for a time left."""
    if seconds is None:
        return "?"
    if seconds >= 60:
        return tr(CTX, "{m} min").format(m=(seconds + 59) // 60)
    return tr(CTX, "{s} s").format(s=seconds)


# --- icons ------------------------------------------------------------------------

_COLOURS = {
    Glance.IDLE: "#4f6d7a",
    Glance.CASE_WAITING: "#c7861a",
    Glance.REQUEST: "#2467b3",
    Glance.LIVE: "#c0392b",
}


def _paint_glyph(p: QtGui.QPainter, glance: Glance, s: float) -> None:
    white = QtGui.QColor("#ffffff")
    if glance is Glance.IDLE:
        # a lifebuoy ring: help is there when wanted
        pen = QtGui.QPen(white, s * 0.11)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(QtCore.QRectF(s * 0.28, s * 0.28, s * 0.44, s * 0.44))
        return
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(white)
    if glance is Glance.CASE_WAITING:
        # an exclamation mark: something waits on you
        p.drawRoundedRect(QtCore.QRectF(s * 0.43, s * 0.2, s * 0.14, s * 0.4), s * 0.06, s * 0.06)
        p.drawEllipse(QtCore.QRectF(s * 0.42, s * 0.66, s * 0.16, s * 0.16))
    elif glance is Glance.REQUEST:
        # three dots: someone is asking
        for x in (0.22, 0.42, 0.62):
            p.drawEllipse(QtCore.QRectF(s * x, s * 0.42, s * 0.16, s * 0.16))
    else:
        # a filled dot inside a ring: live, recorded
        p.drawEllipse(QtCore.QRectF(s * 0.33, s * 0.33, s * 0.34, s * 0.34))
        pen = QtGui.QPen(white, s * 0.06)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(QtCore.QRectF(s * 0.2, s * 0.2, s * 0.6, s * 0.6))


def state_pixmap(glance: Glance, size: int) -> QtGui.QPixmap:
    """One icon state painted at ``size`` pixels (no image files needed)."""
    pixmap = QtGui.QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QtGui.QPainter(pixmap)
    try:
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QtGui.QColor(_COLOURS[glance]))
        margin = size * 0.04
        p.drawEllipse(QtCore.QRectF(margin, margin, size - 2 * margin, size - 2 * margin))
        _paint_glyph(p, glance, float(size))
    finally:
        p.end()
    return pixmap


_ICON_CACHE: dict[Glance, QtGui.QIcon] = {}


def state_icon(glance: Glance) -> QtGui.QIcon:
    icon = _ICON_CACHE.get(glance)
    if icon is None:
        icon = QtGui.QIcon()
        for size in (16, 22, 24, 32, 48, 64, 128):
            icon.addPixmap(state_pixmap(glance, size))
        _ICON_CACHE[glance] = icon
    return icon


# --- actions and the menu ---------------------------------------------------------


class ShellActions(Protocol):
    """What the tray and the home window ask of the application."""

    def open_window(self, name: str, **kwargs: Any) -> object: ...

    def end_session(self, session_id: str) -> None: ...

    def quit_asked(self) -> object: ...


#: (window name, label) of the menu's window entries, in order
WINDOW_ENTRIES: tuple[tuple[str, str], ...] = (
    ("request", translate_noop(CTX, "Request Support…")),
    ("cases", translate_noop(CTX, "My Cases")),
    ("audit", translate_noop(CTX, "Audit and recordings")),
    ("kb", translate_noop(CTX, "Knowledge base")),
    ("settings", translate_noop(CTX, "Settings")),
)


def fill_menu(
    menu: QtWidgets.QMenu, state: ShellState, actions: ShellActions, now: datetime
) -> None:
    """Put the live state's entries into ``menu`` (cleared first)."""
    menu.clear()
    head = menu.addAction(state.summary(now))
    head.setEnabled(False)
    menu.addSeparator()
    if not state.enrolled:
        _add(menu, tr(CTX, "Enroll this computer…"), lambda: actions.open_window("enroll"))
    labels = dict(WINDOW_ENTRIES)
    _add(menu, tr(CTX, labels["request"]), lambda: actions.open_window("request"))
    waiting = len(state.waiting_cases())
    cases_label = tr(CTX, labels["cases"])
    if waiting:
        cases_label += tr(CTX, " ({n} waiting on you)").format(n=waiting)
    _add(menu, cases_label, lambda: actions.open_window("cases"))
    if state.live or state.requests:
        menu.addSeparator()
    for sid in sorted(state.live):
        session = state.live[sid]
        title = tr(CTX, "Session with {engineer}{case}: {left} left").format(
            engineer=session.engineer or tr(CTX, "an engineer"),
            case=tr(CTX, ", case {n}").format(n=session.case_number)
            if session.case_number is not None
            else "",
            left=left_text(session.seconds_left(now)),
        )
        sub = menu.addMenu(title)
        sub.setObjectName(f"session-{sid}")
        _add(sub, tr(CTX, "Show the session"), _bind(actions.open_window, "session", sid))
        _add(sub, tr(CTX, "End now"), _bind_end(actions, sid))
    for sid, request in sorted(state.requests.items()):
        _add(
            menu,
            tr(CTX, "{engineer} asks to connect: answer…").format(
                engineer=str(request.get("engineer") or tr(CTX, "An engineer"))
            ),
            _bind(actions.open_window, "consent", sid),
        )
    menu.addSeparator()
    for name in ("audit", "kb", "settings"):
        _add(menu, tr(CTX, labels[name]), _bind(actions.open_window, name, None))
    menu.addSeparator()
    _add(menu, tr(CTX, "Quit"), actions.quit_asked)


def _add(menu: QtWidgets.QMenu, text: str, slot: Callable[[], object]) -> QtGui.QAction:
    action = menu.addAction(text)
    action.triggered.connect(lambda _checked=False: slot())
    return action


def _bind(fn: Callable[..., object], name: str, sid: str | None) -> Callable[[], object]:
    if sid is None:
        return lambda: fn(name)
    return lambda: fn(name, session_id=sid)


def _bind_end(actions: ShellActions, sid: str) -> Callable[[], object]:
    return lambda: actions.end_session(sid)


class TrayIcon(QObject):
    """The system tray icon; call :meth:`refresh` when the state changed."""

    def __init__(
        self,
        state: ShellState,
        actions: ShellActions,
        clock: Callable[[], datetime],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._state = state
        self._actions = actions
        self._clock = clock
        self.icon = QtWidgets.QSystemTrayIcon(self)
        self.menu = QtWidgets.QMenu()
        self.menu.setObjectName("tray-menu")
        self.menu.aboutToShow.connect(self.rebuild_menu)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.glance: Glance | None = None
        self.rebuild_menu()
        self.refresh()

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def refresh(self) -> None:
        """Icon and tooltip from the state (cheap; the menu waits for aboutToShow)."""
        glance = self._state.glance()
        if glance is not self.glance:
            self.glance = glance
            self.icon.setIcon(state_icon(glance))
        self.icon.setToolTip("vxassist: " + self._state.summary(self._clock()))

    def rebuild_menu(self) -> None:
        fill_menu(self.menu, self._state, self._actions, self._clock())

    def notify(self, title: str, message: str) -> None:
        self.icon.showMessage(title, message, state_icon(self._state.glance()), 8000)

    def _activated(self, reason: QtWidgets.QSystemTrayIcon.ActivationReason) -> None:
        # a left click: the most useful window for the current state
        if reason is not QtWidgets.QSystemTrayIcon.ActivationReason.Trigger:
            return
        glance = self._state.glance()
        if glance is Glance.LIVE:
            self._actions.open_window("session", session_id=sorted(self._state.live)[0])
        elif glance is Glance.CASE_WAITING:
            self._actions.open_window("cases")
        elif glance is Glance.REQUEST:
            self._actions.open_window("consent", session_id=next(iter(self._state.requests)))
        else:
            self._actions.open_window("home")
