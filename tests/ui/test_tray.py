"""The tray: state folded from runtime events, icons per state, the menu rebuilt on show."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6.QtWidgets")

from vxassist.ui.home_window import HomeWindow
from vxassist.ui.qt import QtGui, QtWidgets
from vxassist.ui.tray import Glance, ShellState, TrayIcon, fill_menu, state_pixmap

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def clock() -> datetime:
    return NOW


class Recorded:
    """The application's side of the tray, as calls written down."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def open_window(self, name: str, **kwargs: Any) -> None:
        self.calls.append(("open", name, kwargs.get("session_id")))

    def end_session(self, session_id: str) -> None:
        self.calls.append(("end", session_id))

    def quit_asked(self) -> None:
        self.calls.append(("quit",))


def _request(sid: str = "s-1") -> dict[str, Any]:
    return {"event": "request", "session_id": sid, "engineer": "alice", "case_number": 1042}


def _open(sid: str = "s-1", minutes: int = 12) -> dict[str, Any]:
    return {
        "event": "session_open",
        "session_id": sid,
        "engineer": "alice",
        "case_number": 1042,
        "not_after": (NOW + timedelta(minutes=minutes)).isoformat(),
    }


def test_state_follows_a_session_from_request_to_end() -> None:
    state = ShellState(enrolled=True)
    assert state.glance() is Glance.IDLE
    assert state.summary(NOW) == "Nothing needs you"
    assert state.apply(_request())
    assert state.glance() is Glance.REQUEST
    assert state.summary(NOW) == "alice asks to connect: answer the prompt"
    state.apply({"event": "decision", "session_id": "s-1", "approved": True})
    assert state.glance() is Glance.IDLE
    state.apply(_open())
    assert state.glance() is Glance.LIVE
    assert state.summary(NOW) == "Live session with alice, 12 min left"
    assert state.summary(NOW + timedelta(minutes=11, seconds=30)).endswith("30 s left")
    state.apply({"event": "session_end", "session_id": "s-1", "reason": "ended"})
    assert state.glance() is Glance.IDLE
    assert not state.apply({"event": "time_left", "session_id": "s-9"})


def test_an_approved_extension_moves_the_time_left_the_tray_shows() -> None:
    state = ShellState(enrolled=True)
    state.apply(_open())
    assert state.summary(NOW) == "Live session with alice, 12 min left"
    later = (NOW + timedelta(minutes=17)).isoformat()
    assert state.apply({"event": "session_extended", "session_id": "s-1", "not_after": later})
    assert state.summary(NOW) == "Live session with alice, 17 min left"
    back = (NOW + timedelta(minutes=12)).isoformat()
    state.apply({"event": "extension_undone", "session_id": "s-1", "not_after": back})
    assert state.summary(NOW) == "Live session with alice, 12 min left"


def test_a_case_waiting_on_the_customer_shows_until_it_moves_on() -> None:
    state = ShellState(enrolled=True)
    state.set_cases([{"case_number": 7, "status": "open", "brief": "No records"}])
    assert state.glance() is Glance.IDLE
    state.apply({"event": "case_changed", "case_number": 7, "status": "waiting_customer"})
    assert state.glance() is Glance.CASE_WAITING
    assert state.summary(NOW) == "Case 7 waits for your answer"
    state.apply(_request())
    assert state.glance() is Glance.REQUEST  # a person asking outranks a case
    state.requests.clear()
    state.apply({"event": "case_changed", "case_number": 7, "status": "in_progress"})
    assert state.glance() is Glance.IDLE


def test_each_state_has_its_own_icon(qapp: Any) -> None:
    images = {g: state_pixmap(g, 32).toImage() for g in Glance}
    centres = {g: img.pixelColor(4, 16).name() for g, img in images.items()}
    assert len(set(centres.values())) == len(Glance), centres  # four colours
    for image in images.values():
        assert image.pixelColor(0, 0).alpha() == 0  # round, on a clear background
    # the glyphs differ too (idle: a ring with a clear centre; live: a filled dot)
    assert images[Glance.IDLE].pixelColor(16, 16).name() != "#ffffff"
    assert images[Glance.LIVE].pixelColor(16, 16).name() == "#ffffff"


