"""A case in the console: fields, thread, actions through casework; hostile text inert."""

from __future__ import annotations

import re

from sqlalchemy import select

from tests.console.conftest import Console, add_engineer
from tests.desk.conftest import Desk
from vxassist.desk.models import CaseEscalation, CaseEvent

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def one_case(desk: Desk, **changes: object) -> tuple[int, dict[str, str]]:
    desk.add_contract("C-1")
    host = desk.enroll("acme1", "C-1")
    answer = desk.create(host, **changes)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["case_number"]), host


def test_the_case_page_shows_every_field_and_the_report_as_sections(
    desk: Desk, signed_in: Console
) -> None:
    number, _ = one_case(
        desk,
        system_report={
            "schema": 1,
            "host": "VXT01",
            "sections": {
                "os": {"status": "ok", "data": {"system": "windows", "release": "2019"}},
                "disks": {
                    "status": "partial",
                    "reason": "one volume unreadable",
                    "data": {"volumes": [{"device": "C:", "free_percent": 3.5}]},
                },
            },
        },
    )
    page = signed_in.get(f"/console/cases/{number}")
    assert page.status_code == 200
    for value in (
        "Acme Telecom",
        "single server",
        "Fresno, CA",
        "SQL Server 2019",
        "VXT01 7.2.1",
        "Avaya",
        "IP Office 500 V2",
        "Ann Example",
        "+1 559 555 0100",
        "ann@acme.example",
        "Calls are not recorded since this morning",
        "The SMDR link shows no records since 06:10.",
        "Restarted the collector service.",
        "P2 Severe",
    ):
        assert value in page.text, value
    assert "<summary>os</summary>" in page.text
    assert "one volume unreadable" in page.text and "3.5" in page.text


def test_reply_note_status_assign_and_escalate_through_casework(
    desk: Desk, signed_in: Console
) -> None:
    number, host = one_case(desk)
    add_engineer(desk, "amy")
    page = f"/console/cases/{number}"
    done = signed_in.post_form(page, f"{page}/reply", {"text": "Please restart the PBX link."})
    assert "Reply sent" in done.text and "Please restart the PBX link." in done.text
    done = signed_in.post_form(page, f"{page}/note", {"text": "Probably the SMDR port."})
    assert "Internal note added" in done.text
    assert re.search(r'class="internal\s*".*?Probably the SMDR port\.', done.text, re.S)
    done = signed_in.post_form(page, f"{page}/status", {"status": "waiting_customer", "note": ""})
    assert "Status now: Waiting on customer" in done.text
    done = signed_in.post_form(page, f"{page}/assign", {"assignee": "amy"})
    assert "Assigned to amy." in done.text
    done = signed_in.post_form(
        page, f"{page}/escalate", {"level": "manager", "reason": "Customer down for a day"}
    )
    assert "Escalated" in done.text, done.text
    with desk.db.reading() as session:
        kinds = [e.kind for e in session.scalars(select(CaseEvent).order_by(CaseEvent.id))]
        open_escalations = list(
            session.scalars(select(CaseEscalation).where(CaseEscalation.closed_at.is_(None)))
        )
    assert {"reply", "note", "status", "assigned", "escalated"} <= set(kinds)
    assert len(open_escalations) == 1
    done = signed_in.post_form(
        page, f"{page}/escalations/close", {"escalation_id": str(open_escalations[0].id)}
    )
    assert "Escalation closed." in done.text
    # the customer reads the reply, never the note
    thread = desk.client.get(f"/api/v1/cases/{number}", headers=host).json()
    texts = [e["text"] for e in thread["events"]]
    assert "Please restart the PBX link." in texts
    assert not any("SMDR port" in t for t in texts)


def test_a_refused_action_comes_back_as_a_sentence(desk: Desk, signed_in: Console) -> None:
    number, _ = one_case(desk)
    page = f"/console/cases/{number}"
    done = signed_in.post_form(page, f"{page}/reply", {"text": "   "})
    assert "Write the reply first" in done.text
    done = signed_in.post_form(page, f"{page}/status", {"status": "open"})
    assert "already New" in done.text
    done = signed_in.post_form(page, f"{page}/assign", {"assignee": "ghost"})
    assert "no engineer named ghost" in done.text
    done = signed_in.post_form(
        page,
        f"{page}/session",
        {"scope_shell": "1", "minutes": "30", "reason": "look", "public_key": "not a key"},
    )
    assert done.status_code == 200 and 'class="problem"' in done.text


def test_an_unknown_case_is_a_page_with_a_sentence(signed_in: Console) -> None:
    answer = signed_in.get("/console/cases/999999")
    assert answer.status_code == 404
    assert "No such case" in answer.text


def test_html_and_script_in_every_field_are_shown_inert(desk: Desk, signed_in: Console) -> None:
    fields = (
        "company",
        "install_type",
        "location",
        "database_type",
        "vxtracker_server",
        "pbx_manufacturer",
        "pbx_model",
        "contact_name",
        "contact_phone",
        "brief",
        "details",
        "steps_taken",
        "third_party_app",
        "third_party_version",
    )
    number, host = one_case(
        desk,
        **{name: HOSTILE[:60] for name in fields},
        system_report={"sections": {HOSTILE: {"status": HOSTILE, "data": {HOSTILE: [HOSTILE]}}}},
    )
    update = desk.client.post(
        f"/api/v1/cases/{number}/updates", json={"text": HOSTILE}, headers=host
    )
    assert update.status_code in (200, 201), update.text
    page = f"/console/cases/{number}"
    signed_in.post_form(page, f"{page}/note", {"text": HOSTILE})
    for path in (page, "/console/", "/console/?assignee=%3Cscript%3E"):
        html = signed_in.get(path).text
        assert "<script" not in html.lower(), path
        assert "<img" not in html.lower(), path
    assert "&lt;script&gt;" in signed_in.get(page).text
    assert "&lt;script&gt;" in signed_in.get("/console/").text
    echoed = signed_in.get("/console/?company=%3Cscript%3Ealert(1)").text
    assert "<script" not in echoed.lower() and "&lt;script&gt;alert(1)" in echoed
    answer = signed_in.get(page)
    assert "script-src 'none'" in answer.headers["content-security-policy"]
