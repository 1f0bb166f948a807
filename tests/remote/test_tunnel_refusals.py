"""The relay refuses the agent's remote listener (its port still held): the session
fails cleanly, and a tunnel that was up keeps trying until the port is free again.

Real OpenSSH relay, real asyncssh tunnel; the engineer is the stock ``ssh``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from pathlib import Path
from typing import Any

from tests.fixtures.relay import AGENT
from tests.remote.conftest import World, serving
from tests.remote.test_teardown import eventually
from vxassist.relay.local import descendants
from vxassist.remote.errors import TunnelError

BOUND_S = 60.0


def _squat(port: int) -> socket.socket:
    """Hold ``port`` on the relay's loopback, as a stalled earlier connection would."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1)
    return sock


def _serves_agent(pid: int) -> bool:
    """Whether ``pid`` is one of the relay's processes for the agent's connection."""
    try:
        return AGENT.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def test_a_refused_listener_fails_the_start_with_a_sentence(world: World) -> None:
    grant = world.grant("q1", ("shell",))
    squatter = _squat(world.listen_port)

    async def main() -> tuple[Any, list[Any]]:
        service = world.service()
        try:
            await service.start(grant, world.endpoint())
        except TunnelError as exc:
            error: Any = exc
        else:
            error = None
        active = service.active()
        assert service.spent_reason("q1")  # the grant never opens later
        await service.close()
        return error, active

    try:
        error, active = asyncio.run(asyncio.wait_for(main(), BOUND_S))
    finally:
        squatter.close()
    assert isinstance(error, TunnelError)
    assert "refused this host's tunnel port" in error.message
    assert active == []
    (teardown,) = world.events_named("teardown")
    assert teardown["session_id"] == "q1" and teardown["reason"].startswith("the tunnel")


def test_the_tunnel_keeps_trying_while_a_stalled_relay_holds_the_port(world: World) -> None:
    """A relay connection that stalls keeps the port; the agent's retries are refused
    until it is gone, and then the tunnel is back and the engineer gets in."""
    grant = world.grant("st1", ("shell",))
    world.certify(grant)
    world.configure_engineer("st1")
    assert world.relay.pid is not None

    async def main() -> tuple[str, list[str]]:
        async with serving(world, grant) as service:
            first = await world.engineer.run(["ssh", "agent", "echo one"])
            assert first.text == "one\n", first
            # the relay's side of the agent's connection stalls, with the port held
            stalled = [p for p in descendants(world.relay.pid or 0) if _serves_agent(p)]
            assert stalled
            for pid in stalled:
                os.kill(pid, signal.SIGSTOP)
            try:
                # the agent's keepalive gives up on it (here: at once)
                (tunnel,) = service._tunnels.values()
                assert tunnel._conn is not None
                tunnel._conn.abort()
                await eventually(
                    lambda: any(
                        "listener" in str(e.get("error", ""))
                        for e in world.events_named("tunnel_retrying")
                    ),
                    BOUND_S,
                )
                assert service.active()
            finally:
                for pid in stalled:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            await eventually(lambda: len(world.events_named("tunnel_up")) == 2, BOUND_S)
            again = await world.engineer.run(["ssh", "agent", "echo two"])
            return again.text, [e["event"] for e in world.audit.records()]

    text, events = asyncio.run(main())
    assert text == "two\n"
    assert world.events_named("tunnel_up")[1].get("resumed") is True
    assert "tunnel_gone" not in events
