"""The tray face composed: real runtime, events routed, Quit, single instance, no display."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6.QtWidgets")

from tests.ui.shell import tray_app
from vxassist import control
from vxassist.paths import Paths
from vxassist.ui.qt import QtWidgets

pytestmark = [pytest.mark.timeout(180)]


def _message_boxes() -> list[QtWidgets.QMessageBox]:
    return [
        w
        for w in QtWidgets.QApplication.topLevelWidgets()
        if isinstance(w, QtWidgets.QMessageBox) and w.isVisible()
    ]


def test_events_reach_the_home_window_and_missing_windows_say_so(qapp: Any, qtbot: Any) -> None:
    with tray_app() as app:
        assert app.tray is None and app.home is not None  # offscreen has no tray
        qtbot.waitUntil(lambda: app.bridge.runtime is not None, timeout=30000)
        # a case that waits on the customer shows on the home window
        app.on_event({"event": "case_changed", "case_number": 7, "status": "waiting_customer"})
        assert app.home._summary.text() == "Case 7 waits for your answer"
        assert app.home.buttons["cases"].text() == "My Cases (1 waiting on you)"
        # a window whose module is not in this build: a calm sentence, not a crash
        app.open_window("no-such-window")
        boxes = _message_boxes()
        assert boxes and "not available" in boxes[-1].text()
        assert not boxes[-1].isModal()
        boxes[-1].accept()
        # settings opens from the registry, and again it is the same window
        first = app.open_window("settings")
        assert first is not None and first.isVisible()
        assert app.open_window("settings") is first
        first.close()  # closed, it opens afresh next time (its data read again)
        again = app.open_window("settings")
        assert again is not None and again is not first and again.isVisible()
        # the other windows of the build open from the same registry
        for name, module, cls in (
            ("request", "vxassist.ui.request", "RequestWindow"),
            ("cases", "vxassist.ui.cases_window", "MyCasesWindow"),
            ("audit", "vxassist.ui.audit_window", "AuditWindow"),
        ):
            if importlib.util.find_spec(module) is None:
                continue
            window = app.open_window(name)
            assert type(window).__name__ == cls and window.isVisible(), name


def test_a_second_instance_is_brought_forward_through_the_control_channel(
    qapp: Any, qtbot: Any, paths: Paths
) -> None:
    with tray_app() as app:
        qtbot.waitUntil(lambda: control.control_file(paths).exists(), timeout=30000)
        assert app.home is not None
        app.home.showMinimized()
        answered: list[Any] = []
        # what a second `vxassist` does first; the GUI keeps running meanwhile
        import threading

        threading.Thread(
            target=lambda: answered.append(control.ask(paths, "show")), daemon=True
        ).start()
        qtbot.waitUntil(lambda: bool(answered), timeout=30000)
        assert answered[0] == {"face": "tray"}
        qtbot.waitUntil(lambda: not app.home.isMinimized(), timeout=10000)


def test_quit_asks_then_stops_the_agent(qapp: Any, qtbot: Any) -> None:
    with tray_app() as app:
        qtbot.waitUntil(lambda: app.bridge.runtime is not None, timeout=30000)
        box = app.quit_asked()
        assert box.isVisible() and not box.isModal()
        assert "Engineers cannot ask to connect" in box.informativeText()
        stay = next(b for b in box.buttons() if b.text() == "Keep running")
        assert box.defaultButton() is stay
        stay.click()
        assert app.bridge.running
        box = app.quit_asked()
        quitted: list[bool] = []
        app.quitted.connect(lambda: quitted.append(True))
        next(b for b in box.buttons() if b.text() == "Quit").click()
        qtbot.waitUntil(lambda: bool(quitted), timeout=30000)
        assert not app.bridge.running
        assert app.home is not None and not app.home.isVisible()


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(VXASSIST_HOME=str(home), VXASSIST_POLICY=str(home / "policy.toml"), **extra)
    return env


def test_no_display_says_to_run_the_headless_agent(tmp_path: Path) -> None:
    env = _env(tmp_path)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        env.pop(name, None)
    run = subprocess.run(
        [sys.executable, "-m", "vxassist"], env=env, capture_output=True, text=True, timeout=60
    )
    if sys.platform.startswith("linux"):
        assert run.returncode != 0
        assert "no display here: run `vxassist agent` for the headless agent" in run.stderr
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, vxassist.app as a; a.run_default(); print('PySide6' in sys.modules)",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert probe.stdout.strip() == "False"


@pytest.mark.slow
def test_two_tray_processes_one_agent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = _env(home, QT_QPA_PLATFORM="offscreen", DBUS_SESSION_BUS_ADDRESS="disabled:")
    first = subprocess.Popen(
        [sys.executable, "-m", "vxassist"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        paths = Paths.from_env(env)
        deadline = time.monotonic() + 60
        while control.read_control_file(paths) is None:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first tray never opened its control channel"
            time.sleep(0.1)
        second = subprocess.run(
            [sys.executable, "-m", "vxassist"], env=env, capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stderr
        assert first.poll() is None
        first.send_signal(signal.SIGTERM)  # a signal quits like Quit does: sessions end first
        assert first.wait(60) == 0
        assert control.ask(paths, "ping") is None
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)


def test_a_live_session_shows_in_the_session_window_and_the_home_window(
    qapp: Any, qtbot: Any
) -> None:
    pytest.importorskip("vxassist.ui.session_window")
    from datetime import UTC, datetime, timedelta

    with tray_app() as app:
        assert app.session_window is None  # an idle agent does not pay for it
        opened = {
            "event": "session_open",
            "session_id": "s-42",
            "engineer": "alice",
            "case_number": 1042,
            "scopes": ["shell"],
            "not_after": (datetime.now(UTC) + timedelta(minutes=20)).isoformat(),
        }
        app.bridge.event_received.emit(opened)  # as the runtime's event arrives
        assert app.state.glance().value == "live"
        qtbot.waitUntil(lambda: app.session_window.isVisible(), timeout=10000)
        assert app.open_window("session", session_id="s-42") is app.session_window
        assert app.home is not None
        assert app.home.findChild(QtWidgets.QPushButton, "end-now") is not None
        assert app.home._summary.text().startswith("Live session with alice, 2")
        app.bridge.event_received.emit(
            {"event": "session_end", "session_id": "s-42", "reason": "ended by the customer"}
        )
        qtbot.waitUntil(
            lambda: app.home.findChild(QtWidgets.QPushButton, "end-now") is None, timeout=10000
        )
        assert app.state.glance().value == "idle"


def test_end_now_failure_and_case_notifications(
    qapp: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with tray_app() as app:
        qtbot.waitUntil(lambda: app.bridge.runtime is not None, timeout=30000)
        # End now for a session that is gone: the runtime's sentence, in a window
        app.end_session("gone-1")
        qtbot.waitUntil(
            lambda: any("No live session" in b.text() for b in _message_boxes()), timeout=30000
        )
        for box in _message_boxes():
            box.accept()
        shown: list[tuple[str, str]] = []
        monkeypatch.setattr(app, "notify", lambda title, text: shown.append((title, text)))
        changed = {
            "event": "case_changed",
            "case_number": 7,
            "status": "waiting_customer",
            "brief": "No call records since 9:00",
        }
        app.on_event(changed)
        assert shown == [("Case 7: Waiting on customer", "No call records since 9:00")]
        app.prefs = type(app.prefs)(notifications=False)
        app.on_event({**changed, "status": "resolved"})
        assert len(shown) == 1  # switched off in settings: the state changes, no balloon
        assert app.state.cases[7].status == "resolved"


def test_the_tray_does_not_start_beside_a_headless_agent(
    qapp: Any, qtbot: Any, paths: Paths, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.ui.shell import recorded_report
    from vxassist.cliutil import Context
    from vxassist.remote.consent import DenyPrompter
    from vxassist.runtime import AgentRuntime
    from vxassist.ui.app import run_tray
    from vxassist.ui.bridge import Bridge

    ctx = Context.create()
    headless = Bridge(
        lambda prompter, emit: AgentRuntime(
            ctx, prompter, emit, face="headless", collect_report=recorded_report
        ),
        DenyPrompter(),
    )
    headless.start()
    try:
        qtbot.waitUntil(lambda: control.control_file(paths).exists(), timeout=30000)
        assert run_tray(ctx) == 1
        assert "the headless agent (`vxassist agent`) already runs" in capsys.readouterr().err
    finally:
        headless.stop(30.0)


def test_an_agent_that_cannot_start_says_why_then_the_app_leaves(qapp: Any, qtbot: Any) -> None:
    from vxassist.errors import ConfigError
    from vxassist.remote.consent import DenyPrompter
    from vxassist.ui.app import TrayApp

    def broken(prompter: Any, emit: Any) -> Any:
        raise ConfigError("The settings file is not valid TOML; fix or remove it and try again.")

    from vxassist.cliutil import Context

    app = TrayApp(Context.create(), broken, DenyPrompter(), use_tray=False)
    quitted: list[bool] = []
    app.quitted.connect(lambda: quitted.append(True))
    app.start()
    qtbot.waitUntil(
        lambda: any("not valid TOML" in b.text() for b in _message_boxes()), timeout=30000
    )
    assert app.home is not None and app.home.isVisible()  # nothing vanished under the reader
    next(b for b in _message_boxes() if "not valid TOML" in b.text()).accept()
    qtbot.waitUntil(lambda: bool(quitted), timeout=30000)
    assert not app.bridge.running
