"""The session broker on a real desk: enrollment identity, the request/decision cycle,
long polls, revocation, summaries, and the ways a stranger might try to get in."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncssh
from sqlalchemy import select

from tests.sessions.conftest import RELAY_KEY, World, new_key
from vxassist.desk.ca import inspect_certificate, scopes_from_extensions
from vxassist.desk.models import CaseEvent
from vxassist.desk.sessions.tables import AgentRelay, RemoteSession


def _events(world: World, case_number: int) -> list[dict[str, Any]]:
    eng = world.engineers["alice"]
    answer = world.client.get(f"/api/v1/cases/{case_number}", headers=eng)
    assert answer.status_code == 200, answer.text
    events: list[dict[str, Any]] = answer.json()["events"]
    return events


def test_enrollment_gives_host_certificate_relay_port_and_ca_keys(world: World) -> None:
    one, two = world.hosts["host1"], world.hosts["host2"]
    for host in (one, two):
        data = host.enrollment
        info = inspect_certificate(data["host_certificate"])
        assert info.cert_type == "host"
        assert info.principals == (f"vx-{host.agent_id}",)
        assert data["host_principal"] == f"vx-{host.agent_id}"
        assert info.signing_key == " ".join(data["host_ca_public_key"].split()[:2])
        assert info.key == " ".join(host.key.export_public_key().decode().split()[:2])
        relay = data["relay"]
        assert relay["host"] == "127.0.0.1" and relay["port"] == 2222
        assert relay["user"] == "vxagent"
        assert relay["known_hosts"] == RELAY_KEY
        assert data["user_ca_public_key"].startswith("ssh-ed25519 ")
    assert one.enrollment["relay"]["listen_port"] != two.enrollment["relay"]["listen_port"]


def test_request_reaches_only_the_case_host_and_approval_signs_the_key(world: World) -> None:
    one = world.hosts["host1"]
    engineer_key, engineer_pub = new_key()
    asked = world.ask("alice", one.case_number, ["shell", "files"], 45, engineer_pub)
    assert asked.status_code == 201, asked.text
    session = asked.json()
    sid = session["session_id"]
    assert session["status"] == "pending"
    assert session["certificate"] is None
    assert session["listen_port"] == one.enrollment["relay"]["listen_port"]
    assert session["host_alias"] == f"vx-{one.agent_id}"
    code = session["verification_code"]

    assert {k: v for k, v in world.poll("host2").items() if k != "case_cursor"} == {
        "requests": [],
        "revoked": [],
        "extensions": [],
    }
    seen = world.poll("host1")["requests"]
    assert [r["session_id"] for r in seen] == [sid]
    req = seen[0]
    assert req["engineer"] == "alice"
    assert req["case_number"] == one.case_number
    assert req["case_brief"] == "host1: no CDR"
    assert req["verification_code"] == code
    assert req["key_fingerprint"] == engineer_key.get_fingerprint("sha256")
    assert req["scopes"] == ["shell", "files"] and req["minutes"] == 45

    # another customer's host cannot decide on it, nor learn that it exists
    stolen = world.decide("host2", sid)
    assert stolen.status_code == 404
    assert stolen.json()["detail"]["code"] == "session_unknown"

    decided = world.decide("host1", sid, scopes=["files"], minutes=20)
    assert decided.status_code == 200, decided.text
    approved = decided.json()
    assert approved["status"] == "approved"
    assert approved["scopes"] == ["files"]
    assert approved["verification_code"] == code

    cert = asyncssh.import_certificate(approved["certificate"])
    assert cert.principals == [sid]
    assert (
        cert.signing_key.export_public_key().decode().split()[:2]
        == (one.enrollment["user_ca_public_key"].split()[:2])
    )
    info = inspect_certificate(approved["certificate"])
    assert info.key_id == f"alice/case-{one.case_number}/session-{sid}"
    assert info.key == engineer_pub
    now = world.desk.clock()
    assert info.valid_after == now - timedelta(seconds=30)
    assert info.valid_before == now + timedelta(minutes=20)
    assert scopes_from_extensions(info.extensions) == ("files",)
    assert "permit-pty" not in info.extensions  # shell was narrowed away

    # the engineer sees the same, with the certificate
    mine = world.client.get(f"/api/v1/engineer/sessions/{sid}", headers=world.engineers["alice"])
    assert mine.json()["certificate"] == approved["certificate"]
    assert world.poll("host1")["requests"] == []
    kinds = [e["text"] for e in _events(world, one.case_number) if e["kind"] == "session"]
    assert any("requested" in t for t in kinds) and any("approved" in t for t in kinds)


def test_replayed_and_late_decisions_are_refused(world: World) -> None:
    one = world.hosts["host1"]
    sid = world.ask("alice", one.case_number).json()["session_id"]
    assert world.decide("host1", sid, approved=False, note="not now").status_code == 200
    again = world.decide("host1", sid)
    assert again.status_code == 409
    assert again.json()["detail"]["code"] == "session_not_pending"
    shown = world.client.get(f"/api/v1/engineer/sessions/{sid}", headers=world.engineers["alice"])
    assert shown.json()["status"] == "denied" and shown.json()["certificate"] is None

    late = world.ask("alice", one.case_number).json()["session_id"]
    world.desk.clock.advance(seconds=181)
    refused = world.decide("host1", late)
    assert refused.status_code == 409
    expired = world.client.get(
        f"/api/v1/engineer/sessions/{late}", headers=world.engineers["alice"]
    )
    assert expired.json()["status"] == "expired"
    assert world.poll("host1")["requests"] == []


def test_approval_cannot_widen_what_was_asked(world: World) -> None:
    one = world.hosts["host1"]
    sid = world.ask("alice", one.case_number, ["files"], 10).json()["session_id"]
    wider = world.decide("host1", sid, scopes=["files", "shell"], minutes=10)
    assert wider.status_code == 422
    longer = world.decide("host1", sid, scopes=["files"], minutes=11)
    assert longer.status_code == 422
    assert world.decide("host1", sid, scopes=["files"], minutes=10).status_code == 200


def test_forged_ids_and_wrong_callers(world: World) -> None:
    one = world.hosts["host1"]
    alice, bob = world.engineers["alice"], world.engineers["bob"]
    sid = world.ask("alice", one.case_number).json()["session_id"]
    for forged in ("0" * 16, "../../etc", sid.upper(), sid + "x"):
        got = world.client.get(f"/api/v1/engineer/sessions/{forged}", headers=alice)
        assert got.status_code == 404, forged
        assert world.decide("host1", forged).status_code == 404
    # bob cannot read, revoke or list alice's session
    assert world.client.get(f"/api/v1/engineer/sessions/{sid}", headers=bob).status_code == 404
    assert (
        world.client.post(f"/api/v1/engineer/sessions/{sid}/revoke", headers=bob).status_code == 404
    )
    assert world.client.get("/api/v1/engineer/sessions", headers=bob).json() == {"sessions": []}
    # a host cannot ask for sessions, an engineer cannot decide, nobody without a token
    as_host = world.client.post(
        "/api/v1/engineer/sessions",
        json={
            "case_number": one.case_number,
            "scopes": ["shell"],
            "minutes": 5,
            "reason": "x",
            "public_key": new_key()[1],
        },
        headers=one.headers,
    )
    assert as_host.status_code == 403
    as_engineer = world.client.post(
        f"/api/v1/agent/session-requests/{sid}/decision",
        json={"approved": True, "scopes": ["shell"]},
        headers=alice,
    )
    assert as_engineer.status_code == 403
    assert world.client.get("/api/v1/agent/session-requests").status_code == 401
    assert world.client.get("/api/v1/engineer/sessions").status_code == 401


def test_requests_need_a_numbered_open_case_and_good_input(world: World) -> None:
    one = world.hosts["host1"]
    assert world.ask("alice", 999_999).status_code == 404
    for bad in (["root"], ["forward:127.0.0.1:0"], []):
        assert world.ask("alice", one.case_number, scopes=bad).status_code == 422
    assert world.ask("alice", one.case_number, minutes=0).status_code == 422
    assert world.ask("alice", one.case_number, public_key="ssh-ed25519 AAAA").status_code == 422
    closed = world.client.post(
        f"/api/v1/engineer/cases/{one.case_number}/status",
        json={"status": "closed", "note": None},
        headers=world.engineers["alice"],
    )
    assert closed.status_code == 200, closed.text
    refused = world.ask("alice", one.case_number)
    assert refused.status_code == 409 and refused.json()["detail"]["code"] == "case_closed"


def test_engineer_long_poll_returns_when_the_host_decides(world: World) -> None:
    one = world.hosts["host1"]
    sid = world.ask("alice", one.case_number).json()["session_id"]
    result: dict[str, Any] = {}

    def wait() -> None:
        result["answer"] = world.client.get(
            f"/api/v1/engineer/sessions/{sid}",
            params={"wait": 20},
            headers=world.engineers["alice"],
        ).json()

    waiter = threading.Thread(target=wait)
    waiter.start()
    assert world.decide("host1", sid).status_code == 200
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    assert result["answer"]["status"] == "approved"
    assert result["answer"]["certificate"]


def test_host_long_poll_wakes_on_a_new_request_and_then_waits(world: World) -> None:
    one = world.hosts["host1"]
    result: dict[str, Any] = {}

    def wait() -> None:
        result["answer"] = world.poll("host1", wait=20)

    waiter = threading.Thread(target=wait)
    waiter.start()
    sid = world.ask("alice", one.case_number).json()["session_id"]
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    assert [r["session_id"] for r in result["answer"]["requests"]] == [sid]
    # already given: the next poll returns it again, but only after waiting (wait=0 here)
    assert [r["session_id"] for r in world.poll("host1")["requests"]] == [sid]


def test_revoke_reaches_the_host_and_the_summary_reaches_the_case(world: World) -> None:
    one = world.hosts["host1"]
    alice = world.engineers["alice"]
    sid = world.ask("alice", one.case_number).json()["session_id"]
    assert world.decide("host1", sid).status_code == 200
    revoked = world.client.post(
        f"/api/v1/engineer/sessions/{sid}/revoke", json={"reason": "done"}, headers=alice
    )
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    assert revoked.json()["certificate"] is None
    assert world.poll("host1")["revoked"] == [{"session_id": sid, "reason": "done"}]
    assert world.poll("host2")["revoked"] == []

    summary = {
        "files": ["/var/log/vxtracker/smdr.log"],
        "commands": ["systemctl status vxcollector"],
        "recordings": [{"file": "s.cast", "sha256": "ab" * 32}],
    }
    other = world.client.post(
        f"/api/v1/agent/sessions/{sid}/ended",
        json={"reason": "revoked", "summary": summary},
        headers=world.hosts["host2"].headers,
    )
    assert other.status_code == 404
    ended = world.client.post(
        f"/api/v1/agent/sessions/{sid}/ended",
        json={"reason": "revoked by desk", "summary": summary},
        headers=one.headers,
    )
    assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == "ended"
    assert ended.json()["summary"] == summary
    assert world.poll("host1")["revoked"] == []
    replay = world.client.post(
        f"/api/v1/agent/sessions/{sid}/ended",
        json={"reason": "x", "summary": {}},
        headers=one.headers,
    )
    assert replay.status_code == 409

    texts = [e["text"] for e in _events(world, one.case_number) if e["kind"] == "session_summary"]
    assert len(texts) == 1
    assert "alice" in texts[0] and "smdr.log" in texts[0] and "ab" * 32 in texts[0]
    assert "systemctl status vxcollector" in texts[0]


def test_closing_the_case_revokes_its_sessions(world: World) -> None:
    one = world.hosts["host1"]
    live = world.ask("alice", one.case_number).json()["session_id"]
    assert world.decide("host1", live).status_code == 200
    waiting = world.ask("bob", one.case_number).json()["session_id"]
    closed = world.client.post(
        f"/api/v1/engineer/cases/{one.case_number}/status",
        json={"status": "closed", "note": "fixed"},
        headers=world.engineers["alice"],
    )
    assert closed.status_code == 200
    polled = world.poll("host1")
    assert polled["requests"] == []
    assert polled["revoked"] == [{"session_id": live, "reason": "the case was closed"}]
    shown = world.client.get(
        f"/api/v1/engineer/sessions/{waiting}", headers=world.engineers["bob"]
    ).json()
    assert shown["status"] == "revoked"


def test_admin_revoke_by_command(world: World, capsys: Any) -> None:
    from vxassist import cli

    world.desk.clock.now = datetime.now(UTC)  # the command runs on the real clock
    one = world.hosts["host1"]
    sid = world.ask("alice", one.case_number).json()["session_id"]
    assert world.decide("host1", sid).status_code == 200
    code = cli.main(["desk", "session", "revoke", sid, "--db", world.desk.url, "--json"])
    assert code == 0
    assert '"status": "revoked"' in capsys.readouterr().out
    assert world.poll("host1")["revoked"][0]["session_id"] == sid
    assert cli.main(["desk", "session", "revoke", "0" * 16, "--db", world.desk.url]) != 0
    with world.desk.db.reading() as s:
        row = s.get(RemoteSession, sid)
        assert row is not None and row.revoked_by == "admin"
        assert s.scalars(select(CaseEvent).where(CaseEvent.kind == "session")).all()


def test_one_host_key_one_relay_place(world: World) -> None:
    from vxassist.desk.relay_keys import lookup_lines

    one = world.hosts["host1"]
    pub = one.key.export_public_key().decode().strip()
    kind, blob = pub.split()[:2]

    # another customer cannot enroll with this host's (public) key
    stolen = world.client.post(
        "/api/v1/enroll",
        json={"code": world.desk.code("C-2"), "hostname": "thief", "host_public_key": pub},
    )
    assert stolen.status_code == 409
    assert stolen.json()["detail"]["code"] == "host_key_in_use"

    # the same customer enrolling the host again moves it to its new place
    again = world.client.post(
        "/api/v1/enroll",
        json={"code": world.desk.code("C-1"), "hostname": "host1", "host_public_key": pub},
    )
    assert again.status_code == 201, again.text
    new_port = again.json()["relay"]["listen_port"]
    now = datetime.now(UTC)
    assert lookup_lines(world.desk.url, "vxagent", kind, blob, now) == [
        f'restrict,port-forwarding,permitlisten="127.0.0.1:{new_port}" {kind} {blob}'
    ]
    with world.desk.db.reading() as session:
        places = session.scalars(select(AgentRelay).where(AgentRelay.host_key == f"{kind} {blob}"))
        assert [p.agent_id for p in places] == [again.json()["agent_id"]]


def test_session_keys_are_not_shared_and_cases_not_flooded(world: World) -> None:
    one = world.hosts["host1"]
    _key, pub = new_key()
    assert world.ask("alice", one.case_number, public_key=pub).status_code == 201
    borrowed = world.ask("bob", one.case_number, public_key=pub)
    assert borrowed.status_code == 409
    assert borrowed.json()["detail"]["code"] == "public_key_in_use"
    host_key = one.key.export_public_key().decode().strip()
    assert world.ask("bob", one.case_number, public_key=host_key).status_code == 409
    for _ in range(4):
        assert world.ask("bob", one.case_number).status_code == 201
    flood = world.ask("bob", one.case_number)
    assert flood.status_code == 409
    assert flood.json()["detail"]["code"] == "too_many_pending"
    world.desk.clock.advance(seconds=181)  # the waiting ones expire: asking works again
    assert world.ask("bob", one.case_number).status_code == 201


def test_a_grant_that_ran_out_can_still_send_its_summary(world: World) -> None:
    one = world.hosts["host1"]
    sid = world.ask("alice", one.case_number).json()["session_id"]
    assert world.decide("host1", sid, minutes=10).status_code == 200
    world.desk.clock.advance(minutes=11)
    shown = world.client.get(f"/api/v1/engineer/sessions/{sid}", headers=world.engineers["alice"])
    assert shown.json()["status"] == "expired" and shown.json()["certificate"] is None
    assert {k: v for k, v in world.poll("host1").items() if k != "case_cursor"} == {
        "requests": [],
        "revoked": [],
        "extensions": [],
    }
    ended = world.client.post(
        f"/api/v1/agent/sessions/{sid}/ended",
        json={"reason": "deadline", "summary": {"commands": ["uptime"]}},
        headers=one.headers,
    )
    assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == "ended"
    texts = [e["text"] for e in _events(world, one.case_number) if e["kind"] == "session_summary"]
    assert len(texts) == 1 and "the grant ran out" in texts[0] and "uptime" in texts[0]


def test_answers_match_the_documented_schema(world: World) -> None:
    from vxassist.desk.sessions.routes import SessionList, SessionOut, SessionRequestsOut

    one = world.hosts["host1"]
    alice = world.engineers["alice"]
    pending = world.ask("alice", one.case_number).json()
    SessionOut.model_validate(pending, strict=False)
    SessionRequestsOut.model_validate(world.poll("host1"))
    sid = pending["session_id"]
    SessionOut.model_validate(world.decide("host1", sid).json())
    revoked = world.client.post(f"/api/v1/engineer/sessions/{sid}/revoke", headers=alice)
    SessionOut.model_validate(revoked.json())
    SessionRequestsOut.model_validate(world.poll("host1"))
    ended = world.client.post(
        f"/api/v1/agent/sessions/{sid}/ended",
        json={"reason": "done", "summary": {"commands": []}},
        headers=one.headers,
    )
    SessionOut.model_validate(ended.json())
    listed = SessionList.model_validate(
        world.client.get("/api/v1/engineer/sessions", headers=alice).json()
    )
    assert [s.status for s in listed.sessions] == ["ended"]
    paths = world.client.get("/openapi.json").json()["paths"]
    ok = paths["/api/v1/engineer/sessions/{session_id}"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/SessionOut")
