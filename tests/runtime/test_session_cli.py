"""``vxassist session list|end`` against a running headless agent with an engineer connected.

``vxassist demo --headless`` runs a desk, a relay (the machine's OpenSSH sshd
where it can, else the development relay) and the agent on a pseudo-terminal;
the demo's engineer asks for a shell, the customer approves at the agent's
prompt, and the engineer logs in with stock ``ssh``. Then, from another
process of the host's account, ``vxassist session end ID`` closes the
engineer's connection while the agent keeps running.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import STEP_S, Demo, Terminal, vxassist

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not shutil.which("ssh"), reason="needs the OpenSSH client"),
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    running = Demo(tmp_path_factory.mktemp("session-cli"), consent="tty", consent_timeout_s=60)
    try:
        yield running
    finally:
        assert running.close() == 0, running.terminal.text[-3000:]


def approved_session(demo: Demo) -> dict[str, Any]:
    """An engineer's shell request, approved at the agent's terminal; the desk's answer."""
    mark = len(demo.terminal.text)
    request = subprocess.Popen(
        vxassist(
            "engineer",
            "request",
            str(demo.facts["case_number"]),
            "--scope",
            "shell",
            "--minutes",
            "10",
            "--reason",
            "check the collector",
            "--json",
        ),
        env=demo.env("engineer_home"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    demo.terminal.expect(r"Allow this session\? \[y/N\]", start=mark)
    demo.terminal.send("y\n")
    demo.terminal.expect(r"Minutes to allow", start=mark)
    demo.terminal.send("\n")
    out, err = request.communicate(timeout=STEP_S * 2)
    assert request.returncode == 0, err
    session: dict[str, Any] = json.loads(out)
    demo.wait_event("session_open", session["session_id"])
    return session


def sessions(demo: Demo) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = json.loads(demo.host("session", "list", "--json").stdout)[
        "sessions"
    ]
    return listed


def test_session_end_closes_the_engineers_connection_and_the_agent_keeps_running(
    demo: Demo,
) -> None:
    assert sessions(demo) == []
    assert "No live sessions." in demo.host("session", "list").stdout

    session = approved_session(demo)
    sid = session["session_id"]
    shell = Terminal(["ssh", "-F", session["ssh_config"], "-tt", f"vx-session-{sid}"], os.environ)
    try:
        shell.send("echo live-$((6*7))\n")
        shell.expect(r"live-42")

        listed = sessions(demo)
        assert [s["session_id"] for s in listed] == [sid]
        assert listed[0]["engineer"] == session["engineer"]
        assert listed[0]["case_number"] == demo.facts["case_number"]
        assert listed[0]["scopes"] == ["shell"]
        assert 0 < listed[0]["seconds_left"] <= 600
        human = demo.host("session", "list").stdout
        assert sid in human and session["engineer"] in human

        ended = json.loads(demo.host("session", "end", sid, "--json").stdout)
        assert ended["session_id"] == sid and ended["ended"] is True
        # the agent answered once the session was closed: the engineer's ssh ends
        shell.proc.wait(timeout=STEP_S)
    finally:
        shell.close()

    # the agent runs on, without the session
    assert demo.terminal.proc.poll() is None
    assert sessions(demo) == []
    end_event = demo.wait_event("session_end", sid)
    assert end_event["reason"] == "ended by the customer"
    records = json.loads(demo.host("audit", "show", "--json").stdout)
    teardown = next(r for r in records if r["event"] == "teardown" and r["session_id"] == sid)
    assert teardown["reason"] == "ended by the customer"

    # the end reached the desk, and the grant does not open again
    deadline = time.monotonic() + STEP_S
    while True:
        listed_at_desk = json.loads(demo.engineer("list", "--json").stdout)["sessions"]
        mine = next(s for s in listed_at_desk if s["session_id"] == sid)
        if mine["status"] == "ended" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert mine["status"] == "ended"
    late = demo.engineer("connect", sid, "--", "true", check=False)
    assert late.returncode != 0

    # ending it again: a sentence, non-zero, and still no harm to the agent
    again = demo.host("session", "end", sid, check=False)
    assert again.returncode == 1
    assert "No live session" in again.stderr and "Traceback" not in again.stderr
    assert demo.terminal.proc.poll() is None


def test_a_second_agent_of_the_same_account_does_not_start(demo: Demo) -> None:
    second = demo.host("agent", "--consent", "deny", check=False)
    assert second.returncode == 1
    assert "already running" in second.stderr and "Traceback" not in second.stderr
    # the first one still answers
    assert sessions(demo) == []


def test_without_a_running_agent_the_commands_say_so(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VXASSIST_")}
    env["VXASSIST_HOME"] = str(tmp_path / "nobody")
    for args in (("session", "list"), ("session", "end", "abc", "--json")):
        done = subprocess.run(
            vxassist(*args),
            env=env,
            capture_output=True,
            text=True,
            timeout=STEP_S,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 3
        assert "No vxassist agent is running" in done.stderr
        assert done.stdout == "" and "Traceback" not in done.stderr
