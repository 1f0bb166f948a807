"""Replaying the first answer to a request repeated under the same ``Idempotency-Key``.

The key's record is inserted first in the same transaction as the work it
guards, and its answer is filled in before commit. Two requests with one key at
the same moment therefore cannot both do the work: on SQLite the second waits
for the write lock (``BEGIN IMMEDIATE``); on PostgreSQL its insert waits on the
unique index until the first commits, then fails, and it replays the answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vxassist.desk.db import Database
from vxassist.desk.errors import DeskError
from vxassist.desk.models import IdempotencyRecord

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


def _replay(db: Database, agent_id: str, key: str, fingerprint: str) -> Answer | None:
    with db.reading() as session:
        record = session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.agent_id == agent_id, IdempotencyRecord.key == key
            )
        )
    if record is None:
        return None
    if record.request_hash != fingerprint:
        raise DeskError(
            409,
            "idempotency_key_reused",
            "This Idempotency-Key was already used for a different request; "
            "send a new key with each new request.",
        )
    return record.status_code, record.response_body.encode("utf-8")


def run_once(
    db: Database,
    agent_id: str,
    key: str | None,
    fingerprint: str,
    now: datetime,
    work: Callable[[Session], tuple[int, Any]],
) -> Answer:
    """Do ``work`` in one writing transaction, at most once per (agent, key)."""
    if key is not None:
        earlier = _replay(db, agent_id, key, fingerprint)
        if earlier is not None:
            return earlier
    for _attempt in range(_ATTEMPTS):
        try:
            with db.writing() as session:
                record = None
                if key is not None:
                    record = IdempotencyRecord(
                        agent_id=agent_id,
                        key=key,
                        request_hash=fingerprint,
                        status_code=0,
                        response_body="",
                        created_at=now,
                    )
                    session.add(record)
                    session.flush()
                status, data = work(session)
                body = dump(data)
                if record is not None:
                    record.status_code = status
                    record.response_body = body.decode("utf-8")
                return status, body
        except IntegrityError:
            if key is not None:
                earlier = _replay(db, agent_id, key, fingerprint)
                if earlier is not None:
                    return earlier
            # a random reference collided: try again with a fresh one
            continue
    raise DeskError(
        503, "desk_busy", "The desk could not store the request; send it again in a minute."
    )
