"""The whole remote-session story on one machine, as ``vxassist demo --headless`` runs it.

A desk on SQLite, the machine's OpenSSH sshd as relay (driven by the desk's
relay-keys), an enrolled host that filed a case, a logged-in engineer: the
engineer asks for a shell+files session, the customer answers at the agent's
terminal (a real pseudo-terminal), the engineer works with stock ssh, sftp and
scp, the agent closes the connection at the deadline, and the host's audit
trail and recording tell exactly what happened. Also: denied at the prompt, no
answer (= denied), and an agent that refuses everything (``--consent deny``).

The grant is shortened for the test with VXASSIST_TEST_GRANT_SECONDS (the agent
caps every grant at that many seconds; the desk signs that window).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import STEP_S, Demo, Terminal, vxassist
from vxassist.demo import DEMO_CASE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        os.geteuid() != 0 or not Path("/usr/sbin/sshd").exists() or not shutil.which("sftp"),
        reason="the story runs the machine's OpenSSH sshd as relay: needs root and OpenSSH",
    ),
]

GRANT_S = 20
# long enough for a loaded machine to show the prompt and take three answers
CONSENT_TIMEOUT_S = 12


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    running = Demo(
        tmp_path_factory.mktemp("story"),
        consent="tty",
        consent_timeout_s=CONSENT_TIMEOUT_S,
        grant_seconds=GRANT_S,
        relay="openssh",
    )
    try:
        yield running
    finally:
        code = running.close()
        assert code == 0, running.terminal.text[-3000:]
        # Ctrl-C stopped everything the demo started: the desk no longer answers
        with (
            pytest.raises(OSError),
            socket.create_connection(
                ("127.0.0.1", int(running.facts["desk_url"].rsplit(":", 1)[1])), timeout=2
            ),
        ):
            pass


def start_request(
    demo: Demo, *scopes: str, minutes: int = 2, case: int | None = None
) -> subprocess.Popen[str]:
    """``vxassist engineer request CASE ...`` in the background (it waits for the answer)."""
    args = ["engineer", "request", str(case or demo.facts["case_number"])]
    for scope in scopes:
        args += ["--scope", scope]
    args += ["--minutes", str(minutes), "--reason", "check the call record import", "--json"]
    return subprocess.Popen(
        vxassist(*args),
        env=demo.env("engineer_home"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, dict[str, Any], str]:
    out, err = proc.communicate(timeout=STEP_S * 2)
    try:
        answer = json.loads(out)
    except ValueError:
        answer = {}
    return proc.returncode, answer if isinstance(answer, dict) else {}, err


def audit(demo: Demo, session_id: str) -> list[dict[str, Any]]:
    shown = demo.host("audit", "show", "--json")
    records = json.loads(shown.stdout)
    return [r for r in records if r.get("session_id") == session_id]


def test_engineer_works_with_stock_tools_until_the_agent_closes_at_the_deadline(
    demo: Demo, tmp_path: Path
) -> None:
    files_root = Path(demo.facts["files_root"])
    (files_root / "seed.txt").write_text("from the host\n")
    local = tmp_path / "notes.txt"
    local.write_text("from the engineer\n")

    mark = len(demo.terminal.text)
    request = start_request(demo, "shell", "files")
    prompt = demo.terminal.expect(r"Allow this session\? \[y/N\]", start=mark)
    shown = demo.terminal.text[mark : prompt.end()]
    assert "demo-engineer" in shown
    assert re.search(rf"Case:\s+{demo.facts['case_number']}\b", shown)
    code_shown = demo.terminal.expect(r"Verification code: (\S+)", start=mark).group(1)
    demo.terminal.send("y\n")
    demo.terminal.expect(r"Scopes to allow", start=mark)
    demo.terminal.send("\n")
    demo.terminal.expect(r"Minutes to allow", start=mark)
    demo.terminal.send("\n")

    code, session, err = finish(request)
    assert code == 0, err
    assert session["status"] == "approved"
    assert session["verification_code"] == code_shown
    assert session["scopes"] == ["shell", "files"]
    sid = session["session_id"]
    config = session["ssh_config"]
    host = f"vx-session-{sid}"
    not_after = datetime.fromisoformat(session["not_after"])
    demo.wait_event("session_open", sid)

    # an interactive shell on a pseudo-terminal, kept open until the agent closes it
    shell = Terminal(["ssh", "-F", config, "-tt", host], os.environ)
    try:
        shell.send("echo story-$((6*7))\n")
        shell.expect(r"story-42")

        # a command through `engineer connect` (stock ssh underneath)
        ran = demo.engineer("connect", sid, "--", "echo", "ran-$((40+2))", "on", "$(uname -s)")
        assert "ran-42 on Linux" in ran.stdout

        # sftp put and get, as a batch
        batch = tmp_path / "batch"
        back = tmp_path / "seed-back.txt"
        batch.write_text(f"put {local} {files_root}/up.txt\nget {files_root}/seed.txt {back}\n")
        sftp = subprocess.run(
            ["sftp", "-F", config, "-b", str(batch), host],
            capture_output=True,
            text=True,
            timeout=STEP_S,
        )
        assert sftp.returncode == 0, sftp.stderr
        assert (files_root / "up.txt").read_text() == "from the engineer\n"
        assert back.read_text() == "from the host\n"

        # scp (SFTP mode in OpenSSH 9) exits 0 when the file arrived
        scp = subprocess.run(
            ["scp", "-F", config, str(local), f"{host}:{files_root}/scp.txt"],
            capture_output=True,
            text=True,
            timeout=STEP_S,
        )
        assert scp.returncode == 0, scp.stderr
        assert (files_root / "scp.txt").read_text() == "from the engineer\n"

        # nothing outside the files root
        outside = subprocess.run(
            ["sftp", "-F", config, "-b", "-", host],
            input="get /etc/hostname\n",
            capture_output=True,
            text=True,
            timeout=STEP_S,
        )
        assert outside.returncode != 0

        # the agent ends the session at the deadline: the open shell is closed by it
        shell.proc.wait(timeout=GRANT_S + STEP_S)
    finally:
        shell.close()
    assert datetime.now(UTC) >= not_after
    ended = demo.wait_event("session_end", sid)
    assert ended["reason"] == "the grant's time is up"

    # the grant is over: a new connection is refused (the relay no longer opens the port,
    # and the agent's tunnel is closed)
    late = subprocess.run(
        ["ssh", "-F", config, host, "true"], capture_output=True, text=True, timeout=STEP_S
    )
    assert late.returncode == 255

    # the audit trail tells what happened, in order
    records = audit(demo, sid)
    events = [r["event"] for r in records]
    for earlier, later in [
        ("request", "prompt"),
        ("prompt", "decision"),
        ("decision", "session_start"),
        ("session_start", "login"),
        ("login", "process"),
        ("process", "file"),
        ("file", "teardown"),
    ]:
        assert earlier in events and later in events, events
        assert events.index(earlier) < events.index(later), events
    decision = next(r for r in records if r["event"] == "decision")
    assert decision["approved"] is True and decision["by"] == "customer"
    files = {(r["op"], Path(r["path"]).name) for r in records if r["event"] == "file"}
    assert {("upload", "up.txt"), ("download", "seed.txt"), ("upload", "scp.txt")} <= files
    commands = " ".join(str(r.get("command")) for r in records if r["event"] == "process")
    assert "ran-$((40+2))" in commands
    teardown = next(r for r in records if r["event"] == "teardown")
    assert teardown["reason"] == "the grant's time is up"
    assert demo.host("audit", "verify").returncode == 0

    # the recording of the interactive shell is asciicast v2 and holds what it showed
    recordings = sorted(Path(demo.facts["host_home"], "data", "recordings").glob("*.cast"))
    outputs = []
    for path in recordings:
        lines = path.read_text().splitlines()
        header = json.loads(lines[0])
        assert header["version"] == 2 and header["width"] > 0
        frames = [json.loads(line) for line in lines[1:] if line.strip()]
        assert all(isinstance(f[0], int | float) and f[1] in ("o", "i", "r") for f in frames)
        outputs.append("".join(f[2] for f in frames if f[1] == "o"))
    assert any("story-42" in text for text in outputs)

    # the desk has the summary on the session (and so on the case)
    listed = json.loads(demo.engineer("list", "--json").stdout)
    mine = next(s for s in listed["sessions"] if s["session_id"] == sid)
    assert mine["status"] == "ended"
    assert mine["summary"]["end_reason"] == "the grant's time is up"


def test_denied_at_the_prompt(demo: Demo) -> None:
    mark = len(demo.terminal.text)
    request = start_request(demo, "shell")
    demo.terminal.expect(r"Allow this session\? \[y/N\]", start=mark)
    demo.terminal.send("n\n")
    code, session, _ = finish(request)
    assert code != 0
    assert session["status"] == "denied"
    records = audit(demo, session["session_id"])
    decision = next(r for r in records if r["event"] == "decision")
    assert decision["approved"] is False and decision["by"] == "customer"
    assert "session_start" not in [r["event"] for r in records]


def test_no_answer_in_time_is_a_denial(demo: Demo) -> None:
    mark = len(demo.terminal.text)
    request = start_request(demo, "files")
    demo.terminal.expect(r"Allow this session\? \[y/N\]", start=mark)
    demo.terminal.expect(
        r"No answer in time: denied", start=mark, timeout_s=CONSENT_TIMEOUT_S + STEP_S
    )
    code, session, _ = finish(request)
    assert code != 0
    assert session["status"] == "denied"
    decision = next(r for r in audit(demo, session["session_id"]) if r["event"] == "decision")
    assert decision["approved"] is False


def test_an_agent_with_consent_deny_refuses_without_asking(demo: Demo, tmp_path: Path) -> None:
    """A second host on the same desk runs ``vxassist agent --consent deny``."""
    from vxassist.desk import admin
    from vxassist.desk.config import DeskConfig
    from vxassist.desk.db import Database

    db = Database(demo.facts["db_url"])
    try:
        code = admin.new_code(db, "DEMO-0001", datetime.now(UTC), DeskConfig(), None)["code"]
    finally:
        db.dispose()
    home = tmp_path / "second-host"
    (home / "config").mkdir(parents=True)
    (home / "config" / "settings.toml").write_text('secrets_backend = "file"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("VXASSIST_")}
    env.update(VXASSIST_HOME=str(home), VXASSIST_POLICY=str(home / "policy.toml"))

    def host(*args: str) -> str:
        done = subprocess.run(
            vxassist(*args),
            env=env,
            capture_output=True,
            text=True,
            timeout=STEP_S,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    host("enroll", "--desk", demo.facts["desk_url"], "--code", str(code))
    fields: list[str] = []
    for name, value in DEMO_CASE.items():
        fields += ["--" + name.replace("_", "-"), value]
    case = json.loads(host("case", "new", *fields, "--no-system-report", "--json"))
    number = case.get("case_number") or (case.get("answer") or {}).get("case_number")
    agent = Terminal(vxassist("agent", "--consent", "deny", "--json"), env)
    try:
        agent.expect(r'"message": "running for')
        request = start_request(demo, "shell", case=int(number))
        code_, session, _ = finish(request)
        assert code_ != 0
        assert session["status"] == "denied"
        agent.expect(r'"event": "refused"')
        assert "Allow this session?" not in agent.text
        # SIGTERM (a service manager's stop) ends it like Ctrl-C: orderly, exit 0
        agent.proc.send_signal(signal.SIGTERM)
        assert agent.proc.wait(timeout=STEP_S) == 0
        agent.expect(r'"message": "stopped"')
    finally:
        agent.close()
    shown = subprocess.run(
        vxassist("audit", "show", "--json"), env=env, capture_output=True, text=True, timeout=STEP_S
    )
    records = [r for r in json.loads(shown.stdout) if r.get("session_id") == session["session_id"]]
    decision = next(r for r in records if r["event"] == "decision")
    assert decision["approved"] is False and decision["by"] == "agent"
    assert "nobody can answer" in decision["reason"]


def test_ctrl_c_ends_a_live_session_and_stops_everything(demo: Demo, tmp_path: Path) -> None:
    """Last in this module: stopping the demo while an engineer is connected."""
    mark = len(demo.terminal.text)
    request = start_request(demo, "shell")
    demo.terminal.expect(r"Allow this session\? \[y/N\]", start=mark)
    demo.terminal.send("y\n")
    demo.terminal.expect(r"Minutes to allow", start=mark)
    demo.terminal.send("\n")
    code, session, err = finish(request)
    assert code == 0, err
    sid = session["session_id"]
    shell = Terminal(["ssh", "-F", session["ssh_config"], "-tt", f"vx-session-{sid}"], os.environ)
    try:
        shell.send("echo live-$((3*3))\n")
        shell.expect(r"live-9")
        assert demo.close() == 0
        # the agent closed the engineer's connection before it exited
        shell.proc.wait(timeout=STEP_S)
    finally:
        shell.close()
    records = audit(demo, sid)
    teardown = next(r for r in records if r["event"] == "teardown")
    assert teardown["reason"] == "agent stopped"
    assert demo.host("audit", "verify").returncode == 0
    # the end reached the desk before it stopped
    listed = subprocess.run(
        vxassist("desk", "session", "list", "--db", demo.facts["db_url"], "--json"),
        env=demo.env("host_home"),
        capture_output=True,
        text=True,
        timeout=STEP_S,
    )
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    rows = data["sessions"] if isinstance(data, dict) else data
    mine = next(r for r in rows if r["session_id"] == sid)
    assert mine["status"] == "ended"


def test_the_demo_without_sshd_uses_the_development_relay(tmp_path: Path) -> None:
    """``--relay dev`` (what the demo picks without sshd): same story, same rules."""
    demo = Demo(tmp_path, consent="tty", consent_timeout_s=60, relay="dev")
    try:
        assert "development relay" in demo.facts["relay"]
        mark = len(demo.terminal.text)
        request = start_request(demo, "shell")
        demo.terminal.expect(r"Allow this session\? \[y/N\]", start=mark)
        demo.terminal.send("y\n")
        demo.terminal.expect(r"Minutes to allow", start=mark)
        demo.terminal.send("\n")
        code, session, err = finish(request)
        assert code == 0, err
        ran = demo.engineer("connect", session["session_id"], "--", "echo", "dev-$((2+2))")
        assert "dev-4" in ran.stdout
        demo.engineer("revoke", session["session_id"], "--reason", "done")
        ended = demo.wait_event("session_end", session["session_id"])
        assert ended["reason"] == "revoked"
        late = demo.engineer("connect", session["session_id"], "--", "true", check=False)
        assert late.returncode != 0
    finally:
        assert demo.close() == 0
