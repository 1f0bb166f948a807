"""The local outbox: requests wait here until the desk has them.

A request is written to SQLite (under ``Paths.outbox_dir``) with an idempotency
key made once, BEFORE its first send; every retry reuses that key, so a crash
between "sent" and "recorded" only leads to a harmless resend (the desk answers
a repeated key with its first answer). Nothing is dropped: an item ends
``delivered``, ``rejected`` (the desk said no; its sentence is kept),
``emailed`` or ``saved`` (the fallbacks once the retry window has passed).

The decisions (when to try again, when to give up on the desk) are pure
functions of the item, the outcome and the clock: ``decide``.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from vxassist.cases.model import CaseError
from vxassist.deskclient import DeskRejected, DeskUnavailable
from vxassist.errors import VxError

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class State(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    REJECTED = "rejected"
    EMAILED = "emailed"
    SAVED = "saved"


class Kind(StrEnum):
    CASE = "case"
    UPDATE = "update"


class OutboxError(CaseError):
    """The outbox cannot be read or written."""


class OutboxFull(OutboxError):
    """No space left to write the request down."""


# -- pure decisions -----------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded by the retry window."""

    window_s: float = 6 * 3600
    base_s: float = 5.0
    factor: float = 2.0
    max_delay_s: float = 15 * 60
    #: share of each delay that is random (0 = none, 1 = "full jitter")
    jitter: float = 0.5


@dataclass(frozen=True)
class Delivered:
    answer: dict[str, Any]


@dataclass(frozen=True)
class Unavailable:
    reason: str
    retry_after: float | None = None


@dataclass(frozen=True)
class Rejected:
    reason: str
    code: str = ""
    status: int = 0


Outcome = Delivered | Unavailable | Rejected


@dataclass(frozen=True)
class MarkDelivered:
    answer: dict[str, Any]


@dataclass(frozen=True)
class RetryAt:
    at: datetime
    reason: str


@dataclass(frozen=True)
class MarkRejected:
    reason: str


@dataclass(frozen=True)
class FallBack:
    reason: str


Decision = MarkDelivered | RetryAt | MarkRejected | FallBack


def backoff_delay(policy: RetryPolicy, attempts: int, rand: float) -> float:
    """Seconds before the next try after ``attempts`` failed ones (``rand`` in [0, 1))."""
    exponent = max(0, attempts - 1)
    ceiling = min(policy.max_delay_s, policy.base_s * policy.factor**exponent)
    return ceiling * (1.0 - policy.jitter) + ceiling * policy.jitter * rand


def window_end(policy: RetryPolicy, created_at: datetime) -> datetime:
    return created_at + timedelta(seconds=policy.window_s)


def decide(
    policy: RetryPolicy,
    created_at: datetime,
    attempts: int,
    outcome: Outcome,
    now: datetime,
    rand: float,
) -> Decision:
    """What to do with an item after an attempt (``attempts`` includes this one)."""
    if isinstance(outcome, Delivered):
        return MarkDelivered(outcome.answer)
    if isinstance(outcome, Rejected):
        return MarkRejected(outcome.reason)
    end = window_end(policy, created_at)
    if now >= end:
        return FallBack(
            f"the desk could not be reached since {created_at:%Y-%m-%d %H:%M} UTC: {outcome.reason}"
        )
    delay = backoff_delay(policy, attempts, rand)
    if outcome.retry_after is not None:
        delay = max(delay, outcome.retry_after)
    return RetryAt(min(now + timedelta(seconds=delay), end), outcome.reason)


def is_due(state: State, next_attempt_at: datetime, now: datetime, force: bool) -> bool:
    return state is State.PENDING and (force or next_attempt_at <= now)


# -- the store ----------------------------------------------------------------


