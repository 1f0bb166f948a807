"""A fresh system report sent with a case update, against a real desk on loopback."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

import pytest

from tests.cases import test_intake_desk
from tests.cases.conftest import CASE_FLAGS, AgentProcess
from tests.cases.test_case_new_cli import _run_on_a_terminal
from tests.cases.test_intake_desk import vx
from tests.fixtures.desk import RunningDesk
from vxassist.cases.cli import EXIT_NOT_SENT, update_preview_text
from vxassist.cases.intake import make_sender, open_store, submit_update
from vxassist.cases.outbox import Kind, State
from vxassist.cliutil import Context
from vxassist.deskclient import DeskClient
from vxassist.paths import Paths

# a fixture of the intake tests, used here by name
enrolled = test_intake_desk.enrolled

REPORT: dict[str, Any] = {
    "schema": 1,
    "sections": {"os": {"name": "os", "data": {"name": "Windows Server 2019"}}},
    "files": [],
}


def _case(enrolled: RunningDesk, capsys: pytest.CaptureFixture[str]) -> int:
    code, data, err = vx(capsys, "case", "new", *CASE_FLAGS)
    assert code == 0, err
    return int(data["case_number"])


def _at_desk(desk: RunningDesk, number: int) -> dict[str, Any]:
    token = desk.add_engineer(f"eng-{uuid.uuid4().hex[:8]}")
    with DeskClient(desk.url, token, timeout=10) as client:
        return client.get_case(number)


def test_case_update_attach_report_sends_the_redacted_report(
    enrolled: RunningDesk, capsys: pytest.CaptureFixture[str]
) -> None:
    number = _case(enrolled, capsys)
    code, answer, err = vx(
        capsys, "case", "update", str(number), "--text", "Again at 9:00.", "--attach-report"
    )
    assert code == 0, err
    if "no system report attached" in err:
        pytest.skip("the system report is not available in this build")
    assert answer["report_attached"] is True
    events = _at_desk(enrolled, number)["events"]
    assert [e["kind"] for e in events] == ["received", "update", "report"]
    report = events[2]["system_report"]
    # the report of `case new`: every section, secrets already removed
    code, dry, _ = vx(
        capsys, "case", "new", *[f for f in CASE_FLAGS if f != "--no-system-report"], "--dry-run"
    )
    assert set(report["sections"]) == set(dry["system_report"]["sections"])
    assert report["schema"] == dry["system_report"]["schema"]
    for name in report["sections"]:
        assert name in events[2]["text"]

    # without the flag, no report goes and the answer says so
    code, answer, err = vx(capsys, "case", "update", str(number), "--text", "And at 10:00.")
    assert code == 0, err
    assert answer["report_attached"] is False
    kinds = [e["kind"] for e in _at_desk(enrolled, number)["events"]]
    assert kinds == ["received", "update", "report", "update"]


def test_anonymize_without_attach_report_is_a_usage_error(
    enrolled: RunningDesk, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = vx(capsys, "case", "update", "1001", "--text", "x", "--anonymize")
    assert code != 0
    assert "--attach-report" in err


def test_a_resent_update_with_a_report_is_stored_once(
    enrolled: RunningDesk, capsys: pytest.CaptureFixture[str], paths: Paths
) -> None:
    number = _case(enrolled, capsys)
    ctx = Context(paths=paths)
    item = submit_update(
        paths, ctx.settings, ctx.secrets(), number, "Log attached.", None, system_report=REPORT
    )
    assert item.state is State.DELIVERED
    assert item.body["system_report"] == REPORT
    # As if the agent died after the desk took it and before the outbox recorded it:
    store = open_store(paths)
    with sqlite3.connect(store.file) as db:
        db.execute("UPDATE items SET state = 'pending', answer = NULL WHERE id = ?", (item.id,))
    with make_sender(paths, ctx.settings, ctx.secrets()) as sender:
        [again] = sender.flush(force=True)
    assert again.state is State.DELIVERED
    assert again.idempotency_key == item.idempotency_key
    events = _at_desk(enrolled, number)["events"]
    assert [e["kind"] for e in events] == ["received", "update", "report"]
    assert events[2]["system_report"] == REPORT


def test_an_oversized_report_is_refused_with_a_sentence(
    enrolled: RunningDesk, capsys: pytest.CaptureFixture[str], paths: Paths
) -> None:
    number = _case(enrolled, capsys)
    ctx = Context(paths=paths)
    big = {"sections": {"os": {"blob": "x" * (4 * 1024 * 1024 + 10)}}}
    item = submit_update(
        paths, ctx.settings, ctx.secrets(), number, "Huge log.", None, system_report=big
    )
    assert item.state is State.REJECTED
    assert item.last_error == "The request is too large; remove large attachments and retry."
    events = _at_desk(enrolled, number)["events"]
    assert [e["kind"] for e in events] == ["received"]


def test_on_a_terminal_the_report_is_shown_for_a_yes_first(agent_process: AgentProcess) -> None:
    args = ("case", "update", "1001", "--text", "Again at 9:00.", "--attach-report")
    code, seen = _run_on_a_terminal(agent_process, *args, answer=b"n\n")
    if b"no system report attached" in seen:
        pytest.skip("the system report is not available in this build")
    assert code == EXIT_NOT_SENT, seen
    assert b"This update will be sent to case 1001:" in seen
    assert b"Again at 9:00." in seen
    assert b"secrets removed:" in seen and b"Update size:" in seen
    assert b"Nothing was sent" in seen
    assert list(open_store(Paths.from_env(agent_process.env())).items()) == []

    code, seen = _run_on_a_terminal(agent_process, *args, answer=b"y\n")
    assert code == 0, seen  # not enrolled, no mail: saved to a file, and said so
    [item] = open_store(Paths.from_env(agent_process.env())).items()
    assert item.kind is Kind.UPDATE
    assert isinstance(item.body["system_report"], dict) and item.body["system_report"]["sections"]
    code, seen = _run_on_a_terminal(agent_process, *args, "--yes", answer=None)
    assert b"Send it?" not in seen
    assert len(open_store(Paths.from_env(agent_process.env())).items()) == 2


def test_the_update_preview_lists_the_reports_parts() -> None:
    body = {"text": "Log attached.", "priority": 1, "system_report": REPORT}
    text = update_preview_text(1042, body)
    assert text.splitlines()[:3] == [
        "This update will be sent to case 1042:",
        "  Log attached.",
        "  New priority: 1 = System Down",
    ]
    assert "    os " in text and "secrets removed" in text
    assert "No system report." in update_preview_text(1042, {"text": "x", "priority": None})
