"""The queue: open cases by response deadline, filtered, one page at a time.

One SQL statement per page: the filters in its WHERE, the open escalation as an
EXISTS over ``case_escalations`` (indexed by case), the total as a window count,
ordered by ``response_due`` (indexed). Pure over a session and the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from vxassist.desk.casework import DeadlineState, deadline_state
from vxassist.desk.models import Case, CaseEscalation

#: statuses of a case engineers still owe work
OPEN_STATUSES = ("open", "in_progress", "waiting_customer")
#: every other status a case can have (``schemas.Status``): no work is owed on these
DONE_STATUSES = ("resolved", "closed", "no_contract")
PAGE_SIZE = 50


@dataclass(frozen=True)
class QueueFilter:
    """What the queue's filter form asks for (None/False: no filter)."""

    priority: int | None = None
    status: str | None = None
    company: str | None = None
    assignee: str | None = None
    #: assignee "-": cases nobody has taken
    escalated: bool = False
    breached: bool = False
    page: int = 0

    @property
    def active(self) -> bool:
        """Whether any filter narrows the queue."""
        return self != QueueFilter(page=self.page)

    @classmethod
    def from_query(cls, query: Any) -> QueueFilter:
        """From the query string; a value it cannot read is no filter (the form shows all)."""

        def text(name: str, limit: int = 200) -> str | None:
            value = str(query.get(name, "")).strip()[:limit]
            return value or None

        priority = text("priority")
        status = text("status")
        page = text("page")
        return cls(
            priority=int(priority) if priority in {"1", "2", "3", "4"} else None,
            status=status if status in OPEN_STATUSES else None,
            company=text("company"),
            assignee=text("assignee", 100),
            escalated=query.get("escalated") in {"1", "on", "yes", "true"},
            breached=query.get("breached") in {"1", "on", "yes", "true"},
            page=min(int(page), 10_000) if page and page.isdigit() else 0,
        )


@dataclass(frozen=True)
class QueueRow:
    id: int
    case_number: int | None
    reference: str
    priority: int
    status: str
    company: str
    brief: str
    assignee: str | None
    received_at: datetime
    response_due: datetime
    first_response_at: datetime | None
    escalated: bool

    def deadline(self, now: datetime) -> DeadlineState:
        """Met, due in X or breached: casework's rule, the one the API shows."""
        row = SimpleNamespace(
            status=self.status,
            response_due=self.response_due,
            first_response_at=self.first_response_at,
        )
        return deadline_state(row, now)


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    total: int
    page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))


def breached_clause(now: datetime) -> Any:
    """A case whose first response came late, or has not come and is past due
    (``casework.deadline_state``'s "breached", as SQL)."""
    return or_(
        and_(Case.first_response_at.is_(None), Case.response_due <= now),
        Case.first_response_at > Case.response_due,
    )


def queue(session: Session, wanted: QueueFilter, now: datetime) -> QueuePage:
    open_escalation = (
        exists()
        .where(CaseEscalation.case_id == Case.id, CaseEscalation.closed_at.is_(None))
        .correlate(Case)
    )
    conditions: list[Any] = []
    if wanted.status is not None:
        conditions.append(Case.status == wanted.status)
    else:
        # "not done" rather than IN (open statuses): the same cases, and the planner walks
        # the queue's index in deadline order instead of the status index plus a sort
        conditions.append(Case.status.not_in(DONE_STATUSES))
    if wanted.priority is not None:
        conditions.append(Case.priority == wanted.priority)
    if wanted.company:
        conditions.append(
            func.lower(Case.company).contains(wanted.company.lower(), autoescape=True)
        )
    if wanted.assignee == "-":
        conditions.append(Case.assignee.is_(None))
    elif wanted.assignee:
        conditions.append(Case.assignee == wanted.assignee)
    if wanted.escalated:
        # as IN (not EXISTS per case): the few open escalations lead, not every open case
        conditions.append(
            Case.id.in_(select(CaseEscalation.case_id).where(CaseEscalation.closed_at.is_(None)))
        )
    if wanted.breached:
        conditions.append(breached_clause(now))
    # the total as an uncorrelated subquery: run once, and the page itself walks the
    # response_due index and stops after one page instead of sorting every open case
    total = select(func.count()).select_from(Case).where(*conditions).scalar_subquery()
    query = (
        select(
            Case.id,
            Case.case_number,
            Case.reference,
            Case.priority,
            Case.status,
            Case.company,
            Case.brief,
            Case.assignee,
            Case.received_at,
            Case.response_due,
            Case.first_response_at,
            open_escalation.label("escalated"),
            total.label("total"),
        )
        .where(*conditions)
        .order_by(Case.response_due, Case.priority, Case.id)
        .limit(PAGE_SIZE)
        .offset(wanted.page * PAGE_SIZE)
    )
    found = session.execute(query).all()
    rows = [
        QueueRow(
            id=r.id,
            case_number=r.case_number,
            reference=r.reference,
            priority=r.priority,
            status=r.status,
            company=r.company,
            brief=r.brief,
            assignee=r.assignee,
            received_at=r.received_at,
            response_due=r.response_due,
            first_response_at=r.first_response_at,
            escalated=bool(r.escalated),
        )
        for r in found
    ]
    if found:
        count = int(found[0].total)
    else:  # a page past the end: the total still says how many there are
        count = int(session.scalar(select(func.count()).select_from(Case).where(*conditions)) or 0)
    return QueuePage(rows=rows, total=count, page=wanted.page)
