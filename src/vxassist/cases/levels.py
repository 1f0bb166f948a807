"""Priority levels as the customer reads them, and deadlines in their time and Pacific time.

Meanings come from ``fields.Priority``, response times from the support
calendar (``sla.SupportCalendar``), so the form says what the desk computes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from vxassist.cases.fields import Priority
from vxassist.cases.sla import SupportCalendar


@dataclass(frozen=True)
class PriorityLevel:
    level: int
    label: str
    meaning: str
    #: "a response within 1 business hour, and within 4 hours at any time"
    response: str


def _duration(minutes: int) -> str:
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} business hour{'s' if hours != 1 else ''}"
    return f"{minutes} business minutes"


def _hours_text(calendar: SupportCalendar) -> str:
    return f"{calendar.opens:%H:%M}-{calendar.closes:%H:%M} Pacific time"


def response_text(priority: int, calendar: SupportCalendar) -> str:
    """How soon the first response comes for ``priority``, in words."""
    text = f"a response within {_duration(calendar.minutes_for(priority))}"
    if priority in calendar.urgent_priorities:
        text += f", and within {calendar.urgent_hours} hours at any time, holidays included"
    else:
        text += f" (support hours: weekdays {_hours_text(calendar)})"
    return text


def priority_levels(calendar: SupportCalendar | None = None) -> tuple[PriorityLevel, ...]:
    """Every level, highest first, with its meaning and response time."""
    calendar = calendar or SupportCalendar()
    return tuple(
        PriorityLevel(int(p), p.label, p.meaning, response_text(int(p), calendar)) for p in Priority
    )


def parse_instant(value: object) -> datetime | None:
    """An ISO time from the desk (``...Z`` or with an offset) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else None
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


@dataclass(frozen=True)
class Deadline:
    local: str
    pacific: str


def deadline_texts(
    value: object, local_tz: ZoneInfo | None = None, calendar: SupportCalendar | None = None
) -> Deadline | None:
    """A deadline in the customer's time and in the support desk's time, or None."""
    moment = parse_instant(value)
    if moment is None:
        return None
    calendar = calendar or SupportCalendar()
    local = moment.astimezone(local_tz) if local_tz else moment.astimezone()
    pacific = moment.astimezone(ZoneInfo(calendar.tz))
    return Deadline(
        f"{local:%a %d %b %Y, %H:%M} {local:%Z}", f"{pacific:%a %d %b %Y, %H:%M} {pacific:%Z}"
    )
