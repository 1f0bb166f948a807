"""The queue: open cases by response deadline, with its filters; the dashboard's figures."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select

from tests.console.conftest import Console, add_engineer
from tests.desk.conftest import Desk
from vxassist.desk import admin, casework
from vxassist.desk.auth import Caller
from vxassist.desk.models import Case

_ROW = re.compile(r'<td class="num"><a href="/console/cases/(\d+)">')


def numbers(html: str) -> list[int]:
    return [int(n) for n in _ROW.findall(html)]


def file_cases(desk: Desk) -> dict[str, int]:
    """Four cases from two customers; their numbers by a short name."""
    for contract_id, company in (("C-1", "Acme Telecom"), ("C-2", "Globex Corp")):
        admin.add_contract(
            desk.db,
            admin.NewContract(
                contract_id, company, date(2027, 6, 30), "Ann", "555 0100", "ann@example.com"
            ),
            desk.clock(),
            desk.config,
        )
    acme = desk.enroll("acme1", "C-1")
    globex = desk.enroll("globex1", "C-2")
    made = {}
    for name, host, priority, company in (
        ("p4", acme, 4, "Acme Telecom"),
        ("p1", acme, 1, "Acme Telecom"),
        ("p3", globex, 3, "Globex Corp"),
        ("p2", globex, 2, "Globex Corp"),
    ):
        answer = desk.create(host, priority=priority, company=company, brief=f"issue {name}")
        assert answer.status_code == 201, answer.text
        made[name] = answer.json()["case_number"]
    return made


def test_the_queue_lists_open_cases_soonest_deadline_first(desk: Desk, signed_in: Console) -> None:
    made = file_cases(desk)
    page = signed_in.get("/console/")
    assert numbers(page.text) == [made["p1"], made["p2"], made["p3"], made["p4"]]
    assert "4 open cases" in page.text
    assert "left" in page.text  # the time left of each


def test_filters_narrow_the_queue(desk: Desk, signed_in: Console) -> None:
    made = file_cases(desk)
    add_engineer(desk, "amy")
    with desk.db.writing() as session:
        who = Caller(kind="engineer", name="jdoe")
        case = casework.find_case(session, str(made["p3"]), who)
        casework.assign(session, case, who, "amy", desk.clock())
        case = casework.find_case(session, str(made["p4"]), who)
        casework.escalate(
            session, case, who, "manager", "customer is angry", desk.clock(), desk.config
        )
        case = casework.find_case(session, str(made["p2"]), who)
        casework.set_status(session, case, who, "in_progress", None, desk.clock())
        case = casework.find_case(session, str(made["p1"]), who)
        casework.set_status(session, case, who, "resolved", None, desk.clock())

    assert numbers(signed_in.get("/console/").text) == [made["p2"], made["p3"], made["p4"]]
    assert numbers(signed_in.get("/console/?priority=3").text) == [made["p3"]]
    assert numbers(signed_in.get("/console/?status=in_progress").text) == [made["p2"]]
    assert numbers(signed_in.get("/console/?company=glob").text) == [made["p2"], made["p3"]]
    assert numbers(signed_in.get("/console/?assignee=amy").text) == [made["p3"]]
    assert numbers(signed_in.get("/console/?assignee=-").text) == [made["p2"], made["p4"]]
    assert numbers(signed_in.get("/console/?escalated=1").text) == [made["p4"]]
    assert numbers(signed_in.get("/console/?breached=1").text) == []
    desk.clock.advance(hours=6)  # P2's four hours are gone; nobody answered
    signed_in.sign_in("jdoe")  # (the console session idled out meanwhile)
    assert made["p2"] in numbers(signed_in.get("/console/?breached=1").text)
    # a value the form never offers is no filter, not an error
    assert signed_in.get("/console/?priority=9&status=bogus&page=x").status_code == 200


def test_a_company_filter_is_text_not_a_pattern(desk: Desk, signed_in: Console) -> None:
    file_cases(desk)
    assert numbers(signed_in.get("/console/?company=%25").text) == []
    assert numbers(signed_in.get("/console/?company=_").text) == []


def test_the_dashboard_counts_open_cases_and_breaches(desk: Desk, signed_in: Console) -> None:
    made = file_cases(desk)
    page = signed_in.get("/console/dashboard")
    assert page.status_code == 200
    assert re.search(r'<div class="figure">4</div><div class="label">open in all', page.text)
    with desk.db.writing() as session:
        who = Caller(kind="engineer", name="jdoe")
        case = casework.find_case(session, str(made["p1"]), who)
        desk.clock.advance(minutes=30)
        casework.reply(session, case, who, "We are on it.", desk.clock())
    desk.clock.advance(hours=5)  # P2 (no answer) is now past its deadline
    signed_in.sign_in("jdoe")
    page = signed_in.get("/console/dashboard")
    assert "30 min" in page.text  # the median first response (one case)
    with desk.db.reading() as session:
        past_due = {
            number
            for number, due in session.execute(select(Case.case_number, Case.response_due))
            if due <= desk.clock()
        }
    assert made["p1"] in past_due and made["p2"] in past_due  # P1 was answered in time
    breaches = len(past_due) - 1
    assert re.search(
        rf'<div class="figure breached">{breaches}</div>\s*<div class="label">breaches this week'
        rf'<br><span class="small">of {len(past_due)} deadlines',
        page.text,
    )
