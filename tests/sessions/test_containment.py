"""Containment of a session, seen from the desk: the agent's real broker and session
service, a real desk over HTTP, a real OpenSSH relay (keys from the desk) and the
stock ``ssh``. Only the person at the host is replaced (a prompter that approves).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from tests.fixtures.ssh import Engineer
from tests.remote.agent_process import write_broker_spec
from tests.remote.test_teardown import processes_with
from tests.sessions.test_connect import Chain, chain  # noqa: F401 (fixture)
from vxassist import cli
from vxassist.cases.intake import TOKEN_SECRET
from vxassist.deskclient import DeskClient
from vxassist.remote.audit import AuditLog
from vxassist.remote.broker import SessionBroker
from vxassist.remote.grants import ConsentDecision, SessionRequest
from vxassist.remote.service import RemoteSessionService
from vxassist.remote.tunnel import RelayEndpoint
from vxassist.secrets import open_secret_store
from vxassist.settings import RemotePolicy, update_user_settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

BOUND_S = 60.0
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Approve:
    """The person at the host: approves whatever is asked."""

    can_prompt: bool = True
    asked: list[str] = field(default_factory=list)

    async def ask(self, req: SessionRequest, timeout_s: float) -> ConsentDecision:
        self.asked.append(req.session_id)
        return ConsentDecision(True, req.scopes, req.minutes, "approved")


@dataclass
class Agent:
    broker: SessionBroker
    service: RemoteSessionService
    audit: AuditLog
    events: list[dict[str, Any]]


def relay_of(enrollment: dict[str, Any]) -> RelayEndpoint:
    r = enrollment["relay"]
    return RelayEndpoint(r["host"], r["port"], r["user"], r["listen_port"], r["known_hosts"])


@contextlib.asynccontextmanager
async def agent(chain: Chain, policy: RemotePolicy | None = None) -> AsyncIterator[Agent]:  # noqa: F811
    """The agent's broker and session service, as ``vxassist agent`` composes them."""
    host = chain.world.hosts["host1"]
    token = host.headers["Authorization"].split()[1]
    desk = DeskClient(chain.url, token, timeout=30)
    audit = AuditLog.for_paths(chain.paths)
    events: list[dict[str, Any]] = []
    broker_ref: list[SessionBroker] = []

    def on_service_event(event: dict[str, Any]) -> None:
        events.append(event)
        if broker_ref:
            broker_ref[0].on_service_event(event)

    service = RemoteSessionService(
        chain.paths,
        policy or RemotePolicy(file_roots=(str(chain.home),), allow_root_session=True),
        audit,
        host.enrollment["user_ca_public_key"],
        on_event=on_service_event,
        shell="/bin/sh",
        home=chain.home,
    )
    broker = SessionBroker(
        desk,
        Approve(),
        policy or RemotePolicy(),
        service,
        audit,
        lambda: frozenset({host.case_number}),
        lambda: datetime.now(UTC),
        relay=lambda: relay_of(host.enrollment),
        on_event=events.append,
        poll_wait_s=2,
    )
    broker_ref.append(broker)
    running = asyncio.ensure_future(broker.run())
    try:
        yield Agent(broker, service, audit, events)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await broker.close(report_timeout_s=5.0)
        await service.close()
        desk.close()


async def eventually(check: Callable[[], Any], timeout_s: float = BOUND_S) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not (found := check()):
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)
    return found


def engineer_view(
    chain: Chain,  # noqa: F811
    session_id: str,
) -> dict[str, Any]:
    answer = chain.world.client.get(
        f"/api/v1/engineer/sessions/{session_id}", headers=chain.world.engineers["alice"]
    )
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def test_a_relay_refusing_the_tunnel_fails_the_session_at_the_desk(chain: Chain) -> None:  # noqa: F811
    host = chain.world.hosts["host1"]
    port = int(host.enrollment["relay"]["listen_port"])
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", port))
    squatter.listen(1)

    async def main() -> tuple[dict[str, Any], list[str]]:
        async with agent(chain) as running:
            asked = chain.world.ask("alice", host.case_number, ["shell"], 10)
            assert asked.status_code == 201, asked.text
            sid = asked.json()["session_id"]
            view = await eventually(
                lambda: (v := engineer_view(chain, sid))["status"] != "pending" and v
            )
            kinds = [e["event"] for e in running.audit.records() if e.get("session_id") == sid]
            return view, kinds

    try:
        view, kinds = asyncio.run(main())
    finally:
        squatter.close()
    # the engineer is told, with the reason, and holds no certificate
    assert view["status"] == "denied", view
    assert "could not start" in view["note"] and "tunnel port" in view["note"]
    assert view["certificate"] is None
    # the host's audit says so too
    assert "session_failed" in kinds and "teardown" in kinds


