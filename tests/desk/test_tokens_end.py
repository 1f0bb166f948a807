"""Tokens can end: a revoked host, a removed engineer (and their sessions), an expired
contract's hosts as the desk's policy says; enrollment guesses are braked and logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.desk.conftest import Desk, SettableClock
from tests.sessions.conftest import World, build_world, sessions_config
from vxassist.desk import admin
from vxassist.desk.app import create_app
from vxassist.desk.config import DeskConfig
from vxassist.desk.errors import DeskAdminError
from vxassist.desk.sessions.tables import AgentRelay
from vxassist.desk.throttle import FailureThrottle


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = SettableClock()
    config = sessions_config(request_timeout_s=180, poll_interval_s=0.2, max_wait_s=20)
    url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    app = create_app(url, config, clock=clock)
    app.state.callers.ttl_s = 0  # every request looks its token up
    with TestClient(app) as client:
        yield build_world(Desk(app, client, app.state.db, clock, config, url))


def _approved_session(world: World, engineer: str, host: str) -> str:
    asked = world.ask(engineer, world.hosts[host].case_number)
    assert asked.status_code == 201, asked.text
    session_id = str(asked.json()["session_id"])
    assert world.decide(host, session_id).status_code == 200
    return session_id


def _session(world: World, engineer: str, session_id: str) -> dict[str, Any]:
    answer = world.client.get(
        f"/api/v1/engineer/sessions/{session_id}", headers=world.engineers[engineer]
    )
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def test_a_revoked_host_token_stops_working_and_its_sessions_end(world: World) -> None:
    desk = world.desk
    session_id = _approved_session(world, "alice", "host1")
    rt = desk.app.state.sessions
    done = admin.revoke_host(desk.db, world.hosts["host1"].agent_id, desk.clock(), rt)
    assert done["revoked_sessions"] == [session_id]
    answer = world.client.get("/api/v1/cases", headers=world.hosts["host1"].headers)
    assert answer.status_code == 401
    assert _session(world, "alice", session_id)["status"] == "revoked"
    with desk.db.reading() as session:  # its relay key line is gone too
        assert session.get(AgentRelay, world.hosts["host1"].agent_id) is None
        assert session.get(AgentRelay, world.hosts["host2"].agent_id) is not None
    # the other customer's host is untouched
    assert (
        world.client.get("/api/v1/cases", headers=world.hosts["host2"].headers).status_code == 200
    )
    with pytest.raises(DeskAdminError, match="no host"):
        admin.revoke_host(desk.db, "nosuchhost", desk.clock(), rt)


def test_a_removed_engineer_loses_the_token_and_every_live_session(world: World) -> None:
    desk = world.desk
    first = _approved_session(world, "alice", "host1")
    second = _approved_session(world, "alice", "host2")
    kept = _approved_session(world, "bob", "host1")
    rt = desk.app.state.sessions
    done = admin.remove_engineer(desk.db, "alice", desk.clock(), rt)
    assert sorted(done["revoked_sessions"]) == sorted([first, second])
    assert world.client.get("/api/v1/whoami", headers=world.engineers["alice"]).status_code == 401
    # the hosts hear of it on their next poll
    revoked = {r["session_id"] for r in world.poll("host1")["revoked"]}
    assert first in revoked and kept not in revoked
    assert _session(world, "bob", kept)["status"] == "approved"
    assert [e["name"] for e in admin.list_engineers(desk.db)] == ["bob"]


def test_an_expired_contracts_hosts_lose_their_tokens_as_the_policy_says(tmp_path: Path) -> None:
    clock = SettableClock()
    url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    config = DeskConfig(expired_host_days=30)
    app = create_app(url, config, clock=clock)
    app.state.callers.ttl_s = 0
    with TestClient(app) as client:
        desk = Desk(app, client, app.state.db, clock, config, url)
        desk.add_contract("C-9", date(2026, 11, 30))
        host = desk.enroll(contract_id="C-9")
        clock.advance(days=10)  # expired 3 days ago: requests kept, no case number
        kept = desk.create(host)
        assert kept.status_code == 201 and kept.json()["status"] == "no_contract"
        clock.advance(days=30)  # past the 30 days the policy gives
        answer = desk.create(host)
        assert answer.status_code == 401, answer.text
        assert "contract" in answer.json()["detail"]["message"]


def test_by_default_an_expired_contracts_hosts_keep_filing(desk: Desk) -> None:
    desk.add_contract("C-9", date(2026, 11, 30))
    host = desk.enroll(contract_id="C-9")
    desk.clock.advance(days=400)
    desk.app.state.callers.ttl_s = 0
    answer = desk.create(host)
    assert answer.status_code == 201 and answer.json()["status"] == "no_contract"


def test_failed_enrollments_are_rate_limited_per_source_and_logged(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    desk.add_contract()
    caplog.set_level(logging.WARNING, logger="vxassist.desk.routes.enroll")
    limit = desk.config.enrollment_failures
    for n in range(limit):
        answer = desk.client.post(
            "/api/v1/enroll", json={"code": f"AAAA-BBBB-{n:04d}", "hostname": "guesser"}
        )
        assert answer.status_code == 404
    answer = desk.client.post("/api/v1/enroll", json={"code": desk.code(), "hostname": "guesser"})
    assert answer.status_code == 429, answer.text
    assert answer.json()["detail"]["code"] == "enrollment_rate_limited"
    assert int(answer.headers["Retry-After"]) > 0
    assert (
        sum("enrollment failed from testclient" in r.getMessage() for r in caplog.records) == limit
    )
    # the window passes: the right code works again
    desk.clock.advance(seconds=desk.config.enrollment_window_s + 1)
    answer = desk.client.post("/api/v1/enroll", json={"code": desk.code(), "hostname": "ok"})
    assert answer.status_code == 201, answer.text


def test_the_throttle_counts_per_source_within_the_window() -> None:
    throttle = FailureThrottle(limit=2, window_s=60, max_sources=3)
    assert throttle.retry_after("a", 0) is None
    throttle.failed("a", 0)
    throttle.failed("a", 10)
    assert throttle.retry_after("a", 20) == 40
    assert throttle.retry_after("b", 20) is None
    assert throttle.retry_after("a", 61) is None
    for source in "cdefg":
        throttle.failed(source, 100)  # more sources than kept: bounded, not growing
    assert len(throttle._failures) <= 3
