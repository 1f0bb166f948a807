"""The e-mail fallback against a real SMTP server, and the last-resort files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.cases.conftest import Mailbox, free_port
from tests.cases.test_model import good
from vxassist.cases.fields import CASE_FIELDS
from vxassist.cases.mailer import MailFallback, subject_for
from vxassist.cases.model import build_request
from vxassist.cases.outbox import Kind, OutboxError, OutboxItem, OutboxStore, State
from vxassist.settings import Settings, SmtpSettings, SupportContact

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
REPORT = {"os": {"name": "Windows Server 2019"}, "vxtracker": {"version": "7.4.2"}}


def settings_for(port: int) -> Settings:
    return Settings(
        support=SupportContact(email="support@vendor.example"),
        smtp=SmtpSettings(host="127.0.0.1", port=port, sender="agent@acme.example", timeout_s=5),
    )


def case_item(tmp_path: Path, **changes: object) -> OutboxItem:
    request = build_request(good(**changes), system_report=REPORT)
    store = OutboxStore(tmp_path / "outbox")
    return store.add(Kind.CASE, "POST", "/api/v1/cases", request.payload(), T0)


def test_the_request_is_mailed_to_support_with_every_field(
    tmp_path: Path, smtp_server: Mailbox
) -> None:
    item = case_item(tmp_path)
    result = MailFallback(settings_for(smtp_server.port), tmp_path / "unsent")(
        item, "the desk could not be reached"
    )
    assert result.state is State.EMAILED
    assert result.where == "support@vendor.example"
    [msg] = smtp_server.messages
    assert smtp_server.envelopes[0][1] == ["support@vendor.example"]
    assert msg["Subject"] == "Calls from the front desk are not recorded"
    assert msg["Reply-To"] == "bob@acme.example.com"
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    for spec in CASE_FIELDS:
        if spec.required:
            assert f"{spec.label}:" in text, spec.name
    assert "Priority level: 2 (Severe)" in text
    assert "Since Monday no calls appear." in text
    assert "the desk could not be reached" in text
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "system-report.json"
    assert json.loads(attachment.get_content()) == REPORT
    assert not (tmp_path / "unsent").exists()


def test_a_continued_case_is_in_the_subject(tmp_path: Path, smtp_server: Mailbox) -> None:
    item = case_item(tmp_path, continues_case="1042")
    MailFallback(settings_for(smtp_server.port), tmp_path / "unsent")(item, "down")
    assert smtp_server.messages[0]["Subject"] == (
        "[Case 1042] Calls from the front desk are not recorded"
    )


def test_an_update_mail_names_its_case(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "outbox")
    item = store.add(
        Kind.UPDATE,
        "POST",
        "/api/v1/cases/77/updates",
        {"text": "It happens again\nat 9:00", "priority": None},
        T0,
    )
    assert subject_for(item) == "[Case 77] Update: It happens again at 9:00"


def test_an_update_with_a_fresh_report_is_mailed_with_it(
    tmp_path: Path, smtp_server: Mailbox
) -> None:
    store = OutboxStore(tmp_path / "outbox")
    item = store.add(
        Kind.UPDATE,
        "POST",
        "/api/v1/cases/77/updates",
        {"text": "It happens again at 9:00", "priority": None, "system_report": REPORT},
        T0,
    )
    MailFallback(settings_for(smtp_server.port), tmp_path / "unsent")(item, "down")
    [msg] = smtp_server.messages
    assert msg["Subject"] == "[Case 77] Update: It happens again at 9:00"
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Fresh system report: attached as system-report.json" in text
    [attachment] = list(msg.iter_attachments())
    assert json.loads(attachment.get_content()) == REPORT


def test_an_update_with_log_files_is_mailed_with_them(tmp_path: Path, smtp_server: Mailbox) -> None:
    from vxassist.deskclient import update_body

    store = OutboxStore(tmp_path / "outbox")
    body = update_body("The log", None, None, [("collector.log", b"09:01 SMDR idle\n")])
    item = store.add(Kind.UPDATE, "POST", "/api/v1/cases/77/updates", body, T0)
    MailFallback(settings_for(smtp_server.port), tmp_path / "unsent")(item, "down")
    [msg] = smtp_server.messages
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Log files (secrets removed): attached as collector.log" in text
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "collector.log"
    assert attachment.get_content() == "09:01 SMDR idle\n"


def test_smtp_down_saves_an_eml_and_a_json_file(tmp_path: Path) -> None:
    item = case_item(tmp_path, continues_case="5")
    result = MailFallback(settings_for(free_port()), tmp_path / "unsent")(item, "desk down")
    assert result.state is State.SAVED
    eml = next((tmp_path / "unsent").glob("*.eml"))
    data = next((tmp_path / "unsent").glob("*.json"))
    assert str(eml) in result.where and str(data) in result.where
    saved = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert saved["Subject"] == "[Case 5] Calls from the front desk are not recorded"
    assert saved["To"] == "support@vendor.example"
    body = json.loads(data.read_text(encoding="utf-8"))
    assert body["idempotency_key"] == item.idempotency_key
    assert body["body"]["brief"] == "Calls from the front desk are not recorded"
    assert body["body"]["system_report"] == REPORT


def test_when_even_the_file_cannot_be_written_the_caller_is_told(tmp_path: Path) -> None:
    item = case_item(tmp_path)
    blocker = tmp_path / "unsent"
    blocker.write_text("not a folder")
    with pytest.raises(OutboxError, match="stays in the outbox"):
        MailFallback(settings_for(free_port()), blocker)(item, "desk down")
