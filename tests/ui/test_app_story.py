"""The tray's part of the story on real parts: a request arrives, Allow with a
narrowed scope, live (the engineer's typed text in the window), more time asked
and approved, End now, the recording replayed, Quit.

The demo's stack (``vxassist.demo.DemoStack``: a desk on SQLite, a relay, an
enrolled host with a filed case, a logged-in engineer) runs on this machine;
the tray app runs in this process over the real runtime with the Qt consent
prompt, as the host's user. The engineer asks with ``vxassist engineer
request``, types in a stock ``ssh`` and asks for more time with ``vxassist
engineer extend``; the customer answers in the prompt and the live-session
window and ends the session from the window that stands in for the tray here
(offscreen has no tray). ``scripts/walkthrough.sh`` walks the same story under
Xvfb with a tray, from enrollment on, and pictures it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6.QtWidgets")

from tests.ui.shell import runtime_factory
from vxassist.cliutil import Context
from vxassist.demo import DemoStack
from vxassist.ui.app import TrayApp
from vxassist.ui.consent import ExtensionPrompt, QtPrompter
from vxassist.ui.qt import Qt, QtWidgets
from vxassist.ui.tray import Glance

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not shutil.which("ssh"), reason="the engineer's side needs OpenSSH ssh"),
]

WAIT = 60000


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoStack]:
    running = DemoStack(tmp_path / "demo", relay="auto", consent_timeout_s=90, say=lambda _t: None)
    try:
        running.start()
    except Exception as exc:  # a machine where the demo cannot run at all
        running.stop()
        pytest.skip(f"the demo stack cannot start here: {exc}")
    for name, value in running.host_env().items():
        if name.startswith("VXASSIST_"):
            monkeypatch.setenv(name, value)
    try:
        yield running
    finally:
        running.stop()


def test_request_narrowed_live_extended_end_now_replayed_quit(
    qapp: Any, qtbot: Any, stack: DemoStack
) -> None:
    ctx = Context.create()
    prompter = QtPrompter(allow_delay_ms=300)
    app = TrayApp(ctx, runtime_factory(ctx), prompter, use_tray=False)
    seen: list[tuple[str, str]] = []
    app.bridge.event_received.connect(
        lambda e: seen.append((str(e.get("event")), str(e.get("session_id"))))
    )
    app.start()
    try:
        home = app.home
        assert home is not None
        qtbot.waitUntil(lambda: app.state.enrolled, timeout=WAIT)

        engineer = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vxassist",
                "engineer",
                "request",
                str(stack.case_number),
                "--scope",
                "shell",
                "--scope",
                "files",
                "--minutes",
                "5",
                "--reason",
                "look at the call record import",
                "--json",
            ],
            env=stack.engineer_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        try:
            # the prompt is up, and the tray's face says someone asks
            qtbot.waitUntil(lambda: bool(prompter.open_prompts()), timeout=WAIT)
            qtbot.waitUntil(lambda: app.state.glance() is Glance.REQUEST, timeout=WAIT)
            assert "asks to connect" in home._summary.text()
            dialog: Any = prompter.open_prompts()[0]
            # the customer allows the shell, not the files
            (files_box,) = [b for sc, b in dialog.scope_boxes.items() if str(sc) == "files"]
            files_box.setChecked(False)
            qtbot.waitUntil(lambda: dialog.allow_button.isEnabled(), timeout=WAIT)
            qtbot.mouseClick(dialog.allow_button, Qt.MouseButton.LeftButton)
            out, err = engineer.communicate(timeout=WAIT / 1000)
        finally:
            if engineer.poll() is None:
                engineer.kill()
        assert engineer.returncode == 0, err
        session = json.loads(out)
        assert session["status"] == "approved"
        assert session["scopes"] == ["shell"]
        sid = session["session_id"]

        # live: the icon state, the home window's row and the session window
        qtbot.waitUntil(lambda: sid in app.state.live, timeout=WAIT)
        assert app.state.glance() is Glance.LIVE
        assert app.session_window is not None and app.session_window.isVisible()

        # the engineer is in, with stock ssh on a terminal, and types; the customer watches
        shell = subprocess.Popen(
            ["ssh", "-F", session["ssh_config"], "-tt", f"vx-session-{sid}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            qtbot.waitUntil(lambda: ("login", sid) in seen, timeout=WAIT)
            window: Any = app.session_window
            panel = window.panel(sid)
            assert panel is not None
            qtbot.waitUntil(lambda: bool(panel.terminals), timeout=WAIT)
            assert shell.stdin is not None
            shell.stdin.write(b"echo tray-sees-$((40+2))\n")
            shell.stdin.flush()
            (view,) = panel.terminals.values()
            qtbot.waitUntil(lambda: "tray-sees-42" in view.text(), timeout=WAIT)
            assert "echo tray-sees-$((40+2))" in view.text()  # what the engineer typed

            # the engineer asks for more time; the customer approves in the window
            extending = subprocess.Popen(
                [sys.executable, "-m", "vxassist", "engineer", "extend", sid, "--minutes", "5",
                 "--reason", "one more import run", "--json"],
                env=stack.engineer_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                qtbot.waitUntil(lambda: panel.findChild(ExtensionPrompt) is not None, timeout=WAIT)
                ask: Any = panel.findChild(ExtensionPrompt)
                assert "5 more minutes" in ask.findChild(QtWidgets.QLabel).text()
                qtbot.waitUntil(lambda: ask.allow_button.isEnabled(), timeout=WAIT)
                before = panel.not_after
                qtbot.mouseClick(ask.allow_button, Qt.MouseButton.LeftButton)
                _out, err = extending.communicate(timeout=WAIT / 1000)
            finally:
                if extending.poll() is None:
                    extending.kill()
            assert extending.returncode == 0, err
            qtbot.waitUntil(lambda: panel.not_after > before, timeout=WAIT)
            assert (panel.not_after - before).total_seconds() == pytest.approx(300, abs=5)
            assert any("extended by 5 minutes" in line for line in panel.activity_lines())

            end = home.findChild(QtWidgets.QPushButton, "end-now")
            assert end is not None
            qtbot.mouseClick(end, Qt.MouseButton.LeftButton)
            # End now closes the engineer's connection, and the tray goes back to idle
            shell.wait(WAIT / 1000)
        finally:
            if shell.poll() is None:
                shell.kill()
        qtbot.waitUntil(lambda: sid not in app.state.live, timeout=WAIT)
        assert app.state.glance() is Glance.IDLE
        qtbot.waitUntil(lambda: home.findChild(QtWidgets.QPushButton, "end-now") is None)

        # the recording replays in the audit viewer, to the screen the engineer saw last
        audit: Any = app.open_window("audit")
        assert audit is not None
        qtbot.waitUntil(lambda: audit.recordings.count() > 0, timeout=WAIT)
        (row,) = [
            r
            for r in range(audit.recordings.count())
            if sid in str(audit.recordings.item(r).data(Qt.ItemDataRole.UserRole))
        ]
        audit.tabs.setCurrentIndex(1)
        audit.recordings.setCurrentRow(row)
        player = audit.player
        qtbot.waitUntil(lambda: player.cast is not None, timeout=WAIT)
        player.speed.setCurrentIndex(player.speed.findData(8.0))
        player.play()
        qtbot.waitUntil(lambda: not player.playing, timeout=WAIT)
        assert "tray-sees-42" in player.view.text()
        assert "echo tray-sees-$((40+2))" in player.view.text()
    finally:
        quitted: list[bool] = []
        app.quitted.connect(lambda: quitted.append(True))
        app.quit_now()
        qtbot.waitUntil(lambda: bool(quitted), timeout=WAIT)
    assert not app.bridge.running