def test_a_killed_agent_ends_its_session_at_the_desk_once_restarted(
    chain: Chain,  # noqa: F811
    tmp_path: Path,
) -> None:
    """SIGKILL of the agent: the engineer's processes die with it, the desk still
    lists the session until the agent comes back and reports it ended."""
    world, host = chain.world, chain.world.hosts["host1"]
    enrollment = host.enrollment
    spec = tmp_path / "agent.json"
    write_broker_spec(
        spec,
        chain.url,
        host.headers["Authorization"].split()[1],
        relay_of(enrollment),
        enrollment["user_ca_public_key"],
        chain.home,
    )
    first = subprocess.Popen(
        [sys.executable, "-m", "tests.remote.agent_process", str(spec)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    shell: subprocess.Popen[bytes] | None = None
    markers = ("613.25", "613.5")
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "ready"
        engineer = Engineer(tmp_path / "engineer")
        asked = world.ask("alice", host.case_number, ["shell"], 10, engineer.public_line)
        assert asked.status_code == 201, asked.text
        sid = asked.json()["session_id"]
        view = wait_for(lambda: (v := engineer_view(chain, sid))["status"] == "approved" and v)
        engineer.use_certificate(asyncssh.import_certificate(view["certificate"]))
        engineer.configure(
            chain.relay.host,
            chain.relay.port,
            chain.relay.known_hosts_line(),
            int(enrollment["relay"]["listen_port"]),
            sid,
            enrollment["host_ca_public_key"],
            alias=enrollment["host_principal"],
        )
        shell = subprocess.Popen(
            ["ssh", "-F", str(engineer.config_file), "-tt", "agent"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert shell.stdin is not None
        shell.stdin.write(b"sleep 613.25 &\nsleep 613.5\n")
        shell.stdin.flush()
        wait_for(lambda: all(processes_with(m) for m in markers))

        os.kill(first.pid, signal.SIGKILL)
        first.wait(BOUND_S)
        wait_for(lambda: not any(processes_with(m) for m in markers))
        assert engineer_view(chain, sid)["status"] == "approved"  # nobody told the desk

        async def restarted() -> dict[str, Any]:
            async with agent(chain):
                return dict(
                    await eventually(
                        lambda: (v := engineer_view(chain, sid))["status"] != "approved" and v
                    )
                )

        after = asyncio.run(restarted())
    finally:
        for proc in (first, shell):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        for marker in markers:
            for pid in processes_with(marker):
                os.kill(pid, signal.SIGKILL)
    assert after["status"] == "ended", after
    assert after["summary"]["end_reason"] == "the agent stopped unexpectedly"
    audit = AuditLog.for_paths(chain.paths)
    (teardown,) = [e for e in audit.records() if e["event"] == "teardown"]
    assert teardown["session_id"] == sid
    assert teardown["reason"] == "the agent stopped unexpectedly"
    assert audit.verify()[0]


def wait_for(check: Callable[[], Any], timeout_s: float = BOUND_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)
    return found


def test_the_desk_keeps_the_audit_position_and_verify_compares_with_it(
    chain: Chain,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    world, host = chain.world, chain.world.hosts["host1"]

    async def main() -> dict[str, Any]:
        async with agent(chain) as running:
            asked = world.ask("alice", host.case_number, ["shell"], 10)
            assert asked.status_code == 201, asked.text
            sid = str(asked.json()["session_id"])
            await eventually(lambda: engineer_view(chain, sid)["status"] == "approved")
            await eventually(lambda: sid in {g.session_id for g in running.broker.live_grants()})
            await running.broker.end_session(sid, "ended by the customer")
            view = await eventually(
                lambda: (v := engineer_view(chain, sid))["status"] == "ended" and v
            )
            return dict(view)

    view = asyncio.run(main())
    audit = AuditLog.for_paths(chain.paths)
    reported = view["summary"]["audit"]
    (line,) = [r for r in audit.records() if r["seq"] == reported["seq"]]
    assert line["hash"] == reported["hash"]
    teardown = [r for r in audit.records() if r["event"] == "teardown"][-1]
    assert teardown["seq"] == reported["seq"] + 1  # the position just before the end line

    # this host, enrolled as the agent runs it: verify asks the desk for its copy
    token = host.headers["Authorization"].split()[1]
    update_user_settings(chain.paths, {"desk_url": chain.url})
    open_secret_store(chain.paths, "keyring").set(TOKEN_SECRET, token)
    capsys.readouterr()
    assert cli.main(["audit", "verify", "--json"]) == 0
    checked = json.loads(capsys.readouterr().out)
    assert "matches the copy kept at the desk" in checked["desk_copy"]

    # the last lines cut, and the head file rewritten to match: only the desk's copy shows it
    records = list(audit.records())
    keep = reported["seq"] - 2
    lines = audit.path.read_bytes().splitlines(keepends=True)
    audit.path.write_bytes(b"".join(lines[:keep]))
    audit.head_path.write_text(json.dumps({"seq": keep, "hash": records[keep - 1]["hash"]}))
    assert audit.verify()[0]
    assert cli.main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert f"line {reported['seq']}" in out and "desk" in out
