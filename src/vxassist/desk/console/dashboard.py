"""The dashboard's figures: open cases by priority, breaches this week, first response.

Pure over a session, the time and the support calendar (its time zone says when
"this week" began).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from vxassist.cases.sla import SupportCalendar
from vxassist.desk.console.queue import DONE_STATUSES, breached_clause
from vxassist.desk.models import Case, CaseEscalation

#: how far back the median first response looks
MEDIAN_DAYS = 30


@dataclass(frozen=True)
class Dashboard:
    open_by_priority: dict[int, int]
    open_total: int
    unassigned: int
    escalated: int
    breached_open: int
    week_start: datetime
    breaches_this_week: int
    due_this_week: int
    median_first_response: timedelta | None
    responses_counted: int


def week_start(now: datetime, calendar: SupportCalendar) -> datetime:
    """Monday 00:00 of this week in the support time zone, as UTC."""
    zone = ZoneInfo(calendar.tz)
    local = now.astimezone(zone).date()
    monday = local - timedelta(days=local.weekday())
    return datetime.combine(monday, time(0, 0), tzinfo=zone).astimezone(UTC)


def _count_if(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


def figures(session: Session, now: datetime, calendar: SupportCalendar) -> Dashboard:
    # one pass over the open cases for the per-priority, unassigned and breached counts
    by_priority = {p: 0 for p in (1, 2, 3, 4)}
    unassigned = breached_open = 0
    for priority, count, nobody, late in session.execute(
        select(
            Case.priority,
            func.count(),
            _count_if(Case.assignee.is_(None)),
            _count_if(breached_clause(now)),
        )
        .where(Case.status.not_in(DONE_STATUSES))
        .group_by(Case.priority)
    ):
        by_priority[int(priority)] = int(count)
        unassigned += int(nobody or 0)
        breached_open += int(late or 0)
    escalated = session.scalar(
        select(func.count(func.distinct(CaseEscalation.case_id))).where(
            CaseEscalation.closed_at.is_(None)
        )
    )
    start = week_start(now, calendar)
    # deadlines that fell this week (so far), and how many were missed, whatever the
    # case's status now: one range of the queue's index
    due, breaches = session.execute(
        select(func.count(), _count_if(breached_clause(now))).where(
            Case.response_due >= start,
            Case.response_due <= now,
            Case.case_number.is_not(None),
        )
    ).one()
    since = now - timedelta(days=MEDIAN_DAYS)
    waits = [
        (answered - received).total_seconds()
        for received, answered in session.execute(
            select(Case.received_at, Case.first_response_at).where(
                Case.first_response_at.is_not(None), Case.first_response_at >= since
            )
        )
        if answered is not None
    ]
    median = timedelta(seconds=statistics.median(waits)) if waits else None
    return Dashboard(
        open_by_priority=by_priority,
        open_total=sum(by_priority.values()),
        unassigned=unassigned,
        escalated=int(escalated or 0),
        breached_open=breached_open,
        week_start=start,
        breaches_this_week=int(breaches or 0),
        due_this_week=int(due or 0),
        median_first_response=median,
        responses_counted=len(waits),
    )


def duration_text(value: timedelta | None) -> str:
    if value is None:
        return "—"
    # a response stamped a moment before receipt (clocks of two workers) counts as none
    minutes = max(0, int(value.total_seconds() // 60))
    if minutes == 0:
        return "under 1 min"
    hours, mins = divmod(minutes, 60)
    if hours >= 24:
        return f"{hours // 24} d {hours % 24} h"
    return f"{hours} h {mins} min" if hours else f"{mins} min"
