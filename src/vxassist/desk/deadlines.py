"""Watching response deadlines: a notice when a case nears its deadline, one when it
breaches, and (``[escalation] on_breach``) an escalation the desk makes by itself.

What is owed is a pure decision (:func:`vxassist.desk.notify.notice_due`, over the
case and the time). Each notice is given once, whatever the number of desk
processes: the one whose ``UPDATE cases SET deadline_warned_at = now WHERE id = ?
AND deadline_warned_at IS NULL`` (or ``breach_noticed_at``) changed the row writes
the mails, in that same transaction; the others changed nothing and write nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from vxassist.desk import casework, notify
from vxassist.desk.auth import Caller
from vxassist.desk.config import DeskConfig
from vxassist.desk.db import Database
from vxassist.desk.models import Case, CaseEscalation, CaseEvent, Contract

log = logging.getLogger(__name__)

#: cases looked at per round (a desk just upgraded may owe many; the next round goes on)
BATCH = 200
DESK = Caller(kind="desk", name="desk")


@dataclass
class Round:
    """What one round did (for logs and tests)."""

    nearing: list[int] = field(default_factory=list)
    breached: list[int] = field(default_factory=list)
    stale: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)


def _candidates(session: Session, now: datetime, warn: timedelta) -> list[int]:
    query = (
        select(Case.id)
        .where(
            Case.case_number.is_not(None),
            Case.first_response_at.is_(None),
            Case.status.in_(sorted(notify.WAITING_STATUSES)),
            or_(
                and_(Case.deadline_warned_at.is_(None), Case.response_due <= now + warn),
                and_(Case.breach_noticed_at.is_(None), Case.response_due <= now),
            ),
        )
        .order_by(Case.response_due)
        .limit(BATCH)
    )
    return list(session.scalars(query))


def _stamp(session: Session, case_id: int, column: str, now: datetime) -> bool:
    """Set ``column`` if nobody has: True for the one transaction that did."""
    target = getattr(Case, column)
    values: dict[str, Any] = {column: now}
    if column == "breach_noticed_at":
        values["deadline_warned_at"] = func.coalesce(Case.deadline_warned_at, now)
    result = session.execute(
        update(Case)
        .where(Case.id == case_id, target.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


def escalate_on_breach(session: Session, case: Case, config: DeskConfig, now: datetime) -> bool:
    """The desk escalates a breached case itself (``[escalation] on_breach``); False when
    not configured, or an escalation at that level is already open."""
    level = config.escalation.on_breach
    if not level:
        return False
    already = session.scalar(
        select(func.count(CaseEscalation.id)).where(
            CaseEscalation.case_id == case.id,
            CaseEscalation.level == level,
            CaseEscalation.closed_at.is_(None),
        )
    )
    if already:
        return False
    reason = (
        f"The response deadline ({case.response_due.isoformat(timespec='minutes')}) passed "
        "without a first response."
    )
    escalate: Any = getattr(casework, "escalate", None)
    if escalate is not None:
        escalate(session, case, DESK, level, reason, now, config, by_kind="desk")
        return True
    # Without the case service's escalate (older layout): the same rows, written here.
    contract = session.get(Contract, case.contract_id) if case.contract_id else None
    escalation = CaseEscalation(
        case_id=case.id,
        at=now,
        by_kind="desk",
        by_name="desk",
        level=level,
        recipient=notify.escalation_recipient(level, contract, config) or config.support.email,
        reason=reason,
    )
    session.add(escalation)
    session.add(
        CaseEvent(
            case_id=case.id,
            at=now,
            kind="escalated",
            author="desk",
            author_kind="desk",
            visibility="internal",
            text=f"Escalated by the desk to {escalation.recipient}: {reason}",
        )
    )
    session.flush()
    notify.on_escalation(session, case, escalation, now)
    return True


def check(db: Database, config: DeskConfig, now: datetime) -> Round:
    """One round: every notice owed at ``now``, each given once."""
    done = Round()
    warn = timedelta(minutes=config.deadlines.warn_minutes)
    horizon = timedelta(hours=config.deadlines.notice_horizon_hours)
    with db.reading() as session:
        ids = _candidates(session, now, warn)
    for case_id in ids:
        with db.writing() as session:
            case = session.get(Case, case_id)
            if case is None:
                continue
            notice = notify.notice_due(case, now, warn, horizon)
            if notice is None:
                continue
            column = (
                "deadline_warned_at" if notice is notify.Notice.NEARING else ("breach_noticed_at")
            )
            if not _stamp(session, case_id, column, now):
                continue  # another desk process gave this notice
            notify.write(session, notify.deadline_mails(case, notice, config, now), now)
            if notice is notify.Notice.NEARING:
                done.nearing.append(case_id)
            elif notice is notify.Notice.STALE_BREACH:
                done.stale.append(case_id)
            else:
                done.breached.append(case_id)
                if escalate_on_breach(session, case, config, now):
                    done.escalated.append(case_id)
    return done


class DeadlineWatcher:
    """Runs :func:`check` every ``[deadlines] check_every_s`` in the desk's lifespan."""

    def __init__(self, db: Database, config: DeskConfig, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._event: asyncio.Event | None = None
        self._round = threading.Lock()

    def start(self) -> None:
        self._event = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="vxassist-desk-deadlines")

    def poke(self) -> None:
        """Check now (the loop's thread only)."""
        if self._event is not None:
            self._event.set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # a round already in its thread finishes before the database closes
        await asyncio.to_thread(self._round.acquire)
        self._round.release()

    def check_now(self) -> Round:
        """One round, blocking (what the loop runs in a thread)."""
        with self._round:
            return check(self.db, self.config, self.clock())

    async def _run(self) -> None:
        assert self._event is not None
        while True:
            try:
                found = await asyncio.to_thread(self.check_now)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the deadline watcher's round failed; retrying later")
            else:
                if found.breached or found.nearing:
                    log.info(
                        "deadline notices: %d nearing, %d breached, %d escalated",
                        len(found.nearing),
                        len(found.breached),
                        len(found.escalated),
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._event.wait(), timeout=self.config.deadlines.check_every_s
                )
            self._event.clear()
