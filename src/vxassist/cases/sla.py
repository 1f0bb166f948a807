"""When a response is due: the support policy's hours, holidays and priorities.

Pure: no clock reads, no database, no Qt. The desk computes the authoritative
deadline at receipt; the agent imports this module for its estimate while
offline, so it needs nothing beyond zoneinfo, tzdata and ``holidays``.

The rules (MISSION.md, "Hours"):

- Support hours are Monday to Friday, 06:30 to 17:30 in America/Los_Angeles,
  daylight saving included. National holidays (the ``holidays`` library's US
  calendar) and the desk's own extra dates are not business days.
- Each priority has a response time in *business* minutes (defaults below: P1
  60, P2 120, P3 240, P4 480). A request outside hours is taken up the next
  business day: its clock starts when support opens.
- Priority 1 and 2 are also answered within four hours of receipt, wall-clock,
  at any time, holidays included ("reduced schedule"): their deadline is the
  earlier of the business-minute deadline and receipt plus four hours.

Business days are worked out in local wall time, day by day, and each day's
opening and closing are converted to absolute instants with zoneinfo, so a
daylight-saving change never shifts the hours by one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

#: business minutes to the first response, per priority (1 = System Down)
DEFAULT_RESPONSE_MINUTES: tuple[tuple[int, int], ...] = ((1, 60), (2, 120), (3, 240), (4, 480))

#: a search bound: no calendar has this many non-business days in a row
_MAX_DAYS = 3660


@dataclass(frozen=True)
class SupportCalendar:
    """Support hours, holidays and response times; desk configuration, frozen."""

    tz: str = "America/Los_Angeles"
    opens: time = time(6, 30)
    closes: time = time(17, 30)
    #: ISO weekdays that are business days (Monday = 1)
    workdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    #: country whose national holidays are non-business days ("" for none)
    country: str = "US"
    #: the desk's own non-business dates, on top of the national ones
    extra_holidays: frozenset[date] = frozenset()
    response_minutes: tuple[tuple[int, int], ...] = DEFAULT_RESPONSE_MINUTES
    #: priorities contacted within ``urgent_hours`` of receipt, at any time
    urgent_priorities: frozenset[int] = frozenset({1, 2})
    urgent_hours: int = 4
    _minutes: dict[int, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        ZoneInfo(self.tz)  # fail early on an unknown zone
        if not self.opens < self.closes:
            raise ValueError("support hours must open before they close")
        minutes = dict(self.response_minutes)
        if any(m <= 0 for m in minutes.values()):
            raise ValueError("response times must be positive minutes")
        object.__setattr__(self, "_minutes", minutes)

    def minutes_for(self, priority: int) -> int:
        """Business minutes allowed for ``priority``; an unknown level gets the slowest."""
        if priority in self._minutes:
            return self._minutes[priority]
        return max(self._minutes.values())

    def is_business_day(self, day: date) -> bool:
        if day.isoweekday() not in self.workdays or day in self.extra_holidays:
            return False
        return not (self.country and day in _national_holidays(self.country, day.year))

    def hours_of(self, day: date) -> tuple[datetime, datetime]:
        """Opening and closing of ``day`` as aware UTC instants."""
        zone = ZoneInfo(self.tz)
        start = datetime.combine(day, self.opens, zone).astimezone(UTC)
        end = datetime.combine(day, self.closes, zone).astimezone(UTC)
        return start, end

    def is_open(self, at: datetime) -> bool:
        """Whether support is staffed at the aware instant ``at``."""
        day = at.astimezone(ZoneInfo(self.tz)).date()
        if not self.is_business_day(day):
            return False
        start, end = self.hours_of(day)
        return start <= at < end

    def business_hours_from(self, at: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Business intervals (UTC) from ``at`` on: the rest of today's, then whole days."""
        day = at.astimezone(ZoneInfo(self.tz)).date()
        for _ in range(_MAX_DAYS):
            if self.is_business_day(day):
                start, end = self.hours_of(day)
                if end > at:
                    yield max(start, at), end
            day += timedelta(days=1)
        raise ValueError("the support calendar has no business day within ten years")


@lru_cache(maxsize=64)
def _national_holidays(country: str, year: int) -> frozenset[date]:
    import holidays

    return frozenset(holidays.country_holidays(country, years=year).keys())


def business_deadline(minutes: int, received_at: datetime, calendar: SupportCalendar) -> datetime:
    """The instant when ``minutes`` business minutes have passed since ``received_at``."""
    left = timedelta(minutes=minutes)
    for start, end in calendar.business_hours_from(received_at):
        if end - start >= left:
            return start + left
        left -= end - start
    raise AssertionError("unreachable: business_hours_from never ends quietly")


def response_due(priority: int, received_at: datetime, calendar: SupportCalendar) -> datetime:
    """When the first response to a request of ``priority`` received at ``received_at`` is due.

    ``received_at`` must be timezone-aware; the answer is in UTC.
    """
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware")
    received = received_at.astimezone(UTC)
    due = business_deadline(calendar.minutes_for(priority), received, calendar)
    if priority in calendar.urgent_priorities:
        due = min(due, received + timedelta(hours=calendar.urgent_hours))
    return due
