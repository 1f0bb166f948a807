"""E-mail notifications end to end: a real desk (SQLite and PostgreSQL), a real SMTP
server (aiosmtpd on 127.0.0.1), mails written with their cause and sent by the
desk's own sender."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.desk.conftest import Desk, SettableClock
from tests.desk.smtp import SmtpServer, smtp  # noqa: F401 (fixture)
from vxassist.desk import admin, deadlines
from vxassist.desk.app import create_app
from vxassist.desk.config import DeskConfig
from vxassist.desk.mailconfig import EscalationConfig, MailConfig
from vxassist.desk.models import CaseEscalation, MailOutbox

TEAM = "team@vendor.example"
ON_CALL = "oncall@vendor.example"
DESK_MANAGER = "tsm@vendor.example"
CONTRACT_MANAGER = "acme-manager@vendor.example"
CONTACT = "ann@acme.example"


def mail_config(server: SmtpServer, **changes: Any) -> DeskConfig:
    mail = MailConfig(
        smtp_host="127.0.0.1",
        smtp_port=server.port,
        from_addr="support@vendor.example",
        engineers=(TEAM,),
        on_call=(ON_CALL,),
        timeout_s=5.0,
        retry_base_s=60.0,
        poll_s=0.5,
    )
    escalation = changes.pop("escalation", EscalationConfig(manager_email=DESK_MANAGER))
    return DeskConfig(
        mail=mail, escalation=escalation, public_url="https://desk.example", **changes
    )


@pytest.fixture
def desk_config(smtp: SmtpServer) -> DeskConfig:  # noqa: F811
    return mail_config(smtp)


def _eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.05)


def _outbox(desk: Desk) -> list[MailOutbox]:
    with desk.db.reading() as session:
        return list(session.scalars(select(MailOutbox).order_by(MailOutbox.id)))


def _open_case(desk: Desk, **changes: Any) -> tuple[int, dict[str, str]]:
    desk.add_contract()
    host = desk.enroll()
    answer = desk.create(host, **changes)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["case_number"]), host


def test_reply_reaches_the_contact_and_an_internal_note_does_not(
    desk: Desk,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    number, _host = _open_case(desk)
    engineer = desk.engineer("jdoe")
    note = desk.client.post(
        f"/api/v1/engineer/cases/{number}/notes",
        json={"text": "Customer's DBA is hard to reach; internal only"},
        headers=engineer,
    )
    assert note.status_code == 200, note.text
    reply = desk.client.post(
        f"/api/v1/engineer/cases/{number}/replies",
        json={"text": "Please restart the SMDR collector and send us its log."},
        headers=engineer,
    )
    assert reply.status_code == 200, reply.text

    [mail] = smtp.wait_for(CONTACT)
    assert f"[Case {number}]" in mail.subject
    assert "Calls are not recorded" in mail.subject  # the brief is the subject
    assert "Please restart the SMDR collector and send us its log." in mail.body
    assert "jdoe" in mail.body
    # the note was never written for anyone, let alone sent
    assert all("internal only" not in row.body for row in _outbox(desk))
    assert all("internal only" not in m.body for m in smtp.messages)


def test_new_case_in_hours_goes_to_the_engineers(
    desk: Desk,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    number, _host = _open_case(desk, priority=1)  # Tuesday 10:00: in hours
    [mail] = smtp.wait_for(TEAM)
    assert f"[Case {number}]" in mail.subject
    assert "Acme Telecom" in mail.body
    assert f"https://desk.example/console/cases/{number}" in mail.body
    assert smtp.to(ON_CALL) == []


def test_new_p1_out_of_hours_goes_on_call_and_p3_to_the_team(
    desk: Desk,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    desk.clock.now = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)  # Friday 22:00 in Los Angeles
    urgent, host = _open_case(desk, priority=1)
    later = desk.create(host, priority=3, brief="Report layout question")
    assert later.status_code == 201
    [mail] = smtp.wait_for(ON_CALL)
    assert f"[Case {urgent}]" in mail.subject and "out of hours" in mail.subject
    [team] = smtp.wait_for(TEAM)
    assert "Report layout question" in team.subject


def test_escalation_briefs_the_contracts_own_manager(
    desk: Desk,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    admin.add_contract(
        desk.db,
        admin.NewContract(
            "C-2002",
            "Bolt Freight",
            date(2027, 6, 30),
            "Bo Lt",
            "555 0101",
            "bo@bolt.example",
            manager_email=CONTRACT_MANAGER,
        ),
        desk.clock(),
        desk.config,
    )
    host = desk.enroll(contract_id="C-2002")
    answer = desk.create(host, contact_email="bo@bolt.example")
    number = answer.json()["case_number"]
    desk.clock.advance(minutes=95)
    escalated = desk.client.post(
        f"/api/v1/engineer/cases/{number}/escalations",
        json={"to": "technical_support_manager", "reason": "Third outage this month"},
        headers=desk.engineer("jdoe"),
    )
    assert escalated.status_code == 200, escalated.text

    [mail] = smtp.wait_for(CONTRACT_MANAGER)
    body = mail.body
    assert f"Case {number}" in body and "Bolt Freight" in body
    assert "Priority: 2 (" in body
    assert "Third outage this month" in body
    assert "1 h 35 min ago" in body  # the age
    assert "due in 25 min" in body  # the deadline state
    assert f"https://desk.example/console/cases/{number}" in body
    assert smtp.to(DESK_MANAGER) == []  # the contract's manager beats the desk-wide one


def test_smtp_down_then_up_each_mail_once(
    desk: Desk,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    number, _host = _open_case(desk)
    smtp.wait_for(TEAM)
    smtp.stop()
    engineer = desk.engineer("jdoe")
    for text in ("First answer.", "Second answer."):
        answer = desk.client.post(
            f"/api/v1/engineer/cases/{number}/replies", json={"text": text}, headers=engineer
        )
        assert answer.status_code == 200

    def tried() -> bool:
        rows = [r for r in _outbox(desk) if r.to_addr == CONTACT]
        return len(rows) == 2 and all(r.last_error and r.attempts >= 1 for r in rows)

    _eventually(tried)
    rows = [r for r in _outbox(desk) if r.to_addr == CONTACT]
    assert all(r.sent_at is None for r in rows)
    assert all(r.next_attempt_at > desk.clock() for r in rows)  # backing off

    smtp.start()
    sender = desk.app.state.mail_sender
    desk.client.portal.call(sender.wake)  # type: ignore[union-attr]
    time.sleep(1.0)
    assert smtp.to(CONTACT) == []  # still backing off: the clock has not moved
    desk.clock.advance(minutes=5)
    desk.client.portal.call(sender.wake)  # type: ignore[union-attr]
    got = smtp.wait_for(CONTACT, count=2)
    assert sorted("First answer." in m.body for m in got) == [False, True]
    assert sorted("Second answer." in m.body for m in got) == [False, True]
    _eventually(lambda: all(r.sent_at is not None for r in _outbox(desk)))
    # more rounds, more time: nothing goes twice, nothing is deleted
    desk.clock.advance(hours=3)
    desk.client.portal.call(sender.wake)  # type: ignore[union-attr]
    time.sleep(1.5)
    assert len(smtp.to(CONTACT)) == 2
    assert len(_outbox(desk)) == 3


def test_breach_is_noticed_once_and_nearing_before_it(
    desk: Desk,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    number, _host = _open_case(desk)  # P2 at 10:00: due 12:00
    smtp.wait_for(TEAM)
    desk.clock.advance(minutes=65)
    found = deadlines.check(desk.db, desk.config, desk.clock())
    assert len(found.nearing) == 1 and not found.breached
    nearing = smtp.wait_for(TEAM, count=2)[-1]
    assert "response due in 55 min" in nearing.subject
    desk.clock.advance(minutes=60)
    found = deadlines.check(desk.db, desk.config, desk.clock())
    assert len(found.breached) == 1 and not found.escalated  # on_breach not configured
    breach = smtp.wait_for(TEAM, count=3)[-1]
    assert f"[Case {number}]" in breach.subject and "BREACHED" in breach.subject
    assert "BREACHED by 5 min" in breach.body
    again = deadlines.check(desk.db, desk.config, desk.clock() + timedelta(hours=1))
    assert not again.breached and not again.nearing
    time.sleep(1.0)
    assert len(smtp.to(TEAM)) == 3


def test_a_responded_case_is_never_noticed(
    desk: Desk,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    number, _host = _open_case(desk)
    desk.client.post(
        f"/api/v1/engineer/cases/{number}/calls",
        json={"text": "Called Ann, collector restarted."},
        headers=desk.engineer("jdoe"),
    )
    found = deadlines.check(desk.db, desk.config, desk.clock() + timedelta(days=3))
    assert not found.nearing and not found.breached


@pytest.fixture
def escalating_desk(
    db_url: str,
    clock: SettableClock,
    smtp: SmtpServer,  # noqa: F811
) -> Iterator[Desk]:
    config = mail_config(
        smtp, escalation=EscalationConfig(manager_email=DESK_MANAGER, on_breach="manager")
    )
    app = create_app(db_url, config, clock=clock, migrate=False)
    with TestClient(app) as client:
        yield Desk(app, client, app.state.db, clock, config, db_url)


def test_breach_escalates_by_itself_when_configured(
    escalating_desk: Desk,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    desk = escalating_desk
    number, _host = _open_case(desk)
    desk.clock.advance(hours=3)
    found = deadlines.check(desk.db, desk.config, desk.clock())
    assert len(found.escalated) == 1
    [brief] = smtp.wait_for(DESK_MANAGER)
    assert "by the desk" in brief.body and "without a first response" in brief.body
    assert "BREACHED by 1 h 0 min" in brief.body
    with desk.db.reading() as session:
        [row] = session.scalars(select(CaseEscalation)).all()
    assert (row.by_kind, row.level, row.recipient, row.closed_at) == (
        "desk",
        "manager",
        DESK_MANAGER,
        None,
    )
    shown = desk.client.get(f"/api/v1/cases/{number}", headers=desk.engineer("jdoe"))
    assert shown.status_code == 200
    assert deadlines.check(desk.db, desk.config, desk.clock()).escalated == []
    time.sleep(1.0)
    assert len(smtp.to(DESK_MANAGER)) == 1


def test_without_mail_configuration_one_warning_and_cases_still_open(
    db_url: str, clock: SettableClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    app = create_app(db_url, DeskConfig(), clock=clock, migrate=False)
    with TestClient(app) as client:
        desk = Desk(app, client, app.state.db, clock, DeskConfig(), db_url)
        number, host = _open_case(desk)
        for _ in range(3):
            assert desk.create(host).status_code == 201
        reply = desk.client.post(
            f"/api/v1/engineer/cases/{number}/replies",
            json={"text": "Looking into it."},
            headers=desk.engineer("jdoe"),
        )
        assert reply.status_code == 200
        clock.advance(hours=5)
        deadlines.check(desk.db, desk.config, clock())
        assert _outbox(desk) == []
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings if r.name.startswith("vxassist.desk")] == [
        "E-mail notifications are off: the desk configuration has no [mail] smtp_host "
        "and from; add them to send replies, escalations and deadline notices."
    ]


def test_a_refused_address_is_kept_with_its_error_and_not_retried(
    desk: Desk,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    smtp.refused.add("nobody@acme.example")
    number, host = _open_case(desk, contact_email="nobody@acme.example")
    other = desk.create(host, brief="Second issue")
    other_number = other.json()["case_number"]
    engineer = desk.engineer("jdoe")
    for n in (number, other_number):
        desk.client.post(
            f"/api/v1/engineer/cases/{n}/replies", json={"text": "On it."}, headers=engineer
        )
    smtp.wait_for(CONTACT)  # the other case's contact is reached all the same

    def refused() -> list[MailOutbox]:
        return [r for r in _outbox(desk) if r.to_addr == "nobody@acme.example" and r.last_error]

    _eventually(lambda: bool(refused()))
    [row] = refused()
    assert "550" in (row.last_error or "") and row.sent_at is None
    assert row.next_attempt_at.year == 9999  # parked: kept, never tried again
    desk.clock.advance(days=30)
    desk.client.portal.call(desk.app.state.mail_sender.wake)  # type: ignore[union-attr]
    time.sleep(1.0)
    [again] = refused()
    assert again.attempts == row.attempts
