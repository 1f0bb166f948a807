"""Update requests (the policy's "Product updates") on SQLite and PostgreSQL: patches
from any customer under contract, upgrades only under a current agreement and only
for the technical contact, refusals kept with the reason; the engineer's answer with
a download link read by the host through the real command line."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from tests.desk.conftest import Desk, live_server
from vxassist.cli import main
from vxassist.desk import updates
from vxassist.desk.errors import DeskError

CONTACT = {"contact_name": "Ann Example", "contact_email": "ann@acme.example"}
PATCH = {
    "kind": "patch",
    "product_version": "9.1",
    "description": "The nightly export stops at 02:00 with 'deadlock victim'; "
    "restarting the service did not help.",
    **CONTACT,
}
UPGRADE = {
    "kind": "upgrade",
    "product_version": "9.1",
    "target_version": "9.2",
    "description": "We need the new PBX driver.",
    **CONTACT,
}


def _file(desk: Desk, host: dict[str, str], **body: Any) -> dict[str, Any]:
    answer = desk.client.post("/api/v1/update-requests", json=body, headers=host)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_a_patch_from_any_contract_customer_waits_for_an_answer(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    # anyone at the customer may ask for a patch, not only the technical contact
    asked = _file(desk, host, **{**PATCH, "contact_email": "ops@acme.example"})
    assert asked["status"] == "requested" and asked["reason"] is None
    assert asked["contract_id"] == "C-1001"
    listed = desk.client.get("/api/v1/update-requests", headers=host).json()
    assert [r["id"] for r in listed["update_requests"]] == [asked["id"]]
    engineer = desk.engineer()
    queue = desk.client.get("/api/v1/engineer/update-requests", headers=engineer).json()
    assert queue["update_requests"][0]["company"] == "Acme Telecom"
    assert queue["update_requests"][0]["hostname"] == "vxhost1"


def test_a_patch_needs_a_detailed_description(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    for short in ("broken", "  it does not work   "):
        answer = desk.client.post(
            "/api/v1/update-requests", json={**PATCH, "description": short}, headers=host
        )
        assert answer.status_code == 422
        assert ["body", "patch", "description"] in [e["loc"] for e in answer.json()["detail"]]
    # the service says it in a sentence to the command line and the console too
    new = updates.NewUpdateRequest(
        "patch", "9.1", "broken", CONTACT["contact_name"], CONTACT["contact_email"]
    )
    with pytest.raises(DeskError, match="detailed description of the problem"):
        updates.check_new(new)
    # an upgrade needs the version wanted
    missing = desk.client.post(
        "/api/v1/update-requests", json={**UPGRADE, "target_version": None}, headers=host
    )
    assert missing.status_code == 422
    with desk.db.reading() as session:
        assert updates.list_for_engineer(session) == []


def test_an_upgrade_for_someone_not_the_contact_is_kept_refused_with_what_to_do(
    desk: Desk,
) -> None:
    desk.add_contract()
    host = desk.enroll()
    asked = _file(desk, host, **{**UPGRADE, "contact_email": "bob@acme.example"})
    assert asked["status"] == "refused"
    assert asked["reason"] == (
        "Version upgrades go to the technical contact named in your agreement, Ann Example; "
        "ask them to request it, or ask your account manager to change the contact."
    )
    stored = desk.client.get(f"/api/v1/update-requests/{asked['id']}", headers=host).json()
    assert stored["status"] == "refused" and stored["reason"] == asked["reason"]
    # the contact (any letter case) gets it
    granted = _file(desk, host, **{**UPGRADE, "contact_email": "Ann@Acme.Example"})
    assert granted["status"] == "requested"


def test_an_upgrade_under_an_expired_contract_is_refused(desk: Desk) -> None:
    desk.add_contract(expires=date(2026, 11, 23))  # the day before the clock's Tuesday
    host = desk.enroll()
    asked = _file(desk, host, **UPGRADE)
    assert asked["status"] == "refused"
    assert "current maintenance agreement" in asked["reason"]
    assert "expired on 2026-11-23" in asked["reason"] and "renew" in asked["reason"]
    # the last day of the contract still counts
    desk.add_contract("C-2002", expires=date(2026, 11, 24))
    other = desk.enroll("vxhost2", "C-2002")
    assert _file(desk, other, **UPGRADE)["status"] == "requested"


def test_only_the_hosts_own_requests_and_cases(desk: Desk) -> None:
    desk.add_contract()
    desk.add_contract("C-2002")
    mine, theirs = desk.enroll(), desk.enroll("vxhost2", "C-2002")
    case = desk.create(theirs).json()
    number = case["cases"][0]["case_number"] if "cases" in case else case["case_number"]
    asked = _file(desk, theirs, **PATCH, case_number=number)
    assert asked["case_number"] == number
    assert (
        desk.client.get(f"/api/v1/update-requests/{asked['id']}", headers=mine).status_code == 404
    )
    assert desk.client.get("/api/v1/update-requests", headers=mine).json() == {
        "update_requests": []
    }
    other_case = desk.client.post(
        "/api/v1/update-requests", json={**PATCH, "case_number": number}, headers=mine
    )
    assert other_case.status_code == 404 and "no case" in other_case.json()["detail"]["message"]
    # an engineer's token is not a host's
    engineer = desk.engineer()
    assert (
        desk.client.post("/api/v1/update-requests", json=PATCH, headers=engineer).status_code == 403
    )
    assert desk.client.get("/api/v1/engineer/update-requests", headers=mine).status_code == 403


def test_bad_answers_are_sentences(desk: Desk) -> None:
    desk.add_contract()
    asked = _file(desk, desk.enroll(), **PATCH)
    engineer = desk.engineer()
    url = f"/api/v1/engineer/update-requests/{asked['id']}/answer"
    for link in ("javascript:alert(1)", "ftp://example.com/x", "https://", "https://a b"):
        bad = desk.client.post(
            url, json={"answer": "Here.", "download_url": link}, headers=engineer
        )
        assert bad.status_code == 422, link
        assert ["body", "download_url"] in [e["loc"] for e in bad.json()["detail"]]
        with desk.db.writing() as session, pytest.raises(DeskError, match="http:// or https://"):
            updates.answer(session, asked["id"], "jdoe", "Here.", desk.clock(), link)
    missing = desk.client.post(
        "/api/v1/engineer/update-requests/999/answer", json={"answer": "x"}, headers=engineer
    )
    assert missing.status_code == 404 and missing.json()["detail"]["message"].endswith(".")
    wrong = desk.client.post(url, json={"answer": "x", "status": "refused"}, headers=engineer)
    assert wrong.status_code == 422


def vx(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    """``vxassist ARGS`` in-process: exit code, stdout (parsed with --json), stderr."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if "--json" in args and out.strip() else out), err


