"""The engineer's stock OpenSSH client through the real relay into the agent: each scope."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from tests.remote.conftest import World
from vxassist.remote.grants import Grant
from vxassist.remote.service import RemoteSessionService


@contextlib.asynccontextmanager
async def serving(world: World, grant: Grant, **kw: Any) -> AsyncIterator[RemoteSessionService]:
    service = world.service(**kw)
    await service.start(grant, world.endpoint())
    try:
        yield service
    finally:
        await service.close()


def test_exec_runs_the_command_and_is_recorded(world: World) -> None:
    grant = world.grant(scopes=("shell",))
    world.certify(grant)
    world.configure_engineer(grant.session_id)

    async def main() -> Any:
        async with serving(world, grant) as service:
            result = await world.engineer.run(["ssh", "agent", "echo hello; echo oops >&2; exit 3"])
            summary = await service.end(grant.session_id, "done")
        return result, summary

    result, summary = asyncio.run(main())
    assert result.rc == 3, result.err
    assert result.out == b"hello\n"
    assert b"oops" in result.err
    assert [c["command"] for c in summary["commands"]] == ["echo hello; echo oops >&2; exit 3"]
    (recording,) = summary["recordings"]
    cast = (world.paths.recordings_dir / recording["file"]).read_text().splitlines()
    header = json.loads(cast[0])
    assert header["version"] == 2
    assert any(json.loads(line)[2] == "hello\n" for line in cast[1:])
    logins = world.events_named("login")
    assert logins and logins[0]["engineer"] == "alice"
    assert logins[0]["key_fingerprint"] == world.engineer.fingerprint
    assert world.audit.verify()[0]
