"""The agent's session broker against a real desk process (SQLite, real HTTP).

The person at the host is the one edge replaced: a prompter that answers as
told and counts how often it was asked. The session service is replaced by a
recorder of what the broker asks of it (the real one is driven end to end in
``test_story.py``); everything between them is real: the long poll, the
screening, the decision the desk signs, revocation, the end report.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from tests.fixtures.desk import RunningDesk
from vxassist.deskclient import DeskClient
from vxassist.remote.audit import AuditLog
from vxassist.remote.broker import BrokerError, SessionBroker, parse_request
from vxassist.remote.errors import TunnelError
from vxassist.remote.grants import ConsentDecision, Grant, Scope, SessionRequest
from vxassist.settings import RemotePolicy

pytestmark = [pytest.mark.timeout(120), pytest.mark.anyio]

CASE = {
    "company": "Acme Telecom",
    "install_type": "single server",
    "location": "Fresno, CA",
    "database_type": "SQL Server 2019",
    "vxtracker_server": "VXT01 7.2.1",
    "pbx_manufacturer": "Avaya",
    "pbx_model": "IP Office 500 V2",
    "contact_name": "Ann Example",
    "contact_phone": "+1 559 555 0100",
    "contact_email": "ann@acme.example",
    "brief": "No call records since 9:00",
    "details": "The SMDR link shows no records.",
    "steps_taken": "Restarted the collector.",
    "priority": 2,
    "continues_case": None,
    "third_party_app": None,
    "third_party_version": None,
    "system_report": None,
    "also": [],
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _public_line(key: asyncssh.SSHKey) -> str:
    return key.export_public_key("openssh").decode().strip()


@dataclass
class Host:
    client: DeskClient
    enrollment: dict[str, Any]
    case_number: int


@dataclass
class World:
    desk: RunningDesk
    host: Host
    other_host: Host
    engineer: DeskClient
    engineer_key: str


def _enroll(desk: RunningDesk, contract: str, name: str) -> Host:
    key = asyncssh.generate_private_key("ssh-ed25519")
    with DeskClient(desk.url, None, timeout=30) as anon:
        answer = anon.enroll(desk.enrollment_code(contract), name, _public_line(key))
    client = DeskClient(desk.url, str(answer["token"]), timeout=30)
    case = client.create_case(CASE, str(uuid.uuid4()))
    return Host(client, answer, int(case["case_number"]))


@pytest.fixture(scope="module")
def running_desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDesk]:
    folder = tmp_path_factory.mktemp("broker-desk")
    config = folder / "desk.toml"
    config.write_text(
        '[relay]\nhost = "127.0.0.1"\nport = 2222\nknown_hosts = "ssh-ed25519 '
        'AAAAC3NzaC1lZDI1NTE5AAAAIE9hmnhHf4aKOFfoqySJtsx2/UrscmNj8+YwxWmS8UpU"\n'
        "[sessions]\nrequest_timeout_s = 60\npoll_interval_s = 0.2\n"
    )
    with RunningDesk(folder, config) as desk:
        desk.add_contract("C-1", "Acme Telecom")
        desk.add_contract("C-2", "Other Corp")
        yield desk


@pytest.fixture
def world(running_desk: RunningDesk) -> Iterator[World]:
    host = _enroll(running_desk, "C-1", "host-a")
    other = _enroll(running_desk, "C-2", "host-b")
    token = running_desk.add_engineer(f"eng-{uuid.uuid4().hex[:6]}")
    engineer = DeskClient(running_desk.url, token, timeout=30)
    key = _public_line(asyncssh.generate_private_key("ssh-ed25519"))
    yield World(running_desk, host, other, engineer, key)
    for client in (host.client, other.client, engineer):
        client.close()


@dataclass
class Prompter:
    """The person at the host: answers as told, remembers each question."""

    answer: str = "approve"  # approve | deny | files-only | one-minute | never
    can_prompt: bool = True
    asked: list[SessionRequest] = field(default_factory=list)
    voided: list[str] = field(default_factory=list)

    async def ask(self, req: SessionRequest, timeout_s: float) -> ConsentDecision:
        self.asked.append(req)
        if self.answer == "never":  # the person walked away; the timeout is far off
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                self.voided.append(req.session_id)
                raise
        if self.answer == "deny":
            return ConsentDecision.deny("denied at the terminal")
        if self.answer == "files-only":
            return ConsentDecision(True, (Scope("files"),), req.minutes, "files only")
        if self.answer == "one-minute":
            return ConsentDecision(True, req.scopes, 1, "one minute")
        return ConsentDecision(True, req.scopes, req.minutes, "approved")


@dataclass
class Service:
    """What the broker asks of the session service, recorded; can refuse to start."""

    fail_start: bool = False
    started: list[Grant] = field(default_factory=list)
    ended: list[tuple[str, str]] = field(default_factory=list)

    async def start(self, grant: Grant, relay: Any) -> None:
        if self.fail_start:
            raise TunnelError("The tunnel to the relay could not be opened.")
        self.started.append(grant)

    async def end(self, session_id: str, reason: str) -> dict[str, Any]:
        self.ended.append((session_id, reason))
        return {"session_id": session_id, "end_reason": reason, "commands": []}

    def active(self) -> list[Grant]:
        return list(self.started)


@dataclass
class Running:
    broker: SessionBroker
    prompter: Prompter
    service: Service
    audit: AuditLog
    events: list[dict[str, Any]]


@contextlib.asynccontextmanager
async def run_broker(
    world: World,
    tmp_path: Path,
    prompter: Prompter | None = None,
    service: Service | None = None,
    policy: RemotePolicy | None = None,
) -> AsyncIterator[Running]:
    prompter = prompter or Prompter()
    service = service or Service()
    audit = AuditLog(tmp_path / "audit.jsonl")
    events: list[dict[str, Any]] = []
    client = world.host.client

    def own_cases() -> frozenset[int]:
        return frozenset(int(c["case_number"]) for c in client.list_cases() if c["case_number"])

    broker = SessionBroker(
        client,
        prompter,
        policy or RemotePolicy(),
        service,
        audit,
        own_cases,
        lambda: datetime.now(UTC),
        relay=lambda: world.host.enrollment["relay"],
        on_event=events.append,
        poll_wait_s=1,
    )
    task = asyncio.ensure_future(broker.run())
    try:
        yield Running(broker, prompter, service, audit, events)
    finally:
        await broker.close(report_timeout_s=5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def request(world: World, case_number: int, scopes: list[str], minutes: int = 5) -> str:
    answer = world.engineer.request(
        "POST",
        "/api/v1/engineer/sessions",
        json={
            "case_number": case_number,
            "scopes": scopes,
            "minutes": minutes,
            "reason": "check the SMDR collector",
            "public_key": world.engineer_key,
        },
    )
    return str(answer["session_id"])


async def settled(world: World, session_id: str, wait_s: int = 20) -> dict[str, Any]:
    """The engineer's view once the session left ``pending`` (the desk's long poll)."""
    path = f"/api/v1/engineer/sessions/{session_id}?wait={wait_s}"
    return await asyncio.to_thread(world.engineer.request, "GET", path, None, None, wait_s + 10)


async def until(check: Any, timeout_s: float = 30) -> Any:
    """Poll ``check()`` until it returns something true (bounded, never timed)."""
    async with asyncio.timeout(timeout_s):
        while True:  # the desk and the broker offer no event to wait on
            result = check()
            if result:
                return result
            await asyncio.sleep(0.05)


def audit_events(running: Running, session_id: str) -> list[str]:
    return [r["event"] for r in running.audit.records() if r.get("session_id") == session_id]


async def test_approval_opens_the_session_before_the_desk_hears_yes_then_revoke_ends_it(
    world: World, tmp_path: Path
) -> None:
    async with run_broker(world, tmp_path) as running:
        sid = request(world, world.host.case_number, ["shell", "files"])
        session = await settled(world, sid)
        assert session["status"] == "approved"
        assert session["certificate"].startswith("ssh-ed25519-cert-v01@openssh.com ")
        # the tunnel was asked for before the desk reported the approval
        assert [g.session_id for g in running.service.started] == [sid]
        grant = running.service.started[0]
        assert [str(s) for s in grant.scopes] == ["shell", "files"]
        assert datetime.fromisoformat(session["not_after"]) == grant.not_after
        assert grant.key_id == f"{session['engineer']}/case-{world.host.case_number}/session-{sid}"
        assert len(running.prompter.asked) == 1
        assert running.prompter.asked[0].verification_code == session["verification_code"]

        world.engineer.request("POST", f"/api/v1/engineer/sessions/{sid}/revoke", json={})
        await until(lambda: running.service.ended)
        assert running.service.ended == [(sid, "revoked")]
        ended = await until(
            lambda: (
                (s := world.engineer.request("GET", f"/api/v1/engineer/sessions/{sid}"))
                and s["summary"] is not None
                and s
            )
        )
        assert ended["summary"]["end_reason"] == "revoked"
        events = audit_events(running, sid)
        assert events[:3] == ["request", "prompt", "decision"]
        assert "revoke" in events
        # the same request is never asked twice, however many polls follow
        await asyncio.sleep(1.5)
        assert len(running.prompter.asked) == 1


async def test_narrowed_scopes_and_shorter_time_are_what_the_desk_signs(
    world: World, tmp_path: Path
) -> None:
    async with run_broker(world, tmp_path, Prompter("files-only")) as running:
        sid = request(world, world.host.case_number, ["shell", "files"], minutes=30)
        session = await settled(world, sid)
        assert session["status"] == "approved"
        assert session["scopes"] == ["files"]
        assert [str(s) for s in running.service.started[0].scopes] == ["files"]
    async with run_broker(world, tmp_path / "b", Prompter("one-minute")) as running:
        sid = request(world, world.host.case_number, ["shell"], minutes=30)
        session = await settled(world, sid)
        window = datetime.fromisoformat(session["not_after"]) - datetime.fromisoformat(
            session["not_before"]
        )
        assert window.total_seconds() == 60


async def test_another_hosts_case_is_refused_without_asking(world: World, tmp_path: Path) -> None:
    async with run_broker(world, tmp_path) as running:
        # the request goes to the host that owns the case, never to this one
        sid = request(world, world.other_host.case_number, ["shell"])
        with world.other_host.client as other:
            polled = other.request("GET", "/api/v1/agent/session-requests?wait=0")
        assert sid in [r["session_id"] for r in polled["requests"]]
        await asyncio.sleep(1.5)
        assert running.prompter.asked == []
        assert running.service.started == []


async def test_the_broker_refuses_a_case_it_did_not_file_even_if_the_desk_sends_it(
    world: World, tmp_path: Path
) -> None:
    async with run_broker(world, tmp_path) as running:
        forged = {
            "session_id": "forged1",
            "engineer": "mallory",
            "case_number": world.other_host.case_number,
            "case_brief": "x",
            "scopes": ["shell"],
            "minutes": 5,
            "reason": "x",
            "verification_code": "AAA-BBB",
            "key_fingerprint": "",
            "received_at": datetime.now(UTC).isoformat(),
        }
        await running.broker.handle_request(forged)
        assert running.prompter.asked == []
        assert running.service.started == []
        decision = [r for r in running.audit.records() if r["event"] == "decision"][-1]
        assert decision["approved"] is False and decision["by"] == "agent"
        assert "not opened from this host" in decision["reason"]


async def test_denied_at_the_prompt_and_policy_refusals_reach_the_desk(
    world: World, tmp_path: Path
) -> None:
    async with run_broker(world, tmp_path / "a", Prompter("deny")) as running:
        sid = request(world, world.host.case_number, ["shell"])
        assert (await settled(world, sid))["status"] == "denied"
        assert running.service.started == []
    files_only = RemotePolicy(scopes=frozenset({"files"}))
    async with run_broker(world, tmp_path / "b", policy=files_only) as running:
        sid = request(world, world.host.case_number, ["shell"])
        assert (await settled(world, sid))["status"] == "denied"
        assert running.prompter.asked == []
    async with run_broker(world, tmp_path / "c", Prompter(can_prompt=False)) as running:
        sid = request(world, world.host.case_number, ["files"])
        assert (await settled(world, sid))["status"] == "denied"
        assert running.prompter.asked == []
    async with run_broker(world, tmp_path / "d", policy=RemotePolicy(enabled=False)) as running:
        sid = request(world, world.host.case_number, ["files"])
        assert (await settled(world, sid))["status"] == "denied"
        assert running.prompter.asked == []


async def test_a_request_withdrawn_while_the_prompt_is_open_voids_the_prompt(
    world: World, tmp_path: Path
) -> None:
    async with run_broker(world, tmp_path, Prompter("never")) as running:
        sid = request(world, world.host.case_number, ["shell"])
        await until(lambda: running.prompter.asked)
        world.engineer.request("POST", f"/api/v1/engineer/sessions/{sid}/revoke", json={})
        withdrawn = await until(lambda: [e for e in running.events if e["event"] == "withdrawn"])
        assert withdrawn[0]["session_id"] == sid
        await until(lambda: running.prompter.voided == [sid])
        assert running.service.started == []
        decision = [r for r in running.audit.records() if r["event"] == "decision"][-1]
        assert decision["approved"] is False and decision["by"] == "desk"


async def test_a_tunnel_that_fails_is_reported_and_nothing_is_signed(
    world: World, tmp_path: Path
) -> None:
    async with run_broker(world, tmp_path, service=Service(fail_start=True)) as running:
        sid = request(world, world.host.case_number, ["shell"])
        session = await settled(world, sid)
        assert session["status"] == "denied"
        assert session["certificate"] is None
        assert "could not start" in session["note"]
        assert "session_failed" in audit_events(running, sid)


async def test_an_end_the_service_decides_is_reported_with_its_summary(
    world: World, tmp_path: Path
) -> None:
    async with run_broker(world, tmp_path) as running:
        sid = request(world, world.host.case_number, ["shell"])
        assert (await settled(world, sid))["status"] == "approved"
        await until(lambda: running.broker.live_grants())
        summary = {"session_id": sid, "end_reason": "the grant's time is up", "commands": ["id"]}
        running.broker.on_service_event(
            {
                "event": "teardown",
                "session_id": sid,
                "reason": summary["end_reason"],
                "summary": summary,
            }
        )
        ended = await until(
            lambda: (
                (s := world.engineer.request("GET", f"/api/v1/engineer/sessions/{sid}"))
                and s["summary"] is not None
                and s
            )
        )
        assert ended["status"] == "ended"
        assert ended["summary"]["commands"] == ["id"]
        assert running.broker.live_grants() == []


async def test_stopping_the_broker_ends_and_reports_every_session(
    world: World, tmp_path: Path
) -> None:
    async with run_broker(world, tmp_path) as running:
        sid = request(world, world.host.case_number, ["shell"])
        assert (await settled(world, sid))["status"] == "approved"
        await until(lambda: running.broker.live_grants())
    assert running.service.ended == [(sid, "agent stopped")]
    ended = world.engineer.request("GET", f"/api/v1/engineer/sessions/{sid}")
    assert ended["status"] == "ended"
    assert ended["summary"]["end_reason"] == "agent stopped"


async def test_the_broker_outlives_a_desk_that_goes_away(world: World, tmp_path: Path) -> None:
    async with run_broker(world, tmp_path) as running:
        world.desk.stop()
        try:
            await until(lambda: [e for e in running.events if e["event"] == "desk_unavailable"])
        finally:
            world.desk.start()
        sid = request(world, world.host.case_number, ["files"])
        assert (await settled(world, sid, wait_s=40))["status"] == "approved"
        assert [e["event"] for e in running.events].count("desk_available") == 1


def test_a_request_the_agent_cannot_read_is_a_broker_error() -> None:
    now = datetime.now(UTC)
    good = {
        "session_id": "s1",
        "engineer": "e",
        "case_number": 7,
        "scopes": ["shell", "files"],
        "minutes": 5,
        "received_at": now.isoformat(),
    }
    assert parse_request(good, now).scopes == (Scope("shell"), Scope("files"))
    for bad in (
        {**good, "case_number": "seven"},
        {**good, "scopes": "shell"},
        {**good, "scopes": ["root"]},
        {k: v for k, v in good.items() if k != "minutes"},
    ):
        with pytest.raises(BrokerError):
            parse_request(bad, now)
