"""Waking long polls when a session changes, in every desk worker.

A waiting long poll re-reads the database at least every ``poll_interval_s``:
that is the portable path, and it alone is correct with any number of workers.
On top of it, a change made in this process wakes its own waiters at once, and
on PostgreSQL each write sends ``NOTIFY vx_sessions`` (delivered at commit), which
a ``LISTEN`` task in every worker turns into the same wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CHANNEL = "vx_sessions"
#: a host polling again later than this after its last answer gets everything at once
REPOLL_GAP_S = 5.0
T = TypeVar("T")


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Broker:
    """Wake-ups for one desk process."""

    def __init__(self, db_url: str, poll_interval_s: float) -> None:
        self.poll_interval_s = poll_interval_s
        url = make_url(db_url)
        self._pg_dsn = (
            url.set(drivername="postgresql").render_as_string(hide_password=False)
            if url.get_backend_name() == "postgresql"
            else None
        )
        self._waiters: set[asyncio.Future[None]] = set()
        self._listener: asyncio.Task[None] | None = None
        #: per host, what its long polls already returned (so they wait, not spin)
        self._delivered: dict[str, tuple[frozenset[str], float]] = {}
        self.notifications_received = 0

    # -- publishing ------------------------------------------------------------

    def publish(self, session: Session) -> None:
        """Inside a writing transaction: tell other workers once it commits."""
        if self._pg_dsn is not None:
            session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})

    def wake(self) -> None:
        """Wake every waiter of this process, whichever event loop it waits on."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for fut in list(self._waiters):
            loop = fut.get_loop()
            if loop is running:
                _resolve(fut)
            elif not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, fut)

    # -- waiting ---------------------------------------------------------------

    def _arm(self) -> asyncio.Future[None]:
        self._ensure_listener()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(fut)
        return fut

    async def long_poll(
        self,
        fetch: Callable[[], Awaitable[T]],
        ready: Callable[[T], bool],
        wait_s: float,
    ) -> T:
        """``fetch()`` until ``ready`` or ``wait_s`` has passed; re-read on wake or interval."""
        deadline = time.monotonic() + max(0.0, wait_s)
        while True:
            fut = self._arm()  # armed before reading: a change meanwhile still wakes us
            try:
                result = await fetch()
                left = deadline - time.monotonic()
                if ready(result) or left <= 0:
                    return result
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(fut, timeout=min(self.poll_interval_s, left))
            finally:
                self._waiters.discard(fut)

    def fresh_for(self, agent_id: str, items: frozenset[str]) -> bool:
        """Whether ``items`` holds anything this host's polls have not returned yet.

        A host that was away longer than ``REPOLL_GAP_S`` since its last answer (it
        restarted, or lost the answer) is given everything again at once.
        """
        seen, at = self._delivered.get(agent_id, (frozenset(), 0.0))
        if items and time.monotonic() - at > REPOLL_GAP_S:
            return True
        return bool(items - seen)

    def delivered(self, agent_id: str, items: frozenset[str]) -> None:
        self._delivered[agent_id] = (items, time.monotonic())

    # -- PostgreSQL LISTEN -------------------------------------------------------

    def _ensure_listener(self) -> None:
        if self._pg_dsn is None or (self._listener is not None and not self._listener.done()):
            return
        self._listener = asyncio.get_running_loop().create_task(self._listen(self._pg_dsn))

    async def _listen(self, dsn: str) -> None:
        import psycopg

        while True:
            try:
                conn: Any = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    log.info("listening for session changes on PostgreSQL")
                    self.wake()  # anything missed while not listening is re-read now
                    async for _note in conn.notifies():
                        self.notifications_received += 1
                        self.wake()
            except psycopg.Error as exc:
                log.warning("session LISTEN connection lost, polling meanwhile: %s", exc)
                await asyncio.sleep(self.poll_interval_s)

    async def close(self) -> None:
        task, self._listener = self._listener, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
