"""Extensions on a real desk: who may ask, when, how much; the host's answer moves the
session's end, signs the key again and wakes the waiting engineer; all of it on the case."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

from tests.sessions.conftest import World, new_key
from tests.sessions.test_workers import WAIT_S, two_workers  # noqa: F401 (fixture)
from vxassist.desk.ca import inspect_certificate
from vxassist.deskclient import DeskClient


def _approved(world: World, minutes: int = 30) -> tuple[str, datetime]:
    host = world.hosts["host1"]
    sid = world.ask("alice", host.case_number, ["shell"], minutes, new_key()[1]).json()[
        "session_id"
    ]
    decided = world.decide("host1", sid, scopes=["shell"], minutes=minutes)
    assert decided.status_code == 200, decided.text
    return sid, datetime.fromisoformat(decided.json()["not_after"])


def _extend(world: World, engineer: str, sid: str, minutes: int, reason: str = "more") -> Any:
    return world.client.post(
        f"/api/v1/engineer/sessions/{sid}/extensions",
        json={"minutes": minutes, "reason": reason},
        headers=world.engineers[engineer],
    )


def _answer(world: World, sid: str, number: int, not_after: datetime | None, **kw: Any) -> Any:
    body = {
        "approved": not_after is not None,
        "not_after": not_after.isoformat() if not_after else None,
        "note": kw.pop("note", ""),
    }
    return world.client.post(
        f"/api/v1/agent/sessions/{sid}/extensions/{number}/decision",
        json=body,
        headers=world.hosts[kw.pop("host", "host1")].headers,
    )


def _texts(world: World) -> list[str]:
    case = world.client.get(
        f"/api/v1/cases/{world.hosts['host1'].case_number}", headers=world.engineers["alice"]
    ).json()
    return [e["text"] for e in case["events"]]


def test_approved_extension_moves_the_end_and_signs_the_key_for_the_new_window(
    world: World,
) -> None:
    sid, end = _approved(world)
    asked = _extend(world, "alice", sid, 15, "the import needs a second run")
    assert asked.status_code == 201, asked.text
    ext = asked.json()
    assert (ext["number"], ext["status"], ext["minutes"]) == (1, "pending", 15)

    polled = world.poll("host1")
    assert polled["requests"] == [] and polled["revoked"] == []
    (seen,) = polled["extensions"]
    assert seen["session_id"] == sid and seen["number"] == 1 and seen["engineer"] == "alice"
    assert seen["minutes"] == 15 and seen["reason"] == "the import needs a second run"
    assert datetime.fromisoformat(seen["not_after"]) == end
    assert world.poll("host2")["extensions"] == []  # another customer's host hears nothing

    # the engineer waits; the host's answer wakes the wait
    waited: dict[str, Any] = {}

    def engineer_waits() -> None:
        waited.update(
            world.client.get(
                f"/api/v1/engineer/sessions/{sid}/extensions/1",
                params={"wait": 15},
                headers=world.engineers["alice"],
            ).json()
        )

    waiter = threading.Thread(target=engineer_waits)
    waiter.start()
    # not by more than asked, and not by another customer's host
    assert _answer(world, sid, 1, end + timedelta(minutes=16)).status_code == 422
    assert _answer(world, sid, 1, end + timedelta(minutes=10), host="host2").status_code == 404
    decided = _answer(world, sid, 1, end + timedelta(minutes=10), note="ten is enough")
    assert decided.status_code == 200, decided.text
    waiter.join(20)
    assert waited["status"] == "approved"
    session = waited["session"]
    assert datetime.fromisoformat(session["not_after"]) == end + timedelta(minutes=10)
    assert datetime.fromisoformat(waited["previous_not_after"]) == end
    cert = inspect_certificate(session["certificate"])
    assert cert.valid_before == end + timedelta(minutes=10)
    assert cert.principals == (sid,)
    # a decided extension is decided for good
    again = _answer(world, sid, 1, None)
    assert again.status_code == 409
    assert again.json()["detail"]["code"] == "extension_not_pending"
    texts = _texts(world)
    assert any(f"Extension 1 of remote session {sid} requested: 15 more min." in t for t in texts)
    assert any("approved by the customer" in t and "ten is enough" in t for t in texts)


def test_only_the_holder_of_a_live_session_asks_once_at_a_time_within_the_cap(
    world: World,
) -> None:
    sid, end = _approved(world)
    stranger = _extend(world, "bob", sid, 10)
    assert stranger.status_code == 404
    assert "no such session for you" in stranger.json()["detail"]["message"]

    too_long = _extend(world, "alice", sid, 24 * 60)
    assert too_long.status_code == 422
    assert "at most 1440 minutes in all" in too_long.json()["detail"]["message"]

    assert _extend(world, "alice", sid, 10).status_code == 201
    second = _extend(world, "alice", sid, 10)
    assert second.status_code == 409
    assert second.json()["detail"]["code"] == "extension_pending"
    refused = _answer(world, sid, 1, None, note="not today")
    assert refused.status_code == 200 and refused.json()["status"] == "refused"
    assert refused.json()["session"]["not_after"] == end.isoformat()
    assert _extend(world, "alice", sid, 10).json()["number"] == 2  # a new question may follow

    pending_sid = world.ask("alice", world.hosts["host1"].case_number).json()["session_id"]
    not_live = _extend(world, "alice", pending_sid, 10)
    assert not_live.status_code == 409
    assert not_live.json()["detail"]["code"] == "session_not_live"
    assert "pending, not live" in not_live.json()["detail"]["message"]

    revoked = world.client.post(
        f"/api/v1/engineer/sessions/{sid}/revoke", headers=world.engineers["alice"]
    )
    assert revoked.status_code == 200
    # the pending extension lapses with the session; none can be asked any more
    assert world.poll("host1")["extensions"] == []
    over = _extend(world, "alice", sid, 10)
    assert over.status_code == 409 and "revoked, not live" in over.json()["detail"]["message"]
    assert any("Extension 1" in t and "refused by the customer" in t for t in _texts(world))


def test_an_unanswered_extension_expires_and_an_ended_session_cannot_be_extended(
    world: World,
) -> None:
    sid, end = _approved(world, minutes=60)
    assert _extend(world, "alice", sid, 10).status_code == 201
    world.desk.clock.advance(seconds=181)  # the desk's request timeout
    lapsed = world.client.get(
        f"/api/v1/engineer/sessions/{sid}/extensions/1", headers=world.engineers["alice"]
    ).json()
    assert lapsed["status"] == "expired" and lapsed["note"] == "nobody answered in time"
    late = _answer(world, sid, 1, end + timedelta(minutes=5))
    assert late.status_code == 409
    assert any("Extension 1" in t and "lapsed" in t for t in _texts(world))

    world.desk.clock.advance(minutes=60)  # past the grant's end
    over = _extend(world, "alice", sid, 10)
    assert over.status_code == 409
    assert over.json()["detail"]["code"] == "session_not_live"


def test_an_extension_asked_on_one_worker_wakes_the_host_waiting_on_the_other(
    two_workers: tuple[World, list[Any]],  # noqa: F811 (the fixture imported above)
) -> None:
    """On PostgreSQL only NOTIFY can wake the other worker within the test's patience."""
    world, workers = two_workers
    (_app_a, url_a), (_app_b, url_b) = workers
    host = world.hosts["host1"]
    token = host.headers["Authorization"].split()[1]
    engineer = world.engineers["alice"]["Authorization"].split()[1]
    sid, end = _approved(world)
    polled: dict[str, Any] = {}
    decided: dict[str, Any] = {}

    with (
        DeskClient(url_b, token, timeout=WAIT_S + 15) as host_on_b,
        DeskClient(url_b, engineer, timeout=WAIT_S + 15) as engineer_on_b,
        DeskClient(url_a, engineer, timeout=15) as engineer_on_a,
    ):
        # the first poll returns at once (the approved session is old news) and starts B's listener
        host_on_b.request("GET", "/api/v1/agent/session-requests")

        def host_waits() -> None:
            polled.update(
                host_on_b.request(
                    "GET", "/api/v1/agent/session-requests", params={"wait": str(WAIT_S)}
                )
            )

        waiter = threading.Thread(target=host_waits, daemon=True)
        waiter.start()
        ext = engineer_on_a.request(
            "POST", f"/api/v1/engineer/sessions/{sid}/extensions", json={"minutes": 5}
        )
        waiter.join(timeout=WAIT_S - 5)
        assert not waiter.is_alive(), "the host's long poll on worker B was not woken"
        assert [(e["session_id"], e["number"]) for e in polled["extensions"]] == [(sid, 1)]

        def engineer_waits() -> None:
            decided.update(
                engineer_on_b.request(
                    "GET",
                    f"/api/v1/engineer/sessions/{sid}/extensions/{ext['number']}",
                    params={"wait": str(WAIT_S)},
                )
            )

        waiter = threading.Thread(target=engineer_waits, daemon=True)
        waiter.start()
        time.sleep(0.5)  # let the engineer's wait begin; the answer must wake it either way
        assert _answer(world, sid, 1, end + timedelta(minutes=5)).status_code == 200
        waiter.join(timeout=WAIT_S - 5)
        assert not waiter.is_alive(), "the engineer's long poll on worker B was not woken"
        assert decided["status"] == "approved"
