"""Replaying the first answer to a request repeated under the same ``Idempotency-Key``.

The work is done and its answer recorded under the key in one writing
transaction; a unique index on (host, key) refuses a second record. Two requests
with one key therefore cannot both commit: on SQLite the second waits for the
write lock (``BEGIN IMMEDIATE``), then its record collides; on PostgreSQL its
insert waits on the unique index until the first commits, then fails. Either
way its work is rolled back and it replays the first answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from vxassist.desk.db import Database, DriverTransaction, Statement
from vxassist.desk.errors import DeskError
from vxassist.desk.models import IdempotencyRecord, table

#: attempts when a random reference collides (not a key replay)
_ATTEMPTS = 4

Answer = tuple[int, bytes]


def request_hash(path: str, body: Any) -> str:
    """The fingerprint of a request: path and canonical JSON of its validated body."""
    canonical = json.dumps(
        {"path": path, "body": body}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def dump(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


_RECORDS = table(IdempotencyRecord)
_EARLIER = select(_RECORDS.c.request_hash, _RECORDS.c.status_code, _RECORDS.c.response_body).where(
    _RECORDS.c.agent_id == bindparam("agent_id"), _RECORDS.c.key == bindparam("key")
)
_RECORD = insert(_RECORDS)
_RECORD_ON_DRIVER = Statement(
    insert(_RECORDS), keys=tuple(c.key for c in _RECORDS.columns if c.key != "id")
)


def _earlier(session: Session, agent_id: str, key: str, fingerprint: str) -> Answer | None:
    """The stored answer under ``key`` (409 if it was for another request), or None."""
    row = session.connection().execute(_EARLIER, {"agent_id": agent_id, "key": key}).first()
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise DeskError(
            409,
            "idempotency_key_reused",
            "This Idempotency-Key was already used for a different request; "
            "send a new key with each new request.",
        )
    return int(row.status_code), str(row.response_body).encode("utf-8")


def run_once(
    db: Database,
    agent_id: str,
    key: str | None,
    fingerprint: str,
    now: datetime,
    work: Callable[[Session], tuple[int, Any]],
) -> Answer:
    """Do ``work`` in one writing transaction, at most once per (agent, key).

    The key is not looked up first: a repeated key is rare, and the unique index
    finds it when the answer is stored, rolling the repeated work back.
    """

    def attempt() -> Answer:
        with db.writing_connection() as conn, Session(bind=conn) as session:
            status, data = work(session)
            body = dump(data)
            if key is not None:
                conn.execute(_RECORD, _record(agent_id, key, fingerprint, status, body, now))
            return status, body

    return _once(db, agent_id, key, fingerprint, attempt)


def run_once_on_driver(
    db: Database,
    agent_id: str,
    key: str,
    fingerprint: str,
    now: datetime,
    work: Callable[[DriverTransaction], tuple[int, Any]],
) -> Answer:
    """``run_once`` for work written as ``Statement``s on the driver's connection (intake)."""

    def attempt() -> Answer:
        with db.driver_writing() as tx:
            status, data = work(tx)
            body = dump(data)
            tx.run(_RECORD_ON_DRIVER, _record(agent_id, key, fingerprint, status, body, now))
            return status, body

    return _once(db, agent_id, key, fingerprint, attempt)


def _record(
    agent_id: str, key: str, fingerprint: str, status: int, body: bytes, now: datetime
) -> dict[str, Any]:
    return {
        "agent_id": agent_id,
        "key": key,
        "request_hash": fingerprint,
        "status_code": status,
        "response_body": body.decode("utf-8"),
        "created_at": now,
    }


def _once(
    db: Database, agent_id: str, key: str | None, fingerprint: str, attempt: Callable[[], Answer]
) -> Answer:
    for _attempt in range(_ATTEMPTS):
        try:
            return attempt()
        except db.integrity_errors:
            # This key's answer was stored before (on PostgreSQL, maybe by a request
            # that raced us: the unique index made us wait for it), or a random
            # reference collided: look for the answer, else try again.
            if key is not None:
                earlier = _lookup(db, agent_id, key, fingerprint)
                if earlier is not None:
                    return earlier
            continue
        except DeskError:
            # A retry after the case moved on (e.g. closed since) still gets its first answer.
            if key is not None:
                earlier = _lookup(db, agent_id, key, fingerprint)
                if earlier is not None:
                    return earlier
            raise
    raise DeskError(
        503, "desk_busy", "The desk could not store the request; send it again in a minute."
    )


def _lookup(db: Database, agent_id: str, key: str, fingerprint: str) -> Answer | None:
    with db.reading() as session:
        return _earlier(session, agent_id, key, fingerprint)
