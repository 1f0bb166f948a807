"""First run: the enrollment page against a real desk, every failure as a sentence."""

from __future__ import annotations

import socket
from typing import Any

import pytest

pytest.importorskip("PySide6.QtWidgets")

from tests.fixtures.desk import RunningDesk, shared_desk, unique_contract  # noqa: F401
from tests.ui.shell import tray_app
from vxassist.ui.enroll import EnrollWindow
from vxassist.ui.home_window import HomeWindow
from vxassist.ui.qt import Qt

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


def _enroll_window(app: Any, qtbot: Any) -> EnrollWindow:
    # a host that is not enrolled opens the page by itself
    qtbot.waitUntil(lambda: app.windows.window("enroll") is not None, timeout=30000)
    window = app.windows.window("enroll")
    assert isinstance(window, EnrollWindow) and window.isVisible()
    return window


def _try(window: EnrollWindow, qtbot: Any, desk: str, code: str) -> str:
    window.desk.setText(desk)
    window.code.setText(code)
    assert window.enroll_button.isEnabled()
    qtbot.mouseClick(window.enroll_button, Qt.MouseButton.LeftButton)
    assert window._busy  # the click returns at once; the desk is asked on the agent's thread
    qtbot.waitUntil(lambda: not window._busy, timeout=60000)
    return window.status.text()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_enrollment_failures_are_sentences_then_it_works(
    qapp: Any,
    qtbot: Any,
    shared_desk: RunningDesk,  # noqa: F811
) -> None:
    contract = unique_contract(shared_desk)
    with tray_app() as app:
        window = _enroll_window(app, qtbot)
        home = app.home
        assert isinstance(home, HomeWindow)
        assert "Not enrolled yet" in home._summary.text()
        # nothing to send yet: the button waits for both fields
        window.desk.clear()
        window.code.clear()
        assert not window.enroll_button.isEnabled()
        window.desk.setText(shared_desk.url)
        assert not window.enroll_button.isEnabled()

        wrong = _try(window, qtbot, shared_desk.url, "NOT-A-CODE")
        assert "code is unknown" in wrong and wrong.endswith(".")
        assert window.status.property("error") is True

        unreachable = _try(window, qtbot, f"http://127.0.0.1:{_closed_port()}", "X")
        assert "cannot be reached" in unreachable

        code = shared_desk.enrollment_code(contract["contract_id"])
        done = _try(window, qtbot, shared_desk.url, code)
        assert done.startswith("This computer is enrolled with"), done
        assert window.status.property("error") is False
        qtbot.waitUntil(lambda: app.state.enrolled, timeout=30000)
        qtbot.waitUntil(lambda: not home._enroll.isVisible(), timeout=10000)

        used = _try(window, qtbot, shared_desk.url, code)
        assert used != done and window.status.property("error") is True
        assert "already used" in used, used
