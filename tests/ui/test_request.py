"""Request Support on the real widgets, against a real desk through the agent runtime."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("PySide6.QtWidgets")

from tests.fixtures import desk as desk_fixtures
from tests.fixtures.desk import RunningDesk
from tests.ui import case_helpers
from tests.ui.case_helpers import (
    TYPED,
    Host,
    case_at_desk,
    enroll_host,
    not_enrolled_host,
    set_support_website,
)
from vxassist.cases.draft import DraftStore, make_draft
from vxassist.ui.qt import Qt
from vxassist.ui.request import FORM_PAGE, RESULT_PAGE, REVIEW_PAGE, RequestSupportWindow

WAIT = 20000

# fixtures of other modules, used here by name
desk = desk_fixtures.desk
shared_desk = desk_fixtures.shared_desk
bridge_for = case_helpers.bridge_for


def open_window(
    qtbot: Any, bridge_for: Any, host: Host, collect: Any = None
) -> RequestSupportWindow:
    bridge = bridge_for(host, collect=collect)
    window = RequestSupportWindow(
        bridge,
        host.ctx.settings.support,
        DraftStore.for_data_dir(host.paths.data_dir),
        paths=host.paths,
    )
    qtbot.addWidget(window)
    window.show()
    return window


def type_into(qtbot: Any, window: RequestSupportWindow, name: str, text: str) -> None:
    editor = window.editors[name]
    if name == "priority":
        window.priority_buttons[int(text) - 1].click()
        return
    editor.setFocus()
    qtbot.keyClicks(editor, text)


def fill(qtbot: Any, window: RequestSupportWindow, values: dict[str, str]) -> None:
    for name, text in values.items():
        if name in ("details", "steps_taken"):
            window.editors[name].setPlainText(text)  # typing a paragraph is slow offscreen
        else:
            type_into(qtbot, window, name, text)


def wait_for_report(qtbot: Any, window: RequestSupportWindow) -> None:
    qtbot.waitUntil(lambda: window.report is not None, timeout=WAIT)


def test_untouched_fields_are_not_marked_and_a_bad_email_is_once_typed(
    qtbot: Any, bridge_for: Any
) -> None:
    window = open_window(qtbot, bridge_for, not_enrolled_host())
    wait_for_report(qtbot, window)
    assert window.value("database_type").startswith("Microsoft SQL Server")  # from the report
    assert window.marked() == {}

    type_into(qtbot, window, "contact_email", "bob@acme")
    qtbot.waitUntil(lambda: "contact_email" in window.marked(), timeout=WAIT)
    marked = window.marked()
    assert list(marked) == ["contact_email"]  # nothing else was touched
    assert "is not an e-mail address" in marked["contact_email"]
    assert "write it like name@example.com" in marked["contact_email"]
    assert not marked["contact_email"].startswith("Technical contact")

    type_into(qtbot, window, "contact_email", ".example.com")
    qtbot.waitUntil(lambda: window.marked() == {}, timeout=WAIT)

    # asking to review marks every missing field, in the model's words, and stays on the form
    assert window.show_review() is False
    assert window.pages.currentIndex() == FORM_PAGE
    assert "company" in window.marked() and "priority" in window.marked()
    assert "contact_email" not in window.marked()
    assert "need your attention" in window.form_status.text()


def test_submit_answered_with_a_part_unticked_that_the_desk_never_gets(
    qtbot: Any, bridge_for: Any, shared_desk: RunningDesk
) -> None:
    host = enroll_host(shared_desk)
    window = open_window(qtbot, bridge_for, host)
    wait_for_report(qtbot, window)
    qtbot.waitUntil(lambda: window.value("company").startswith("Company "), timeout=WAIT)
    assert window.marked() == {}  # filled for the customer, not touched by them
    window.set_value("company", "")
    fill(qtbot, window, TYPED)
    type_into(qtbot, window, "third_party_app", "Crystal")
    assert window.show_review() is True
    assert window.pages.currentIndex() == REVIEW_PAGE

    review = window.review
    ini = next(p for p in review.parts() if p.id.endswith("VXTracker.ini"))
    review.select(ini.id)
    assert review.highlighted_texts() and set(review.highlighted_texts()) == {"********"}
    log_part = next(p for p in review.parts() if p.id.startswith("file:") and "/logs/" in p.id)
    review.select("section:software")
    review.list.setFocus()
    qtbot.keyClick(review.list, Qt.Key.Key_Space)  # unticked with the keyboard
    review.set_ticked(log_part.id, False)
    assert window.unticked == {"section:software", log_part.id}
    manifest = next(p for p in review.parts() if p.id == "manifest")
    assert "left out by the customer" in manifest.text

    window.send_button.click()
    qtbot.waitUntil(lambda: window.pages.currentIndex() == RESULT_PAGE, timeout=WAIT)
    number = window.last_submission.item.case_number
    assert isinstance(number, int)
    shown = window.result_text.text()
    assert f"<b>{number}</b>" in shown and "(Pacific time)" in shown and "(your time)" in shown
    assert "What happens next" in shown
    assert f"Case {number} is filed" == window.result_title.text()

    stored = case_at_desk(shared_desk, number)
    report = stored["system_report"]
    assert "software" not in report["sections"]
    assert "databases" in report["sections"]
    assert all(f["name"] != log_part.id.removeprefix("file:") for f in report["files"])
    assert log_part.text.strip().splitlines()[-1] not in json.dumps(stored)
    assert stored["third_party_app"] == "Crystal"
    assert stored["brief"] == TYPED["brief"]
    qtbot.waitUntil(lambda: not window.drafts.file.exists(), timeout=WAIT)


def test_submit_while_the_desk_is_down_is_queued_and_says_so(
    qtbot: Any, bridge_for: Any, desk: RunningDesk
) -> None:
    host = enroll_host(desk)
    desk.stop()
    window = open_window(qtbot, bridge_for, host)
    wait_for_report(qtbot, window)
    fill(qtbot, window, TYPED)
    assert window.show_review()
    window.send_button.click()
    qtbot.waitUntil(lambda: window.pages.currentIndex() == RESULT_PAGE, timeout=WAIT)
    assert window.result_title.text() == "Queued: it goes when the connection is back"
    assert "goes by itself as soon as the connection is back" in window.result_text.text()
    assert "(Pacific time)" in window.result_text.text()  # the agent's own estimate
    assert host.ctx.settings.support.phone in window.result_text.text()
    from vxassist.cases.intake import open_store
    from vxassist.cases.outbox import State

    [item] = open_store(host.paths).items((State.PENDING,))
    assert item.body["brief"] == TYPED["brief"]


def test_submit_without_a_contract_says_why_with_phone_and_email(
    qtbot: Any, bridge_for: Any, shared_desk: RunningDesk
) -> None:
    host = enroll_host(shared_desk)
    shared_desk.expire_contract(host.contract_id)
    window = open_window(qtbot, bridge_for, host)
    wait_for_report(qtbot, window)
    fill(qtbot, window, TYPED)
    assert window.show_review()
    window.send_button.click()
    qtbot.waitUntil(lambda: window.pages.currentIndex() == RESULT_PAGE, timeout=WAIT)
    support = host.ctx.settings.support
    text = window.result_text.text()
    assert window.result_title.text() == "Received, but without a case number"
    assert "contract" in text and support.phone in text and support.email in text
    assert "R-" in text  # the reference to quote


def test_a_draft_survives_closing_and_a_restart(qtbot: Any, bridge_for: Any) -> None:
    host = not_enrolled_host()
    window = open_window(qtbot, bridge_for, host)
    fill(qtbot, window, {"company": "Acme Hotels", "brief": "Reports are empty", "priority": "3"})
    window.editors["details"].setPlainText("Since the update.\nEvery report.")
    window.add_issue({"brief": "Exports are slow", "priority": "4"})
    window.close()  # saves what the debounce had not saved yet
    store = DraftStore.for_data_dir(host.paths.data_dir)
    qtbot.waitUntil(lambda: (d := store.load()) is not None and "details" in d.fields, timeout=WAIT)
    window.bridge.stop(15.0)  # the agent quits

    again = open_window(qtbot, bridge_for, not_enrolled_host())  # a new agent, a new store
    qtbot.waitUntil(lambda: again.value("brief") == "Reports are empty", timeout=WAIT)
    assert again.value("company") == "Acme Hotels"
    assert again.value("priority") == "3"
    assert again.value("details") == "Since the update.\nEvery report."
    assert [i.values()["brief"] for i in again.issues] == ["Exports are slow"]
    assert again.issues[0].values()["priority"] == "4"
    assert again.marked() == {}


def test_the_draft_keeps_unticked_parts(qtbot: Any, bridge_for: Any) -> None:
    host = not_enrolled_host()
    window = open_window(qtbot, bridge_for, host)
    wait_for_report(qtbot, window)
    fill(qtbot, window, TYPED)
    assert window.show_review()
    window.review.set_ticked("section:software", False)
    window.close()
    store = DraftStore.for_data_dir(host.paths.data_dir)
    qtbot.waitUntil(
        lambda: (d := store.load()) is not None and "section:software" in d.unticked,
        timeout=WAIT,
    )
    window.bridge.stop(15.0)
    again = open_window(qtbot, bridge_for, not_enrolled_host())
    wait_for_report(qtbot, again)
    qtbot.waitUntil(lambda: again.value("brief") == TYPED["brief"], timeout=WAIT)
    assert again.show_review()
    assert again.review.unticked() == {"section:software"}
    assert "software" not in (again.report_payload() or {})["sections"]


def test_system_fields_wait_for_the_report_with_progress_and_stay_editable(
    qtbot: Any, bridge_for: Any
) -> None:
    import threading

    from tests.ui.case_helpers import recorded_report

    report = recorded_report()
    release = threading.Event()

    def slow_collect() -> Any:
        release.wait(30)
        return report

    window = open_window(qtbot, bridge_for, not_enrolled_host(), collect=slow_collect)
    assert window.report_bar.isVisible()
    assert "Reading this computer's details" in window.report_note.text()
    type_into(qtbot, window, "pbx_model", "IP500 V2 (typed)")  # the customer is faster
    release.set()
    wait_for_report(qtbot, window)
    assert not window.report_bar.isVisible()
    assert window.value("pbx_manufacturer") == "Avaya"  # filled from the report
    assert window.value("pbx_model") == "IP500 V2 (typed)"  # what was typed stays
    combo = window.editors["third_party_app"]
    assert combo.findText("VXTracker") >= 0  # the software inventory to pick from


def test_a_failure_is_a_sentence_and_the_form_stays_filled(qtbot: Any, bridge_for: Any) -> None:
    window = open_window(qtbot, bridge_for, not_enrolled_host())
    wait_for_report(qtbot, window)
    fill(qtbot, window, TYPED)
    assert window.show_review()
    window.bridge.stop(15.0)  # the agent's background service is gone
    window.send_button.click()
    assert window.pages.currentIndex() == REVIEW_PAGE
    assert "start vxassist again" in window.review_status.text()
    assert "Traceback" not in window.review_status.text()
    assert window.send_button.isEnabled()
    window.show_form()
    assert window.value("brief") == TYPED["brief"]
    assert window.value("contact_email") == TYPED["contact_email"]


def test_knowledge_base_without_a_search_links_the_support_site(
    qtbot: Any, bridge_for: Any
) -> None:
    # a host with no desk to ask (not enrolled) has no search: the website instead
    host = set_support_website(not_enrolled_host(), "https://support.example.com/kb")
    window = open_window(qtbot, bridge_for, host)
    window.kb_query.setFocus()
    qtbot.keyClicks(window.kb_query, "calls not recorded")
    qtbot.keyClick(window.kb_query, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.kb_button.isEnabled(), timeout=WAIT)
    text = window.kb_results.text()
    assert 'href="https://support.example.com/kb"' in text
    assert host.ctx.settings.support.phone in text


def test_knowledge_base_answers_come_from_the_desk(
    qtbot: Any, bridge_for: Any, shared_desk: RunningDesk
) -> None:
    article = shared_desk.add_kb_article(
        "Wallboard shows zero agents", "Re-link the wallboard to the ACD group after an upgrade."
    )
    window = open_window(qtbot, bridge_for, enroll_host(shared_desk))
    window.kb_query.setFocus()
    qtbot.keyClicks(window.kb_query, "wallboard agents")
    qtbot.keyClick(window.kb_query, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.kb_button.isEnabled(), timeout=WAIT)
    text = window.kb_results.text()
    assert f'href="{shared_desk.url}/kb/{article["id"]}"' in text  # the readable page
    assert "Wallboard shows zero agents" in text and "ACD group" in text


def test_a_further_problem_becomes_a_case_of_its_own(
    qtbot: Any, bridge_for: Any, shared_desk: RunningDesk
) -> None:
    host = enroll_host(shared_desk)
    window = open_window(qtbot, bridge_for, host)
    wait_for_report(qtbot, window)
    fill(qtbot, window, TYPED)
    window.add_issue_button.click()
    [issue] = window.issues
    qtbot.keyClicks(issue.brief, "Cost report export is empty")
    assert window.show_review() is False  # its details and priority are missing
    assert "Detailed description: missing" in issue.error.text()
    assert "Priority level: missing" in issue.error.text()
    issue.details.setPlainText("The Excel file has headers only.")
    issue.steps.setPlainText("Tried two months.")
    issue.priority.setCurrentIndex(issue.priority.findData(3))
    assert window.show_review() is True
    fields_part = window.review.parts()[0]
    assert "Further issue 1 (its own case):" in fields_part.text
    window.send_button.click()
    qtbot.waitUntil(lambda: window.pages.currentIndex() == RESULT_PAGE, timeout=WAIT)
    number = window.last_submission.item.case_number
    [related] = window.last_submission.item.answer["related"]
    assert related["brief"] == "Cost report export is empty" and related["priority"] == 3
    assert f"is case {related['case_number']}" in window.result_text.text()
    assert case_at_desk(shared_desk, related["case_number"])["details"] == (
        "The Excel file has headers only."
    )
    assert isinstance(number, int) and number != related["case_number"]


def test_every_field_is_reached_with_tab_in_form_order(qtbot: Any, bridge_for: Any) -> None:
    window = open_window(qtbot, bridge_for, not_enrolled_host())
    window.kb_query.setFocus()
    chain: list[Any] = []
    widget = window.kb_query
    while widget is not None and widget not in chain:
        if widget.focusPolicy() & Qt.FocusPolicy.TabFocus and widget.isVisibleTo(window):
            chain.append(widget)
        widget = widget.nextInFocusChain()
    stops = [w for w in chain if w.accessibleName()]
    editors = [e for e in window.editors.values() if e.focusPolicy() & Qt.FocusPolicy.TabFocus]
    editors += window.priority_buttons
    positions = [stops.index(e) for e in editors if e in stops]
    assert len(positions) == len(editors)  # every field is a tab stop
    assert positions == sorted(positions)  # in the order of the form
    labels = [w for w in chain if w.metaObject().className() == "QLabel"]
    assert labels == [window.kb_results]  # only the label with links; no plain text stops
    for widget in chain:
        if widget.metaObject().className() in ("QLineEdit", "QPlainTextEdit", "QPushButton"):
            assert widget.accessibleName() or widget.parent() is window.editors["third_party_app"]


def test_knowledge_base_articles_are_links(qtbot: Any, bridge_for: Any) -> None:
    window = open_window(qtbot, bridge_for, not_enrolled_host())
    window._kb_answered(
        [{"title": "SMDR <setup>", "url": "https://kb.example.com/1", "summary": "Ports"}]
    )
    text = window.kb_results.text()
    assert '<a href="https://kb.example.com/1">SMDR &lt;setup&gt;</a>' in text
    window._kb_answered([])
    assert "No article matches" in window.kb_results.text()
    assert window.support.email in window.kb_results.text()  # another way to reach support


def test_a_part_unticked_in_the_draft_stays_out_when_the_report_comes_late(
    qtbot: Any, bridge_for: Any
) -> None:
    import threading

    from tests.ui.case_helpers import recorded_report

    host = not_enrolled_host()
    store = DraftStore.for_data_dir(host.paths.data_dir)
    store.save(make_draft(TYPED, unticked=["section:software"]))
    report, release = recorded_report(), threading.Event()

    def slow_collect() -> Any:
        release.wait(30)
        return report

    window = open_window(qtbot, bridge_for, host, collect=slow_collect)
    qtbot.waitUntil(lambda: window.value("brief") == TYPED["brief"], timeout=WAIT)
    for name in ("database_type", "vxtracker_server", "pbx_manufacturer", "pbx_model"):
        window.set_value(name, "typed", touched=True)
    assert window.show_review()  # before the report: only the request is shown
    assert [p.id for p in window.review.parts()] == ["fields"]
    release.set()
    wait_for_report(qtbot, window)
    qtbot.waitUntil(lambda: len(window.review.parts()) > 1, timeout=WAIT)
    assert "section:software" in window.review.unticked()
    assert "software" not in (window.report_payload() or {})["sections"]
