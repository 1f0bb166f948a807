"""The pure parts of notifications: deadline notices over the support calendar
(hypothesis), who hears of what, and the ``[mail]``/``[escalation]`` settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vxassist.cases.sla import SupportCalendar, response_due
from vxassist.desk.config import DeskConfig, config_from_mapping
from vxassist.desk.mailconfig import MailConfig
from vxassist.desk.notify import (
    DeadlineState,
    Notice,
    deadline_state,
    engineer_addresses,
    escalation_recipient,
    mails_for_event,
    notice_due,
)
from vxassist.errors import ConfigError

CALENDAR = SupportCalendar()
WARN = timedelta(minutes=60)
HORIZON = timedelta(hours=24)


def _case(received: datetime, priority: int, **changes: Any) -> SimpleNamespace:
    values: dict[str, Any] = {
        "id": 7,
        "case_number": 1042,
        "reference": "R-ABCDEF",
        "status": "open",
        "priority": priority,
        "received_at": received,
        "response_due": response_due(priority, received, CALENDAR),
        "first_response_at": None,
        "deadline_warned_at": None,
        "breach_noticed_at": None,
        "brief": "Calls are not recorded",
        "company": "Acme Telecom",
        "location": "Fresno, CA",
        "contact_name": "Ann Example",
        "contact_phone": "555 0100",
        "contact_email": "ann@acme.example",
        "details": "No SMDR records.",
    }
    values.update(changes)
    return SimpleNamespace(**values)


received_times = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
priorities = st.integers(min_value=1, max_value=4)
#: the moments a watcher happens to look, after receipt (up to ten days)
looks = st.lists(st.integers(min_value=0, max_value=10 * 24 * 60), min_size=1, max_size=30)


def _watch(case: SimpleNamespace, minutes: list[int]) -> list[tuple[Notice, datetime]]:
    """What a watcher looking at these moments gives, stamping as the desk does."""
    given_: list[tuple[Notice, datetime]] = []
    for offset in sorted(minutes):
        now = case.received_at + timedelta(minutes=offset)
        notice = notice_due(case, now, WARN, HORIZON)
        if notice is None:
            continue
        if notice is Notice.NEARING:
            case.deadline_warned_at = now
        else:
            case.breach_noticed_at = now
            case.deadline_warned_at = case.deadline_warned_at or now
        given_.append((notice, now))
    return given_


@settings(max_examples=300, deadline=None)
@given(received=received_times, priority=priorities, minutes=looks)
def test_each_notice_at_most_once_in_order_and_never_early(
    received: datetime, priority: int, minutes: list[int]
) -> None:
    case = _case(received, priority)
    due = case.response_due
    given_ = _watch(case, minutes)
    kinds = [notice for notice, _ in given_]
    assert len(kinds) == len(set(kinds)) <= 2
    if Notice.NEARING in kinds and len(kinds) == 2:
        assert kinds[0] is Notice.NEARING  # nearing comes before the breach, never after
    for notice, at in given_:
        if notice is Notice.NEARING:
            assert due - WARN <= at < due
        else:
            assert at >= due
            assert (notice is Notice.STALE_BREACH) == (at - due > HORIZON)
    last = received + timedelta(minutes=max(minutes))
    breach_given = any(k in (Notice.BREACH, Notice.STALE_BREACH) for k in kinds)
    assert breach_given == (last >= due)  # a watcher that looked after the deadline told


@settings(max_examples=300, deadline=None)
@given(received=received_times, priority=priorities)
def test_a_new_case_is_never_breached_and_urgent_ones_run_on_the_clock(
    received: datetime, priority: int
) -> None:
    case = _case(received, priority)
    assert deadline_state(case, received, WARN) in (DeadlineState.DUE, DeadlineState.NEARING)
    if priority in CALENDAR.urgent_priorities:
        # four hours at any time: nearing by three hours after receipt, whatever the hour
        later = received + timedelta(hours=CALENDAR.urgent_hours) - WARN
        assert deadline_state(case, later, WARN) in (
            DeadlineState.NEARING,
            DeadlineState.BREACHED,
        )


@settings(max_examples=200, deadline=None)
@given(received=received_times, priority=priorities, minutes=looks)
def test_a_responded_or_closed_case_gets_no_notice(
    received: datetime, priority: int, minutes: list[int]
) -> None:
    answered = _case(received, priority, first_response_at=received + timedelta(minutes=5))
    closed = _case(received, priority, status="resolved")
    unnumbered = _case(received, priority, case_number=None, status="no_contract")
    for case in (answered, closed, unnumbered):
        assert _watch(case, minutes) == []


MAIL = MailConfig(
    smtp_host="smtp.example",
    from_addr="desk@vendor.example",
    engineers=("team@vendor.example",),
    on_call=("oncall@vendor.example",),
)


def test_urgent_out_of_hours_goes_on_call_and_nothing_else_does() -> None:
    config = DeskConfig(mail=MAIL)
    saturday = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)
    tuesday = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    assert engineer_addresses(_case(saturday, 1), saturday, config) == MAIL.on_call
    assert engineer_addresses(_case(saturday, 2), saturday, config) == MAIL.on_call
    assert engineer_addresses(_case(saturday, 3), saturday, config) == MAIL.engineers
    assert engineer_addresses(_case(tuesday, 1), tuesday, config) == MAIL.engineers
    no_on_call = DeskConfig(mail=MailConfig(**{**MAIL.__dict__, "on_call": ()}))
    assert engineer_addresses(_case(saturday, 1), saturday, no_on_call) == MAIL.engineers


@pytest.mark.parametrize(
    ("kind", "author_kind", "visibility", "mailed"),
    [
        ("reply", "engineer", "customer", True),
        ("status", "engineer", "customer", True),
        ("status", "host", "customer", False),  # the customer's own reopening
        ("session_summary", "desk", "customer", True),
        ("note", "engineer", "internal", False),
        ("reply", "engineer", "internal", False),
        ("update", "host", "customer", False),
        ("call", "engineer", "customer", False),
    ],
)
def test_what_reaches_the_customer(
    kind: str, author_kind: str, visibility: str, mailed: bool
) -> None:
    now = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    event = SimpleNamespace(
        id=3, kind=kind, author="jdoe", author_kind=author_kind, visibility=visibility, text="T"
    )
    mails = mails_for_event(_case(now, 2), event, None, DeskConfig(mail=MAIL), now)
    assert bool(mails) is mailed
    off = mails_for_event(_case(now, 2), event, None, DeskConfig(), now)
    assert off == []


def test_a_brief_cannot_add_mail_headers() -> None:
    now = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    case = _case(now, 2, brief="Help\r\nBcc: everyone@example.com")
    event = SimpleNamespace(
        id=3, kind="reply", author="jdoe", author_kind="engineer", visibility="customer", text="T"
    )
    [mail] = mails_for_event(case, event, None, DeskConfig(mail=MAIL), now)
    assert "\n" not in mail.subject and "\r" not in mail.subject


def test_escalation_recipient_contract_first_then_desk() -> None:
    config = DeskConfig(
        escalation=config_from_mapping(
            {"escalation": {"manager_email": "tsm@v.example", "sales_manager_email": "s@v.ex"}},
            Path("desk.toml"),
        ).escalation
    )
    own = SimpleNamespace(manager_email="boss@v.example", sales_manager_email=None)
    assert escalation_recipient("manager", own, config) == "boss@v.example"
    assert escalation_recipient("sales", own, config) == "s@v.ex"
    assert escalation_recipient("manager", None, config) == "tsm@v.example"


def test_mail_settings_from_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VX_TEST_SMTP_PASSWORD", "s3cret")
    config = config_from_mapping(
        {
            "desk": {"public_url": "https://desk.example/"},
            "mail": {
                "smtp_host": "smtp.example",
                "starttls": True,
                "user": "desk",
                "password_env": "VX_TEST_SMTP_PASSWORD",
                "from": "Support <support@vendor.example>",
                "engineers": ["team@vendor.example"],
                "on_call": "oncall@vendor.example",
            },
            "escalation": {"on_breach": "sales"},
            "deadlines": {"warn_minutes": 30},
        },
        tmp_path / "desk.toml",
    )
    assert config.mail.enabled and config.mail.smtp_port == 587
    assert config.mail.password == "s3cret" and "s3cret" not in repr(config.mail)
    assert config.mail.on_call == ("oncall@vendor.example",)
    assert config.escalation.on_breach == "sales"
    assert config.deadlines.warn_minutes == 30
    assert config.public_url == "https://desk.example"
    secret = tmp_path / "smtp-password"
    secret.write_text("from-file\n")
    by_file = config_from_mapping(
        {"mail": {"smtp_host": "h", "from": "d@v.example", "password_file": str(secret)}},
        tmp_path / "desk.toml",
    )
    assert by_file.mail.password == "from-file"
    assert not DeskConfig().mail.enabled


@pytest.mark.parametrize(
    ("mapping", "words"),
    [
        ({"mail": {"smtp_host": "h"}}, "mail.from"),
        ({"mail": {"smtp_host": "h", "from": "d@v.example", "password": "x"}}, "password_env"),
        (
            {"mail": {"smtp_host": "h", "from": "d@v.example", "password_env": "VX_NOT_SET_X"}},
            "not set",
        ),
        ({"mail": {"engineers": ["not an address"]}}, "mail.engineers"),
        ({"escalation": {"on_breach": "ceo"}}, "on_breach"),
        ({"mail": {"starttls": True, "ssl": True}}, "cannot both"),
    ],
)
def test_bad_mail_settings_are_one_sentence(mapping: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_mapping(mapping, Path("desk.toml"))
    assert words in caught.value.message
    assert caught.value.message.endswith(".")  # one sentence saying what to do
