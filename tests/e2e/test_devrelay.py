"""The development relay enforces the relay-keys rules, asked again on every forward."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncssh
import pytest

from vxassist.desk.relay_keys import EngineerGrant
from vxassist.devrelay import DevRelay, allowed_ports, lines_from_lookup

pytestmark = [pytest.mark.timeout(60), pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class TableLookup:
    """The two relay-keys queries over in-memory rows (the database edge, nothing else)."""

    agents: dict[str, int] = field(default_factory=dict)
    grants: dict[str, list[EngineerGrant]] = field(default_factory=dict)

    def agent_port(self, key: str) -> int | None:
        return self.agents.get(key)

    def engineer_grants(self, key: str) -> list[EngineerGrant]:
        return list(self.grants.get(key, []))


def _line(key: asyncssh.SSHKey) -> str:
    parts = key.export_public_key("openssh").decode().split()
    return f"{parts[0]} {parts[1]}"


@dataclass
class World:
    relay: DevRelay
    lookup: TableLookup
    now: list[datetime]
    agent_key: asyncssh.SSHKey
    eng_key: asyncssh.SSHKey
    agent_port: int
    other_port: int


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(await reader.read(100))
    await writer.drain()
    writer.close()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    now = [datetime(2026, 11, 26, 12, 0, tzinfo=UTC)]
    agent_key = asyncssh.generate_private_key("ssh-ed25519")
    eng_key = asyncssh.generate_private_key("ssh-ed25519")
    # two free ports: the agent's own, and another agent's
    socks = []
    for _ in range(2):
        server = await asyncio.start_server(_echo, "127.0.0.1", 0)
        socks.append(server)
    ports = [int(s.sockets[0].getsockname()[1]) for s in socks]
    for s in socks:
        s.close()
        await s.wait_closed()
    lookup = TableLookup(
        agents={_line(agent_key): ports[0]},
        grants={
            _line(eng_key): [
                EngineerGrant(
                    ports[0], now[0] - timedelta(minutes=1), now[0] + timedelta(minutes=5), "open"
                )
            ]
        },
    )
    relay = await DevRelay(tmp_path, lines_from_lookup(lookup, lambda: now[0])).start()
    try:
        yield World(relay, lookup, now, agent_key, eng_key, ports[0], ports[1])
    finally:
        await relay.close()


def _connect(world: World, user: str, key: asyncssh.SSHKey) -> asyncssh.SSHClientConnection:
    return asyncssh.connect(  # type: ignore[return-value]
        "127.0.0.1",
        world.relay.port,
        username=user,
        client_keys=[key],
        known_hosts=None,
        agent_path=None,
    )


async def test_agent_listens_on_its_own_port_only(world: World) -> None:
    async with _connect(world, "vxagent", world.agent_key) as conn:
        listener = await conn.forward_remote_port("127.0.0.1", world.agent_port, "127.0.0.1", 9)
        assert listener.get_port() == world.agent_port
        listener.close()
        with pytest.raises(asyncssh.ChannelListenError):
            await conn.forward_remote_port("127.0.0.1", world.other_port, "127.0.0.1", 9)
        with pytest.raises(asyncssh.ChannelListenError):
            await conn.forward_remote_port("0.0.0.0", world.agent_port, "127.0.0.1", 9)
        # an agent opens nothing and runs nothing
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.open_connection("127.0.0.1", world.agent_port)
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.run("id", check=False)


async def test_engineer_opens_live_grant_ports_only_and_loses_them_at_expiry(world: World) -> None:
    served = []

    async def on_agent_side(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.append(await reader.read(5))
        writer.write(b"hello")
        await writer.drain()
        writer.close()

    target = await asyncio.start_server(on_agent_side, "127.0.0.1", 0)
    target_port = int(target.sockets[0].getsockname()[1])
    async with _connect(world, "vxagent", world.agent_key) as agent:
        await agent.forward_remote_port("127.0.0.1", world.agent_port, "127.0.0.1", target_port)
        async with _connect(world, "vxeng", world.eng_key) as eng:
            reader, writer = await eng.open_connection("127.0.0.1", world.agent_port)
            writer.write(b"knock")
            assert await reader.read(5) == b"hello"
            writer.close()
            with pytest.raises(asyncssh.ChannelOpenError):
                await eng.open_connection("127.0.0.1", world.other_port)
            with pytest.raises(asyncssh.ChannelListenError):
                await eng.forward_remote_port("127.0.0.1", world.other_port, "127.0.0.1", 9)
            # the grant ends: the same, still-open relay connection may not open it again
            world.now[0] += timedelta(minutes=10)
            with pytest.raises(asyncssh.ChannelOpenError):
                await eng.open_connection("127.0.0.1", world.agent_port)
    target.close()
    await target.wait_closed()
    assert served == [b"knock"]


async def test_unknown_keys_other_accounts_and_closed_cases_are_refused(world: World) -> None:
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    for user, key in (
        ("vxagent", stranger),
        ("vxeng", stranger),
        ("root", world.agent_key),
        ("vxeng", world.agent_key),
    ):
        with pytest.raises(asyncssh.PermissionDenied):
            async with _connect(world, user, key):
                pass
    world.lookup.grants[_line(world.eng_key)] = [
        EngineerGrant(
            world.agent_port,
            world.now[0] - timedelta(minutes=1),
            world.now[0] + timedelta(minutes=5),
            "closed",
        )
    ]
    with pytest.raises(asyncssh.PermissionDenied):
        async with _connect(world, "vxeng", world.eng_key):
            pass


def test_allowed_ports_reads_only_the_users_own_option() -> None:
    line = 'restrict,port-forwarding,permitlisten="127.0.0.1:4001" ssh-ed25519 AAAA'
    assert allowed_ports([line], "vxagent") == frozenset({4001})
    assert allowed_ports([line], "vxeng") == frozenset()
    eng = 'restrict,port-forwarding,permitopen="127.0.0.1:4001",permitopen="127.0.0.1:4002" k'
    assert allowed_ports([eng], "vxeng") == frozenset({4001, 4002})
    assert allowed_ports([eng], "nobody") == frozenset()