@dataclass(frozen=True)
class OutboxItem:
    id: int
    kind: Kind
    method: str
    path: str
    body: dict[str, Any]
    idempotency_key: str
    created_at: datetime
    state: State
    attempts: int
    next_attempt_at: datetime
    last_error: str = ""
    answer: dict[str, Any] | None = None
    finished_at: datetime | None = None
    #: where a fallback put it (an e-mail address or file paths)
    fallback_to: str = ""

    @property
    def case_number(self) -> int | None:
        if self.answer and isinstance(self.answer.get("case_number"), int):
            return int(self.answer["case_number"])
        return None

    def summary(self) -> dict[str, Any]:
        """The item as the ``outbox --json`` command shows it (no system report)."""
        brief = self.body.get("brief") or self.body.get("text") or ""
        return {
            "id": self.id,
            "kind": str(self.kind),
            "state": str(self.state),
            "brief": str(brief)[:120],
            "idempotency_key": self.idempotency_key,
            "created_at": self.created_at.isoformat(),
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at.isoformat()
            if self.state is State.PENDING
            else None,
            "last_error": self.last_error,
            "case_number": self.case_number,
            "reference": (self.answer or {}).get("reference"),
            "status": (self.answer or {}).get("status"),
            "response_due": (self.answer or {}).get("response_due"),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "fallback_to": self.fallback_to or None,
        }


