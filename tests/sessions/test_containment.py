"""Containment of a session, seen from the desk: the agent's real broker and session
service, a real desk over HTTP, a real OpenSSH relay (keys from the desk) and the
stock ``ssh``. Only the person at the host is replaced (a prompter that approves).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.sessions.test_connect import Chain, chain  # noqa: F401 (fixture)
from vxassist.deskclient import DeskClient
from vxassist.remote.audit import AuditLog
from vxassist.remote.broker import SessionBroker
from vxassist.remote.grants import ConsentDecision, SessionRequest
from vxassist.remote.service import RemoteSessionService
from vxassist.remote.tunnel import RelayEndpoint
from vxassist.settings import RemotePolicy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

BOUND_S = 60.0


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
        policy or RemotePolicy(file_roots=(str(chain.home),)),
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
