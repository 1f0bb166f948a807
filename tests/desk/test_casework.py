"""Cases after intake, through the API, on SQLite and PostgreSQL: the thread, the
workflow, first response and the deadline, assignment, escalation, attachments,
and what a host may see of it."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.desk.conftest import Desk
from vxassist.desk import admin, casework
from vxassist.desk.models import Case, CaseEscalation

ENGINEER = "/api/v1/engineer/cases"


def _open(desk: Desk, **changes: Any) -> tuple[dict[str, str], dict[str, str], int]:
    desk.add_contract()
    host = desk.enroll()
    eng = desk.engineer()
    answer = desk.create(host, **changes)
    assert answer.status_code == 201, answer.text
    return host, eng, int(answer.json()["case_number"])


def _post(desk: Desk, headers: dict[str, str], path: str, body: dict[str, Any]) -> Any:
    return desk.client.post(path, json=body, headers=headers)


def _ok(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def _show(desk: Desk, headers: dict[str, str], number: int) -> dict[str, Any]:
    return _ok(desk.client.get(f"/api/v1/cases/{number}", headers=headers))


def _refused(answer: Any, status: int, code: str) -> str:
    assert answer.status_code == status, answer.text
    detail = answer.json()["detail"]
    assert detail["code"] == code
    message: str = detail["message"]
    assert message.endswith(".") and "\n" not in message
    return message


def test_a_reply_reaches_the_host_and_is_the_first_response(desk: Desk) -> None:
    host, eng, number = _open(desk)
    desk.clock.advance(minutes=20)
    replied_at = desk.clock()
    case = _ok(_post(desk, eng, f"{ENGINEER}/{number}/replies", {"text": "Restart the SMDR."}))
    assert case["first_response_by"] == "jdoe"
    assert case["deadline"] == {"state": "met", "text": "met"}
    desk.clock.advance(minutes=5)
    _ok(_post(desk, desk.engineer("ann"), f"{ENGINEER}/{number}/calls", {"text": "Talked."}))
    seen = _show(desk, host, number)
    # set once, by the first response only
    assert seen["first_response_by"] == "jdoe"
    assert seen["first_response_at"].replace("Z", "+00:00") == replied_at.isoformat()
    replies = [e for e in seen["events"] if e["kind"] in ("reply", "call")]
    assert [(e["author"], e["author_kind"], e["text"]) for e in replies] == [
        ("jdoe", "engineer", "Restart the SMDR."),
        ("ann", "engineer", "Call with the customer: Talked."),
    ]


def test_internal_notes_never_reach_the_host(desk: Desk) -> None:
    host, eng, number = _open(desk)
    cursor = _ok(desk.client.get("/api/v1/cases/changes", headers=host))["cursor"]
    _ok(_post(desk, eng, f"{ENGINEER}/{number}/notes", {"text": "Customer is on 7.2, old."}))
    _ok(_post(desk, eng, f"{ENGINEER}/{number}/assign", {"engineer": "jdoe"}))
    as_host = _show(desk, host, number)
    assert "Customer is on 7.2" not in str(as_host)
    assert all(e["visibility"] == "customer" for e in as_host["events"])
    assert "escalations" not in as_host
    as_engineer = _show(desk, eng, number)
    notes = [e for e in as_engineer["events"] if e["kind"] == "note"]
    assert [(n["text"], n["visibility"]) for n in notes] == [
        ("Customer is on 7.2, old.", "internal")
    ]
    # nothing the host may read moved: the cursor stays, no case is named
    changed = _ok(desk.client.get(f"/api/v1/cases/changes?since={cursor}", headers=host))
    assert changed == {"cursor": cursor, "cases": []}
    # a note is no first response
    assert as_engineer["first_response_at"] is None


def test_changes_name_the_cases_with_something_new_for_this_host_only(desk: Desk) -> None:
    host, eng, number = _open(desk)
    other = desk.create(host).json()["case_number"]
    stranger = desk.enroll("vxhost2")
    first = _ok(desk.client.get("/api/v1/cases/changes?since=0", headers=host))
    assert sorted(first["cases"]) == sorted([number, other]) and first["cursor"] > 0
    assert _ok(desk.client.get("/api/v1/cases/changes", headers=stranger)) == {
        "cursor": 0,
        "cases": [],
    }
    _ok(_post(desk, eng, f"{ENGINEER}/{other}/replies", {"text": "Looking."}))
    after = _ok(desk.client.get(f"/api/v1/cases/changes?since={first['cursor']}", headers=host))
    assert after["cases"] == [other] and after["cursor"] > first["cursor"]
    as_engineer = desk.client.get("/api/v1/cases/changes", headers=eng)
    assert as_engineer.status_code == 403
    misspelt = desk.client.get("/api/v1/cases/changes?snice=5", headers=host)
    assert misspelt.status_code == 422 and misspelt.json()["detail"][0]["loc"] == ["query", "snice"]


def test_html_and_script_are_kept_as_text(desk: Desk) -> None:
    host, eng, number = _open(desk)
    text = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'
    _ok(_post(desk, eng, f"{ENGINEER}/{number}/replies", {"text": text}))
    _ok(_post(desk, eng, f"{ENGINEER}/{number}/notes", {"text": text}))
    shown = _show(desk, host, number)
    assert [e["text"] for e in shown["events"] if e["kind"] == "reply"] == [text]


def test_the_workflow_and_what_a_closed_case_refuses(desk: Desk) -> None:
    host, eng, number = _open(desk)
    status = f"{ENGINEER}/{number}/status"
    assert _ok(_post(desk, eng, status, {"status": "in_progress"}))["status"] == "in_progress"
    _refused(_post(desk, eng, status, {"status": "in_progress"}), 409, "status_unchanged")
    assert _ok(_post(desk, eng, status, {"status": "resolved"}))["status"] == "resolved"
    message = _refused(
        _post(desk, eng, status, {"status": "waiting_customer"}), 409, "status_not_allowed"
    )
    assert "Resolved" in message and "Waiting on customer" in message
    # the customer answers: the resolved case is New again
    update = _post(desk, host, f"/api/v1/cases/{number}/updates", {"text": "Still broken."})
    assert _ok(update)["status"] == "open"
    events = _show(desk, host, number)["events"]
    assert events[-1]["text"] == "resolved -> open (customer update)"
    assert events[-1]["author_kind"] == "host"
    assert _ok(_post(desk, eng, status, {"status": "closed", "note": "done"}))["status"] == "closed"
    for path, body in (
        (status, {"status": "open"}),
        (f"{ENGINEER}/{number}/replies", {"text": "one more thing"}),
        (f"{ENGINEER}/{number}/calls", {"text": "one more thing"}),
        (f"{ENGINEER}/{number}/assign", {"engineer": "jdoe"}),
        (f"{ENGINEER}/{number}/escalations", {"to": "sales_manager", "reason": "late"}),
    ):
        assert "open a new case that continues it" in _refused(
            _post(desk, eng, path, body), 409, "case_closed"
        )
    message = _refused(
        _post(desk, host, f"/api/v1/cases/{number}/updates", {"text": "again"}), 409, "case_closed"
    )
    assert "continues it" in message


def test_a_request_without_contract_takes_no_reply(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    admin.expire_contract(desk.db, "C-1001", desk.clock(), desk.config)
    reference = desk.create(host).json()["reference"]
    eng = desk.engineer()
    _refused(
        _post(desk, eng, f"{ENGINEER}/{reference}/replies", {"text": "hello"}),
        409,
        "case_without_contract",
    )
    listed = _ok(desk.client.get(ENGINEER, headers=eng))["cases"]
    assert listed[0]["deadline"]["state"] == "none"


def test_assignment_to_engineers_of_the_desk_and_their_removal(desk: Desk) -> None:
    _host, eng, number = _open(desk)
    desk.engineer("ann")
    assign = f"{ENGINEER}/{number}/assign"
    message = _refused(
        _post(desk, eng, assign, {"engineer": "nobody-here"}), 404, "engineer_unknown"
    )
    assert "nobody-here" in message
    assert _ok(_post(desk, eng, assign, {"engineer": "ann"}))["assignee"] == "ann"
    mine = _ok(desk.client.get(f"{ENGINEER}?assignee=ann", headers=eng))["cases"]
    assert [c["case_number"] for c in mine] == [number]
    assert _ok(desk.client.get(f"{ENGINEER}?assignee=", headers=eng))["cases"] == []
    done = admin.remove_engineer(desk.db, "ann", desk.clock(), desk.app.state.sessions)
    assert done["unassigned_cases"] == 1
    after = _show(desk, eng, number)
    assert after["assignee"] is None
    assert after["events"][-1]["text"] == "Unassigned: engineer ann was removed from the desk."
    assert after["events"][-1]["visibility"] == "internal"
    assert _ok(_post(desk, eng, assign, {"engineer": None}))["assignee"] is None


def test_escalations_brief_the_contracts_manager_until_closed(desk: Desk) -> None:
    host, eng, number = _open(desk)
    with desk.db.writing() as session:
        from vxassist.desk.models import Contract

        contract = session.get(Contract, "C-1001")
        assert contract is not None
        contract.manager_email = "boss@vendor.example"
    escalations = f"{ENGINEER}/{number}/escalations"
    case = _ok(
        _post(desk, eng, escalations, {"to": "technical_support_manager", "reason": "P2, 2 days"})
    )
    assert case["escalated"] is True
    [made] = case["escalations"]
    assert (made["recipient"], made["by_kind"], made["to"]) == (
        "boss@vendor.example",
        "engineer",
        "technical_support_manager",
    )
    # the host's own escalation: no sales manager anywhere, so the support address
    asked = _ok(
        _post(
            desk,
            host,
            f"/api/v1/cases/{number}/escalate",
            {"to": "sales_manager", "reason": "We want a discount"},
        )
    )
    assert asked["escalation"]["to"] == "sales_manager"
    flagged = _ok(desk.client.get(f"{ENGINEER}?escalated=true", headers=eng))["cases"]
    assert [c["case_number"] for c in flagged] == [number]
    with desk.db.reading() as session:
        rows = session.query(CaseEscalation).order_by(CaseEscalation.id).all()
        assert [r.recipient for r in rows] == ["boss@vendor.example", desk.config.support.email]
        ids = [r.id for r in rows]
    # an engineer's escalation is internal; the host's is in the customer's thread
    host_view = _show(desk, host, number)
    assert [e["kind"] for e in host_view["events"]].count("escalated") == 1
    closed = _ok(_post(desk, eng, f"{escalations}/{ids[1]}/close", {"note": "Answered by phone"}))
    assert closed["escalation"]["to"] == "technical_support_manager"
    closed = _ok(_post(desk, eng, f"{escalations}/{ids[0]}/close", {}))
    assert closed["escalated"] is False and closed["escalation"] is None
    _refused(_post(desk, eng, f"{escalations}/{ids[0]}/close", {}), 404, "escalation_unknown")
    assert _ok(desk.client.get(f"{ENGINEER}?escalated=true", headers=eng))["cases"] == []
    assert _show(desk, host, number)["escalation"] is None


def test_queue_shows_deadline_state_and_filters(desk: Desk) -> None:
    host, eng, slow = _open(desk, priority=4)
    fast = desk.create(host, priority=1, company="Other Corp").json()["case_number"]
    queue = _ok(desk.client.get(ENGINEER, headers=eng))["cases"]
    assert [c["case_number"] for c in queue] == [fast, slow]
    assert all(c["deadline"]["state"] == "due" for c in queue)
    assert queue[0]["deadline"]["text"].startswith("due in ")
    desk.clock.advance(hours=3)  # past priority 1's hour, not priority 4's day
    late = _ok(desk.client.get(f"{ENGINEER}?breached=true", headers=eng))["cases"]
    assert [c["case_number"] for c in late] == [fast]
    assert late[0]["deadline"]["state"] == "breached"
    on_time = _ok(desk.client.get(f"{ENGINEER}?breached=false&priority=4", headers=eng))["cases"]
    assert [c["case_number"] for c in on_time] == [slow]
    # the company is the contract's, whatever the form said
    assert len(_ok(desk.client.get(f"{ENGINEER}?company=acme", headers=eng))["cases"]) == 2
    # answered late is still a breach
    case = _ok(_post(desk, eng, f"{ENGINEER}/{fast}/replies", {"text": "Sorry, here now."}))
    assert case["deadline"]["state"] == "breached" and "late" in case["deadline"]["text"]
    bad = desk.client.get(f"{ENGINEER}?breeched=true", headers=eng)
    assert bad.status_code == 422


def _file(name: str, data: bytes) -> dict[str, str]:
    return {"filename": name, "content_base64": base64.b64encode(data).decode()}


@pytest.fixture
def desk_config() -> Any:
    from vxassist.desk.config import DeskConfig

    return DeskConfig(attachment_max_bytes=4096)


def test_log_files_are_scrubbed_capped_and_only_text(desk: Desk) -> None:
    host, eng, number = _open(desk)
    log = b"10:01 connect db\npassword=hunter2-secret\n10:02 SMDR link down\n"
    updates = f"/api/v1/cases/{number}/updates"
    case = _ok(
        _post(desk, host, updates, {"text": "The log.", "attachments": [_file("vx.log", log)]})
    )
    assert case["status"] == "open"
    shown = _show(desk, eng, number)
    [attached] = [e for e in shown["events"] if e.get("attachments")]
    [meta] = attached["attachments"]
    assert meta["filename"] == "vx.log"
    note = next(e for e in shown["events"] if e["kind"] == "attachment")["text"]
    assert "1 secret removed" in note
    got = desk.client.get(f"{ENGINEER}/{number}/attachments/{meta['id']}", headers=eng)
    assert got.status_code == 200
    assert b"SMDR link down" in got.content and b"hunter2" not in got.content
    assert got.headers["content-disposition"] == 'attachment; filename="vx.log"'
    # the host cannot fetch attachments through the engineer's routes
    assert (
        desk.client.get(f"{ENGINEER}/{number}/attachments/{meta['id']}", headers=host).status_code
        == 403
    )
    _refused(
        desk.client.get(f"{ENGINEER}/{number}/attachments/99999", headers=eng),
        404,
        "attachment_unknown",
    )

    before = len(_show(desk, eng, number)["events"])
    big = _post(
        desk, host, updates, {"text": "big", "attachments": [_file("big.log", b"x" * 5000)]}
    )
    assert "4,096 bytes" in _refused(big, 413, "attachment_too_large")
    # the document names what a file may be called and how its bytes come
    exe = _post(desk, host, updates, {"text": "exe", "attachments": [_file("tool.exe", b"MZ")]})
    assert exe.status_code == 422
    assert exe.json()["detail"][0]["loc"][-3:] == ["attachments", 0, "filename"]
    junk = _post(
        desk,
        host,
        updates,
        {"text": "j", "attachments": [{"filename": "a.log", "content_base64": "***"}]},
    )
    assert junk.status_code == 422
    assert junk.json()["detail"][0]["loc"][-1] == "content_base64"
    # a refused file leaves no trace: the update is all or nothing
    assert len(_show(desk, eng, number)["events"]) == before


def test_the_service_layer_is_usable_without_a_request(desk: Desk) -> None:
    """What the console and the CLI do: call casework with a session and the time."""
    from vxassist.desk.auth import Caller

    _host, _eng, number = _open(desk)
    who = Caller(kind="engineer", name="jdoe")
    with desk.db.writing() as session:
        case = casework.find_case(session, str(number), who)
        event = casework.reply(session, case, who, "From the console.", desk.clock())
        assert event.id is not None and event.visibility == "customer"
        assert case.first_response_by == "jdoe"
    with desk.db.reading() as session:
        stored = session.get(Case, case.id)
        assert stored is not None and stored.first_response_at == desk.clock()
        assert casework.deadline_state(stored, desk.clock()).state == "met"


def test_the_service_layer_refuses_what_is_no_text_log_with_a_sentence(desk: Desk) -> None:
    """What the console's upload meets: the same rule as the API's document."""
    from vxassist.desk.errors import DeskError

    with pytest.raises(DeskError) as refused:
        casework.clean_upload(casework.Upload("setup.exe", b"MZ"), desk.config)
    assert refused.value.status == 415 and "not a text log" in refused.value.message
    # a Windows log in UTF-16 and stray NULs come out as plain text, scrubbed
    text = "line one\r\ntoken=abcd1234efgh5678ijkl\r\n".encode("utf-16")
    data, masked = casework.clean_upload(casework.Upload("svc.LOG", text + b"\x00"), desk.config)
    assert data.startswith(b"line one") and b"abcd1234" not in data and masked == 1
    assert b"\x00" not in data
