"""Extending a live session, end to end: ``vxassist engineer extend`` asks a real desk
(over HTTP), the agent's real broker hears it on its long poll, screens it with local
policy and asks the customer (the one edge replaced: a prompter that answers as told),
the real session service moves the grant's end, and the engineer's stock ``ssh``
through a REAL OpenSSH relay (keys from the desk's relay-keys) shows the result: a
shell that outlives the old end and closes at the new one, a new login after the old
end with the renewed certificate; or, refused, the session ends at the old end.

Grants are shortened with the broker's ``max_grant_s`` (tests only): every grant,
and every extension, lasts at most that many seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.desk.conftest import Desk, live_server
from tests.fixtures.relay import Relay, free_port
from vxassist import cli
from vxassist.desk.app import create_app
from vxassist.desk.config import DeskConfig
from vxassist.desk.sessions.config import RelayConfig, SessionsConfig
from vxassist.deskclient import DeskClient
from vxassist.engineer import sessions
from vxassist.paths import Paths
from vxassist.remote.audit import AuditLog
from vxassist.remote.broker import SessionBroker
from vxassist.remote.grants import ConsentDecision, Grant, SessionRequest
from vxassist.remote.hostkey import CERT_NAME, ensure_host_key
from vxassist.remote.service import RemoteSessionService
from vxassist.remote.tunnel import RelayEndpoint
from vxassist.settings import RemotePolicy
from vxassist.timefmt import local_time

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

#: every grant and every extension lasts this long here
GRANT_S = 15.0
#: a bound for waits that only stop a hung test (never a speed assertion)
BOUND_S = 60.0


@dataclass
class Customer:
    """The person at the host: approves sessions; answers extensions as told."""

    extension: str = "approve"  # approve | refuse | silent
    asked: list[tuple[str, int, str]] = field(default_factory=list)
    voided: list[str] = field(default_factory=list)
    can_prompt: bool = True

    async def ask(self, req: SessionRequest, timeout_s: float) -> ConsentDecision:
        return ConsentDecision(True, req.scopes, req.minutes, "approved")

    async def ask_extension(
        self, grant: Grant, minutes: int, reason: str, timeout_s: float
    ) -> int | None:
        self.asked.append((grant.session_id, minutes, reason))
        if self.extension == "silent":  # nobody answers: the prompt gives up at its timeout
            try:
                await asyncio.sleep(timeout_s)
            except asyncio.CancelledError:
                self.voided.append(grant.session_id)
                raise
            return None
        return minutes if self.extension == "approve" else None


@dataclass
class Chain:
    url: str
    desk: Desk
    relay: Relay
    paths: Paths
    home: Path
    enrollment: dict[str, Any]
    agent_token: str
    case_number: int
    tokens: dict[str, str]


@pytest.fixture
def chain(tmp_path: Path, paths: Paths) -> Iterator[Chain]:
    db_url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    relay = Relay(
        tmp_path / "relay",
        authorized_keys_command=[
            "/usr/bin/env",
            f"VXASSIST_HOME={tmp_path / 'relaykeys-home'}",
            sys.executable,
            "-m",
            "vxassist.desk.relay_keys",
            "--db",
            db_url,
            "%u",
            "%t",
            "%k",
        ],
    )
    first = free_port()
    config = DeskConfig(
        sessions=SessionsConfig(
            relay=RelayConfig(
                host=relay.host,
                port=relay.port,
                known_hosts=relay.host_key_line(),
                port_min=first,
                port_max=min(first + 100, 65535),
            ),
            request_timeout_s=600,
            poll_interval_s=0.2,
            max_wait_s=10,
        )
    )
    clock = lambda: datetime.now(UTC)  # noqa: E731 - the deadlines here are real
    app = create_app(db_url, config, clock=clock)
    home = tmp_path / "customer-home"
    home.mkdir()
    with TestClient(app) as client, relay, live_server(app) as url:
        desk = Desk(app, client, app.state.db, clock, config, db_url)
        desk.add_contract("C-1")
        host_line = ensure_host_key(paths)
        answer = client.post(
            "/api/v1/enroll",
            json={"code": desk.code("C-1"), "hostname": "vxhost1", "host_public_key": host_line},
        ).json()
        (paths.keys_dir / CERT_NAME).write_text(answer["host_certificate"] + "\n")
        headers = {"Authorization": f"Bearer {answer['token']}"}
        case = desk.create(headers).json()["case_number"]
        tokens = {
            name: desk.engineer(name)["Authorization"].split()[1] for name in ("alice", "bob")
        }
        yield Chain(url, desk, relay, paths, home, answer, answer["token"], case, tokens)


def policy(**kw: Any) -> RemotePolicy:
    """Local policy for these tests: sessions run as the test's own account, even as root."""
    if "allow_root_session" in {f.name for f in dataclasses.fields(RemotePolicy)}:
        kw.setdefault("allow_root_session", True)
    return RemotePolicy(**kw)