_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    answer TEXT,
    finished_at TEXT,
    fallback_to TEXT NOT NULL DEFAULT '',
    lease_pid INTEGER,
    lease_until TEXT
);
"""

LEASE_S = 120.0


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    return isinstance(exc, sqlite3.Error) and "full" in str(exc).lower()


def _case_answer(answer: Mapping[str, Any]) -> bool:
    """The desk's answer to a new case names it: a case number or a reference."""
    number, reference = answer.get("case_number"), answer.get("reference")
    return (isinstance(number, int) and not isinstance(number, bool)) or (
        isinstance(reference, str) and bool(reference.strip())
    )


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return True  # rely on the lease's expiry alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OutboxStore:
    """The outbox's SQLite file; every change is one transaction."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.file = folder / "outbox.sqlite3"

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.file, timeout=30, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise self._error(exc, "open") from exc
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(_SCHEMA)
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except (OSError, sqlite3.Error) as exc:
            raise self._error(exc, "write") from exc
        finally:
            conn.close()

    def _error(self, exc: BaseException, what: str) -> OutboxError:
        if is_disk_full(exc):
            return OutboxFull(
                f"There is no space left on the disk for the outbox ({self.folder}); free "
                "some space and try again. Nothing was lost: what you typed is shown below "
                "or still in your file.",
                detail=f"{what}: {exc!r}",
            )
        return OutboxError(
            f"The outbox ({self.file}) cannot be used; check that the folder is writable "
            "and try again.",
            detail=f"{what}: {exc!r}",
        )

    @staticmethod
    def _row(row: sqlite3.Row | tuple[Any, ...]) -> OutboxItem:
        (
            id_,
            kind,
            method,
            path,
            body,
            key,
            created,
            state,
            attempts,
            next_at,
            error,
            answer,
            finished,
            fallback_to,
        ) = tuple(row)[:14]
        return OutboxItem(
            id=int(id_),
            kind=Kind(kind),
            method=str(method),
            path=str(path),
            body=json.loads(body),
            idempotency_key=str(key),
            created_at=_dt(created),
            state=State(state),
            attempts=int(attempts),
            next_attempt_at=_dt(next_at),
            last_error=str(error),
            answer=json.loads(answer) if answer else None,
            finished_at=_dt(finished) if finished else None,
            fallback_to=str(fallback_to),
        )

    _COLUMNS = (
        "id, kind, method, path, body, idempotency_key, created_at, state, attempts, "
        "next_attempt_at, last_error, answer, finished_at, fallback_to"
    )

    def add(
        self, kind: Kind, method: str, path: str, body: dict[str, Any], now: datetime
    ) -> OutboxItem:
        """Write a request down with a new idempotency key, ready to send now."""
        key = str(uuid.uuid4())
        encoded = json.dumps(body, ensure_ascii=False, sort_keys=True)
        with self._db() as db:
            cur = db.execute(
                "INSERT INTO items (kind, method, path, body, idempotency_key, created_at, "
                "state, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (str(kind), method, path, encoded, key, _iso(now), str(State.PENDING), _iso(now)),
            )
            item_id = cur.lastrowid
        assert item_id is not None
        return self.get(item_id)

    def get(self, item_id: int) -> OutboxItem:
        with self._db() as db:
            row = db.execute(
                f"SELECT {self._COLUMNS} FROM items WHERE id = ?", (item_id,)
            ).fetchone()
        if row is None:
            raise OutboxError(
                f"There is no outbox item {item_id}; see `vxassist outbox` for the list.",
                detail=f"item {item_id} unknown",
            )
        return self._row(row)

    def items(self, states: tuple[State, ...] = ()) -> list[OutboxItem]:
        query = f"SELECT {self._COLUMNS} FROM items"
        args: tuple[str, ...] = ()
        if states:
            query += " WHERE state IN (" + ",".join("?" * len(states)) + ")"
            args = tuple(str(s) for s in states)
        if not self.file.exists():
            return []
        with self._db() as db:
            rows = db.execute(query + " ORDER BY id", args).fetchall()
        return [self._row(r) for r in rows]

    def due(self, now: datetime, force: bool = False) -> list[OutboxItem]:
        return [
            i
            for i in self.items((State.PENDING,))
            if is_due(i.state, i.next_attempt_at, now, force)
        ]

    def claim(self, item_id: int, now: datetime) -> OutboxItem | None:
        """Take the item for one attempt, unless another live process holds it."""
        with self._db() as db:
            row = db.execute(
                "SELECT state, lease_pid, lease_until FROM items WHERE id = ?", (item_id,)
            ).fetchone()
            if row is None or row[0] != State.PENDING:
                return None
            pid, until = row[1], row[2]
            if (
                pid is not None
                and until is not None
                and _dt(until) > now
                and pid != os.getpid()
                and _pid_alive(int(pid))
            ):
                return None
            db.execute(
                "UPDATE items SET lease_pid = ?, lease_until = ?, attempts = attempts + 1 "
                "WHERE id = ?",
                (os.getpid(), _iso(now + timedelta(seconds=LEASE_S)), item_id),
            )
        return self.get(item_id)

    def _finish(self, item_id: int, sets: str, args: tuple[Any, ...]) -> OutboxItem:
        with self._db() as db:
            db.execute(
                f"UPDATE items SET {sets}, lease_pid = NULL, lease_until = NULL WHERE id = ?",
                (*args, item_id),
            )
        return self.get(item_id)

    def mark_delivered(self, item_id: int, answer: dict[str, Any], now: datetime) -> OutboxItem:
        return self._finish(
            item_id,
            "state = ?, answer = ?, finished_at = ?, last_error = ''",
            (str(State.DELIVERED), json.dumps(answer, ensure_ascii=False), _iso(now)),
        )

    def mark_rejected(self, item_id: int, reason: str, now: datetime) -> OutboxItem:
        return self._finish(
            item_id,
            "state = ?, last_error = ?, finished_at = ?",
            (str(State.REJECTED), reason, _iso(now)),
        )

    def schedule(self, item_id: int, at: datetime, reason: str) -> OutboxItem:
        return self._finish(item_id, "next_attempt_at = ?, last_error = ?", (_iso(at), reason))

    def mark_fallback(
        self, item_id: int, state: State, where: str, reason: str, now: datetime
    ) -> OutboxItem:
        return self._finish(
            item_id,
            "state = ?, fallback_to = ?, last_error = ?, finished_at = ?",
            (str(state), where, reason, _iso(now)),
        )


# -- sending ------------------------------------------------------------------


class Sender(Protocol):
    """What the outbox needs of the desk client (``DeskClient.request``)."""

    def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        headers: Any = None,
        timeout: float | None = None,
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class FallbackResult:
    state: State
    where: str


class Fallback(Protocol):
    def __call__(self, item: OutboxItem, reason: str) -> FallbackResult: ...


class OutboxSender:
    """Sends due items, applies ``decide`` and records each result.

    ``client`` is None when this host has no desk (not enrolled): the desk is
    then no channel at all and items go straight to the fallback.
    """

    def __init__(
        self,
        store: OutboxStore,
        client: Sender | None,
        fallback: Fallback,
        policy: RetryPolicy,
        clock: Clock = utc_now,
        rand: Callable[[], float] | None = None,
        no_desk_reason: str = "this host is not enrolled with a desk",
    ) -> None:
        import random

        self.store = store
        self.client = client
        self.fallback = fallback
        self.policy = policy
        self.clock = clock
        self.rand = rand or random.random
        self.no_desk_reason = no_desk_reason

    def _send(self, item: OutboxItem, timeout: float | None) -> Outcome:
        assert self.client is not None
        try:
            answer = self.client.request(
                item.method,
                item.path,
                json=item.body,
                headers={"Idempotency-Key": item.idempotency_key},
                timeout=timeout,
            )
        except DeskUnavailable as exc:
            # the sentence is shown to the customer; the cause goes to the log only
            log.info("outbox item %s not sent: %s", item.id, exc.detail or exc.message)
            return Unavailable(exc.message, exc.retry_after)
        except DeskRejected as exc:
            return Rejected(exc.message, exc.code, exc.status)
        if item.kind is Kind.CASE and not _case_answer(answer):
            # something that answers JSON but is not the desk (a portal, a proxy): the
            # request is not received, so it stays here and goes again
            log.warning("outbox item %s: the answer is not a case: %r", item.id, answer)
            where = getattr(self.client, "base_url", "the desk's address")
            return Unavailable(
                f"The answer from {where} is not the desk's; the request stays on this "
                "computer and goes when the desk answers.",
            )
        return Delivered(answer)

    def attempt(self, item: OutboxItem, timeout: float | None = None) -> OutboxItem:
        """One try at ``item`` (skipped if another process holds it); the item after."""
        claimed = self.store.claim(item.id, self.clock())
        if claimed is None:
            return self.store.get(item.id)
        if self.client is None:
            return self._fall_back(claimed, self.no_desk_reason)
        outcome = self._send(claimed, timeout)
        now = self.clock()
        decision = decide(
            self.policy, claimed.created_at, claimed.attempts, outcome, now, self.rand()
        )
        if isinstance(decision, MarkDelivered):
            log.info("outbox item %s delivered (key %s)", claimed.id, claimed.idempotency_key)
            return self.store.mark_delivered(claimed.id, decision.answer, now)
        if isinstance(decision, MarkRejected):
            log.warning("outbox item %s rejected: %s", claimed.id, decision.reason)
            return self.store.mark_rejected(claimed.id, decision.reason, now)
        if isinstance(decision, RetryAt):
            log.info("outbox item %s: retry at %s (%s)", claimed.id, decision.at, decision.reason)
            return self.store.schedule(claimed.id, decision.at, decision.reason)
        return self._fall_back(claimed, decision.reason)

    def _fall_back(self, item: OutboxItem, reason: str) -> OutboxItem:
        try:
            result = self.fallback(item, reason)
        except OutboxError as exc:
            # Neither e-mail nor a file worked: keep it pending, try again later.
            log.error("outbox item %s: fallback failed: %s", item.id, exc.detail)
            later = self.clock() + timedelta(seconds=self.policy.max_delay_s)
            return self.store.schedule(item.id, later, f"{reason}; {exc.message}")
        log.warning("outbox item %s sent by %s to %s", item.id, result.state, result.where)
        return self.store.mark_fallback(item.id, result.state, result.where, reason, self.clock())

    def flush(self, force: bool = False, timeout: float | None = None) -> list[OutboxItem]:
        """Try every due item (every pending one with ``force``); the items after."""
        done = []
        for item in self.store.due(self.clock(), force):
            done.append(self.attempt(item, timeout))
        return done

    def close(self) -> None:
        """Release the desk client's connections."""
        closer = getattr(self.client, "close", None)
        if callable(closer):
            closer()

    def __enter__(self) -> OutboxSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OutboxService:
    """The long-running agent's worker: flushes due items until stopped."""

    def __init__(self, make_sender: Callable[[], OutboxSender], interval_s: float = 30.0) -> None:
        self._make_sender = make_sender
        self._interval_s = interval_s

    def _flush_once(self) -> None:
        with self._make_sender() as sender:
            sender.flush()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(self._flush_once)
            except VxError as exc:
                # A broken keyring or outbox must not end the worker: say so, try later.
                log.error("outbox worker: %s (%s)", exc.message, exc.detail)
            try:
                await asyncio.wait_for(stop.wait(), timeout=self._interval_s)
            except TimeoutError:
                continue
