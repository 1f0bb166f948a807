"""Times read the same on both sides: the reader's local time with its zone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest

from vxassist.timefmt import local_time

DUE = "2026-11-24T18:00:00Z"
IN_CHICAGO = "Tue 2026-11-24 12:00 CST"


@pytest.fixture
def in_chicago(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "America/Chicago")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_moment_in_a_zone_names_the_zone() -> None:
    assert local_time(DUE, ZoneInfo("America/Chicago")) == IN_CHICAGO
    assert local_time("2026-07-01T18:00:00+00:00", ZoneInfo("America/Los_Angeles")) == (
        "Wed 2026-07-01 11:00 PDT"
    )
    assert local_time(None) == "unknown"
    assert local_time("soon") == "soon"
    assert local_time("2026-11-24T18:00:00") == "2026-11-24T18:00:00"  # no zone: not guessed


def test_the_customer_and_the_engineer_see_the_same_local_time(in_chicago: None) -> None:
    from vxassist.cases.cli import _case_text
    from vxassist.engineer.cases import _line as case_line
    from vxassist.engineer.session_cli import _line as session_line

    assert local_time(DUE) == IN_CHICAGO
    customer = _case_text(
        {
            "case_number": 1001,
            "brief": "No calls",
            "status": "open",
            "priority": 2,
            "response_due": DUE,
            "events": [{"at": DUE, "kind": "received", "author": "vxhost1", "text": "hi"}],
        }
    )
    assert f"Response due: {IN_CHICAGO} (your time)" in customer
    assert f"  {IN_CHICAGO} received vxhost1: hi" in customer
    engineer = case_line(
        {"case_number": 1001, "status": "open", "priority": 2, "response_due": DUE}
    )
    assert f"due {IN_CHICAGO}" in engineer
    session = session_line(
        {"session_id": "s1", "status": "approved", "case_number": 1001, "not_after": DUE}
    )
    assert f"until {IN_CHICAGO}" in session
    for text in (customer, engineer, session):
        assert "T18:00" not in text
