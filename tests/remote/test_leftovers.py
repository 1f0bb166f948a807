"""Sessions a killed agent left live: the next start ends them (audited once) and
offers them for the desk until the desk has the report."""

from __future__ import annotations

import asyncio

from tests.remote.conftest import World, serving
from vxassist.remote.service import LEFTOVER_REASON, LIVE_FILE


def test_a_killed_runs_sessions_are_ended_once_and_kept_until_reported(world: World) -> None:
    grant = world.grant("l1", ("shell",))
    live_file = world.paths.data_dir / LIVE_FILE

    async def killed_run() -> bytes:
        async with serving(world, grant):
            return live_file.read_bytes()  # what the file held when the agent was killed

    left = asyncio.run(killed_run())
    live_file.write_bytes(left)  # a killed agent runs no teardown: the file stays so

    first = world.service().take_leftovers()
    assert [s["session_id"] for s in first] == ["l1"]
    assert first[0]["end_reason"] == LEFTOVER_REASON
    assert first[0]["engineer"] == "alice" and first[0]["case_number"] == 42
    assert first[0]["audit"]["seq"] >= 1

    # the desk did not take the report: the next start offers it again, audited once
    again = world.service()
    assert again.take_leftovers() == first
    ends = [e for e in world.events_named("teardown") if e["reason"] == LEFTOVER_REASON]
    assert len(ends) == 1
    again.leftover_reported("l1")
    assert world.service().take_leftovers() == []
    assert world.audit.verify()[0]