@dataclass
class Agent:
    broker: SessionBroker
    service: RemoteSessionService
    audit: AuditLog
    customer: Any
    events: list[dict[str, Any]]

    def audited(self, name: str, session_id: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.audit.records()
            if e["event"] == name and e.get("session_id") == session_id
        ]


@contextlib.asynccontextmanager
async def agent(chain: Chain, customer: Any, policy: RemotePolicy) -> AsyncIterator[Agent]:
    """The agent's real broker and session service, polling the desk until closed."""
    events: list[dict[str, Any]] = []
    audit = AuditLog.for_paths(chain.paths)
    desk = DeskClient(chain.url, chain.agent_token, timeout=30)
    broker_ref: list[SessionBroker] = []

    def on_service_event(event: dict[str, Any]) -> None:
        events.append(event)
        if broker_ref:
            broker_ref[0].on_service_event(event)

    service = RemoteSessionService(
        chain.paths,
        policy,
        audit,
        chain.enrollment["user_ca_public_key"],
        on_event=on_service_event,
        shell="/bin/sh",
        home=chain.home,
    )
    relay = chain.enrollment["relay"]
    endpoint = RelayEndpoint(
        relay["host"], relay["port"], relay["user"], relay["listen_port"], relay["known_hosts"]
    )
    broker = SessionBroker(
        desk,
        customer,
        policy,
        service,
        audit,
        lambda: frozenset({chain.case_number}),
        lambda: datetime.now(UTC),
        relay=lambda: endpoint,
        on_event=events.append,
        poll_wait_s=5,
        max_grant_s=GRANT_S,
    )
    broker_ref.append(broker)
    task = asyncio.ensure_future(broker.run())
    try:
        yield Agent(broker, service, audit, customer, events)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await broker.close(report_timeout_s=3.0)
        await service.close()
        desk.close()


async def engineer(
    chain: Chain, capfd: pytest.CaptureFixture[str], *argv: str, who: str = "alice"
) -> tuple[int, str, str]:
    """``vxassist engineer ...`` as ``who`` (logged in first); exit code, stdout, stderr."""

    def run() -> int:
        assert (
            cli.main(["engineer", "login", "--desk", chain.url, "--token", chain.tokens[who]]) == 0
        )
        capfd.readouterr()
        return cli.main(["engineer", *argv])

    code = await asyncio.to_thread(run)
    out = capfd.readouterr()
    return code, out.out, out.err


async def open_session(chain: Chain, capfd: pytest.CaptureFixture[str]) -> str:
    code, out, err = await engineer(
        chain,
        capfd,
        "request",
        str(chain.case_number),
        "--scope",
        "shell",
        "--minutes",
        "30",
        "--reason",
        "collector check",
        "--json",
    )
    assert code == 0, err
    import json

    return str(json.loads(out)["session_id"])


async def until(check: Callable[[], bool], what: str, timeout_s: float = BOUND_S) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        assert loop.time() < deadline, f"{what}: not reached in time"
        await asyncio.sleep(0.05)


