"""A read-only terminal: a pyte screen drawn with a monospace font.

The live-session window feeds it the engineer's PTY output as raw bytes; the
recording player sets its screen directly. Output is only queued when it
arrives; a timer (about 30 times a second) feeds the queue to the screen model
in small slices for at most :data:`FEED_BUDGET_S` per turn and repaints the rows
that changed, so the GUI thread stays responsive however fast the session
writes. When output comes faster than it can be drawn (pyte parses about 1 MB/s),
only the latest :data:`KEEP_TAIL` bytes are kept: the screen then shows the
newest output, which is what a person watching can read anyway.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from vxassist.remote.replay import TerminalScreen
from vxassist.ui.qt import Qt, QtCore, QtGui, QTimer, QtWidgets, tr

#: milliseconds between two drawing turns (~30 per second)
TICK_MS = 33
#: seconds of parsing per drawing turn; the rest waits for the next turn
FEED_BUDGET_S = 0.006
#: bytes parsed between two looks at the clock
SLICE = 512
#: queued output above this is cut to its newest KEEP_TAIL bytes
MAX_PENDING = 256 * 1024
KEEP_TAIL = 16 * 1024

BACKGROUND = QtGui.QColor("#1d2126")
FOREGROUND = QtGui.QColor("#d7dadf")
CURSOR = QtGui.QColor("#8fb3d9")
#: pyte's colour names, in a calm palette that stays readable on the dark background
PALETTE = {
    "black": "#3b4048",
    "red": "#e06c75",
    "green": "#98c379",
    "brown": "#d19a66",
    "yellow": "#e5c07b",
    "blue": "#61afef",
    "magenta": "#c678dd",
    "cyan": "#56b6c2",
    "white": "#d7dadf",
    "brightblack": "#5c6370",
    "brightred": "#ef7b84",
    "brightgreen": "#a9d48a",
    "brightbrown": "#e0ab77",
    "brightyellow": "#f0d08c",
    "brightblue": "#72c0ff",
    "brightmagenta": "#d789ee",
    "brightcyan": "#67c7d3",
    "brightwhite": "#f2f4f7",
}


@dataclass(frozen=True)
class _Run:
    """Characters of one row that share their look."""

    x: int
    text: str
    fg: str
    bg: str
    bold: bool
    underline: bool


def _color(name: str, default: QtGui.QColor) -> QtGui.QColor:
    if name == "default":
        return default
    if name in PALETTE:
        return QtGui.QColor(PALETTE[name])
    if len(name) == 6:
        color = QtGui.QColor("#" + name)
        if color.isValid():
            return color
    return default


def _runs(row: Any, columns: int) -> list[_Run]:
    runs: list[_Run] = []
    start = 0
    chars: list[str] = []
    key: tuple[str, str, bool, bool] | None = None
    for x in range(columns):
        ch = row[x]
        fg, bg = ch.fg, ch.bg
        if ch.reverse:
            fg, bg = (
                (bg if bg != "default" else "background"),
                (fg if fg != "default" else "foreground"),
            )
        this = (fg, bg, bool(ch.bold), bool(ch.underscore))
        if this != key:
            if key is not None and chars:
                runs.append(_Run(start, "".join(chars), *key))
            key, start, chars = this, x, []
        chars.append(ch.data or " ")
    if key is not None and chars:
        text = "".join(chars)
        if key[1] == "default" and not key[3]:
            text = text.rstrip()
        if text:
            runs.append(_Run(start, text, *key))
    return runs


class TerminalView(QtWidgets.QWidget):
    """Shows a terminal screen; never takes keyboard input (the customer only watches)."""

    def __init__(self, cols: int = 80, rows: int = 24, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._term = TerminalScreen(cols, rows)
        self._pending = bytearray()
        self._rows: dict[int, list[_Run]] = {}
        #: bytes left out because output came faster than it could be drawn
        self.skipped_bytes = 0
        self.show_cursor = True
        font = QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont)
        font.setStyleHint(QtGui.QFont.StyleHint.TypeWriter)
        font.setPointSize(max(font.pointSize(), 10))
        self.setFont(font)
        self._bold = QtGui.QFont(font)
        self._bold.setBold(True)
        self._metrics()
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setAccessibleName(tr("TerminalView", "Engineer's terminal (read only)"))
        self.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Expanding
        )
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    def _metrics(self) -> None:
        fm = QtGui.QFontMetrics(self.font())
        self._cw = max(1, fm.horizontalAdvance("M"))
        self._lh = max(1, fm.lineSpacing())
        self._ascent = fm.ascent()

    # -- the model ------------------------------------------------------------------

    @property
    def term(self) -> TerminalScreen:
        return self._term

    def set_term(self, term: TerminalScreen) -> None:
        """Show another screen model (the player, after a seek)."""
        self._term = term
        self._pending.clear()
        self._rows.clear()
        self.updateGeometry()
        self.update()

    def resize_terminal(self, cols: int, rows: int) -> None:
        self._drain_all_pending()
        self._term.resize(cols, rows)
        self._rows.clear()
        self.updateGeometry()
        self.update()

    def refresh(self) -> None:
        """Repaint what changed in the model (after feeding it directly)."""
        self.update()

    def feed(self, data: bytes) -> None:
        """Queue output for drawing; returns at once (drawn on the next turn)."""
        if not data:
            return
        self._pending += data
        if len(self._pending) > MAX_PENDING:
            cut = len(self._pending) - KEEP_TAIL
            # start the kept tail at a line, so no escape sequence is cut in half
            newline = self._pending.find(b"\n", cut)
            if 0 <= newline < len(self._pending) - 1:
                cut = newline + 1
            self.skipped_bytes += cut
            del self._pending[:cut]
        if not self._timer.isActive():
            self._timer.start()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _tick(self) -> None:
        deadline = time.perf_counter() + FEED_BUDGET_S
        pending = self._pending
        while pending and time.perf_counter() < deadline:
            piece = bytes(pending[:SLICE])
            del pending[:SLICE]
            self._term.feed_bytes(piece)
        if not pending:
            self._timer.stop()
        self.update()

    def _drain_all_pending(self) -> None:
        if self._pending:
            self._term.feed_bytes(bytes(self._pending))
            self._pending.clear()

    def drain(self) -> None:
        """Draw everything queued now, whatever it costs (tests, screenshots)."""
        self._drain_all_pending()
        self._timer.stop()
        self.update()

    def text(self) -> str:
        """The screen as plain text (also what a screen reader gets)."""
        return "\n".join(self._term.lines()).rstrip("\n")

    # -- drawing --------------------------------------------------------------------

    def sizeHint(self) -> QtCore.QSize:
        cols, rows = self._term.size
        return QtCore.QSize(cols * self._cw + 12, rows * self._lh + 12)

    def minimumSizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(20 * self._cw, 4 * self._lh)

    def changeEvent(self, event: QtCore.QEvent) -> None:
        if event.type() == QtCore.QEvent.Type.FontChange:
            self._metrics()
            self._bold = QtGui.QFont(self.font())
            self._bold.setBold(True)
            self._rows.clear()
        super().changeEvent(event)

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        screen = self._term.screen
        columns, lines = int(screen.columns), int(screen.lines)
        for y in list(screen.dirty):
            self._rows.pop(y, None)
        screen.dirty.clear()
        painter = QtGui.QPainter(self)
        try:
            painter.fillRect(self.rect(), BACKGROUND)
            ox, oy = 6, 6
            plain, bold = self.font(), self._bold
            first = max(0, (event.rect().top() - oy) // self._lh)
            last = min(lines - 1, (event.rect().bottom() - oy) // self._lh)
            for y in range(first, last + 1):
                runs = self._rows.get(y)
                if runs is None:
                    runs = self._rows[y] = _runs(screen.buffer[y], columns)
                top = oy + y * self._lh
                for run in runs:
                    x = ox + run.x * self._cw
                    width = len(run.text) * self._cw
                    if run.bg != "default":
                        bg = FOREGROUND if run.bg == "foreground" else _color(run.bg, BACKGROUND)
                        painter.fillRect(x, top, width, self._lh, bg)
                    fg = BACKGROUND if run.fg == "background" else _color(run.fg, FOREGROUND)
                    painter.setPen(fg)
                    painter.setFont(bold if run.bold else plain)
                    painter.drawText(x, top + self._ascent, run.text)
                    if run.underline:
                        painter.drawLine(x, top + self._lh - 2, x + width, top + self._lh - 2)
            if self.show_cursor and not screen.cursor.hidden:
                cx, cy = self._term.cursor
                if 0 <= cy < lines and 0 <= cx < columns:
                    painter.setPen(CURSOR)
                    painter.drawRect(
                        ox + cx * self._cw, oy + cy * self._lh, self._cw - 1, self._lh - 1
                    )
        finally:
            painter.end()
