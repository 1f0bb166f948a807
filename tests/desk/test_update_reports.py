"""A fresh system report attached to a case update: stored, in the history, replayed once."""

from __future__ import annotations

from typing import Any

from tests.desk.conftest import Desk

REPORT: dict[str, Any] = {
    "schema": 1,
    "generated_at": "2026-11-24T18:05:00+00:00",
    "sections": {
        "os": {"name": "os", "data": {"name": "Windows Server 2019"}},
        "pbx": {"name": "pbx", "data": {"link": "serial COM1", "last_record": None}},
    },
    "files": [{"section": "vxtracker", "name": "callacct.log", "text": "06:10 link down"}],
}


def _update(desk: Desk, number: int, host: dict[str, str], key: str, **body: Any) -> Any:
    return desk.client.post(
        f"/api/v1/cases/{number}/updates",
        json={"text": "The link dropped again at 06:10.", **body},
        headers={**host, "Idempotency-Key": key},
    )


def test_a_report_sent_with_an_update_is_kept_on_its_history_event(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    number = desk.create(host).json()["case_number"]
    answer = _update(desk, number, host, "upd-report", system_report=REPORT)
    assert answer.status_code == 200, answer.text

    for reader in (host, desk.engineer()):
        shown = desk.client.get(f"/api/v1/cases/{number}", headers=reader).json()
        events = shown["events"]
        assert [e["kind"] for e in events] == ["received", "update", "report"]
        report_event = events[2]
        assert report_event["text"] == (
            "A fresh system report was attached with the sections os, pbx, and 1 file."
        )
        assert report_event["author"] == "vxhost1"
        assert report_event["system_report"] == REPORT
        assert "system_report" not in events[1]
        # the request's own report is still the one sent with the case
        assert shown["system_report"] == {
            "os": {"name": "Windows Server 2019"},
            "collectors": [],
        }


def test_a_retried_update_with_a_report_is_stored_once(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    number = desk.create(host).json()["case_number"]
    first = _update(desk, number, host, "upd-1", system_report=REPORT)
    second = _update(desk, number, host, "upd-1", system_report=REPORT)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    other = _update(desk, number, host, "upd-1", system_report={**REPORT, "schema": 2})
    assert other.status_code == 409
    assert other.json()["detail"]["code"] == "idempotency_key_reused"
    events = desk.client.get(f"/api/v1/cases/{number}", headers=host).json()["events"]
    assert [e["kind"] for e in events] == ["received", "update", "report"]


def test_an_oversized_report_is_refused_with_a_sentence_and_nothing_is_stored(
    desk: Desk,
) -> None:
    desk.add_contract()
    host = desk.enroll()
    number = desk.create(host).json()["case_number"]
    big = {"sections": {"os": {"blob": "x" * (desk.config.max_body_bytes + 10)}}}
    answer = _update(desk, number, host, "upd-big", system_report=big)
    assert answer.status_code == 413
    detail = answer.json()["detail"]
    assert detail["code"] == "body_too_large"
    assert detail["message"].endswith(".") and " " in detail["message"]
    events = desk.client.get(f"/api/v1/cases/{number}", headers=host).json()["events"]
    assert [e["kind"] for e in events] == ["received"]


def test_a_report_is_validated_as_on_a_new_case(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    number = desk.create(host).json()["case_number"]
    not_an_object = _update(desk, number, host, "upd-list", system_report=["os"])
    assert not_an_object.status_code == 422
    assert not_an_object.json()["detail"][0]["loc"][:2] == ["body", "system_report"]
    nan = desk.client.post(
        f"/api/v1/cases/{number}/updates",
        content=b'{"text": "x", "system_report": {"disks": [{"free": NaN}]}}',
        headers={**host, "Idempotency-Key": "upd-nan", "Content-Type": "application/json"},
    )
    assert nan.status_code == 422
    assert nan.json()["detail"][0]["loc"][:2] == ["body", "system_report"]
    events = desk.client.get(f"/api/v1/cases/{number}", headers=host).json()["events"]
    assert [e["kind"] for e in events] == ["received"]


def test_a_report_without_sections_still_says_so(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    number = desk.create(host).json()["case_number"]
    assert _update(desk, number, host, "upd-empty", system_report={"schema": 1}).status_code == 200
    events = desk.client.get(f"/api/v1/cases/{number}", headers=host).json()["events"]
    assert events[-1]["kind"] == "report"
    assert events[-1]["text"] == "A fresh system report was attached without any section."
