"""My Cases on the real widgets, against a real desk through the agent runtime."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("PySide6.QtWidgets")

from tests.fixtures import desk as desk_fixtures
from tests.fixtures.desk import RunningDesk
from tests.ui import case_helpers
from tests.ui.case_helpers import TYPED, case_at_desk, enroll_host
from vxassist.ui.cases_window import MyCasesWindow

WAIT = 20000

# fixtures of other modules, used here by name
shared_desk = desk_fixtures.shared_desk
desk = desk_fixtures.desk
bridge_for = case_helpers.bridge_for


def file_case(qtbot: Any, bridge: Any, brief: str) -> int:
    done: list[Any] = []
    errors: list[BaseException] = []
    fields = dict(
        TYPED,
        brief=brief,
        database_type="SQL Server 2019",
        vxtracker_server="CALLACCT01 7.4.2",
        pbx_manufacturer="Avaya",
        pbx_model="IP Office 500 V2",
    )
    bridge.submit(lambda rt: rt.submit_case(fields, None), done.append, errors.append)
    qtbot.waitUntil(lambda: bool(done or errors), timeout=WAIT)
    assert not errors, errors
    number = done[0].item.case_number
    assert isinstance(number, int)
    return number


def test_my_cases_lists_the_case_shows_its_history_and_acts_on_it(
    qtbot: Any, bridge_for: Any, shared_desk: RunningDesk
) -> None:
    host = enroll_host(shared_desk)
    bridge = bridge_for(host)
    number = file_case(qtbot, bridge, "Calls from the front desk are not recorded")

    window = MyCasesWindow(bridge, host.ctx.settings.support)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.table.rowCount() == 1, timeout=WAIT)
    row = [window.table.item(0, c).text() for c in range(window.table.columnCount())]
    assert row[0] == str(number)
    assert row[1] == "Calls from the front desk are not recorded"
    assert row[2] == "2 – Severe" and row[3] == "New"
    assert row[4] and row[5]  # response due, last change
    qtbot.waitUntil(lambda: window.case is not None, timeout=WAIT)
    assert window.case_title.text() == f"Case {number}: Calls from the front desk are not recorded"
    assert "(Pacific time)" in window.case_facts.text()
    assert "received" in window.history.toPlainText()

    # an engineer takes the case up: the runtime's case_changed event refreshes the list
    from vxassist.deskclient import DeskClient

    with DeskClient(shared_desk.url, shared_desk.add_engineer(f"e{number}"), timeout=10) as c:
        c.engineer_set_status(number, "in_progress", "Looking at the SMDR log.")
    window.on_event({"event": "case_changed", "case_number": number, "status": "in_progress"})
    qtbot.waitUntil(lambda: window.table.item(0, 3).text() == "In progress", timeout=WAIT)
    qtbot.waitUntil(lambda: "Looking at the SMDR" in window.history.toPlainText(), timeout=WAIT)

    # add information: it reaches the desk and the history shows it
    window.case_actions.setCurrentIndex(0)
    window.update_text.setPlainText("Extension 201 is affected too.")
    window.update_button.click()
    qtbot.waitUntil(lambda: "Added to case" in window.action_status.text(), timeout=WAIT)
    qtbot.waitUntil(
        lambda: "Extension 201 is affected too." in window.history.toPlainText(), timeout=WAIT
    )

    # escalate: to whom and why reach the desk
    window.case_actions.setCurrentIndex(1)
    window.escalate_to.setCurrentIndex(window.escalate_to.findData("sales_manager"))
    window.escalate_reason.setPlainText("Three days without calls in the reports.")
    window.escalate_button.click()
    qtbot.waitUntil(lambda: "escalated" in window.action_status.text(), timeout=WAIT)
    stored = case_at_desk(shared_desk, number)
    assert stored["escalation"]["to"] == "sales_manager"
    assert stored["escalation"]["reason"] == "Three days without calls in the reports."
    assert any(e["text"] == "Extension 201 is affected too." for e in stored["events"])
    qtbot.waitUntil(lambda: "Escalated to the" in window.case_facts.text(), timeout=WAIT)

    # another issue in the same case becomes a case of its own, continuing this one
    window.case_actions.setCurrentIndex(2)
    window.split_fields["brief"].setText("Monthly cost report export is empty")
    window.split_fields["details"].setPlainText("The Excel file has headers only.")
    window.split_fields["steps_taken"].setPlainText("Tried two months.")
    window.split_button.click()
    qtbot.waitUntil(lambda: "The other issue is case" in window.action_status.text(), timeout=WAIT)
    qtbot.waitUntil(lambda: window.table.rowCount() == 2, timeout=WAIT)
    other = int(window.action_status.text().split("case ", 1)[1].split(";", 1)[0])
    split = case_at_desk(shared_desk, other)
    assert split["continues_case"] == number
    original = case_at_desk(shared_desk, number)
    for name in ("company", "contact_email", "database_type", "pbx_model"):
        assert split[name] == original[name]  # taken over from the case it was found in
    assert split["priority"] == 3


def test_a_case_list_that_cannot_be_had_says_why(qtbot: Any, bridge_for: Any) -> None:
    host = case_helpers.not_enrolled_host()
    window = MyCasesWindow(bridge_for(host), host.ctx.settings.support)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.refresh_button.isEnabled(), timeout=WAIT)
    assert "not enrolled" in window.list_status.text()
    assert "Traceback" not in window.list_status.text()


def test_the_tray_opens_request_support_and_my_cases(qtbot: Any) -> None:
    from tests.ui.shell import tray_app
    from vxassist.ui.request import RequestWindow

    with tray_app() as app:
        request = app.open_window("request")
        assert isinstance(request, RequestWindow) and request.isVisible()
        qtbot.waitUntil(lambda: request.report is not None, timeout=WAIT)
        assert request.value("database_type")  # filled from the runtime's report
        cases = app.open_window("cases")
        assert isinstance(cases, MyCasesWindow) and cases.isVisible()
        qtbot.waitUntil(lambda: cases.refresh_button.isEnabled(), timeout=WAIT)
        assert "not enrolled" in cases.list_status.text()  # a sentence, not a traceback
        assert app.open_window("request") is request  # one window, brought forward


def test_requests_waiting_on_this_computer_are_listed_while_the_desk_is_down(
    qtbot: Any, bridge_for: Any, desk: RunningDesk
) -> None:
    host = enroll_host(desk)
    bridge = bridge_for(host)
    number = file_case(qtbot, bridge, "Filed while the desk was up")
    desk.stop()
    done: list[Any] = []
    fields = dict(
        TYPED,
        brief="Filed while the desk was down",
        database_type="SQL Server",
        vxtracker_server="CALLACCT01",
        pbx_manufacturer="Avaya",
        pbx_model="IP500",
    )
    bridge.submit(lambda rt: rt.submit_case(fields, None), done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=WAIT)
    assert done[0].item.case_number is None  # queued in the outbox

    window = MyCasesWindow(bridge, host.ctx.settings.support, paths=host.paths)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.refresh_button.isEnabled(), timeout=WAIT)
    assert "cannot be reached" in window.list_status.text()
    assert "Requests waiting on this computer are listed." in window.list_status.text()
    assert window.table.rowCount() == 1
    assert window.table.item(0, 1).text() == "Filed while the desk was down"
    assert window.table.item(0, 3).text() == "Queued, not sent yet"
    window.table.selectRow(0)
    assert window.case_title.text() == "Not sent yet: Filed while the desk was down"
    assert not window.case_actions.isEnabled()

    desk.start()
    window.refresh()
    qtbot.waitUntil(lambda: window.table.rowCount() == 2, timeout=WAIT)
    numbers = {window.table.item(r, 0).text() for r in range(2)}
    assert str(number) in numbers  # the desk's case, and the one still waiting here


def test_continue_with_a_fresh_report_reaches_the_desk(
    qtbot: Any, bridge_for: Any, shared_desk: RunningDesk
) -> None:
    from vxassist.cases import sendable

    host = enroll_host(shared_desk)
    bridge = bridge_for(host)
    number = file_case(qtbot, bridge, "The SMDR link drops every morning")

    window = MyCasesWindow(bridge, host.ctx.settings.support)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.case is not None, timeout=WAIT)
    window.case_actions.setCurrentIndex(0)
    window.update_text.setPlainText("It dropped again at 06:10; a fresh report is attached.")
    window.attach_report.setChecked(True)
    # what goes is shown first, each part with a tick box; one part is left out
    qtbot.waitUntil(lambda: window.update_review.isVisible(), timeout=WAIT)
    shown = {p.id for p in window.update_review.parts()}
    assert sendable.FIELDS_PART not in shown
    assert sendable.section_part_id("software") in shown
    window.update_review.set_ticked(sendable.section_part_id("software"), False)
    window.update_button.click()
    qtbot.waitUntil(lambda: "Added to case" in window.action_status.text(), timeout=WAIT)
    said = window.action_status.text()
    assert "fresh system report" in said and "not sent" not in said
    assert not window.attach_report.isChecked() and not window.update_review.isVisible()
    qtbot.waitUntil(lambda: "system report attached" in window.history.toPlainText(), timeout=WAIT)

    stored = case_at_desk(shared_desk, number)
    kinds = [e["kind"] for e in stored["events"]]
    assert kinds == ["received", "update", "report"]
    report = stored["events"][2]["system_report"]
    left_out = {sendable.section_part_id("software")}
    expected = sendable.report_payload(case_helpers.recorded_report(), left_out)
    assert expected is not None
    assert "software" not in report["sections"]
    assert set(report["sections"]) == set(expected["sections"])
    assert report["manifest"] == expected["manifest"]
    for name in expected["sections"]:
        assert name in stored["events"][2]["text"]


def test_support_replies_stand_out_and_internal_notes_never_show(
    qtbot: Any, bridge_for: Any, shared_desk: RunningDesk
) -> None:
    host = enroll_host(shared_desk)
    bridge = bridge_for(host)
    number = file_case(qtbot, bridge, "Reports are empty since the upgrade")
    from vxassist.deskclient import DeskClient

    name = f"r{number}"
    with DeskClient(shared_desk.url, shared_desk.add_engineer(name), timeout=10) as c:
        c.engineer_post(number, "notes", {"text": "Internal: customer skipped 7.3."})
        c.engineer_post(number, "replies", {"text": "Please send <b>the</b> export log."})

    window = MyCasesWindow(bridge, host.ctx.settings.support)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.case is not None, timeout=WAIT)
    qtbot.waitUntil(
        lambda: "Please send <b>the</b> export log." in window.history.toPlainText(), timeout=WAIT
    )
    text = window.history.toPlainText()
    assert f"{name} (support)" in text and "reply from support" in text
    assert "Internal: customer skipped" not in text
    html = window.history_html(window.case or {})
    # the reply sits in the highlighted block; the customer's own entries do not
    reply_at = html.index("export log")
    assert html.rfind("background-color:#e8f1fb", 0, reply_at) > html.rfind("received", 0, reply_at)
    assert "&lt;b&gt;the&lt;/b&gt;" in html


def test_a_log_file_goes_with_an_update_scrubbed(
    qtbot: Any, bridge_for: Any, shared_desk: RunningDesk, tmp_path: Any
) -> None:
    host = enroll_host(shared_desk)
    bridge = bridge_for(host)
    number = file_case(qtbot, bridge, "The collector stops at night")
    window = MyCasesWindow(bridge, host.ctx.settings.support)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.case is not None, timeout=WAIT)
    log = tmp_path / "collector.log"
    log.write_text("02:00 stop\napi_key = 9f8e7d6c5b4a39281706\n02:01 SMDR idle\n")
    window.case_actions.setCurrentIndex(0)
    window.set_log_files([str(log), str(log)])
    assert window.log_files == [str(log)] and "collector.log" in window.logs_label.text()
    window.update_text.setPlainText("The log of last night.")
    window.update_button.click()
    qtbot.waitUntil(lambda: "Added to case" in window.action_status.text(), timeout=WAIT)
    assert window.log_files == [] and "No log file" in window.logs_label.text()
    stored = case_at_desk(shared_desk, number)
    [attached] = [f for e in stored["events"] for f in e.get("attachments") or []]
    assert attached["filename"] == "collector.log"
    from vxassist.deskclient import DeskClient

    with DeskClient(shared_desk.url, shared_desk.add_engineer(f"l{number}"), timeout=10) as c:
        kept = c.engineer_attachment(number, attached["id"])
    assert b"02:01 SMDR idle" in kept and b"9f8e7d6c5b4a39281706" not in kept
