"""A desk restart, as the fleet lives it: held polls answered when the desk stops,
each host told its own moment to come back; the new desk reads the whole fleet once
and answers the returning hosts without a read each.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.desk.conftest import Desk, SettableClock
from tests.fixtures.desk import RunningDesk
from tests.sessions.conftest import World, build_world, new_key, sessions_config
from tests.sessions.test_fleet import _until
from vxassist.desk.app import create_app
from vxassist.desk.errors import DeskError
from vxassist.desk.sessions import broker as broker_module
from vxassist.desk.sessions import store
from vxassist.desk.sessions.broker import Broker
from vxassist.desk.tokens import token_hash

POLL = "/api/v1/agent/session-requests"


def _world(tmp_path: Path) -> tuple[World, str, Any]:
    clock = SettableClock()
    config = sessions_config(request_timeout_s=600, max_wait_s=60)
    url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    app = create_app(url, config, clock=clock)
    client = TestClient(app)
    client.__enter__()
    world = build_world(Desk(app, client, app.state.db, clock, config, url))
    return world, url, (client, config, clock)


# -- the fleet read once -------------------------------------------------------------


def test_the_fleet_read_gives_each_quiet_host_what_its_own_read_would(tmp_path: Path) -> None:
    world, _url, (client, _config, clock) = _world(tmp_path)
    try:
        asked = world.ask("alice", world.hosts["host1"].case_number)
        assert asked.status_code == 201, asked.text
        third = world.enroll("host3", "C-1")
        db = world.desk.db
        with db.reading() as session:
            quiet = store.quiet_answers(session)
            mine = {
                name: store.poll_for_agent(session, host.agent_id, clock())
                for name, host in world.hosts.items()
            }
        # a host with a request in play is read as usual; the others are remembered
        # exactly as their own read finds them, case cursor included
        assert world.hosts["host1"].agent_id not in quiet
        assert mine["host1"]["requests"]
        for name in ("host2", "host3"):
            agent_id = world.hosts[name].agent_id
            assert quiet[agent_id] == mine[name]
            assert quiet[agent_id]["case_cursor"] > 0
        assert (
            quiet[third.agent_id]["case_cursor"]
            != quiet[world.hosts["host2"].agent_id]["case_cursor"]
        )
        # approved and then revoked: still in play (the revocation must reach the host)
        sid = asked.json()["session_id"]
        assert world.decide("host1", sid).status_code == 200
        revoked = world.client.post(
            f"/api/v1/engineer/sessions/{sid}/revoke",
            json={"reason": "done"},
            headers=world.engineers["alice"],
        )
        assert revoked.status_code == 200, revoked.text
        with db.reading() as session:
            assert world.hosts["host1"].agent_id not in store.quiet_answers(session)
    finally:
        client.__exit__(None, None, None)


def test_a_restarted_desk_answers_its_returning_fleet_without_a_read(tmp_path: Path) -> None:
    world, url, (client, config, clock) = _world(tmp_path)
    before = {name: world.poll(name) for name in world.hosts}
    client.__exit__(None, None, None)  # the desk stops

    again = create_app(url, config, clock=clock)  # and starts: a new process would
    broker: Broker = again.state.session_broker
    with TestClient(again) as restarted:
        _until(lambda: broker.remembered == 2)
        for name, host in world.hosts.items():
            digest = token_hash(host.headers["Authorization"].split()[1])
            assert again.state.callers.get(digest) is not None  # no token lookup either
            answer = restarted.get(POLL, headers=host.headers)
            assert answer.status_code == 200, answer.text
            assert answer.json() == before[name]
        assert broker.reads == {}  # not one read for the returning fleet
        # a change still reaches the host: its remembered answer is dropped and read
        host = world.hosts["host2"]
        asked = restarted.post(
            "/api/v1/engineer/sessions",
            json={
                "case_number": host.case_number,
                "scopes": ["shell"],
                "minutes": 10,
                "reason": "after the restart",
                "public_key": new_key()[1],
            },
            headers=world.engineers["alice"],
        )
        assert asked.status_code == 201, asked.text
        answer = restarted.get(POLL, headers=host.headers).json()
        assert [r["session_id"] for r in answer["requests"]] == [asked.json()["session_id"]]
        assert broker.reads == {host.agent_id: 1}


def _broker(tmp_path: Path) -> Broker:
    return Broker(f"sqlite:///{tmp_path / 'b.sqlite3'}", 1.0)


def test_a_host_woken_while_the_fleet_is_read_is_not_remembered(tmp_path: Path) -> None:
    broker = _broker(tmp_path)

    async def read_waking_a() -> dict[str, str]:
        broker.wake_hosts(["a"])  # a change to host a committed while the read ran
        return {"a": "stale", "b": "quiet"}

    assert asyncio.run(broker.remember_fleet(read_waking_a)) == 1
    assert set(broker._clean) == {"b"}


def test_a_wake_of_everyone_during_the_fleet_read_drops_it(tmp_path: Path) -> None:
    broker = _broker(tmp_path)

    async def read_waking_all() -> dict[str, str]:
        broker.wake()  # e.g. a lost LISTEN made again: what this read found may be old
        return {"a": "stale", "b": "stale"}

    assert asyncio.run(broker.remember_fleet(read_waking_all)) == 0
    assert broker._clean == {}


# -- stopping: held polls answered, each host given its own moment ------------------------


def test_a_stopping_desk_answers_every_held_poll_with_its_own_moment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broker_module, "RETURN_PER_S", 10)  # 50 hosts over about 5 s
    broker = _broker(tmp_path)

    async def fleet() -> list[BaseException | dict[str, Any]]:
        async def fetch() -> dict[str, Any]:
            return {}

        polls = [
            asyncio.create_task(broker.long_poll(fetch, lambda _a: False, 60, f"host{i}"))
            for i in range(50)
        ]
        while broker.waiting() < 50:  # noqa: ASYNC110 (the broker has no event for it)
            await asyncio.sleep(0.01)
        broker.release_all()
        answers = await asyncio.wait_for(asyncio.gather(*polls, return_exceptions=True), 10)
        # a poll arriving after the stop began is told the same
        late = await asyncio.gather(
            broker.long_poll(fetch, lambda _a: False, 60, "late"), return_exceptions=True
        )
        return [*answers, *late]

    answers = asyncio.run(fleet())
    assert all(isinstance(a, DeskError) and a.status == 503 for a in answers)
    after = sorted(int(a.headers["Retry-After"]) for a in answers if isinstance(a, DeskError))
    assert after[0] >= 1
    assert after[-1] >= 5  # spread at the pace asked, not all told the same second
    assert len(set(after)) >= 5
    assert broker.waiting() == 0


def test_stopping_the_desk_process_answers_held_polls_at_once(tmp_path: Path) -> None:
    with RunningDesk(tmp_path / "desk") as desk:
        contract = desk.add_contract()
        enrolled = httpx.post(
            f"{desk.url}/api/v1/enroll",
            json={
                "code": desk.enrollment_code(contract["contract_id"]),
                "hostname": "callacct01",
                "host_public_key": new_key()[1],
            },
            timeout=15,
        )
        assert enrolled.status_code == 201, enrolled.text
        headers = {"Authorization": f"Bearer {enrolled.json()['token']}"}
        first = httpx.get(f"{desk.url}{POLL}", headers=headers, timeout=15)
        assert first.status_code == 200, first.text
        answers: list[httpx.Response | BaseException] = []

        def hold() -> None:
            try:
                answers.append(
                    httpx.get(f"{desk.url}{POLL}", params={"wait": 50}, headers=headers, timeout=60)
                )
            except httpx.HTTPError as exc:
                answers.append(exc)

        polls = [threading.Thread(target=hold) for _ in range(5)]
        for poll in polls:
            poll.start()
        threading.Event().wait(1.5)  # let the polls reach the desk and wait there
        process = desk.process
        assert process is not None
        desk.stop()  # SIGTERM, as systemd stops it
        for poll in polls:
            poll.join(30)
        output = "".join(desk.output)
    # ended by the signal it was sent (the server re-raises it once it has stopped)
    assert process.returncode in (0, -15), output
    assert len(answers) == 5
    for answer in answers:
        # answered, not cut: each told when to come back
        assert isinstance(answer, httpx.Response), answer
        assert answer.status_code == 503
        assert answer.json()["detail"]["code"] == "desk_busy"
        assert int(answer.headers["Retry-After"]) >= 1
    assert "Traceback" not in output
    assert "timeout graceful shutdown exceeded" not in output
