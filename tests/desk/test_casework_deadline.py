"""The deadline state of a case, built on ``vxassist.cases.sla.response_due``, over the
support calendar (hours, weekends, holidays, the four-hour rule)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from vxassist.cases.sla import SupportCalendar, response_due
from vxassist.desk.casework import deadline_state

CALENDAR = SupportCalendar()
RECEIVED = st.datetimes(
    min_value=datetime(2026, 1, 1),
    max_value=datetime(2027, 12, 31),
    timezones=st.just(UTC),
)
#: offsets from receipt, in minutes, up to two weeks
OFFSET = st.integers(min_value=0, max_value=14 * 24 * 60)


def _case(priority: int, received: datetime, first: datetime | None) -> SimpleNamespace:
    return SimpleNamespace(
        status="in_progress",
        priority=priority,
        received_at=received,
        response_due=response_due(priority, received, CALENDAR),
        first_response_at=first,
    )


@settings(max_examples=300, deadline=None)
@given(
    priority=st.integers(1, 4),
    received=RECEIVED,
    answered_after=st.none() | OFFSET,
    looked_after=OFFSET,
)
def test_met_due_and_breached_follow_the_deadline(
    priority: int, received: datetime, answered_after: int | None, looked_after: int
) -> None:
    first = None if answered_after is None else received + timedelta(minutes=answered_after)
    case = _case(priority, received, first)
    now = received + timedelta(minutes=looked_after)
    if first is not None:
        now = max(now, first)  # a response is only known once it happened
    state = deadline_state(case, now)
    due = case.response_due
    assert state.due == due
    # met iff the first response came by the deadline
    assert (state.state == "met") == (first is not None and first <= due)
    # breached iff answered late, or not answered and the deadline is past
    assert (state.state == "breached") == (
        (first is not None and first > due) or (first is None and now > due)
    )
    # otherwise still due, with the time left shown
    if state.state == "due":
        assert first is None and now <= due
        assert state.left_s == (due - now).total_seconds() >= 0
        assert state.text.startswith("due in ")


@settings(max_examples=100, deadline=None)
@given(priority=st.integers(1, 4), received=RECEIVED, looked_after=OFFSET)
def test_unanswered_case_turns_from_due_to_breached_exactly_at_the_deadline(
    priority: int, received: datetime, looked_after: int
) -> None:
    case = _case(priority, received, None)
    due = case.response_due
    assert deadline_state(case, due).state == "due"
    assert deadline_state(case, due + timedelta(seconds=1)).state == "breached"
    # a P1/P2 request is due within four hours of receipt, at any time
    if priority <= 2:
        assert due <= received + timedelta(hours=4)
    state = deadline_state(case, received + timedelta(minutes=looked_after))
    assert state.state in ("due", "breached")


def test_a_request_without_contract_has_no_deadline() -> None:
    received = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    case = _case(1, received, None)
    case.status = "no_contract"
    assert deadline_state(case, received + timedelta(days=3)).state == "none"