def _entries(menu: QtWidgets.QMenu) -> list[str]:
    return [a.text() for a in menu.actions() if not a.isSeparator()]


def test_menu_lists_live_sessions_with_time_left_and_end_now(qapp: Any) -> None:
    state = ShellState(enrolled=True)
    state.apply(_open())
    actions = Recorded()
    menu = QtWidgets.QMenu()
    fill_menu(menu, state, actions, NOW)
    entries = _entries(menu)
    assert entries == [
        "Live session with alice, 12 min left",
        "Request Support…",
        "My Cases",
        "Session with alice, case 1042: 12 min left",
        "Audit and recordings",
        "Knowledge base",
        "Settings",
        "Quit",
    ]
    assert not menu.actions()[0].isEnabled()  # the state line is not a button
    session_menu = next(a.menu() for a in menu.actions() if a.menu() is not None)
    by_text = {a.text(): a for a in session_menu.actions()}
    by_text["End now"].trigger()
    by_text["Show the session"].trigger()
    next(a for a in menu.actions() if a.text() == "Quit").trigger()
    assert actions.calls == [("end", "s-1"), ("open", "session", "s-1"), ("quit",)]


def test_menu_is_rebuilt_from_live_state_each_time_it_opens(qapp: Any) -> None:
    state = ShellState(enrolled=False)
    tray = TrayIcon(state, Recorded(), clock)
    assert "Enroll this computer…" in _entries(tray.menu)
    state.enrolled = True
    state.apply({"event": "case_changed", "case_number": 3, "status": "waiting_customer"})
    tray.menu.aboutToShow.emit()
    entries = _entries(tray.menu)
    assert "Enroll this computer…" not in entries
    assert "My Cases (1 waiting on you)" in entries
    tray.refresh()
    assert tray.glance is Glance.CASE_WAITING
    assert tray.icon.toolTip() == "vxassist: Case 3 waits for your answer"


def test_home_window_offers_the_same_actions_by_keyboard(qapp: Any, qtbot: Any) -> None:
    state = ShellState(enrolled=True)
    state.apply(_open())
    actions = Recorded()
    home = HomeWindow(state, actions, clock)
    qtbot.addWidget(home)
    home.show()
    qtbot.waitExposed(home)
    names = {b.objectName() for b in home.findChildren(QtWidgets.QPushButton) if b.isVisible()}
    assert {"open-request", "open-cases", "open-audit", "open-kb", "open-settings"} <= names
    for button in home.findChildren(QtWidgets.QPushButton):
        if button.isVisible():
            assert button.accessibleName(), button.text()
            assert button.focusPolicy() != QtGui.Qt.FocusPolicy.NoFocus
    end = home.findChild(QtWidgets.QPushButton, "end-now")
    assert end is not None and end.isVisible()
    end.click()
    home.buttons["request"].setFocus()
    qtbot.keyClick(home.buttons["request"], QtGui.Qt.Key.Key_Space)
    assert actions.calls == [("end", "s-1"), ("open", "request", None)]
    state.apply({"event": "session_end", "session_id": "s-1"})
    home.refresh()
    qtbot.waitUntil(lambda: home.findChild(QtWidgets.QPushButton, "end-now") is None, timeout=10000)
    # closing the window keeps the agent running (it is the only face with no tray)
    home.close()
    assert home.isVisible()
    beside_a_tray = HomeWindow(state, actions, clock, minimize_on_close=False)
    qtbot.addWidget(beside_a_tray)
    beside_a_tray.show()
    beside_a_tray.close()
    assert not beside_a_tray.isVisible()


