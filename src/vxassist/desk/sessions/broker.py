"""Waking long polls when something of a host changes, in every desk process.

A waiting long poll reads the database once when it starts, then sleeps on a
future kept under its host's id (``host id -> set of futures``): no timer
re-reads it, no thread and no database session is held while it waits. Changes
are published per host (:mod:`vxassist.desk.hostevents`):

- SQLite (one desk process): after the writing transaction commits, the broker
  of this process is told which hosts changed, and only their polls re-read;
- PostgreSQL: the writer's ``pg_notify('vx_hosts', 'ID,...')`` reaches one
  ``LISTEN`` connection per desk process, which wakes those hosts' polls. When
  that connection is lost and made again, every poll re-reads once (what was
  missed meanwhile), never periodically.

A host that polls again with nothing changed for it since its last read is
answered from what that read found (no database work at all), until the first
moment the answer may change by itself (a request or extension lapsing).

The poll's own ``wait`` stays the cap of a wait: then the client gets its
answer and polls again.

A desk restart (``vxassist desk serve`` stopped and started, an upgrade) costs the
fleet little on either side:

- stopping, the desk answers every held poll at once (:meth:`Broker.release_all`:
  503 with a ``Retry-After`` that gives each host its own second to come back, so
  the fleet returns spread out) instead of letting the server cut them;
- starting, one read of the whole fleet (:meth:`Broker.remember_fleet`, three
  statements) remembers the answer of every host with nothing going on, so the
  returning fleet is answered without a read per host.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import make_url

from vxassist.desk import hostevents
from vxassist.desk.errors import DeskError

log = logging.getLogger(__name__)

CHANNEL = hostevents.CHANNEL
#: a host polling again later than this after its last answer gets everything at once
REPOLL_GAP_S = 5.0
#: longest a remembered answer stands without a re-read (a change some code did not
#: publish is seen by then at the latest)
CLEAN_MAX_S = 3600.0
#: polls of this process reading the database at once; more wait for a turn
DB_SLOTS = 16
#: polls waiting for a turn beyond which new ones are turned away (503, Retry-After)
MAX_QUEUED = 2000
#: host polls per second and process that may read the database (a fleet coming back
#: after a restart reads once per host); the rest are told to come back (Retry-After)
READS_PER_S = 400
#: hosts per second a stopping desk asks to come back (each host is given its own
#: moment: 10,000 held polls return over about ten seconds)
RETURN_PER_S = 1000
#: SQLite: how often the side file of admin commands' host changes is looked at
SIDE_FILE_EVERY_S = 1.0
T = TypeVar("T")


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _resolve_all(futs: list[asyncio.Future[None]]) -> None:
    for fut in futs:
        _resolve(fut)


@dataclass
class _Clean(Generic[T]):
    """What a host's last read found, and until when it stands without a re-read."""

    answer: T
    until: float
    epoch: int