def test_the_host_asks_and_reads_the_answer_with_its_link_through_the_cli(
    desk: Desk, capsys: pytest.CaptureFixture[str]
) -> None:
    desk.add_contract()
    engineer_token = desk.engineer("jdoe")["Authorization"].split()[1]
    with live_server(desk.app) as url:
        code, _, err = vx(capsys, "enroll", "--desk", url, "--code", desk.code(), "--json")
        assert code == 0, err
        contact = ("--contact-name", "Bob Other", "--contact-email", "bob@acme.example")
        # an upgrade asked by someone who is not the contact: refused, and why
        code, out, err = vx(capsys, "case", "upgrade", "--version", "9.1", "--to", "9.2", *contact)
        assert code == 3, err
        assert "refused" in out
        assert "technical contact named in your agreement, Ann Example" in out
        # a patch
        code, asked, err = vx(
            capsys,
            *("case", "patch", "--version", "9.1", "--json", *contact),
            *("--description", PATCH["description"]),
        )
        assert code == 0, err
        assert asked["status"] == "requested"
        # the engineer lists and answers through the engineer's command line
        code, _, err = vx(
            capsys, "engineer", "login", "--desk", url, "--token", engineer_token, "--json"
        )
        assert code == 0, err
        code, queue, err = vx(capsys, "engineer", "update-requests", "--json")
        assert code == 0, err
        assert queue["update_requests"][0]["id"] == asked["id"]  # waiting ones first
        code, answered, err = vx(
            capsys,
            *("engineer", "update-request", str(asked["id"]), "--json"),
            *("--answer", "Fixed in 9.1.4; install it over 9.1."),
            *("--link", "https://downloads.example.com/vxtracker/9.1.4.exe"),
        )
        assert code == 0, err
        assert answered["status"] == "answered" and answered["answered_by"] == "jdoe"
        # the host reads it
        code, text, err = vx(capsys, "case", "update-requests", str(asked["id"]))
        assert code == 0, err
        assert "Answer from jdoe" in text and "Fixed in 9.1.4" in text
        assert "Download: https://downloads.example.com/vxtracker/9.1.4.exe" in text
        code, listed, err = vx(capsys, "case", "update-requests", "--json")
        assert code == 0, err
        by_status = sorted(r["status"] for r in listed["update_requests"])
        assert by_status == ["answered", "refused"]
        # mistakes are sentences
        code, _, err = vx(capsys, "case", "update-requests", "x1")
        assert code != 0 and "not a request number" in err
        code, _, err = vx(capsys, "engineer", "update-request", "999", "--answer", "x")
        assert code != 0 and "no update request 999" in err and "Traceback" not in err


def test_the_answer_is_mailed_to_whoever_asked(db_url: str, clock: Any) -> None:
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from vxassist.desk import admin
    from vxassist.desk.app import create_app
    from vxassist.desk.config import DeskConfig
    from vxassist.desk.mailconfig import MailConfig
    from vxassist.desk.models import MailOutbox

    # the outbox row is what this test reads; the SMTP path has its own tests
    mail = MailConfig(smtp_host="127.0.0.1", smtp_port=9, from_addr="desk@vendor.example")
    app = create_app(db_url, DeskConfig(mail=mail), clock=clock, migrate=False)
    with TestClient(app) as client:
        desk = Desk(app, client, app.state.db, clock, app.state.config, db_url)
        desk.add_contract()
        asked = _file(desk, desk.enroll(), **{**PATCH, "contact_email": "ops@acme.example"})
        token = admin.add_engineer(desk.db, "jdoe", clock())["token"]
        answer = client.post(
            f"/api/v1/engineer/update-requests/{asked['id']}/answer",
            json={"answer": "Fixed in 9.1.4.", "download_url": "https://dl.example/9.1.4"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200, answer.text
        with desk.db.reading() as session:
            rows = list(session.scalars(select(MailOutbox)))
        mine = [r for r in rows if r.key.startswith(f"update-request:{asked['id']}:")]
        assert len(mine) == 1
        assert mine[0].to_addr == "ops@acme.example"
        assert f"Update request {asked['id']}" in mine[0].subject
        assert "Fixed in 9.1.4." in mine[0].body
        assert "Download: https://dl.example/9.1.4" in mine[0].body
