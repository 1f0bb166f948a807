"""The Qt runtime the tray relies on (PITFALLS.md: PySide6 6.12.0 on Python 3.11)."""

from __future__ import annotations

import sys

import pytest

QtCore = pytest.importorskip("PySide6.QtCore")


def test_kill_timer_keeps_none_alive(qapp: object) -> None:
    # 6.12.0 drops a reference to None on every killTimer(); after a few thousand
    # calls CPython aborts. On 3.12+ None is immortal and this cannot be seen.
    if sys.version_info >= (3, 12):
        pytest.skip("None is immortal on Python 3.12+; the leak cannot be observed")
    obj = QtCore.QObject()
    before = sys.getrefcount(None)
    for _ in range(2000):
        obj.killTimer(obj.startTimer(1000))
    after = sys.getrefcount(None)
    assert before - after < 100, f"killTimer leaked {before - after} references to None"
