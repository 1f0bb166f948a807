"""Each mail once, each notice once, with several desk processes on one PostgreSQL:
two senders (two engines, as two processes have) claim with SKIP LOCKED, two
deadline watchers race on the guarded update."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.desk.conftest import TUESDAY_10AM
from tests.desk.smtp import SmtpServer, smtp  # noqa: F401 (fixture)
from tests.desk.test_notify import TEAM, mail_config
from tests.fixtures.postgres import PostgresServer
from vxassist.desk import admin, deadlines, notify
from vxassist.desk.config import DeskConfig
from vxassist.desk.db import Database
from vxassist.desk.mailconfig import EscalationConfig
from vxassist.desk.mailout import MailSender
from vxassist.desk.models import Agent, Case, CaseEscalation, MailOutbox


@pytest.fixture
def pg_url(postgres_server: PostgresServer, postgres_template: str) -> Iterator[str]:
    url = postgres_server.fresh_database(template=postgres_template)
    yield url
    postgres_server.drop_database(url)


def _both(work: Callable[[], Any]) -> list[Any]:
    """Run ``work`` twice at the same time (two threads, as two processes would)."""
    results: list[Any] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            start.wait(timeout=30)
            results.append(work())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return results


def test_two_senders_on_one_postgresql_send_each_mail_once(
    pg_url: str,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    config = mail_config(smtp)
    first, second = Database(pg_url), Database(pg_url)
    try:
        now = TUESDAY_10AM
        with first.writing() as session:
            notify.write(
                session,
                [
                    notify.Mail(f"test:{i}:{TEAM}", TEAM, f"mail {i}", f"body {i}")
                    for i in range(120)
                ],
                now,
            )
        senders = [MailSender(db, config.mail, lambda: now) for db in (first, second)]
        counts = iter(senders)
        sent = _both(lambda: next(counts).send_due())
        assert sum(sent) == 120
        got = smtp.wait_for(TEAM, count=120)
        assert Counter(m.subject for m in got).most_common(1)[0][1] == 1
        with first.reading() as session:
            rows = list(session.scalars(select(MailOutbox)))
        assert len(rows) == 120 and all(r.sent_at == now and r.attempts == 1 for r in rows)
    finally:
        first.dispose()
        second.dispose()


def _overdue_case(db: Database, now: datetime) -> int:
    admin.add_contract(
        db,
        admin.NewContract(
            "C-1", "Acme Telecom", date(2027, 6, 30), "Ann", "555", "ann@acme.example"
        ),
        now,
        DeskConfig(),
    )
    with db.writing() as session:
        session.add(
            Agent(
                agent_id="A-1",
                contract_id="C-1",
                hostname="vxhost1",
                token_hash="x" * 64,
                enrolled_at=now,
            )
        )
        session.flush()
        received = now - timedelta(hours=3)
        case = Case(
            case_number=1001,
            reference="R-ABCDEF",
            agent_id="A-1",
            contract_id="C-1",
            status="open",
            priority=2,
            received_at=received,
            response_due=received + timedelta(hours=2),
            updated_at=received,
            message="",
            company="Acme Telecom",
            install_type="single server",
            location="Fresno, CA",
            database_type="SQL Server",
            vxtracker_server="VXT01",
            pbx_manufacturer="Avaya",
            pbx_model="IP Office",
            contact_name="Ann",
            contact_phone="555",
            contact_email="ann@acme.example",
            brief="Calls are not recorded",
            details="No SMDR records.",
            steps_taken="Restarted.",
        )
        session.add(case)
        session.flush()
        return case.id


def test_two_watchers_give_one_breach_notice_and_one_escalation(
    pg_url: str,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    config = mail_config(
        smtp, escalation=EscalationConfig(manager_email="tsm@vendor.example", on_breach="manager")
    )
    now = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
    first, second = Database(pg_url), Database(pg_url)
    try:
        notify.configure(pg_url, config)
        case_id = _overdue_case(first, now)
        dbs = iter((first, second))
        rounds = _both(lambda: deadlines.check(next(dbs), config, now))
        assert sorted(len(r.breached) for r in rounds) == [0, 1]
        assert sorted(len(r.escalated) for r in rounds) == [0, 1]
        with first.reading() as session:
            mails = list(session.scalars(select(MailOutbox)))
            escalations = list(session.scalars(select(CaseEscalation)))
            case = session.get(Case, case_id)
        assert sorted(m.to_addr for m in mails) == sorted([TEAM, "tsm@vendor.example"])
        assert len(escalations) == 1 and escalations[0].by_kind == "desk"
        assert case is not None and case.breach_noticed_at == now
    finally:
        first.dispose()
        second.dispose()
