"""The live view's feed: a PTY's output reaches ``on_event`` as the recorder gets it."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.remote.conftest import World, serving
from tests.remote.test_teardown import BOUND_S, eventually, logins, spawn


def _screen_bytes(events: list[dict[str, Any]]) -> bytes:
    return b"".join(e["data"] for e in events if e["event"] == "terminal_output")


def test_pty_output_is_published_raw_with_its_size(world: World) -> None:
    grant = world.grant("t1", ("shell",))
    world.certify(grant)
    world.configure_engineer("t1")

    async def main() -> None:
        async with serving(world, grant, live_terminals=True):
            shell = await spawn(world, "ssh", "-tt", "agent")
            await eventually(lambda: logins(world) == 1)
            assert shell.stdin is not None
            shell.stdin.write(b"echo typed-$((6*7))-here\n")
            await shell.stdin.drain()
            await eventually(lambda: b"typed-42-here" in _screen_bytes(world.events))
            shell.stdin.write(b"exit\n")
            await shell.stdin.drain()
            await asyncio.wait_for(shell.wait(), BOUND_S)
            await eventually(lambda: any(e["event"] == "terminal_closed" for e in world.events))

    asyncio.run(main())
    out = [e for e in world.events if e["event"] == "terminal_output"]
    assert all(isinstance(e["data"], bytes) for e in out)
    assert {e["session_id"] for e in out} == {"t1"}
    (recording,) = world.events_named("recording")
    assert {e["channel"] for e in out} == {recording["file"]}
    assert out[0]["width"] > 0 and out[0]["height"] > 0
    # the same bytes the recording holds
    cast = (world.paths.recordings_dir / recording["file"]).read_text()
    assert "typed-42-here" in cast


def test_nothing_is_published_unless_asked(world: World) -> None:
    grant = world.grant("t2", ("shell",))
    world.certify(grant)
    world.configure_engineer("t2")

    async def main() -> None:
        async with serving(world, grant):
            out = await world.engineer.run(["ssh", "-tt", "agent", "echo quiet-here"])
            assert "quiet-here" in out.text

    asyncio.run(main())
    assert not [e for e in world.events if str(e["event"]).startswith("terminal_")]
