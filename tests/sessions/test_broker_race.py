"""A host's remembered answer never outlives a change published while it was read."""

from __future__ import annotations

import asyncio
from pathlib import Path

from vxassist.desk.sessions.broker import Broker


def test_a_wake_during_the_read_is_not_lost(tmp_path: Path) -> None:
    asyncio.run(_scenario(tmp_path))


async def _scenario(tmp_path: Path) -> None:
    broker = Broker(f"sqlite:///{tmp_path / 'desk.sqlite3'}", 1.0)
    state = {"revoked": False}
    reads = 0

    async def read() -> tuple[dict[str, bool], float | None]:
        nonlocal reads
        reads += 1
        seen = dict(state)  # what the database said when the read began
        if reads == 1:
            # the engineer revokes while this read is under way; its answer is stale
            state["revoked"] = True
            broker.wake_hosts(["host-1"])
        await asyncio.sleep(0)
        return seen, None

    def ready(answer: dict[str, bool]) -> bool:
        return answer["revoked"]

    first = await broker.host_poll("host-1", read, lambda _a: False, wait_s=0)
    assert first == {"revoked": False}
    # the next poll must read again: the stale answer was not kept as "nothing new"
    answer = await asyncio.wait_for(broker.host_poll("host-1", read, ready, wait_s=30), 10)
    assert answer == {"revoked": True}
    await broker.close()
