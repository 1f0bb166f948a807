"""The dashboard's figures: open cases by priority, breaches this week, first response.

Pure over a session, the time and the support calendar (its time zone says when
"this week" began).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vxassist.cases.sla import SupportCalendar
from vxassist.desk.console.queue import OPEN_STATUSES, breached_clause
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


def figures(session: Session, now: datetime, calendar: SupportCalendar) -> Dashboard:
    is_open = Case.status.in_(OPEN_STATUSES)
    by_priority = {p: 0 for p in (1, 2, 3, 4)}
    for priority, count in session.execute(
        select(Case.priority, func.count()).where(is_open).group_by(Case.priority)
    ):
        by_priority[int(priority)] = int(count)
    unassigned = session.scalar(
        select(func.count()).select_from(Case).where(is_open, Case.assignee.is_(None))
    )
    escalated = session.scalar(
        select(func.count(func.distinct(CaseEscalation.case_id))).where(
            CaseEscalation.closed_at.is_(None)
        )
    )
    breached_open = session.scalar(
        select(func.count()).select_from(Case).where(is_open, breached_clause(now))
    )
    start = week_start(now, calendar)
    # a deadline that fell this week (so far) and was missed, whatever the case's status now
    this_week = (
        Case.response_due >= start,
        Case.response_due <= now,
        Case.case_number.is_not(None),
    )
    due = session.scalar(select(func.count()).select_from(Case).where(*this_week))
    breaches = session.scalar(
        select(func.count()).select_from(Case).where(*this_week, breached_clause(now))
    )
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
        unassigned=int(unassigned or 0),
        escalated=int(escalated or 0),
        breached_open=int(breached_open or 0),
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
