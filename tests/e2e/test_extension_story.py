"""An extension as ``vxassist demo --headless`` runs it: the engineer asks with
``vxassist engineer extend``, the customer answers at the agent's terminal (a real
pseudo-terminal: y, then fewer minutes), the open shell outlives the old end and
is closed at the new one, and the host's audit trail tells the story.

Grants and extensions are shortened with VXASSIST_TEST_GRANT_SECONDS (the agent caps
each at that many seconds; the desk signs that window).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.harness import STEP_S, Demo, Terminal, vxassist
from tests.e2e.test_story import audit, finish, start_request

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        os.geteuid() != 0 or not Path("/usr/sbin/sshd").exists() or not shutil.which("ssh"),
        reason="the story runs the machine's OpenSSH sshd as relay: needs root and OpenSSH",
    ),
]

GRANT_S = 20
CONSENT_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    running = Demo(
        tmp_path_factory.mktemp("extension-story"),
        consent="tty",
        consent_timeout_s=CONSENT_TIMEOUT_S,
        grant_seconds=GRANT_S,
        relay="openssh",
    )
    try:
        yield running
    finally:
        assert running.close() == 0, running.terminal.text[-3000:]


def test_the_customer_approves_fewer_minutes_at_the_terminal_and_the_shell_lives_on(
    demo: Demo,
) -> None:
    mark = len(demo.terminal.text)
    request = start_request(demo, "shell")
    demo.terminal.expect(r"Allow this session\? \[y/N\]", start=mark)
    demo.terminal.send("y\n")
    demo.terminal.expect(r"Minutes to allow", start=mark)
    demo.terminal.send("\n")
    code, session, err = finish(request)
    assert code == 0, err
    sid = session["session_id"]
    old_end = datetime.fromisoformat(session["not_after"])
    demo.wait_event("session_open", sid)

    shell = Terminal(["ssh", "-F", session["ssh_config"], "-tt", f"vx-session-{sid}"], os.environ)
    try:
        shell.send("echo before-$((40+2))\n")
        shell.expect(r"before-42")

        mark = len(demo.terminal.text)
        extend = subprocess.Popen(
            vxassist(
                "engineer",
                "extend",
                sid,
                "--minutes",
                "3",
                "--reason",
                "a second import run",
                "--json",
            ),
            env=demo.env("engineer_home"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        prompt = demo.terminal.expect(r"Allow more time for this session\? \[y/N\]", start=mark)
        shown = demo.terminal.text[mark : prompt.end()]
        assert "a second import run" in shown and "3 more minutes" in shown
        demo.terminal.send("y\n")
        demo.terminal.expect(r"Minutes to add \(1-3", start=mark)
        demo.terminal.send("2\n")
        out, err = extend.communicate(timeout=STEP_S)
        assert extend.returncode == 0, err
        answer = json.loads(out)
        assert answer["status"] == "approved"
        new_end = datetime.fromisoformat(answer["session"]["not_after"])
        # two minutes approved, each extension capped at GRANT_S here
        assert new_end == old_end + timedelta(seconds=GRANT_S)

        # past the old end the shell still answers
        shell.wait_for(lambda: datetime.now(UTC) > old_end + timedelta(seconds=1), GRANT_S + 10)
        mark_shell = len(shell.text)
        shell.send("echo after-$((40+2))\n")
        shell.expect(r"after-42", start=mark_shell)
        # and the agent closes it at the new end
        shell.proc.wait(timeout=GRANT_S + STEP_S)
    finally:
        shell.close()
    assert datetime.now(UTC) >= new_end
    assert demo.wait_event("session_end", sid)["reason"] == "the grant's time is up"

    # an extension for a session that is over is refused with a sentence
    late = demo.engineer("extend", sid, "--minutes", "1", check=False)
    assert late.returncode != 0 and "cannot be extended" in late.stderr

    events = [r["event"] for r in audit(demo, sid)]
    for earlier, later in [
        ("session_start", "extension_requested"),
        ("extension_requested", "extension_decision"),
        ("extension_decision", "session_extended"),
        ("session_extended", "teardown"),
    ]:
        assert earlier in events and later in events, events
        assert events.index(earlier) < events.index(later), events
    decision = next(r for r in audit(demo, sid) if r["event"] == "extension_decision")
    assert decision["approved"] is True and decision["minutes"] == 2
