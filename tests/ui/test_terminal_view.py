"""The read-only terminal: what is fed shows; floods stay bounded; nothing is typed into it."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("PySide6.QtWidgets")

from vxassist.ui.qt import Qt, QtGui
from vxassist.ui.terminal_view import BACKGROUND, KEEP_TAIL, MAX_PENDING, TerminalView


@pytest.fixture
def view(qtbot: Any) -> TerminalView:
    widget = TerminalView(80, 24)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_output_shows_on_the_next_turns(view: TerminalView, qtbot: Any) -> None:
    view.feed(b"$ ls /srv/vx\r\ncallacct.log  \x1b[1;34mconfig\x1b[0m\r\n$ ")
    assert view.pending  # queued, not parsed in the caller's turn
    qtbot.waitUntil(lambda: "callacct.log  config" in view.text(), timeout=10000)
    assert view.text().splitlines()[0] == "$ ls /srv/vx"
    assert view.pending == 0


def test_utf8_split_across_chunks(view: TerminalView) -> None:
    data = "Grüße, Zürich – 東京\r\n".encode()
    for i in range(len(data)):
        view.feed(data[i : i + 1])
    view.drain()
    assert view.text().startswith("Grüße, Zürich – 東京")


def test_a_flood_keeps_only_a_bounded_tail(view: TerminalView, qtbot: Any) -> None:
    chunk = b"".join(b"flood line %06d of the output\r\n" % i for i in range(2000))
    total = 0
    for _ in range(80):  # ~5 MB, far more than can be drawn
        view.feed(chunk)
        total += len(chunk)
        assert view.pending <= MAX_PENDING
    view.feed(b"the very last line\r\n")
    assert view.skipped_bytes > total - MAX_PENDING - KEEP_TAIL
    # one drawing turn parses a bounded slice, never the whole queue
    before = view.pending
    view._tick()
    assert 0 < view.pending < before
    qtbot.waitUntil(lambda: view.pending == 0, timeout=20000)
    assert "the very last line" in view.text()


def test_it_is_drawn_and_takes_no_keys(view: TerminalView, qtbot: Any) -> None:
    view.feed(b"\x1b[41m  red block  \x1b[0m visible text")
    view.drain()
    image = view.grab().toImage()
    colors = {image.pixelColor(x, y).name() for x in range(0, 300, 3) for y in range(0, 30, 2)}
    assert BACKGROUND.name() in colors and len(colors) > 3
    assert view.focusPolicy() == Qt.FocusPolicy.NoFocus
    qtbot.keyClicks(view, "rm -rf /")
    view.drain()
    assert "rm -rf" not in view.text()
    assert isinstance(view.sizeHint().width(), int) and view.sizeHint().width() > 80 * 4


def test_resize_follows_the_engineers_terminal(view: TerminalView) -> None:
    view.feed(b"before resize")
    view.resize_terminal(120, 40)
    assert view.term.size == (120, 40)
    assert view.text().startswith("before resize")
    assert QtGui.QFontInfo(view.font()).fixedPitch()
