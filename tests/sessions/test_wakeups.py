"""The broker's wake-ups, alone: what a host's long poll returns at once, and a wake
from another event loop (another thread) reaching a waiter."""

from __future__ import annotations

import asyncio
import threading

import pytest

from vxassist.desk.sessions import broker as broker_module
from vxassist.desk.sessions.broker import REPOLL_GAP_S, Broker


def test_a_host_gets_new_items_at_once_and_old_ones_only_after_a_gap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(broker_module.time, "monotonic", lambda: now[0])
    b = Broker("sqlite:///x.db", 1.0)
    items = frozenset({"req:a"})
    assert b.fresh_for("h1", items)
    b.delivered("h1", items)
    now[0] += 0.1
    assert not b.fresh_for("h1", items)  # the same again: wait for a change
    assert b.fresh_for("h1", items | {"rev:b"})
    assert not b.fresh_for("h1", frozenset())
    assert b.fresh_for("h2", items)  # another host has seen nothing
    now[0] += REPOLL_GAP_S + 1  # the host was away (restarted): everything at once
    assert b.fresh_for("h1", items)


def test_wake_from_another_loop_ends_the_wait() -> None:
    b = Broker("sqlite:///x.db", 3600.0)
    reads: list[int] = []
    result: list[int] = []
    armed = threading.Event()

    async def waiter() -> None:
        async def fetch() -> int:
            reads.append(1)
            if len(reads) == 1:
                armed.set()
            return len(reads)

        result.append(await b.long_poll(fetch, lambda n: n >= 2, 3600.0))

    thread = threading.Thread(target=lambda: asyncio.run(waiter()))
    thread.start()
    assert armed.wait(30)

    async def other_loop() -> None:
        # keep waking until the waiter has re-read (it may not be waiting yet)
        while thread.is_alive():
            b.wake()
            await asyncio.sleep(0.01)

    asyncio.run(asyncio.wait_for(other_loop(), 30))
    thread.join(30)
    assert result == [2]
