"""The engineers' "new case" notice: intake only marks it owed (``cases.new_notice_at``
NULL), the mail sender writes and sends it. Each notice once, never lost: a case
committed while no sender ran, SMTP down, two senders on one PostgreSQL, a desk
that had no [mail]. Real desk (SQLite and PostgreSQL), real SMTP server."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.desk.conftest import Desk, SettableClock
from tests.desk.smtp import SmtpServer, smtp  # noqa: F401 (fixture)
from tests.desk.test_notify import ON_CALL, TEAM, mail_config
from tests.fixtures.postgres import PostgresServer
from vxassist.desk import admin, mailout
from vxassist.desk.app import create_app
from vxassist.desk.config import DeskConfig
from vxassist.desk.db import Database
from vxassist.desk.mailout import MailSender
from vxassist.desk.models import Case, MailOutbox


def _eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.05)


def _outbox(db: Database) -> list[MailOutbox]:
    with db.reading() as session:
        return list(session.scalars(select(MailOutbox).order_by(MailOutbox.id)))


def _owed(db: Database) -> list[int]:
    with db.reading() as session:
        return list(session.scalars(select(Case.id).where(Case.new_notice_at.is_(None))))


def _unstarted(db_url: str, config: DeskConfig, clock: SettableClock) -> Desk:
    """A desk whose lifespan does not run: it takes cases, and no mail sender runs
    (as when the desk stopped between a case's commit and its notice)."""
    app = create_app(db_url, config, clock=clock, migrate=False)
    return Desk(app, TestClient(app), app.state.db, clock, config, db_url)


@pytest.fixture
def no_sender(
    db_url: str,
    clock: SettableClock,
    smtp: SmtpServer,  # noqa: F811
) -> Iterator[Desk]:
    desk = _unstarted(db_url, mail_config(smtp), clock)
    try:
        yield desk
    finally:
        desk.db.dispose()


def _cases(desk: Desk, count: int, **changes: Any) -> list[int]:
    desk.add_contract()
    host = desk.enroll()
    numbers = []
    for i in range(count):
        answer = desk.create(host, brief=f"Issue {i}", **changes)
        assert answer.status_code == 201, answer.text
        numbers.append(int(answer.json()["case_number"]))
    return numbers


def test_creating_a_case_writes_no_mail_and_a_later_sender_sends_its_notice_once(
    no_sender: Desk,
    smtp: SmtpServer,  # noqa: F811
    clock: SettableClock,
) -> None:
    # the cases commit while no sender runs (a crash between commit and notice)
    numbers = _cases(no_sender, 3)
    assert _outbox(no_sender.db) == []  # nothing rendered or written in the request
    assert len(_owed(no_sender.db)) == 3
    time.sleep(0.5)
    assert smtp.messages == []

    clock.advance(minutes=20)
    app = create_app(no_sender.url, no_sender.config, clock=clock, migrate=False)
    with TestClient(app):  # the desk starts again: its sender finds what is owed
        got = smtp.wait_for(TEAM, count=3)
        _eventually(lambda: all(r.sent_at is not None for r in _outbox(no_sender.db)))
        app.state.mail_sender.send_due()  # another round owes nothing
    assert sorted(m.subject.split("]")[0] for m in got) == sorted(f"[Case {n}" for n in numbers)
    assert len(smtp.messages) == 3
    assert "Received:" in got[0].body and "(20 min ago)" in got[0].body
    rows = _outbox(no_sender.db)
    assert len(rows) == 3 and all(r.attempts == 1 for r in rows)
    assert _owed(no_sender.db) == []


def test_a_p1_out_of_hours_goes_on_call_when_noticed_later_in_hours(
    no_sender: Desk,
    smtp: SmtpServer,  # noqa: F811
    clock: SettableClock,
) -> None:
    clock.now = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)  # Friday 22:00 in Los Angeles
    [number] = _cases(no_sender, 1, priority=1)
    clock.now = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # Monday 10:00: in hours
    sender = MailSender(no_sender.db, no_sender.config.mail, clock)
    assert sender.send_due() == 1
    [mail] = smtp.wait_for(ON_CALL)
    assert f"[Case {number}]" in mail.subject and "out of hours" in mail.subject
    assert smtp.to(TEAM) == []


