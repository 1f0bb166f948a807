"""A whole remote-session world per test: relay sshd, agent service, CAs, engineer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from tests.fixtures.relay import AGENT, ENGINEER, Relay, free_port, relay, running_relay
from tests.fixtures.ssh import HOST_ALIAS, Engineer, TestCA
from vxassist.eventloop import loop_kind, new_event_loop
from vxassist.paths import Paths
from vxassist.remote.audit import AuditLog
from vxassist.remote.grants import Grant, Scope, key_id_for
from vxassist.remote.hostkey import CERT_NAME, ensure_host_key, load_host_key
from vxassist.remote.service import RemoteSessionService
from vxassist.settings import RemotePolicy


@dataclass
class World:
    relay: Relay
    paths: Paths
    user_ca: TestCA
    host_ca: TestCA
    engineer: Engineer
    audit: AuditLog
    home: Path
    forward_target: str = "127.0.0.1:1"
    events: list[dict[str, Any]] = field(default_factory=list)
    listen_port: int = 0

    def grant(
        self,
        session_id: str = "s1",
        scopes: tuple[str, ...] = ("shell",),
        seconds: float = 600,
        engineer: str = "alice",
        case: int = 42,
    ) -> Grant:
        now = datetime.now(UTC)
        return Grant(
            session_id=session_id,
            engineer=engineer,
            case_number=case,
            scopes=tuple(Scope.parse(s) for s in scopes),
            not_before=now,
            not_after=now + timedelta(seconds=seconds),
            key_id=key_id_for(engineer, case, session_id),
        )

    def certify(self, grant: Grant, ca: TestCA | None = None, **kw: Any) -> None:
        """Give the engineer a certificate for ``grant`` (overrides via keywords)."""
        ca = ca or self.user_ca
        cert = ca.sign_user(
            self.engineer.key,
            kw.pop("key_id", grant.key_id),
            kw.pop("principals", [grant.session_id]),
            kw.pop("valid_after", grant.not_before.timestamp() - 30),
            kw.pop("valid_before", grant.not_after.timestamp()),
            **kw,
        )
        self.engineer.use_certificate(cert)

    def service(self, policy: RemotePolicy | None = None, **kw: Any) -> RemoteSessionService:
        """The agent's session service; as root, sessions run as root unless ``policy`` says."""
        policy = policy or RemotePolicy(
            file_roots=(str(self.home),),
            forward_targets=(self.forward_target,),
            allow_root_session=True,
        )
        kw.setdefault("shell", "/bin/sh")
        return RemoteSessionService(
            self.paths,
            policy,
            self.audit,
            self.user_ca.public_line,
            on_event=self.events.append,
            **kw,
        )

    def configure_engineer(self, session_id: str, with_certificate: bool = True) -> None:
        self.engineer.configure(
            self.relay.host,
            self.relay.port,
            self.relay.known_hosts_line(),
            self.listen_port,
            session_id,
            self.host_ca.public_line,
            with_certificate=with_certificate,
        )

    def endpoint(self) -> Any:
        return self.relay.endpoint(self.listen_port)

    def events_named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.audit.records() if e["event"] == name]


@contextlib.asynccontextmanager
async def serving(world: World, grant: Grant, **kw: Any) -> AsyncIterator[RemoteSessionService]:
    """The agent's service running ``grant`` behind the world's relay, closed afterwards."""
    service = world.service(**kw)
    await service.start(grant, world.endpoint())
    try:
        yield service
    finally:
        await service.close()


class _AgentLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """``asyncio.run`` in these tests makes the loop the agent runs on."""

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return new_event_loop()


@pytest.fixture(autouse=True)
def agent_event_loop() -> Iterator[str]:
    """Remote tests run on the agent's loop (uvloop where installed).

    ``VXASSIST_EVENT_LOOP=asyncio`` runs them on asyncio's own loop instead, as
    the whole test run does a second time (scripts/test.sh).
    """
    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(_AgentLoopPolicy())
    try:
        yield loop_kind()
    finally:
        asyncio.set_event_loop_policy(previous)


@pytest.fixture
def world(tmp_path: Path, paths: Paths) -> Iterator[World]:
    home = tmp_path / "customer-home"
    home.mkdir()
    user_ca, host_ca = TestCA("vendor-user-ca"), TestCA("vendor-host-ca")
    host_line = ensure_host_key(paths)
    host_cert = host_ca.sign_host(load_host_key(paths), HOST_ALIAS)
    host_cert.write_certificate(paths.keys_dir / CERT_NAME)
    engineer = Engineer(tmp_path / "engineer")
    listen_port = free_port()
    with running_relay(tmp_path / "relay") as relay:
        relay.authorize(
            AGENT, f'restrict,port-forwarding,permitlisten="127.0.0.1:{listen_port}" {host_line}'
        )
        relay.authorize(
            ENGINEER,
            f'restrict,port-forwarding,permitopen="127.0.0.1:{listen_port}" {engineer.public_line}',
        )
        yield World(
            relay=relay,
            paths=paths,
            user_ca=user_ca,
            host_ca=host_ca,
            engineer=engineer,
            audit=AuditLog.for_paths(paths),
            home=home,
            listen_port=listen_port,
        )


__all__ = ["World", "asyncssh", "relay"]
