"""The audit viewer on real widgets: a real audit log, real recordings, export to a zip."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6.QtWidgets")

from vxassist.paths import Paths
from vxassist.remote.audit import AuditLog
from vxassist.remote.recording import AsciicastRecorder
from vxassist.remote.replay import TerminalScreen
from vxassist.ui.audit_window import AuditWindow
from vxassist.ui.qt import QtWidgets

WAIT = 10000


def write_trail(audit: AuditLog) -> None:
    audit.append(
        "request",
        session_id="s-a",
        engineer="alice",
        case_number=1001,
        scopes=["shell"],
        minutes=30,
    )
    audit.append("session_start", session_id="s-a", engineer="alice", case_number=1001)
    audit.append("login", session_id="s-a", engineer="alice")
    audit.append("channel", session_id="s-a", kind="shell", pty=True)
    audit.append("request", session_id="s-b", engineer="bob", case_number=1002, scopes=["files"])
    audit.append(
        "file", session_id="s-b", op="download", path="/srv/x/callacct.log", size=2_100_000
    )
    audit.append("forward_refused", session_id="s-b", target="127.0.0.1:22", reason="not granted")
    audit.append("teardown", session_id="s-a", reason="ended by the customer")


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def write_recording(folder: Path) -> tuple[Path, list[bytes]]:
    ticks = Ticks()
    path = folder / "s-a-20261203T140000-1.cast"
    rec = AsciicastRecorder(
        path, 40, 8, datetime(2026, 12, 3, 14, tzinfo=UTC), title="alice case 1001", monotonic=ticks
    )
    chunks = [
        b"$ ls\r\n",
        b"callacct.log  vx.ini\r\n$ ",
        b"cat vx.ini\r\n[db]\r\nhost=sql01\r\n$ ",
        b"\x1b[2J\x1b[Hclear screen, then this: \xc3\xa9t\xc3\xa9\r\n$ ",
    ]
    for i, chunk in enumerate(chunks):
        ticks.t += 0.3 if i != 2 else 40.0  # one long pause
        rec.output(chunk)
    rec.close()
    return path, chunks


def screen_after(chunks: list[bytes], n: int) -> str:
    term = TerminalScreen(40, 8)
    term.feed_bytes(b"".join(chunks[:n]))
    return "\n".join(term.lines()).rstrip("\n")


@pytest.fixture
def audit(paths: Paths) -> AuditLog:
    log = AuditLog.for_paths(paths)
    write_trail(log)
    return log


@pytest.fixture
def window(qtbot: Any, audit: AuditLog) -> AuditWindow:
    w = AuditWindow(audit)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.loaded, timeout=WAIT):
        w.show()
    return w


def shown_seqs(window: AuditWindow) -> list[int]:
    return [r.seq for r in window.model.rows]


def test_the_trail_in_a_table_with_filters(window: AuditWindow) -> None:
    assert shown_seqs(window) == list(range(1, 9))
    assert "intact" in window.chain.text()
    model = window.model
    assert model.data(model.index(5, 5)) == "downloaded callacct.log, 2.1 MB"
    assert model.data(model.index(5, 4)) == "1002"  # the session's case on every line
    window.set_filters(case_number=1001)
    assert shown_seqs(window) == [1, 2, 3, 4, 8]
    window.set_filters(session_id="s-b")
    assert shown_seqs(window) == [5, 6, 7]
    window.set_filters(kind="request")
    assert shown_seqs(window) == [1, 5]
    window.set_filters(case_number=1002, kind="forward_refused")
    assert shown_seqs(window) == [7]
    assert "1 of 8 lines" in window.status.text()


def test_a_changed_line_shows_where_the_chain_breaks(
    window: AuditWindow, audit: AuditLog, qtbot: Any
) -> None:
    lines = audit.path.read_bytes().splitlines(keepends=True)
    lines[5] = lines[5].replace(b"2100000", b"2100001")
    audit.path.write_bytes(b"".join(lines))
    with qtbot.waitSignal(window.loaded, timeout=WAIT):
        window.reload()
    assert "breaks at line 6" in window.chain.text()
    model = window.model
    assert model.data(model.index(4, 0), 8) is None  # BackgroundRole: line 5 is fine
    assert model.data(model.index(5, 0), 8) is not None  # line 6 on are marked


def test_export_through_a_non_modal_file_dialog(
    window: AuditWindow, tmp_path: Path, qtbot: Any
) -> None:
    window.ask_export()
    dialog = window._file_dialog
    assert dialog is not None and dialog.isVisible()
    dest = tmp_path / "trail.zip"
    dialog.selectFile(str(dest))
    dialog.accept()
    qtbot.waitUntil(lambda: "Exported to" in window.status.text(), timeout=WAIT)
    with zipfile.ZipFile(dest) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert "audit.jsonl" in zf.namelist()
    assert manifest["verified"] is True


def test_export_failure_is_a_sentence(window: AuditWindow, tmp_path: Path, qtbot: Any) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    window.export_to(blocker / "sub" / "trail.zip")
    qtbot.waitUntil(lambda: "choose a folder" in window.status.text(), timeout=WAIT)
    assert window.export_button.isEnabled()


def test_a_recording_replays_seeks_and_shortens_pauses(
    qtbot: Any, audit: AuditLog, paths: Paths
) -> None:
    path, chunks = write_recording(paths.recordings_dir)
    window = AuditWindow(audit)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.loaded, timeout=WAIT):
        window.show()
    assert window.recordings.count() == 1
    window.tabs.setCurrentIndex(1)
    window.recordings.setCurrentRow(0)
    player = window.player
    qtbot.waitUntil(lambda: player.cast is not None, timeout=WAIT)
    assert player.cast is not None and player.cast.path == path
    assert window.recordings.item(0).text().startswith("s-a, 2026-12-0")
    # pauses shortened: 40 s of nothing became 2 s
    assert player.duration == pytest.approx(0.3 * 3 + 2.0)
    player.shorten.setChecked(False)
    assert player.duration == pytest.approx(40.9)
    player.shorten.setChecked(True)
    # seek: into the middle, then back to the start
    player.seek(0.7)
    assert player.view.text() == screen_after(chunks, 2)
    player.slider.setValue(int(2.95 * 1000))  # the customer drags the slider
    assert player.view.text() == screen_after(chunks, 3)
    player.seek(0.0)
    assert player.view.text() == ""
    # play at speed to the end: the screen the engineer last saw
    player.speed.setCurrentIndex(player.speed.findData(8.0))
    player.play()
    assert player.playing
    qtbot.waitUntil(lambda: not player.playing, timeout=WAIT)
    assert player.view.text() == screen_after(chunks, 4)
    assert "été" in player.view.text()
    # pause holds the screen
    player.seek(0.0)
    player.play()
    player.pause()
    held = player.position
    qtbot.wait(100)
    assert player.position == held


def test_a_damaged_recording_says_so(qtbot: Any, audit: AuditLog, paths: Paths) -> None:
    bad = paths.recordings_dir / "broken.cast"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text("not a recording\n")
    window = AuditWindow(audit)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.loaded, timeout=WAIT):
        window.show()
    window.recordings.setCurrentRow(0)
    qtbot.waitUntil(lambda: "not a session recording" in window.player_status.text(), timeout=WAIT)
    assert isinstance(window.player.view, QtWidgets.QWidget)


def test_a_long_seek_runs_off_the_gui_thread_and_the_newest_wins(
    qtbot: Any, audit: AuditLog, paths: Paths
) -> None:
    ticks = Ticks()
    path = paths.recordings_dir / "big.cast"
    rec = AsciicastRecorder(path, 40, 8, datetime(2026, 12, 3, tzinfo=UTC), monotonic=ticks)
    chunks = [b"".join(b"block %04d line %03d\r\n" % (n, i) for i in range(200)) for n in range(60)]
    for chunk in chunks:
        ticks.t += 1.0
        rec.output(chunk)
    rec.close()
    window = AuditWindow(audit)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.loaded, timeout=WAIT):
        window.show()
    player = window.player
    window.open_recording(path)
    qtbot.waitUntil(lambda: player.cast is not None, timeout=WAIT)
    player.seek(player.duration)
    assert player.seeking  # ~300 KB to replay: not on the GUI thread
    player.seek(30.0)  # the customer moved on before the first finished
    qtbot.waitUntil(lambda: not player.seeking, timeout=30000)
    qtbot.wait(200)  # a stale result arriving late must not replace the newest
    assert player.view.text() == screen_after(chunks, 30)
    assert "block 0029 line 199" in player.view.text()


def test_a_recorded_line_opens_its_recording(qtbot: Any, audit: AuditLog, paths: Paths) -> None:
    path, _chunks = write_recording(paths.recordings_dir)
    audit.append("recording", session_id="s-a", file=path.name, sha256="ab", command="/bin/sh")
    window = AuditWindow(audit)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.loaded, timeout=WAIT):
        window.show()
    window.set_filters(kind="recording")
    (row,) = window.model.rows
    assert row.recording == path.name
    window._row_activated(window.model.index(0, 5))
    assert window.tabs.currentIndex() == 1
    qtbot.waitUntil(lambda: window.player.cast is not None, timeout=WAIT)
    assert not window.show_recording("gone.cast")
    assert "not in the recordings folder" in window.status.text()