def test_smtp_down_the_notices_are_written_and_sent_once_when_it_is_back(
    no_sender: Desk,
    smtp: SmtpServer,  # noqa: F811
    clock: SettableClock,
) -> None:
    smtp.stop()
    _cases(no_sender, 3)
    # batches of one: the first case's mail fails, the others are still written (due)
    sender = MailSender(no_sender.db, no_sender.config.mail, clock, batch=1)
    assert sender.send_due() == 0
    rows = _outbox(no_sender.db)
    assert len(rows) == 3 and _owed(no_sender.db) == []
    assert all(r.sent_at is None for r in rows)
    assert [r.attempts for r in rows] == [1, 0, 0]
    assert rows[0].last_error and rows[0].next_attempt_at > clock()  # backing off

    smtp.start()
    assert sender.send_due() == 2  # the ones due now
    clock.advance(minutes=5)
    assert sender.send_due() == 1  # the first, after its backoff
    clock.advance(hours=3)
    assert sender.send_due() == 0
    got = smtp.wait_for(TEAM, count=3)
    assert Counter(m.subject for m in got).most_common(1)[0][1] == 1
    assert len(smtp.messages) == 3


def test_a_desk_without_mail_owes_no_notice_to_a_later_desk_with_mail(
    db_url: str,
    clock: SettableClock,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    quiet = _unstarted(db_url, DeskConfig(), clock)
    try:
        _cases(quiet, 2)
        assert _owed(quiet.db) == []
    finally:
        quiet.db.dispose()
    app = create_app(db_url, mail_config(smtp), clock=clock, migrate=False)
    with TestClient(app):
        assert app.state.mail_sender.send_due() == 0
        assert _outbox(app.state.db) == []
    assert smtp.messages == []


def test_a_request_without_a_case_number_owes_no_notice(
    no_sender: Desk,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    no_sender.add_contract()
    host = no_sender.enroll()
    admin.expire_contract(no_sender.db, "C-1001", no_sender.clock(), no_sender.config)
    answer = no_sender.create(host)
    assert answer.status_code == 201 and answer.json()["case_number"] is None
    assert _owed(no_sender.db) == []


def test_a_notice_read_by_two_senders_is_written_by_one(
    no_sender: Desk,
    smtp: SmtpServer,  # noqa: F811
    clock: SettableClock,
) -> None:
    _cases(no_sender, 4)
    config, db, now = no_sender.config, no_sender.db, clock()
    first = mailout.owed_notices(db, config, now)
    second = mailout.owed_notices(db, config, now)
    assert len(first) == len(second) == 4
    stamped, mails = mailout.write_notices(db, first, now)
    assert (stamped, len(mails)) == (4, 4)
    assert mailout.write_notices(db, second, now) == (0, [])
    assert len(_outbox(db)) == 4


@pytest.fixture
def pg_url(postgres_server: PostgresServer, postgres_template: str) -> Iterator[str]:
    url = postgres_server.fresh_database(template=postgres_template)
    yield url
    postgres_server.drop_database(url)


def test_two_senders_on_one_postgresql_send_each_new_case_notice_once(
    pg_url: str,
    clock: SettableClock,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    config = mail_config(smtp)
    desk = _unstarted(pg_url, config, clock)
    try:
        _cases(desk, 120)
    finally:
        desk.db.dispose()
    first, second = Database(pg_url), Database(pg_url)
    try:
        senders = [MailSender(db, config.mail, clock, desk=config) for db in (first, second)]
        results: list[int] = []
        errors: list[BaseException] = []
        start = threading.Barrier(2)

        def run(sender: MailSender) -> None:
            try:
                start.wait(timeout=30)
                results.append(sender.send_due())
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(s,)) for s in senders]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        assert sum(results) == 120
        got = smtp.wait_for(TEAM, count=120)
        assert Counter(m.subject for m in got).most_common(1)[0][1] == 1
        time.sleep(0.5)
        assert len(smtp.messages) == 120
        rows = _outbox(first)
        assert len(rows) == 120 and all(r.sent_at is not None and r.attempts == 1 for r in rows)
        assert _owed(first) == []
    finally:
        first.dispose()
        second.dispose()


def _migrate(url: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from vxassist.desk.db import MIGRATIONS, make_engine

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            if revision == "head":
                command.upgrade(cfg, revision)
            else:
                command.downgrade(cfg, revision)
    finally:
        engine.dispose()


def test_cases_stored_before_the_upgrade_owe_no_new_notice(
    db_url: str,
    clock: SettableClock,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    desk = _unstarted(db_url, mail_config(smtp), clock)
    try:
        _cases(desk, 2)  # owed now: NULL
        assert len(_owed(desk.db)) == 2
    finally:
        desk.db.dispose()
    # before 0011 these cases' notices were written with them: the upgrade stamps them
    _migrate(db_url, "0010_mail_outbox_lean")
    _migrate(db_url, "head")
    app = create_app(db_url, mail_config(smtp), clock=clock, migrate=False)
    with TestClient(app):
        assert _owed(app.state.db) == []
        assert app.state.mail_sender.send_due() == 0
    assert smtp.messages == []
