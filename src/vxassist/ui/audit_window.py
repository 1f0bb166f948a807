"""Audit and recordings: the host's audit trail as a table, its chain check, export,
and the session recordings replayed inside the app.

Reading, verifying and exporting the trail and reading a recording are disk
work: they run on a worker thread and come back as queued signals, so the GUI
thread never waits on the disk. The player's pure parts (events, the timeline
with long pauses shortened, seeking) are :mod:`vxassist.remote.replay`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from vxassist.errors import VxError
from vxassist.remote.activity import AuditRow, audit_rows, filter_rows
from vxassist.remote.audit import AuditLog
from vxassist.remote.replay import (
    IDLE_LIMIT_S,
    Cast,
    CastEvent,
    TerminalScreen,
    describe_recording,
    index_at,
    read_cast,
    screen_at,
    shorten_pauses,
)
from vxassist.ui.qt import QObject, Qt, QtCore, QtGui, QTimer, QtWidgets, Signal, Slot, tr
from vxassist.ui.terminal_view import TerminalView

log = logging.getLogger(__name__)

#: the player's drawing turn (ms) and how long one turn may spend replaying events (s)
PLAYER_TICK_MS = 33
PLAYER_BUDGET_S = 0.008
SPEEDS = (0.5, 1.0, 2.0, 4.0, 8.0)
#: a seek that replays more characters than this runs on a worker thread (pyte: ~1 MB/s)
SEEK_HERE_BYTES = 8 * 1024


def _message(exc: BaseException) -> str:
    if isinstance(exc, VxError):
        return exc.message
    return tr("AuditWindow", "Something went wrong: {0}").format(exc)


class _Worker(QObject):
    """Runs blocking work on a thread; the result comes back on the GUI thread."""

    _finished = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def run(
        self,
        work: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        def body() -> None:
            try:
                outcome: tuple[bool, Any] = (True, work())
            except Exception as exc:  # handed to the window, which says it in a sentence
                log.info("audit window work failed: %s", exc)
                outcome = (False, exc)
            self._finished.emit((outcome, on_done, on_error))

        threading.Thread(target=body, name="vxassist-audit-io", daemon=True).start()

    @Slot(object)
    def _deliver(self, payload: tuple[tuple[bool, Any], Any, Any]) -> None:
        (ok, value), on_done, on_error = payload
        with contextlib.suppress(RuntimeError):  # the window was closed meanwhile
            (on_done if ok else on_error)(value)


def _local_time(ts: str) -> str:
    try:
        return datetime.fromisoformat(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return ts


class AuditModel(QtCore.QAbstractTableModel):
    """The filtered audit rows; the first broken line, if any, is marked."""

    HEADERS = ("#", "Time", "Kind", "Session", "Case", "What")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[AuditRow] = []
        self.bad_seq: int | None = None

    def set_rows(self, rows: list[AuditRow], bad_seq: int | None) -> None:
        self.beginResetModel()
        self.rows, self.bad_seq = rows, bad_seq
        self.endResetModel()

    def rowCount(self, parent: Any = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def columnCount(self, parent: Any = None) -> int:
        return len(self.HEADERS)

    def headerData(self, section: int, orientation: Any, role: int = 0) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return tr("AuditWindow", self.HEADERS[section])
        return None

    def data(self, index: Any, role: int = 0) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                str(row.seq),
                _local_time(row.ts),
                row.kind.replace("_", " "),
                row.session_id,
                "" if row.case_number is None else str(row.case_number),
                row.text,
            )[index.column()]
        bad = self.bad_seq
        if role == Qt.ItemDataRole.BackgroundRole and bad is not None and row.seq >= bad:
            return QtGui.QColor("#f8d7d4")
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 5:
            return row.text
        return None


class RecordingPlayer(QtWidgets.QWidget):
    """Plays one recording into a :class:`TerminalView`: play, pause, speed, seek."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.cast: Cast | None = None
        self.events: list[CastEvent] = []
        self.position = 0.0  # seconds on the (maybe shortened) timeline
        self._next = 0  # index of the next event to apply
        self._last_wall = 0.0
        self._setting_slider = False
        self._seek_generation = 0
        self._sizes: list[int] = []
        #: a long seek is being replayed on a worker thread
        self.seeking = False
        self._worker = _Worker(self)
        self.view = TerminalView(80, 24)
        self.title = QtWidgets.QLabel(tr("AuditWindow", "Pick a recording to replay it."))
        self.title.setWordWrap(True)
        self.play_button = QtWidgets.QPushButton(tr("AuditWindow", "Play"))
        self.play_button.setEnabled(False)
        self.play_button.clicked.connect(self.toggle)
        self.slider = QtWidgets.QSlider(Qt.Orientation.Horizontal)
        self.slider.setAccessibleName(tr("AuditWindow", "Position in the recording"))
        self.slider.setEnabled(False)
        self.slider.valueChanged.connect(self._slider_moved)
        self.clock = QtWidgets.QLabel("0:00 / 0:00")
        self.speed = QtWidgets.QComboBox()
        self.speed.setAccessibleName(tr("AuditWindow", "Speed"))
        for value in SPEEDS:
            self.speed.addItem(f"{value:g}x", value)
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.shorten = QtWidgets.QCheckBox(
            tr("AuditWindow", "Shorten pauses to {0:g} s").format(IDLE_LIMIT_S)
        )
        self.shorten.setChecked(True)
        self.shorten.toggled.connect(self._timeline_changed)
        controls = QtWidgets.QHBoxLayout()
        controls.addWidget(self.play_button)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.clock)
        controls.addWidget(self.speed)
        controls.addWidget(self.shorten)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.view, 1)
        layout.addLayout(controls)
        self._timer = QTimer(self)
        self._timer.setInterval(PLAYER_TICK_MS)
        self._timer.timeout.connect(self._tick)

    # -- loading --------------------------------------------------------------------

    def load(self, cast: Cast) -> None:
        self.pause()
        self.cast = cast
        note = ""
        if cast.damaged_lines:
            note = tr("AuditWindow", " ({0} damaged lines skipped)").format(cast.damaged_lines)
        self.title.setText((cast.title or cast.path.name) + note)
        self.play_button.setEnabled(bool(cast.events))
        self.slider.setEnabled(bool(cast.events))
        self._timeline_changed()
        self.seek(0.0)

    def _timeline_changed(self) -> None:
        if self.cast is None:
            return
        limit = IDLE_LIMIT_S if self.shorten.isChecked() else None
        applied = self._next
        self.events = shorten_pauses(self.cast.events, limit)
        self._sizes = []
        # the same event stays under the playhead when the timeline changes
        at = self.events[applied - 1].at if 0 < applied <= len(self.events) else 0.0
        self._setting_slider = True
        self.slider.setRange(0, int(self.duration * 1000))
        self._setting_slider = False
        self.seek(at)

    @property
    def duration(self) -> float:
        return self.events[-1].at if self.events else 0.0

    # -- playing --------------------------------------------------------------------

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def toggle(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        if self.cast is None or not self.events:
            return
        if self.position >= self.duration:
            self.seek(0.0)
        self._last_wall = time.monotonic()
        self._timer.start()
        self.play_button.setText(tr("AuditWindow", "Pause"))

    def pause(self) -> None:
        self._timer.stop()
        self.play_button.setText(tr("AuditWindow", "Play"))

    def seek(self, t: float) -> None:
        """Show the screen at ``t``: a fresh screen with every event up to it replayed.

        A short replay runs here; a long one (a big recording) on a worker thread,
        and only the newest seek's screen is shown, so dragging the slider never
        holds up the GUI thread. Playing waits for the screen.
        """
        cast = self.cast
        if cast is None:
            return
        t = min(max(0.0, t), self.duration)
        count = index_at(self.events, t)
        self.position = t
        self._show_position()
        self._seek_generation += 1
        generation = self._seek_generation
        if self._replay_bytes(count) <= SEEK_HERE_BYTES:
            self._seeked(generation, count, screen_at(cast, self.events, t))
            return
        self.seeking = True
        events = list(self.events)
        self._worker.run(
            lambda: screen_at(cast, events, t),
            lambda term: self._seeked(generation, count, term),
            lambda exc: log.warning("seeking failed: %s", exc),
        )

    def _seeked(self, generation: int, count: int, term: TerminalScreen) -> None:
        if generation != self._seek_generation:
            return  # a newer seek is on its way
        self.seeking = False
        self.view.set_term(term)
        self._next = count
        self._last_wall = time.monotonic()

    def _replay_bytes(self, count: int) -> int:
        """How many characters replaying the first ``count`` events parses."""
        if len(self._sizes) != len(self.events) + 1:
            sizes = [0]
            for event in self.events:
                sizes.append(sizes[-1] + (len(event.data) if event.kind == "o" else 0))
            self._sizes = sizes
        return self._sizes[min(count, len(self._sizes) - 1)]

    def _slider_moved(self, value: int) -> None:
        if not self._setting_slider:
            self.seek(value / 1000)

    def _tick(self) -> None:
        if self.seeking:
            self._last_wall = time.monotonic()
            return
        now = time.monotonic()
        speed = float(self.speed.currentData() or 1.0)
        target = self.position + (now - self._last_wall) * speed
        self._last_wall = now
        deadline = now + PLAYER_BUDGET_S
        term = self.view.term
        events = self.events
        while self._next < len(events) and events[self._next].at <= target:
            term.apply(events[self._next])
            self._next += 1
            if time.monotonic() > deadline:
                # behind: the clock waits for the screen rather than the GUI for the clock
                target = events[self._next - 1].at
                break
        self.position = min(target, self.duration)
        self.view.refresh()
        self._show_position()
        if self._next >= len(events):
            self.position = self.duration
            self._show_position()
            self.pause()

    def _show_position(self) -> None:
        self._setting_slider = True
        self.slider.setValue(int(self.position * 1000))
        self._setting_slider = False
        self.clock.setText(f"{_mmss(self.position)} / {_mmss(self.duration)}")


def _mmss(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


class AuditWindow(QtWidgets.QWidget):
    """The audit trail (filters, chain check, export) and the recordings' player."""

    #: the trail was read and checked (tests, the tray)
    loaded = Signal()

    def __init__(self, audit: AuditLog, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.audit = audit
        self.recordings_dir = audit.recordings_dir
        self._worker = _Worker(self)
        self._all: list[AuditRow] = []
        self.verified: tuple[bool, int | None, str] | None = None
        self.setWindowTitle(tr("AuditWindow", "Audit trail and recordings - vxassist"))
        self.setAccessibleName(self.windowTitle())
        self.resize(1040, 640)

        # the trail
        self.chain = QtWidgets.QLabel(tr("AuditWindow", "Checking the audit trail..."))
        self.chain.setWordWrap(True)
        self.chain.setObjectName("chainStatus")
        self.session_filter = QtWidgets.QComboBox()
        self.case_filter = QtWidgets.QComboBox()
        self.kind_filter = QtWidgets.QComboBox()
        for combo, name in (
            (self.session_filter, tr("AuditWindow", "Session")),
            (self.case_filter, tr("AuditWindow", "Case")),
            (self.kind_filter, tr("AuditWindow", "Kind")),
        ):
            combo.setAccessibleName(name)
            combo.setMinimumContentsLength(12)
            combo.currentIndexChanged.connect(self._apply_filters)
        self.reload_button = QtWidgets.QPushButton(tr("AuditWindow", "Reload"))
        self.reload_button.clicked.connect(self.reload)
        self.export_button = QtWidgets.QPushButton(tr("AuditWindow", "Export..."))
        self.export_button.setToolTip(
            tr("AuditWindow", "Save the trail, its recordings and a checked manifest as a zip")
        )
        self.export_button.clicked.connect(self.ask_export)
        self.status = QtWidgets.QLabel()
        self.status.setWordWrap(True)
        filters = QtWidgets.QHBoxLayout()
        for label, combo in (
            (tr("AuditWindow", "Session:"), self.session_filter),
            (tr("AuditWindow", "Case:"), self.case_filter),
            (tr("AuditWindow", "Kind:"), self.kind_filter),
        ):
            caption = QtWidgets.QLabel(label)
            caption.setBuddy(combo)
            filters.addWidget(caption)
            filters.addWidget(combo)
        filters.addStretch(1)
        filters.addWidget(self.reload_button)
        filters.addWidget(self.export_button)
        self.model = AuditModel(self)
        self.table = QtWidgets.QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName(tr("AuditWindow", "Audit trail"))
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        self.table.doubleClicked.connect(self._row_activated)
        self.table.setToolTip(tr("AuditWindow", "Double-click a recorded line to replay it."))
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        for column, width in enumerate((48, 150, 150, 110, 56)):
            self.table.setColumnWidth(column, width)
        trail = QtWidgets.QWidget()
        trail_box = QtWidgets.QVBoxLayout(trail)
        trail_box.addWidget(self.chain)
        trail_box.addLayout(filters)
        trail_box.addWidget(self.table, 1)
        trail_box.addWidget(self.status)

        # the recordings
        self.recordings = QtWidgets.QListWidget()
        self.recordings.setAccessibleName(tr("AuditWindow", "Recordings"))
        self.recordings.setWordWrap(True)
        self.recordings.setSpacing(2)
        self.recordings.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.recordings.currentItemChanged.connect(self._recording_picked)
        self.player = RecordingPlayer()
        self.player_status = QtWidgets.QLabel()
        self.player_status.setWordWrap(True)
        left = QtWidgets.QVBoxLayout()
        left.addWidget(QtWidgets.QLabel(tr("AuditWindow", "Recordings")))
        left.addWidget(self.recordings, 1)
        left_widget = QtWidgets.QWidget()
        left_widget.setLayout(left)
        right = QtWidgets.QVBoxLayout()
        right.addWidget(self.player, 1)
        right.addWidget(self.player_status)
        right_widget = QtWidgets.QWidget()
        right_widget.setLayout(right)
        split = QtWidgets.QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left_widget)
        split.addWidget(right_widget)
        split.setSizes([300, 740])

        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(trail, tr("AuditWindow", "Audit trail"))
        self.tabs.addTab(split, tr("AuditWindow", "Recordings"))
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.tabs)
        self._file_dialog: QtWidgets.QFileDialog | None = None

    # -- the trail ------------------------------------------------------------------

    def reload(self) -> None:
        """Read and check the trail and list the recordings (on a worker thread)."""
        audit, folder = self.audit, self.recordings_dir

        def work() -> tuple[list[AuditRow], tuple[bool, int | None, str], list[tuple[Path, int]]]:
            rows = audit_rows(audit.records())
            verdict = audit.verify()
            found = folder.glob("*.cast") if folder and folder.is_dir() else []
            # newest first: the names carry the start time after the session id
            casts = sorted(
                ((p, p.stat().st_size) for p in found),
                key=lambda item: (item[0].stat().st_mtime, item[0].name),
                reverse=True,
            )
            return rows, verdict, casts

        self.reload_button.setEnabled(False)
        self._worker.run(work, self._loaded, self._failed)

    def _loaded(
        self, result: tuple[list[AuditRow], tuple[bool, int | None, str], list[tuple[Path, int]]]
    ) -> None:
        rows, verdict, casts = result
        self._all = rows
        self.verified = verdict
        self.reload_button.setEnabled(True)
        ok, bad_line, why = verdict
        if ok:
            if rows:
                text = tr(
                    "AuditWindow",
                    "The audit trail is intact: all {0} lines are linked and unchanged.",
                ).format(len(rows))
            else:
                text = tr(
                    "AuditWindow", "There is no audit trail yet: no session has happened here."
                )
            self.chain.setText(text)
            self.chain.setStyleSheet(
                "#chainStatus { background: #e2f2e4; color: #1f4d26; padding: 6px;"
                " border-radius: 4px; }"
            )
        else:
            self.chain.setText(
                tr(
                    "AuditWindow",
                    "The audit trail was changed: it breaks at line {0} ({1}). "
                    "Lines from there on cannot be trusted; keep a copy and tell your "
                    "administrator.",
                ).format(bad_line, why)
            )
            self.chain.setStyleSheet(
                "#chainStatus { background: #f8d7d4; color: #6b1610; padding: 6px;"
                " border-radius: 4px; }"
            )
        self._fill_filters()
        self._apply_filters()
        self.recordings.clear()
        for path, size in casts:
            item = QtWidgets.QListWidgetItem(describe_recording(path.name, size))
            item.setToolTip(str(path))
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            self.recordings.addItem(item)
        if not casts:
            self.player_status.setText(tr("AuditWindow", "No session has been recorded yet."))
        self.loaded.emit()

    def _failed(self, exc: BaseException) -> None:
        self.reload_button.setEnabled(True)
        self.chain.setText(_message(exc))
        self.loaded.emit()

    def _fill_filters(self) -> None:
        def refill(combo: QtWidgets.QComboBox, everything: str, values: list[Any]) -> None:
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(everything, None)
            for value in values:
                combo.addItem(str(value), value)
            index = combo.findData(current) if current is not None else 0
            combo.setCurrentIndex(max(0, index))
            combo.blockSignals(False)

        refill(
            self.session_filter,
            tr("AuditWindow", "All sessions"),
            sorted({r.session_id for r in self._all if r.session_id}),
        )
        refill(
            self.case_filter,
            tr("AuditWindow", "All cases"),
            sorted({r.case_number for r in self._all if r.case_number is not None}),
        )
        refill(
            self.kind_filter, tr("AuditWindow", "All kinds"), sorted({r.kind for r in self._all})
        )

    def set_filters(
        self, session_id: str | None = None, case_number: int | None = None, kind: str | None = None
    ) -> None:
        for combo, value in (
            (self.session_filter, session_id),
            (self.case_filter, case_number),
            (self.kind_filter, kind),
        ):
            combo.setCurrentIndex(max(0, combo.findData(value)) if value is not None else 0)
        self._apply_filters()

    def _apply_filters(self) -> None:
        rows = filter_rows(
            self._all,
            self.session_filter.currentData(),
            self.case_filter.currentData(),
            self.kind_filter.currentData(),
        )
        bad = None
        if self.verified is not None and not self.verified[0] and self.verified[1] is not None:
            bad = self.verified[1]  # lines are numbered like seq from 1
        self.model.set_rows(rows, bad)
        self.status.setText(
            tr("AuditWindow", "{0} of {1} lines shown.").format(len(rows), len(self._all))
        )

    # -- export ---------------------------------------------------------------------

    def ask_export(self) -> None:
        """Ask where to save the export (a non-modal file dialog), then write it."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M")
        dialog = QtWidgets.QFileDialog(
            self,
            tr("AuditWindow", "Export the audit trail"),
            str(Path.home() / f"vxassist-audit-{stamp}.zip"),
        )
        dialog.setAcceptMode(QtWidgets.QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilter(tr("AuditWindow", "Zip archives (*.zip)"))
        dialog.setDefaultSuffix("zip")
        dialog.fileSelected.connect(lambda name: self.export_to(Path(name)))
        self._file_dialog = dialog
        dialog.open()

    def export_to(self, dest: Path) -> None:
        self.export_button.setEnabled(False)
        self.status.setText(tr("AuditWindow", "Exporting to {0}...").format(dest))

        def done(path: Path) -> None:
            self.export_button.setEnabled(True)
            self.status.setText(tr("AuditWindow", "Exported to {0}.").format(path))

        def failed(exc: BaseException) -> None:
            self.export_button.setEnabled(True)
            self.status.setText(_message(exc))

        self._worker.run(lambda: self.audit.export(dest), done, failed)

    # -- recordings -----------------------------------------------------------------

    def _row_activated(self, index: QtCore.QModelIndex) -> None:
        if 0 <= index.row() < len(self.model.rows):
            self.show_recording(self.model.rows[index.row()].recording)

    def show_recording(self, name: str) -> bool:
        """Switch to the recordings and replay the one named (False: not in the list)."""
        if not name:
            return False
        for row in range(self.recordings.count()):
            item = self.recordings.item(row)
            if Path(str(item.data(Qt.ItemDataRole.UserRole))).name == name:
                self.tabs.setCurrentIndex(1)
                self.recordings.setCurrentRow(row)
                return True
        self.status.setText(
            tr("AuditWindow", "The recording {0} is not in the recordings folder.").format(name)
        )
        return False

    def _recording_picked(
        self, item: QtWidgets.QListWidgetItem | None, _previous: Any = None
    ) -> None:
        if item is None:
            return
        path = Path(str(item.data(Qt.ItemDataRole.UserRole)))
        self.open_recording(path)

    def open_recording(self, path: Path) -> None:
        self.player_status.setText(tr("AuditWindow", "Reading {0}...").format(path.name))

        def done(cast: Cast) -> None:
            self.player_status.setText("")
            self.player.load(cast)

        def failed(exc: BaseException) -> None:
            self.player_status.setText(_message(exc))

        self._worker.run(lambda: read_cast(path), done, failed)

    def showEvent(self, event: QtGui.QShowEvent) -> None:
        super().showEvent(event)
        if self.verified is None:
            self.reload()
