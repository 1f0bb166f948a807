"""Telling hosts' long polls that something of theirs changed.

Any desk code that changes what a host must hear (a session request, a revoke,
an extension, a customer-visible case event) calls :func:`publish` inside its
writing transaction, naming the host(s) concerned. Nothing is sent unless that
transaction commits:

- on PostgreSQL, ``pg_notify('vx_hosts', 'ID,ID,...')`` in the same transaction
  (PostgreSQL delivers it at commit to the one ``LISTEN`` connection of every
  desk process, see :mod:`vxassist.desk.sessions.broker`);
- elsewhere (SQLite, one desk process), the ids are kept on the session and,
  after commit, handed to every waiter hub of this process registered for the
  same database.

Only the named hosts' polls re-read the database. :data:`EVERYONE` names every
host (a change that concerns the whole fleet).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import bindparam, event, func, select, text
from sqlalchemy.orm import Session

from vxassist.desk.db import DriverTransaction, Statement

log = logging.getLogger(__name__)

CHANNEL = "vx_hosts"
#: the payload that wakes every host
EVERYONE = "*"
#: PostgreSQL refuses NOTIFY payloads of 8000 bytes or more: larger lists are split
MAX_PAYLOAD = 7000
_PENDING = "vx_hostevents_pending"


class Hub(Protocol):
    """Who is told, in this process, that hosts changed (the session broker)."""

    def wake_hosts(self, agent_ids: Iterable[str]) -> None: ...


_hubs: dict[str, list[Hub]] = {}
_lock = threading.Lock()


def _key(url: Any) -> str:
    return str(url.render_as_string(hide_password=True))


def register(db_url: Any, hub: Hub) -> None:
    """Hand this process's changes of the database at ``db_url`` to ``hub``."""
    from sqlalchemy.engine import make_url

    with _lock:
        _hubs.setdefault(_key(make_url(db_url)), []).append(hub)


def unregister(hub: Hub) -> None:
    with _lock:
        for hubs in _hubs.values():
            if hub in hubs:
                hubs.remove(hub)


def payloads(agent_ids: Iterable[str]) -> list[str]:
    """The NOTIFY payloads naming ``agent_ids`` (each below PostgreSQL's limit)."""
    ids = sorted({str(a) for a in agent_ids if a})
    if EVERYONE in ids:
        return [EVERYONE]
    out: list[str] = []
    current: list[str] = []
    size = 0
    for agent_id in ids:
        if current and size + len(agent_id) + 1 > MAX_PAYLOAD:
            out.append(",".join(current))
            current, size = [], 0
        current.append(agent_id)
        size += len(agent_id) + 1
    if current:
        out.append(",".join(current))
    return out


def parse(payload: str) -> frozenset[str] | None:
    """The hosts a payload names; None for every host."""
    ids = frozenset(p for p in payload.split(",") if p)
    if not ids or EVERYONE in ids:
        return None
    return ids


#: ``pg_notify`` of one payload, for an ORM session and for intake's driver transaction
_NOTIFY = Statement(select(func.pg_notify(bindparam("channel"), bindparam("payload"))))


def publish(session: Session, agent_ids: Iterable[str]) -> None:
    """Inside a writing transaction: wake these hosts' long polls once it commits."""
    _publish(session, agent_ids, session.execute)


def _publish(session: Session, agent_ids: Iterable[str], execute: Any) -> None:
    chunks = payloads(agent_ids)
    if not chunks:
        return
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        for chunk in chunks:
            execute(_NOTIFY.statement, {"channel": CHANNEL, "payload": chunk})
        return
    pending: set[str] = session.info.setdefault(_PENDING, set())
    for chunk in chunks:
        pending.update(chunk.split(","))
    session.info["vx_hostevents_url"] = _key(bind.engine.url)


def publish_in(tx: DriverTransaction, agent_ids: Iterable[str]) -> None:
    """:func:`publish` for a transaction on the driver's connection (intake's)."""
    chunks = payloads(agent_ids)
    if not chunks or tx.url is None:
        return
    if tx.dialect.name == "postgresql":
        for chunk in chunks:
            tx.run(_NOTIFY, {"channel": CHANNEL, "payload": chunk})
        return
    url = _key(tx.url)
    pending = {agent_id for chunk in chunks for agent_id in chunk.split(",")}
    tx.after_commit.append(lambda: _wake_here(url, pending))


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending: set[str] | None = session.info.pop(_PENDING, None)
    url = session.info.pop("vx_hostevents_url", None)
    if not pending or url is None:
        return
    _wake_here(url, pending)


def _wake_here(url: str, pending: set[str]) -> None:
    with _lock:
        hubs = list(_hubs.get(url, ()))
    for hub in hubs:
        hub.wake_hosts(pending)
    if not hubs:
        _to_file(url, pending)


def side_file(url: Any) -> Path | None:
    """Where processes without a desk (admin commands) leave host changes for the desk
    process on the same SQLite file; None for other databases."""
    from sqlalchemy.engine import make_url

    parsed = make_url(str(url)) if isinstance(url, str) else url
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(f"{parsed.database}-hostevents")


def _to_file(url: str, agent_ids: set[str]) -> None:
    path = side_file(url)
    if path is None:
        return
    try:
        with path.open("a", encoding="utf-8") as out:
            out.write(",".join(sorted(agent_ids)) + "\n")
    except OSError as exc:
        log.warning("could not tell the desk which hosts changed (%s): %s", path, exc)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop("vx_hostevents_url", None)


@event.listens_for(Session, "after_flush")
def _watch_hosts(session: Session, _context: Any) -> None:
    """Whatever code writes them: a new customer-visible case event, or a case whose
    status changed, concerns the case's host (the poll's ``case_cursor``, and a
    closed case ends its sessions)."""
    from sqlalchemy import inspect

    from vxassist.desk.models import Agent, Case, CaseEvent

    hosts: set[str] = set()
    cases: set[int] = set()
    for obj in session.new:
        customer = isinstance(obj, CaseEvent) and (obj.visibility or "customer") == "customer"
        if customer and obj.case_id is not None:
            cases.add(obj.case_id)
    for obj in session.dirty:
        if isinstance(obj, Case) and inspect(obj).attrs.status.history.has_changes():
            hosts.add(obj.agent_id)
        elif isinstance(obj, Agent) and inspect(obj).attrs.token_hash.history.has_changes():
            hosts.add(obj.agent_id)  # its old token ends in every desk process's cache
    for obj in session.deleted:
        if isinstance(obj, Agent):
            hosts.add(obj.agent_id)
    if cases:
        known = {
            obj.id: obj.agent_id
            for obj in session.identity_map.values()
            if isinstance(obj, Case) and obj.id in cases
        }
        hosts.update(known.values())
        missing = cases - set(known)
        if missing:
            conn = session.connection()
            for (agent_id,) in conn.execute(
                text("SELECT agent_id FROM cases WHERE id IN :ids").bindparams(
                    bindparam("ids", expanding=True)
                ),
                {"ids": sorted(missing)},
            ):
                hosts.add(agent_id)
    if hosts:
        _publish(session, hosts, session.connection().execute)
