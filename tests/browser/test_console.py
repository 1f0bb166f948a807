"""The console in Debian's chromium against a real desk process (``vxassist desk serve``):
sign in, the queue's order, a reply the customer reads through the real client,
an escalation, and the knowledge base's search.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.desk import RunningDesk
from vxassist.deskclient import DeskClient

PASSWORD = "browser test password"
CASE = {
    "company": "Acme Hotels",
    "install_type": "single server",
    "location": "Reno, NV",
    "database_type": "SQL Server 2019",
    "vxtracker_server": "VXT01 7.2.1",
    "pbx_manufacturer": "Avaya",
    "pbx_model": "IP Office 500 V2",
    "contact_name": "Bob Jones",
    "contact_phone": "+1 775 555 0100",
    "contact_email": "bob@acme.example.com",
    "details": "The SMDR link shows no records since 06:10.",
    "steps_taken": "Restarted the collector service.",
    "continues_case": None,
    "third_party_app": None,
    "third_party_version": None,
    "system_report": {"sections": {"os": {"status": "ok", "data": {"system": "windows"}}}},
}


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A desk process with a contract, a host, two of its cases and an engineer."""
    from vxassist.desk import admin

    running = RunningDesk(tmp_path_factory.mktemp("browser-desk")).start()
    try:
        running.add_contract()
        db = running._db()
        try:
            admin.add_engineer(db, "jdoe", datetime.now(UTC), password=PASSWORD, manager=True)
        finally:
            db.dispose()
        with DeskClient(running.url, None, timeout=10) as anonymous:
            token = anonymous.enroll(running.enrollment_code(), "acme-vxt01", None)["token"]
        host = DeskClient(running.url, token, timeout=10)
        numbers = {}
        for priority, brief in ((4, "Question about report export"), (1, "VXTracker is down")):
            answer = host.create_case(
                {**CASE, "priority": priority, "brief": brief}, uuid.uuid4().hex
            )
            numbers[priority] = answer["case_number"]
        running.add_kb_article(
            "SMDR link shows no records",
            "Check the **PBX** serial settings, then restart the collector.",
            ["smdr"],
        )
        yield {"desk": running, "host": host, "numbers": numbers}
        host.close()
    finally:
        running.stop()


def sign_in(page: Any, url: str) -> None:
    page.goto(f"{url}/console/")
    assert "/console/signin" in page.url  # not signed in: the sign-in form
    page.fill("input[name=name]", "jdoe")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/console/")


def test_sign_in_and_the_queue_shows_the_soonest_deadline_first(
    page: Any, desk: dict[str, Any]
) -> None:
    url = desk["desk"].url
    sign_in(page, url)
    rows = page.locator("table.queue tbody tr")
    assert rows.count() == 2
    first, second = rows.nth(0).inner_text(), rows.nth(1).inner_text()
    assert str(desk["numbers"][1]) in first and "VXTracker is down" in first
    assert str(desk["numbers"][4]) in second
    assert "left" in first  # its time left
    page.select_option("select[name=priority]", "4")
    page.click("form.filters button[type=submit]")
    assert page.locator("table.queue tbody tr").count() == 1


def test_a_reply_reaches_the_customer_and_an_escalation_shows(
    page: Any, desk: dict[str, Any]
) -> None:
    url, number = desk["desk"].url, desk["numbers"][1]
    sign_in(page, url)
    page.click(f"text={number}")
    page.wait_for_url(f"{url}/console/cases/{number}")
    page.fill("form[action$='/reply'] textarea[name=text]", "Please check the SMDR cable.")
    page.click("form[action$='/reply'] button")
    page.wait_for_selector("text=Reply sent")
    page.fill("form[action$='/note'] textarea[name=text]", "Cable was replaced last week.")
    page.click("form[action$='/note'] button")
    page.wait_for_selector("text=Internal note added")
    # the customer's own client (the agent's desk client) reads the reply, not the note
    case = desk["host"].get_case(number)
    texts = [event["text"] for event in case["events"]]
    assert "Please check the SMDR cable." in texts
    assert not any("replaced last week" in text for text in texts)

    page.select_option("form[action$='/escalate'] select[name=level]", "manager")
    page.fill("form[action$='/escalate'] textarea[name=reason]", "Down since the morning.")
    page.click("form[action$='/escalate'] button")
    page.wait_for_selector("text=Escalated")
    assert page.locator(".pill.esc").first.is_visible()
    page.goto(f"{url}/console/?escalated=1")
    assert page.locator("table.queue tbody tr").count() == 1


def test_the_knowledge_base_search_finds_an_article(page: Any, desk: dict[str, Any]) -> None:
    url = desk["desk"].url
    sign_in(page, url)
    page.click("nav >> text=Knowledge base")
    page.goto(f"{url}/kb")
    page.fill("input[name=q]", "smdr records")
    page.press("input[name=q]", "Enter")
    page.wait_for_selector("text=SMDR link shows no records")


def test_nothing_runs_from_a_customer_field(
    page: Any, desk: dict[str, Any], tmp_path: Path
) -> None:
    url = desk["desk"].url
    hostile = {**CASE, "priority": 3, "brief": "<img src=x onerror=\"document.title='owned'\">"}
    hostile["details"] = "<script>document.title='owned'</script>"
    number = desk["host"].create_case(hostile, uuid.uuid4().hex)["case_number"]
    sign_in(page, url)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{url}/console/cases/{number}")
    assert page.title() != "owned" and not dialogs
    assert "<script>document.title='owned'</script>" in page.inner_text("main")