class Broker:
    """Wake-ups for one desk process.

    ``poll_interval_s`` is now only the pause before making a lost ``LISTEN``
    connection again; nothing re-reads on an interval.
    """

    def __init__(
        self,
        db_url: str,
        poll_interval_s: float,
        *,
        db_slots: int = DB_SLOTS,
        max_queued: int = MAX_QUEUED,
        reads_per_s: int = READS_PER_S,
    ) -> None:
        self.poll_interval_s = poll_interval_s
        url = make_url(db_url)
        self._pg_dsn = (
            url.set(drivername="postgresql").render_as_string(hide_password=False)
            if url.get_backend_name() == "postgresql"
            else None
        )
        self._lock = threading.Lock()
        #: host id (or None: only a wake of everyone) -> futures of its waiting polls
        self._waiters: dict[str | None, set[asyncio.Future[None]]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._listening = self._pg_dsn is None  # in-process wake-ups need no connection
        #: per host, what its long polls already returned (so they wait, not spin)
        self._delivered: dict[str, tuple[frozenset[str], float]] = {}
        #: per host, its last read while nothing changed since (answered without a read)
        self._clean: dict[str, _Clean[Any]] = {}
        #: bumped by every wake of everyone: older remembered answers no longer stand
        self._epoch = 0
        #: per host, bumped by every wake of it: a read that a wake overtook is not kept
        self._host_wakes: dict[str, int] = {}
        self._db_slots = db_slots
        self._slots: asyncio.Semaphore | None = None
        self._queued = 0
        self.max_queued = max_queued
        #: host polls that may read the database per second; more are turned away (503)
        self.reads_per_s = reads_per_s
        self._second = 0.0
        self._reads_this_second = 0
        self.shed = 0
        self.notifications_received = 0
        #: database reads made by host polls (fleet tests count them)
        self.reads: dict[str, int] = {}
        self.reconnects = 0
        #: polls that have read and now sleep on their host's event
        self.sleeping = 0
        #: also told of every host change (None: any host), e.g. the token cache
        self.listeners: list[Callable[[frozenset[str] | None], None]] = []
        #: the desk is stopping: held and new polls are answered "come back later"
        self._closing = False
        #: the next free moment (monotonic) to send a turned-away host back to
        self._next_return = 0.0
        #: set once wake-ups from other processes reach this one (its LISTEN is made)
        self._heard: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        #: host answers remembered by the start-up read of the whole fleet
        self.remembered = 0
        #: SQLite: where admin commands run in other processes leave their host changes
        self._side_file = hostevents.side_file(url)
        hostevents.register(db_url, self)

    # -- publishing ------------------------------------------------------------

    def wake_hosts(self, agent_ids: Iterable[str] | None) -> None:
        """Wake the polls of these hosts (None: every poll), from any thread."""
        named = None if agent_ids is None else frozenset(agent_ids)
        for listener in self.listeners:
            listener(named)
        agent_ids = named
        with self._lock:
            if agent_ids is None:
                self._epoch += 1
                self._clean.clear()
                futs = [f for group in self._waiters.values() for f in group]
            else:
                futs = []
                for agent_id in agent_ids:
                    self._clean.pop(agent_id, None)
                    self._host_wakes[agent_id] = self._host_wakes.get(agent_id, 0) + 1
                    futs.extend(self._waiters.get(agent_id, ()))
        self._resolve_anywhere(futs)

    def wake(self) -> None:
        """Wake every waiter of this process, whichever event loop it waits on."""
        self.wake_hosts(None)

    @staticmethod
    def _resolve_anywhere(futs: list[asyncio.Future[None]]) -> None:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for fut in futs:
            by_loop.setdefault(fut.get_loop(), []).append(fut)
        for loop, group in by_loop.items():
            if loop is running:
                _resolve_all(group)
            elif not loop.is_closed():
                loop.call_soon_threadsafe(_resolve_all, group)

    # -- waiting ---------------------------------------------------------------

    def waiting(self) -> int:
        """Polls waiting in this process now."""
        with self._lock:
            return sum(len(group) for group in self._waiters.values())

    def _arm(self, key: str | None) -> asyncio.Future[None]:
        self._ensure_listener()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._waiters.setdefault(key, set()).add(fut)
        return fut

    def _disarm(self, key: str | None, fut: asyncio.Future[None]) -> None:
        with self._lock:
            group = self._waiters.get(key)
            if group is not None:
                group.discard(fut)
                if not group:
                    del self._waiters[key]

    async def long_poll(
        self,
        fetch: Callable[[], Awaitable[T]],
        ready: Callable[[T], bool],
        wait_s: float,
        key: str | Callable[[T], str | None] | None = None,
    ) -> T:
        """``fetch()`` until ``ready`` or ``wait_s`` has passed; re-read only when woken.

        ``key`` is the host whose changes wake this poll (or a function of the first
        answer naming it); without one, only a wake of everyone does.
        """
        deadline = time.monotonic() + max(0.0, wait_s)
        fixed = key if isinstance(key, str) or key is None else None
        keyer = None if isinstance(key, str) or key is None else key
        fut: asyncio.Future[None] | None = None
        armed_key: str | None = fixed
        if keyer is None:
            fut = self._arm(fixed)  # armed before reading: a change meanwhile still wakes us
        try:
            while True:
                if self._closing:
                    raise self._come_back_later(RETURN_PER_S)
                result = await fetch()
                if keyer is not None and fut is None:
                    armed_key = keyer(result)
                    fut = self._arm(armed_key)
                    result = await fetch()  # what changed between the first read and arming
                assert fut is not None
                left = deadline - time.monotonic()
                if ready(result) or left <= 0:
                    return result
                handle = asyncio.get_running_loop().call_later(left, _resolve, fut)
                self.sleeping += 1
                try:
                    await fut
                finally:
                    self.sleeping -= 1
                    handle.cancel()
                self._disarm(armed_key, fut)
                fut = self._arm(armed_key)
        finally:
            if fut is not None:
                self._disarm(armed_key, fut)

    async def host_poll(
        self,
        agent_id: str,
        read: Callable[[], Awaitable[tuple[T, float | None]]],
        ready: Callable[[T], bool],
        wait_s: float,
        clock: Callable[[], float] = time.time,
    ) -> T:
        """A host's long poll: ``read()`` gives the answer and the first moment (epoch
        seconds of ``clock``) it may change by itself; a host with nothing new is
        answered without a read."""

        async def fetch() -> T:
            with self._lock:
                clean = self._clean.get(agent_id)
                usable = (
                    clean is not None
                    and self._listening
                    and clean.epoch == self._epoch
                    and clock() < clean.until
                )
                epoch = self._epoch
                woken = self._host_wakes.get(agent_id, 0)
            if usable:
                assert clean is not None
                return clean.answer  # type: ignore[no-any-return]
            answer, changes_at = await self._read_in_turn(read)
            self.reads[agent_id] = self.reads.get(agent_id, 0) + 1
            until = clock() + CLEAN_MAX_S
            if changes_at is not None:
                until = min(until, changes_at)
            with self._lock:
                self._keep(agent_id, answer, until, epoch, woken)
            return answer

        return await self.long_poll(fetch, ready, wait_s, agent_id)

    def forget(self, agent_id: str) -> None:
        """Drop a host's remembered answer (its next poll reads)."""
        with self._lock:
            self._clean.pop(agent_id, None)

    async def _read_in_turn(self, read: Callable[[], Awaitable[T]]) -> T:
        """Run ``read`` when one of this process's database slots is free; turn the
        poll away (503, Retry-After) when too many already wait for one."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._db_slots)
        now = time.monotonic()
        if now - self._second >= 1.0:
            self._second, self._reads_this_second = now, 0
        over_rate = self.reads_per_s > 0 and self._reads_this_second >= self.reads_per_s
        if over_rate or (self._slots.locked() and self._queued >= self.max_queued):
            # a fleet coming back at once: each host told its own later second, at
            # the pace this process reads, so the fleet does not come back at once again
            self.shed += 1
            raise self._come_back_later(max(1, self.reads_per_s))
        self._reads_this_second += 1
        self._queued += 1
        try:
            await self._slots.acquire()
        finally:
            self._queued -= 1
        try:
            return await read()
        finally:
            self._slots.release()

    def _come_back_later(self, per_s: float) -> DeskError:
        """503 with a ``Retry-After`` one ``1/per_s`` later than the last one given (at
        least a second, plus up to a second at random): turned-away hosts return
        one after another, at the pace given, not all in the same moment."""
        now = time.monotonic()
        self._next_return = max(self._next_return, now) + 1.0 / per_s
        after = max(1, math.ceil(self._next_return - now + random.random()))
        return DeskError(
            503,
            "desk_busy",
            "The desk is busy or restarting; retry in a few seconds.",
            headers={"Retry-After": str(after)},
        )

    def release_all(self) -> None:
        """The desk is stopping: every held poll (and any new one) is answered now, each
        told when to come back, instead of being cut when the server stops. Any thread."""
        with self._lock:
            self._closing = True
            futs = [f for group in self._waiters.values() for f in group]
        self._resolve_anywhere(futs)

    async def remember_fleet(
        self,
        read_all: Callable[[], Awaitable[dict[str, T]]],
        clock: Callable[[], float] = time.time,
    ) -> int:
        """Remember the answer of every host ``read_all()`` names (one read for the
        whole fleet, made once wake-ups reach this process), as if each host had
        polled; returns how many. A host woken while the read ran is left out, and
        the read is dropped when a wake of everyone overtook it."""
        heard = asyncio.Event()
        self._heard.append((asyncio.get_running_loop(), heard))
        try:
            self._ensure_listener()
            if not self._listening:
                await heard.wait()
        finally:
            self._heard.remove((asyncio.get_running_loop(), heard))
        with self._lock:
            epoch = self._epoch
            wakes = dict(self._host_wakes)
        answers = await read_all()
        until = clock() + CLEAN_MAX_S
        kept = 0
        with self._lock:
            if not self._listening:
                return 0
            for agent_id, answer in answers.items():
                if agent_id not in self._clean:
                    kept += self._keep(agent_id, answer, until, epoch, wakes.get(agent_id, 0))
        self.remembered += kept
        return kept

    def _keep(self, agent_id: str, answer: Any, until: float, epoch: int, woken: int) -> bool:
        """Remember ``answer``, read at ``epoch`` when the host had been woken ``woken``
        times, unless a wake came since (the lock held): a change published while the
        read ran may be missing from it, and keeping it would let every later poll of
        this host miss that change."""
        if epoch != self._epoch or woken != self._host_wakes.get(agent_id, 0):
            return False
        self._clean[agent_id] = _Clean(answer, until, epoch)
        return True

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
        if items or agent_id in self._delivered:
            self._delivered[agent_id] = (items, time.monotonic())

    # -- PostgreSQL LISTEN -------------------------------------------------------

    @property
    def listening(self) -> bool:
        """Whether wake-ups from other processes reach this one now."""
        return self._listening

    def start(self) -> None:
        """Start listening now (else the first poll does)."""
        self._ensure_listener()

    def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.done():
            return
        if self._pg_dsn is not None:
            self._listener = asyncio.get_running_loop().create_task(self._listen(self._pg_dsn))
        elif self._side_file is not None:
            self._listener = asyncio.get_running_loop().create_task(
                self._watch_side_file(self._side_file)
            )

    async def _watch_side_file(self, path: Path) -> None:
        """SQLite: pick up host changes that admin commands (other processes) appended.

        One ``stat`` a second for the whole process, no database work; nothing else
        in this process waits on it (the desk's own changes wake polls directly).
        """
        try:
            offset = os.stat(path).st_size
        except OSError:
            offset = 0
        while True:
            await asyncio.sleep(SIDE_FILE_EVERY_S)
            try:
                size = os.stat(path).st_size
            except OSError:
                continue
            if size < offset:
                offset = 0  # the file was removed and written anew
            if size == offset:
                continue
            try:
                with path.open("rb") as src:
                    src.seek(offset)
                    data = src.read(size - offset)
            except OSError as exc:
                log.warning("could not read host changes from %s: %s", path, exc)
                continue
            complete = data.rfind(b"\n") + 1
            offset += complete
            ids = {i for line in data[:complete].decode().splitlines() for i in line.split(",")}
            self.wake_hosts(None if hostevents.EVERYONE in ids else ids - {""})

    async def _listen(self, dsn: str) -> None:
        import psycopg

        first = True
        while True:
            try:
                conn: Any = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._listening = True
                    for loop, heard in list(self._heard):
                        if not loop.is_closed():
                            loop.call_soon_threadsafe(heard.set)
                    if not first:
                        self.reconnects += 1
                    first = False
                    log.info("listening for host changes on PostgreSQL")
                    self.wake()  # one catch-up: what was missed while not listening
                    async for note in conn.notifies():
                        self.notifications_received += 1
                        self.wake_hosts(hostevents.parse(note.payload))
            except (psycopg.Error, OSError) as exc:
                log.warning("host changes LISTEN connection lost; connecting again: %s", exc)
            self._listening = False
            with self._lock:
                self._clean.clear()
            for listener in self.listeners:
                listener(None)
            await asyncio.sleep(min(self.poll_interval_s, 5.0))

    async def close(self) -> None:
        hostevents.unregister(self)
        task, self._listener = self._listener, None
        if task is None:
            return
        loop = task.get_loop()
        if loop is asyncio.get_running_loop():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        elif not loop.is_closed():  # started by a poll on another loop (tests' servers)
            loop.call_soon_threadsafe(task.cancel)
        self._listening = self._pg_dsn is None