TRAY_CHILD = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from PySide6 import QtWidgets
    from vxassist.ui.tray import ShellState, TrayIcon

    class Nothing:
        def open_window(self, name, **kw): pass
        def end_session(self, sid): pass
        def quit_asked(self): pass

    app = QtWidgets.QApplication(sys.argv[:1])
    print("available", QtWidgets.QSystemTrayIcon.isSystemTrayAvailable(), flush=True)
    state = ShellState(enrolled=True)
    tray = TrayIcon(state, Nothing(), lambda: datetime.now(UTC))
    tray.show()
    def check():
        geometry = tray.icon.geometry()
        print("visible", tray.icon.isVisible(), geometry.width() > 0, flush=True)
        app.quit()
    from PySide6.QtCore import QTimer
    QTimer.singleShot(1500, check)
    app.exec()
    """
)


TRAYER = ["trayer", "--edge", "top", "--align", "right", "--widthtype", "pixel", "--width", "200"]


def _free_display() -> int:
    for n in range(91, 120):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    pytest.skip("no free X display number")


TRAY_APP_CHILD = textwrap.dedent(
    """
    import sys
    import keyring
    from PySide6 import QtWidgets
    from PySide6.QtCore import QTimer
    from tests.fakes.memory_keyring import MemoryKeyring
    from tests.ui.shell import runtime_factory
    from vxassist.cliutil import Context
    from vxassist.remote.consent import DenyPrompter
    from vxassist.ui.app import TrayApp

    keyring.set_keyring(MemoryKeyring())
    qapp = QtWidgets.QApplication(sys.argv[:1])
    qapp.setQuitOnLastWindowClosed(False)
    ctx = Context.create()
    app = TrayApp(ctx, runtime_factory(ctx), DenyPrompter())
    print("tray", app.tray is not None, "home", app.home is not None, flush=True)
    app.start()

    def changed():
        app.bridge.event_received.emit(
            {"event": "case_changed", "case_number": 7, "status": "waiting_customer"}
        )
        QTimer.singleShot(300, look)

    def look():
        print("glance", app.tray.glance.value, flush=True)
        print("tooltip", app.tray.icon.toolTip(), flush=True)
        app.tray.menu.aboutToShow.emit()
        entries = [a.text() for a in app.tray.menu.actions() if not a.isSeparator()]
        print("menu", "|".join(entries), flush=True)
        app.quit_now()

    QTimer.singleShot(1000, changed)
    code = qapp.exec()
    print("exit", code, "agent running", app.bridge.running, flush=True)
    """
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def xvfb_tray(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """An Xvfb display with trayer as its tray; the environment to run Qt on it."""
    if not (shutil.which("Xvfb") and shutil.which("trayer")):
        pytest.skip("needs Xvfb and trayer (scripts/setup.sh installs them)")
    display = f":{_free_display()}"
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", DBUS_SESSION_BUS_ADDRESS="disabled:")
    env["PYTHONPATH"] = str(REPO)
    xvfb = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    trayer = None
    try:
        deadline = time.monotonic() + 20
        while not Path(f"/tmp/.X11-unix/X{display[1:]}").exists():
            assert time.monotonic() < deadline, "Xvfb did not start"
            time.sleep(0.1)
        trayer = subprocess.Popen(
            TRAYER, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        probe = "from PySide6 import QtWidgets as W; a = W.QApplication([]); "
        probe += "print(W.QSystemTrayIcon.isSystemTrayAvailable())"
        for _attempt in range(40):  # trayer takes a moment to claim the tray selection
            out = subprocess.run(
                [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
            ).stdout
            if out.strip() == "True":
                break
            time.sleep(0.25)
        else:
            pytest.fail("trayer never offered a tray on the Xvfb display")
        yield env
    finally:
        for proc in (trayer, xvfb):
            if proc is not None:
                proc.terminate()
                proc.wait(10)


@pytest.mark.slow
def test_the_icon_sits_in_a_real_tray_under_xvfb(xvfb_tray: dict[str, str]) -> None:
    out = subprocess.run(
        [sys.executable, "-c", TRAY_CHILD],
        env=xvfb_tray,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "available True" in out, out
    assert "visible True True" in out, out


@pytest.mark.slow
def test_the_tray_app_in_a_real_tray(xvfb_tray: dict[str, str], tmp_path: Path) -> None:
    env = dict(xvfb_tray)
    env.update(VXASSIST_HOME=str(tmp_path / "home"), VXASSIST_POLICY=str(tmp_path / "p.toml"))
    run = subprocess.run(
        [sys.executable, "-c", TRAY_APP_CHILD],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = run.stdout
    assert "tray True home False" in out, (out, run.stderr[-2000:])
    assert "glance case_waiting" in out, out
    assert "tooltip vxassist: Case 7 waits for your answer" in out, out
    menu = next(line for line in out.splitlines() if line.startswith("menu "))
    assert "Enroll this computer…" in menu and "My Cases (1 waiting on you)" in menu
    assert "exit 0 agent running False" in out, out
