"""`vxassist demo` runs the tray where there is a display, else says to use --headless."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("PySide6.QtWidgets")

WAIT_S = 120.0


def demo_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
        and not k.startswith("VXASSIST_")
    }
    env["VXASSIST_HOME"] = str(tmp_path / "home")
    env["DBUS_SESSION_BUS_ADDRESS"] = "disabled:"
    env.update(extra)
    return env


def test_without_a_display_the_demo_says_to_use_headless_and_starts_nothing(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "vxassist", "demo", "--folder", str(folder)],
        env=demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert "no display" in done.stderr
    assert "vxassist demo --headless" in done.stderr
    assert not folder.exists()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_with_a_display_the_demo_runs_the_tray_and_ctrl_c_stops_all(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "vxassist", "demo", "--folder", str(folder)],
            env=demo_env(tmp_path, QT_QPA_PLATFORM="offscreen"),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own group: the Ctrl-C below reaches it alone
        )
    try:
        deadline = time.monotonic() + WAIT_S
        while "starting the tray agent" not in log.read_text():
            assert demo.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        # the agent on the demo's host is the tray: a second `vxassist` brings it forward
        host = demo_env(
            tmp_path,
            QT_QPA_PLATFORM="offscreen",
            VXASSIST_HOME=str(folder / "host"),
            VXASSIST_POLICY=str(folder / "host" / "policy.toml"),
        )

        def vx(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "vxassist", *args],
                env=host,
                capture_output=True,
                text=True,
                timeout=WAIT_S,
                stdin=subprocess.DEVNULL,
            )

        while vx("session", "list").returncode != 0:  # until the agent answers
            assert demo.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        second = vx()
        assert second.returncode == 0, second.stderr
        assert "its window was brought forward" in second.stderr
        # Ctrl-C at the demo's terminal: the tray quits, then the demo stops its servers
        os.killpg(demo.pid, signal.SIGINT)
        assert demo.wait(WAIT_S) == 0, log.read_text()
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    text = log.read_text()
    assert "agent stopped (exit 0); stopping the desk and the relay" in text