async def shell(chain: Chain, sid: str) -> asyncio.subprocess.Process:
    """An interactive shell through the relay, with the session's generated config."""
    files = sessions.files_for(chain.paths, sid)
    return await asyncio.create_subprocess_exec(
        "ssh",
        "-F",
        str(files.ssh_config),
        "-o",
        "BatchMode=yes",
        "-T",
        f"vx-session-{sid}",
        "/bin/sh",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def say(proc: asyncio.subprocess.Process, word: str) -> str:
    """Have the shell echo ``word`` back; the line it printed."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(f"echo {word}\n".encode())
    await proc.stdin.drain()
    line = await asyncio.wait_for(proc.stdout.readline(), BOUND_S)
    return line.decode().strip()


async def login(chain: Chain, capfd: pytest.CaptureFixture[str], sid: str) -> int:
    """A new login with ``vxassist engineer connect`` (fetches the session afresh)."""
    code, _out, _err = await engineer(
        chain, capfd, "connect", sid, "--", "-o", "BatchMode=yes", "true"
    )
    return code


def keep_old_certificate(chain: Chain, sid: str) -> Path:
    """A copy of the session's ssh config that presents its present certificate."""
    files = sessions.files_for(chain.paths, sid)
    old = files.folder.parent / f"{sid}-old.cert"
    old.write_text(files.certificate.read_text())
    config = files.folder.parent / f"{sid}-old-config"
    config.write_text(files.ssh_config.read_text().replace(str(files.certificate), str(old)))
    return config


async def ssh_true(config: Path, sid: str) -> int:
    proc = await asyncio.create_subprocess_exec(
        "ssh",
        "-F",
        str(config),
        "-o",
        "BatchMode=yes",
        f"vx-session-{sid}",
        "true",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(proc.wait(), BOUND_S)


def ends(agent: Agent, sid: str) -> datetime:
    grant = agent.service.live_grant(sid, datetime.now(UTC))
    assert grant is not None
    return grant.not_after


async def past(moment: datetime) -> None:
    """Sleep until the wall clock is past ``moment`` (plus a little)."""
    left = (moment - datetime.now(UTC)).total_seconds() + 1.0
    if left > 0:
        await asyncio.sleep(left)


def test_an_approved_extension_keeps_the_shell_open_past_the_old_end_and_ends_at_the_new(
    chain: Chain, capfd: pytest.CaptureFixture[str]
) -> None:
    async def scenario() -> dict[str, Any]:
        async with agent(chain, Customer("approve"), policy()) as a:
            sid = await open_session(chain, capfd)
            await until(lambda: bool(a.service.active()), "session live")
            old_end = ends(a, sid)
            proc = await shell(chain, sid)
            assert await say(proc, "before") == "before"
            old_config = keep_old_certificate(chain, sid)
            code, out, err = await engineer(
                chain, capfd, "extend", sid, "--minutes", "5", "--reason", "one more import run"
            )
            assert code == 0, err
            new_end = ends(a, sid)
            await past(old_end)
            alive = await say(proc, "after-the-old-end")
            relogin = await login(chain, capfd, sid)
            with_old = await ssh_true(old_config, sid)
            rc = await asyncio.wait_for(proc.wait(), BOUND_S + GRANT_S)
            ended_at = datetime.now(UTC)
            late = await login(chain, capfd, sid)
            return {
                "sid": sid,
                "old_end": old_end,
                "new_end": new_end,
                "out": out,
                "alive": alive,
                "relogin": relogin,
                "with_old": with_old,
                "rc": rc,
                "ended_at": ended_at,
                "late": late,
                "agent": a,
            }

    r = asyncio.run(scenario())
    sid, a = r["sid"], r["agent"]
    assert r["new_end"] == r["old_end"] + timedelta(seconds=GRANT_S)
    assert f"now ends at {local_time(r['new_end'])}" in r["out"]
    assert r["alive"] == "after-the-old-end"
    assert r["relogin"] == 0  # after the old end, with the renewed certificate
    assert r["with_old"] != 0  # the certificate of the old window opens nothing then
    assert r["rc"] != 0 and r["ended_at"] >= r["new_end"]
    assert r["late"] != 0
    assert a.customer.asked == [(sid, 5, "one more import run")]
    (requested,) = a.audited("extension_requested", sid)
    assert requested["minutes"] == 5 and requested["engineer"] == "alice"
    (decision,) = a.audited("extension_decision", sid)
    assert decision["approved"] is True and decision["not_after"] == r["new_end"].isoformat()
    (extended,) = a.audited("session_extended", sid)
    assert extended["previous_not_after"] == r["old_end"].isoformat()
    (teardown,) = a.audited("teardown", sid)
    assert teardown["reason"] == "the grant's time is up"
    assert teardown["summary"]["not_after"] == r["new_end"].isoformat()
    assert len(teardown["summary"]["logins"]) == 2
    kinds = [e["event"] for e in a.events]
    assert kinds.index("extension_request") < kinds.index("extension_decision")
    assert "session_extended" in kinds
    assert a.audit.verify()[0]
    # the desk moved the session's end and kept the story on the case
    session = chain.desk.client.get(
        f"/api/v1/engineer/sessions/{sid}",
        headers={"Authorization": f"Bearer {chain.tokens['alice']}"},
    ).json()
    assert datetime.fromisoformat(session["not_after"]) == r["new_end"]


def test_a_refused_extension_ends_the_session_at_the_old_end(
    chain: Chain, capfd: pytest.CaptureFixture[str]
) -> None:
    async def scenario() -> dict[str, Any]:
        async with agent(chain, Customer("refuse"), policy()) as a:
            sid = await open_session(chain, capfd)
            await until(lambda: bool(a.service.active()), "session live")
            old_end = ends(a, sid)
            proc = await shell(chain, sid)
            assert await say(proc, "before") == "before"
            stranger = await engineer(chain, capfd, "extend", sid, "--minutes", "5", who="bob")
            refused = await engineer(chain, capfd, "extend", sid, "--minutes", "5")
            rc = await asyncio.wait_for(proc.wait(), BOUND_S + GRANT_S)
            ended_at = datetime.now(UTC)
            late = await login(chain, capfd, sid)
            after_end = await engineer(chain, capfd, "extend", sid, "--minutes", "5")
            return {
                "sid": sid,
                "old_end": old_end,
                "stranger": stranger,
                "refused": refused,
                "rc": rc,
                "ended_at": ended_at,
                "late": late,
                "after_end": after_end,
                "agent": a,
            }

    r = asyncio.run(scenario())
    sid, a = r["sid"], r["agent"]
    code, _out, err = r["stranger"]
    assert code != 0 and "There is no such session for you" in err
    code, _out, err = r["refused"]
    assert code != 0
    assert "The extension was refused" in err
    assert f"the session still ends at {local_time(r['old_end'])}" in err
    assert r["rc"] != 0 and r["ended_at"] >= r["old_end"]
    assert r["late"] != 0  # no renewed certificate, and the grant is spent
    code, _out, err = r["after_end"]
    assert code != 0 and "not live, so it cannot be extended" in err
    assert len(a.customer.asked) == 1  # the stranger's request never reached the customer
    (decision,) = a.audited("extension_decision", sid)
    assert decision["approved"] is False and decision["by"] == "customer"
    assert a.audited("session_extended", sid) == []
    (teardown,) = a.audited("teardown", sid)
    assert teardown["summary"]["not_after"] == r["old_end"].isoformat()


def test_beyond_policy_or_unanswered_extensions_are_refused_with_a_sentence(
    chain: Chain, capfd: pytest.CaptureFixture[str]
) -> None:
    async def scenario() -> dict[str, Any]:
        # a 15 s grant leaves no whole minute under a one-minute policy
        async with agent(chain, Customer("approve"), policy(max_minutes=1)) as a:
            sid = await open_session(chain, capfd)
            await until(lambda: bool(a.service.active()), "session live")
            beyond = await engineer(chain, capfd, "extend", sid, "--minutes", "5")
            policy_agent, policy_sid = a, sid
        async with agent(chain, Customer("silent"), policy(consent_timeout_s=2)) as a:
            sid = await open_session(chain, capfd)
            await until(lambda: bool(a.service.active()), "session live")
            unanswered = await engineer(chain, capfd, "extend", sid, "--minutes", "5")
            still = ends(a, sid)
            silent_agent, silent_sid = a, sid
        return {
            "beyond": beyond,
            "unanswered": unanswered,
            "still": still,
            "policy": policy_agent,
            "silent": silent_agent,
            "policy_sid": policy_sid,
            "silent_sid": silent_sid,
        }

    r = asyncio.run(scenario())
    code, _out, err = r["beyond"]
    assert code != 0
    assert "refused (the session already lasts as long as local policy allows" in err
    assert r["policy"].customer.asked == []  # refused by policy without asking anyone
    (decision,) = r["policy"].audited("extension_decision", r["policy_sid"])
    assert decision["by"] == "agent" and "at most 1 minute in all" in decision["reason"]
    code, _out, err = r["unanswered"]
    assert code != 0 and "The extension was refused" in err
    assert f"the session still ends at {local_time(r['still'])}" in err
    assert len(r["silent"].customer.asked) == 1
    (decision,) = r["silent"].audited("extension_decision", r["silent_sid"])
    assert decision["approved"] is False and decision["by"] == "customer"


@dataclass
class OlderFace:
    """A prompter written before extensions existed: it has no ``ask_extension``."""

    can_prompt: bool = True

    async def ask(self, req: SessionRequest, timeout_s: float) -> ConsentDecision:
        return ConsentDecision(True, req.scopes, req.minutes, "approved")


def test_a_prompter_that_cannot_ask_about_extensions_refuses_them(
    chain: Chain, capfd: pytest.CaptureFixture[str]
) -> None:
    async def scenario() -> tuple[tuple[int, str, str], datetime, Agent, str]:
        async with agent(chain, OlderFace(), policy()) as a:
            sid = await open_session(chain, capfd)
            await until(lambda: bool(a.service.active()), "session live")
            answer = await engineer(chain, capfd, "extend", sid, "--minutes", "5")
            return answer, ends(a, sid), a, sid

    (code, _out, err), end, a, sid = asyncio.run(scenario())
    assert code != 0 and "The extension was refused" in err
    assert f"the session still ends at {local_time(end)}" in err
    (decision,) = a.audited("extension_decision", sid)
    assert decision["approved"] is False
    assert a.audited("session_extended", sid) == []


def test_a_revoke_while_the_customer_is_asked_voids_the_extension_prompt(
    chain: Chain, capfd: pytest.CaptureFixture[str]
) -> None:
    async def scenario() -> tuple[tuple[int, str, str], Agent, str]:
        async with agent(chain, Customer("silent"), policy(consent_timeout_s=120)) as a:
            sid = await open_session(chain, capfd)
            await until(lambda: bool(a.service.active()), "session live")
            asking = asyncio.ensure_future(engineer(chain, capfd, "extend", sid, "--minutes", "5"))
            await until(lambda: bool(a.customer.asked), "the customer is asked")
            with DeskClient(chain.url, chain.tokens["alice"], timeout=30) as desk:
                await asyncio.to_thread(sessions.revoke, desk, sid, "wrong host")
            answer = await asyncio.wait_for(asking, BOUND_S)
            await until(lambda: not a.service.active(), "session over")
            return answer, a, sid

    (code, _out, err), a, sid = asyncio.run(scenario())
    assert code != 0 and "so it was not extended" in err
    assert a.customer.voided == [sid]  # nobody can approve what is no longer asked
    (decision,) = a.audited("extension_decision", sid)
    assert decision["approved"] is False and decision["by"] == "desk"
    assert a.audited("session_extended", sid) == []
