"""The response deadline: support hours in Los Angeles, holidays, DST, the P1/P2 rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vxassist.cases.sla import SupportCalendar, response_due

LA = ZoneInfo("America/Los_Angeles")
CAL = SupportCalendar()
US = holidays.country_holidays("US", years=range(2026, 2030))


def la(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LA)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("priority", "received", "due"),
    [
        # in hours: business minutes from receipt
        (3, la(2026, 11, 24, 10, 0), la(2026, 11, 24, 14, 0)),
        (1, la(2026, 11, 24, 10, 0), la(2026, 11, 24, 11, 0)),
        (4, la(2026, 11, 24, 6, 30), la(2026, 11, 24, 14, 30)),
        # runs over the close: the rest next business day
        (3, la(2026, 11, 20, 17, 0), la(2026, 11, 23, 10, 0)),
        # weekend: taken up Monday at opening
        (3, la(2026, 11, 21, 12, 0), la(2026, 11, 23, 10, 30)),
        (4, la(2026, 11, 23, 5, 0), la(2026, 11, 23, 14, 30)),
        # P1/P2 after hours: within four hours, at any time
        (1, la(2026, 11, 21, 3, 0), la(2026, 11, 21, 7, 0)),
        (2, la(2026, 11, 24, 17, 0), la(2026, 11, 24, 21, 0)),
        (2, la(2026, 11, 24, 5, 0), la(2026, 11, 24, 8, 30)),  # 120 business min < 4 h
        # Thanksgiving is closed: Wednesday evening P3 is due Friday
        (3, la(2026, 11, 25, 17, 0), la(2026, 11, 27, 10, 0)),
        # ...but P1 on the holiday itself still gets four hours (reduced schedule)
        (1, la(2026, 11, 26, 10, 0), la(2026, 11, 26, 14, 0)),
        # Christmas and New Year
        (4, la(2026, 12, 24, 17, 30), la(2026, 12, 28, 14, 30)),
    ],
)
def test_examples(priority: int, received: datetime, due: datetime) -> None:
    assert response_due(priority, received, CAL) == due.astimezone(UTC)


def test_spring_forward_keeps_the_local_opening_hour() -> None:
    # Friday 17:00 PST, DST starts Sunday 8 March 2026: Monday 10:00 is PDT (UTC-7)
    due = response_due(3, la(2026, 3, 6, 17, 0), CAL)
    assert due == utc(2026, 3, 9, 17, 0)
    assert due.astimezone(LA).time() == time(10, 0)


def test_fall_back_keeps_the_local_opening_hour() -> None:
    # Friday 17:00 PDT, DST ends Sunday 1 November 2026: Monday 10:00 is PST (UTC-8)
    due = response_due(3, la(2026, 10, 30, 17, 0), CAL)
    assert due == utc(2026, 11, 2, 18, 0)


def test_four_hours_are_elapsed_hours_across_the_fall_back() -> None:
    received = utc(2026, 11, 1, 7, 30)  # 00:30 PDT on the night the clocks go back
    due = response_due(1, received, CAL)
    assert due - received == timedelta(hours=4)
    assert due.astimezone(LA).strftime("%H:%M %Z") == "03:30 PST"


def test_four_hours_are_elapsed_hours_across_the_spring_forward() -> None:
    received = utc(2026, 3, 8, 9, 30)  # 01:30 PST, an hour before the clocks jump
    due = response_due(2, received, CAL)
    assert due - received == timedelta(hours=4)
    assert due.astimezone(LA).strftime("%H:%M %Z") == "06:30 PDT"


def test_desk_holidays_close_extra_days() -> None:
    calendar = SupportCalendar(extra_holidays=frozenset({date(2026, 11, 27)}))
    due = response_due(3, la(2026, 11, 25, 17, 0), calendar)
    assert due == la(2026, 11, 30, 10, 0).astimezone(UTC)


def test_response_times_are_configurable() -> None:
    calendar = SupportCalendar(response_minutes=((1, 15), (2, 30), (3, 45), (4, 90)))
    assert response_due(4, la(2026, 11, 24, 10, 0), calendar) == la(2026, 11, 24, 11, 30)


def test_unknown_priority_gets_the_slowest_response() -> None:
    received = la(2026, 11, 24, 10, 0)
    assert response_due(9, received, CAL) == response_due(4, received, CAL)


def test_naive_receipt_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        response_due(1, datetime(2026, 11, 24, 10, 0), CAL)


def test_a_calendar_that_never_opens_is_refused() -> None:
    with pytest.raises(ValueError):
        SupportCalendar(opens=time(18, 0), closes=time(9, 0))
    never = SupportCalendar(workdays=frozenset())
    with pytest.raises(ValueError, match="no business day"):
        response_due(3, la(2026, 11, 24, 10, 0), never)


# -- properties, checked against an oracle written without the calendar's arithmetic --


def _business_minute(start: datetime) -> bool:
    local = start.astimezone(LA)
    return (
        local.weekday() < 5
        and local.date() not in US
        and time(6, 30) <= local.time().replace(second=0, microsecond=0) < time(17, 30)
    )


def _business_minutes(frm: datetime, to: datetime) -> int:
    count, at = 0, frm
    while at < to:
        count += _business_minute(at)
        at += timedelta(minutes=1)
    return count


START = utc(2026, 1, 1)
received_times = st.integers(min_value=0, max_value=3 * 366 * 24 * 60).map(
    lambda minutes: START + timedelta(minutes=minutes)
)
priorities = st.integers(min_value=1, max_value=4)


@settings(max_examples=60, deadline=None)
@given(received=received_times, priority=priorities)
def test_deadline_is_the_business_minutes_or_four_hours(received: datetime, priority: int) -> None:
    due = response_due(priority, received, CAL)
    minutes = dict(CAL.response_minutes)[priority]
    assert due > received
    spent = _business_minutes(received, due)
    if priority in (1, 2):
        assert due - received <= timedelta(hours=4)
        if due - received < timedelta(hours=4):
            assert spent == minutes and _business_minute(due - timedelta(minutes=1))
        else:
            assert spent <= minutes
    else:
        # lands inside support hours, exactly when the business minutes are used up
        assert spent == minutes
        assert _business_minute(due - timedelta(minutes=1))


@settings(max_examples=100, deadline=None)
@given(first=received_times, later=st.integers(min_value=0, max_value=20_000), priority=priorities)
def test_a_later_request_is_never_due_earlier(first: datetime, later: int, priority: int) -> None:
    second = first + timedelta(minutes=later)
    assert response_due(priority, first, CAL) <= response_due(priority, second, CAL)


@settings(max_examples=100, deadline=None)
@given(received=received_times)
def test_a_higher_priority_is_never_due_later(received: datetime) -> None:
    dues = [response_due(p, received, CAL) for p in (1, 2, 3, 4)]
    assert dues == sorted(dues)


@settings(max_examples=60, deadline=None)
@given(received=received_times, priority=st.sampled_from([3, 4]))
def test_non_urgent_deadlines_fall_on_business_days(received: datetime, priority: int) -> None:
    local = response_due(priority, received, CAL).astimezone(LA)
    assert local.weekday() < 5 and local.date() not in US
    assert time(6, 30) < local.time() <= time(17, 30)


@settings(max_examples=60, deadline=None)
@given(received=received_times, priority=priorities)
def test_the_answer_does_not_depend_on_the_zone_of_the_input(
    received: datetime, priority: int
) -> None:
    elsewhere = received.astimezone(ZoneInfo("Asia/Tokyo"))
    assert response_due(priority, received, CAL) == response_due(priority, elsewhere, CAL)
