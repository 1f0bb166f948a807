"""Case intake: numbers, contracts, one case per issue, history, deadlines."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime

import httpx

from tests.desk.conftest import Desk, case_body, live_server
from vxassist.cases.fields import FIELD_NAMES
from vxassist.cases.sla import response_due
from vxassist.desk import admin
from vxassist.desk.schemas import CaseIn

REFERENCE = re.compile(r"^R-[A-Z0-9]{6}$")


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_case_fields_are_the_shared_vocabulary() -> None:
    assert set(CaseIn.model_fields) == set(FIELD_NAMES) | {"system_report", "also"}


def test_case_gets_a_number_and_the_deadline_of_the_sla(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    answer = desk.create(host, priority=3)
    assert answer.status_code == 201
    case = answer.json()
    assert case["case_number"] == 1001
    assert REFERENCE.match(case["reference"])
    assert case["status"] == "open"
    assert case["priority_label"] == "Degraded"
    assert _iso(case["received_at"]) == desk.clock.now
    assert _iso(case["response_due"]) == response_due(3, desk.clock.now, desk.config.calendar)
    assert "1001" in case["message"] and "response is due" in case["message"]
    assert case["contract_id"] == "C-1001"
    for name in FIELD_NAMES:
        assert case[name] == case_body(priority=3)[name]
    assert case["escalation"] is None and case["related"] == []


def test_case_numbers_are_unique_and_consecutive(desk: Desk) -> None:
    desk.add_contract()
    one, two = desk.enroll("h1"), desk.enroll("h2")
    numbers = [desk.create(host).json()["case_number"] for host in (one, two, one)]
    assert numbers == [1001, 1002, 1003]


def test_expired_contract_gets_a_reference_and_the_reason(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    admin.expire_contract(desk.db, "C-1001", desk.clock(), desk.config)
    answer = desk.create(host)
    assert answer.status_code == 201
    case = answer.json()
    assert case["case_number"] is None
    assert case["status"] == "no_contract"
    assert REFERENCE.match(case["reference"])
    message = case["message"]
    assert "No case number" in message and "expired" in message
    assert case["reference"] in message
    assert desk.config.support.email in message and desk.config.support.phone in message
    # kept: the host sees it, and it can be shown by its reference
    listed = desk.client.get("/api/v1/cases", headers=host).json()["cases"]
    assert [c["reference"] for c in listed] == [case["reference"]]
    shown = desk.client.get(f"/api/v1/cases/{case['reference']}", headers=host)
    assert shown.status_code == 200
    assert shown.json()["events"][0]["kind"] == "received"


def test_contract_is_active_through_its_expiry_date(desk: Desk) -> None:
    # 2026-11-24 18:00 UTC is 10:00 on the 24th in Los Angeles
    desk.add_contract(expires=date(2026, 11, 24))
    host = desk.enroll()
    assert desk.create(host).json()["case_number"] == 1001
    desk.clock.advance(hours=14)  # 00:00 on the 25th in Los Angeles
    assert desk.create(host).json()["case_number"] is None


def test_each_further_issue_becomes_its_own_case(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    also = [
        {"brief": "Reports are slow", "details": "30 s", "steps_taken": "none", "priority": 4},
        {"brief": "Phone book sync", "details": "fails", "steps_taken": "retried", "priority": 3},
    ]
    case = desk.create(host, also=also).json()
    assert case["case_number"] == 1001
    related = case["related"]
    assert [c["case_number"] for c in related] == [1002, 1003]
    assert [c["brief"] for c in related] == ["Reports are slow", "Phone book sync"]
    assert [c["priority"] for c in related] == [4, 3]
    assert related[0]["company"] == "Acme Telecom"
    shown = desk.client.get("/api/v1/cases/1002", headers=host).json()
    assert sorted(c["case_number"] for c in shown["related"]) == [1001, 1003]
    assert "one case per issue" in shown["events"][0]["text"]


def test_unknown_case_is_404_with_a_sentence(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    for ident in ("999999", "R-ZZZZZZ", "drop table cases", "0"):
        answer = desk.client.get(f"/api/v1/cases/{ident}", headers=host)
        assert answer.status_code == 404
        detail = answer.json()["detail"]
        assert detail["code"] == "case_unknown"
        assert detail["message"].endswith(".")


def test_a_host_sees_only_its_own_cases(desk: Desk) -> None:
    desk.add_contract()
    mine, other = desk.enroll("h1"), desk.enroll("h2")
    number = desk.create(mine).json()["case_number"]
    assert desk.client.get(f"/api/v1/cases/{number}", headers=other).status_code == 404
    assert desk.client.get("/api/v1/cases", headers=other).json() == {"cases": []}
    update = desk.client.post(
        f"/api/v1/cases/{number}/updates", json={"text": "x", "priority": None}, headers=other
    )
    assert update.status_code == 404
    escalate = desk.client.post(
        f"/api/v1/cases/{number}/escalate",
        json={"to": "sales_manager", "reason": "x"},
        headers=other,
    )
    assert escalate.status_code == 404


def test_update_adds_to_the_history_and_a_higher_priority_moves_the_deadline(
    desk: Desk,
) -> None:
    desk.add_contract()
    host = desk.enroll()
    case = desk.create(host, priority=4).json()
    desk.clock.advance(minutes=10)
    answer = desk.client.post(
        f"/api/v1/cases/{case['case_number']}/updates",
        json={"text": "Now nothing records at all.", "priority": 1},
        headers=host,
    )
    assert answer.status_code == 200
    updated = answer.json()
    assert updated["priority"] == 1
    assert _iso(updated["response_due"]) == response_due(1, desk.clock.now, desk.config.calendar)
    events = desk.client.get(f"/api/v1/cases/{case['case_number']}", headers=host).json()["events"]
    assert [e["kind"] for e in events] == ["received", "update", "priority"]
    assert events[1]["text"] == "Now nothing records at all."
    assert events[1]["author"] == "vxhost1"


def test_update_replays_under_the_same_key(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    number = desk.create(host).json()["case_number"]
    headers = {**host, "Idempotency-Key": "upd-1"}
    body = {"text": "more detail", "priority": None}
    first = desk.client.post(f"/api/v1/cases/{number}/updates", json=body, headers=headers)
    second = desk.client.post(f"/api/v1/cases/{number}/updates", json=body, headers=headers)
    assert first.content == second.content
    events = desk.client.get(f"/api/v1/cases/{number}", headers=host).json()["events"]
    assert [e["kind"] for e in events] == ["received", "update"]


def test_escalation_to_a_manager_is_recorded(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    number = desk.create(host).json()["case_number"]
    answer = desk.client.post(
        f"/api/v1/cases/{number}/escalate",
        json={"to": "technical_support_manager", "reason": "No answer for two days."},
        headers=host,
    )
    assert answer.status_code == 200
    escalation = answer.json()["escalation"]
    assert escalation["to"] == "technical_support_manager"
    assert escalation["reason"] == "No answer for two days."
    assert _iso(escalation["at"]) == desk.clock.now
    events = desk.client.get(f"/api/v1/cases/{number}", headers=host).json()["events"]
    assert events[-1]["kind"] == "escalated"
    assert "Manager of Technical Support" in events[-1]["text"]


def test_escalation_to_someone_else_is_422(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    number = desk.create(host).json()["case_number"]
    answer = desk.client.post(
        f"/api/v1/cases/{number}/escalate", json={"to": "ceo", "reason": "x"}, headers=host
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"][-1] == "to"


def test_engineer_queue_and_status_changes(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    eng = desk.engineer()
    low = desk.create(host, priority=4).json()["case_number"]
    high = desk.create(host, priority=1).json()["case_number"]
    queue = desk.client.get("/api/v1/engineer/cases?status=open", headers=eng).json()["cases"]
    assert [c["case_number"] for c in queue] == [high, low]  # soonest due first
    answer = desk.client.post(
        f"/api/v1/engineer/cases/{high}/status",
        json={"status": "waiting_customer", "note": "Asked for the SMDR log."},
        headers=eng,
    )
    assert answer.status_code == 200 and answer.json()["status"] == "waiting_customer"
    queue = desk.client.get("/api/v1/engineer/cases?status=open", headers=eng).json()["cases"]
    assert [c["case_number"] for c in queue] == [low]
    shown = desk.client.get(f"/api/v1/cases/{high}", headers=eng).json()
    assert shown["events"][-1] == {
        "id": shown["events"][-1]["id"],
        "at": shown["events"][-1]["at"],
        "kind": "status",
        "author": "jdoe",
        "author_kind": "engineer",
        "visibility": "customer",
        "text": "open -> waiting_customer: Asked for the SMDR log.",
    }
    # the customer's answer puts it back in the queue
    desk.client.post(f"/api/v1/cases/{high}/updates", json={"text": "attached"}, headers=host)
    assert desk.client.get(f"/api/v1/cases/{high}", headers=host).json()["status"] == "open"


def test_closed_case_takes_no_update(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    eng = desk.engineer()
    number = desk.create(host).json()["case_number"]
    desk.client.post(
        f"/api/v1/engineer/cases/{number}/status", json={"status": "closed"}, headers=eng
    )
    answer = desk.client.post(
        f"/api/v1/cases/{number}/updates", json={"text": "again"}, headers=host
    )
    assert answer.status_code == 409
    assert answer.json()["detail"]["code"] == "case_closed"
    assert "continues it" in answer.json()["detail"]["message"]


def test_roles_are_kept_apart(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    eng = desk.engineer()
    number = desk.create(host).json()["case_number"]
    as_agent = desk.client.get("/api/v1/engineer/cases", headers=host)
    assert as_agent.status_code == 403 and as_agent.json()["detail"]["code"] == "engineer_only"
    status = desk.client.post(
        f"/api/v1/engineer/cases/{number}/status", json={"status": "closed"}, headers=host
    )
    assert status.status_code == 403
    as_engineer = desk.create(eng)
    assert as_engineer.status_code == 403 and as_engineer.json()["detail"]["code"] == "agent_only"


def test_a_request_without_contract_cannot_be_worked_on(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    admin.expire_contract(desk.db, "C-1001", desk.clock(), desk.config)
    reference = desk.create(host).json()["reference"]
    answer = desk.client.post(
        f"/api/v1/engineer/cases/{reference}/status",
        json={"status": "in_progress"},
        headers=desk.engineer(),
    )
    assert answer.status_code == 409
    assert answer.json()["detail"]["code"] == "case_without_contract"


def test_continuing_a_case_links_both(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    first = desk.create(host).json()["case_number"]
    follow = desk.create(host, continues_case=first, brief="Still no calls").json()
    assert follow["continues_case"] == first
    events = desk.client.get(f"/api/v1/cases/{first}", headers=host).json()["events"]
    assert events[-1]["kind"] == "continued"
    assert str(follow["case_number"]) in events[-1]["text"]


def test_continuing_an_unknown_case_is_refused_and_stores_nothing(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    answer = desk.create(host, continues_case=424242)
    assert answer.status_code == 404
    assert answer.json()["detail"]["code"] == "case_unknown"
    assert desk.client.get("/api/v1/cases", headers=host).json() == {"cases": []}


def test_missing_and_malformed_fields_are_named(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    body = case_body(priority=7, contact_email="not-an-address")
    del body["pbx_model"]
    answer = desk.client.post("/api/v1/cases", json=body, headers={**host, "Idempotency-Key": "k"})
    assert answer.status_code == 422
    fields = {item["loc"][-1] for item in answer.json()["detail"]}
    assert fields == {"pbx_model", "priority", "contact_email"}
    assert all(item["msg"] for item in answer.json()["detail"])


def test_blank_required_field_and_nul_characters_are_refused(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    assert desk.create(host, brief="   ").status_code == 422
    assert desk.create(host, details="a\x00b").status_code == 422
    too_long = desk.create(host, brief="x" * 121)
    assert too_long.status_code == 422
    assert desk.client.get("/api/v1/cases", headers=host).json() == {"cases": []}


def test_broken_json_is_400_not_json(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    answer = desk.client.post(
        "/api/v1/cases",
        content=b'{"company": ',
        headers={**host, "Idempotency-Key": "k", "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()["detail"]["code"] == "body_not_json"


def test_oversized_request_is_refused_before_reading(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    report = {"blob": "x" * (desk.config.max_body_bytes + 10)}
    answer = desk.create(host, system_report=report)
    assert answer.status_code == 413
    assert answer.json()["detail"]["code"] == "body_too_large"


def test_system_report_is_kept_for_the_engineer(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    number = desk.create(host).json()["case_number"]
    shown = desk.client.get(f"/api/v1/cases/{number}", headers=desk.engineer()).json()
    assert shown["system_report"] == case_body()["system_report"]


def test_unknown_address_answers_in_the_error_shape(desk: Desk) -> None:
    answer = desk.client.get("/api/v2/cases")
    assert answer.status_code == 404
    assert answer.json()["detail"]["code"] == "not_found"


def test_oversized_chunked_request_is_refused(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()

    def chunks() -> Iterator[bytes]:
        yield b'{"company": "'
        for _ in range(desk.config.max_body_bytes // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    def small() -> Iterator[bytes]:
        text = json.dumps(case_body()).encode()
        yield text[:100]
        yield text[100:]

    headers = {**host, "Content-Type": "application/json"}
    with live_server(desk.app) as base, httpx.Client(base_url=base, timeout=30) as client:
        answer = client.post(
            "/api/v1/cases", content=chunks(), headers={**headers, "Idempotency-Key": "big"}
        )
        fine = client.post(
            "/api/v1/cases", content=small(), headers={**headers, "Idempotency-Key": "small"}
        )
    assert answer.status_code == 413
    assert answer.json()["detail"]["code"] == "body_too_large"
    assert fine.status_code == 201, fine.text
