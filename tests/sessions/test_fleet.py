"""An idle fleet: a waiting host poll reads once and sleeps on its host's event.

Wake-ups named per host (a host with no change is not woken, counted by its
re-reads), across two desk workers on a real PostgreSQL (LISTEN/NOTIFY only: no
re-read interval exists any more), a LISTEN connection killed and made again (one
catch-up, no request lost), 1,000 polls held by one process without a thread
each, and revocation taking the same path as a request.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.desk.conftest import Desk, SettableClock, live_server
from tests.sessions.conftest import World, build_world, new_key, sessions_config
from vxassist.desk.app import create_app
from vxassist.desk.sessions.broker import Broker
from vxassist.deskclient import DeskClient

WAIT_S = 25
POLL = "/api/v1/agent/session-requests"


def _broker(app: FastAPI) -> Broker:
    broker: Broker = app.state.session_broker
    return broker


def _until(check: Any, timeout_s: float = 20.0) -> None:
    """Wait for ``check()`` (a deadlock guard, not a speed check)."""
    done = threading.Event()
    for _ in range(int(timeout_s / 0.02)):
        if check():
            return
        done.wait(0.02)
    raise AssertionError("the condition did not come true in time")


class Waiter:
    """A host's long poll in a thread; its answer once it comes."""

    def __init__(self, poll: Any) -> None:
        self.answer: dict[str, Any] | None = None
        self._thread = threading.Thread(target=lambda: setattr(self, "answer", poll()), daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> dict[str, Any]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the host's long poll was not woken"
        assert self.answer is not None
        return self.answer

    @property
    def waiting(self) -> bool:
        return self._thread.is_alive()


def _waiting_poll(world: World, host: str) -> Waiter:
    return Waiter(lambda: world.poll(host, wait=WAIT_S))


# -- SQLite, one process: in-process events per host ---------------------------------


def test_a_host_with_no_change_is_not_woken(world: World) -> None:
    broker = _broker(world.desk.app)
    one, two = world.hosts["host1"], world.hosts["host2"]
    first = _waiting_poll(world, "host1")
    second = _waiting_poll(world, "host2")
    _until(lambda: broker.sleeping == 2)
    reads_before = dict(broker.reads)
    sid = world.ask("alice", one.case_number).json()["session_id"]
    assert [r["session_id"] for r in first.join(WAIT_S - 5)["requests"]] == [sid]
    # host1 re-read once (its change); host2 read nothing and still waits
    assert broker.reads[one.agent_id] == reads_before[one.agent_id] + 1
    assert broker.reads[two.agent_id] == reads_before[two.agent_id]
    assert second.waiting
    sid2 = world.ask("bob", two.case_number).json()["session_id"]
    assert [r["session_id"] for r in second.join(WAIT_S - 5)["requests"]] == [sid2]
    assert broker.reads[two.agent_id] == reads_before[two.agent_id] + 1


def test_a_host_polling_again_with_nothing_new_costs_no_read(world: World) -> None:
    broker = _broker(world.desk.app)
    host = world.hosts["host1"]
    world.poll("host1")
    reads = broker.reads[host.agent_id]
    for _ in range(3):
        world.poll("host1")
    assert broker.reads[host.agent_id] == reads  # answered from its last read
    world.ask("alice", host.case_number)
    assert len(world.poll("host1")["requests"]) == 1
    assert broker.reads[host.agent_id] == reads + 1


def test_revocation_reaches_a_host_by_the_same_path_as_a_request(world: World) -> None:
    broker = _broker(world.desk.app)
    host = world.hosts["host1"]
    sid = world.ask("alice", host.case_number).json()["session_id"]
    assert world.poll("host1")["requests"]
    assert world.decide("host1", sid).status_code == 200
    world.poll("host1")  # the approved session: nothing pending any more
    waiter = _waiting_poll(world, "host1")
    _until(lambda: broker.sleeping == 1)
    reads = broker.reads[host.agent_id]  # read by the earlier polls: this one needs none
    revoked = world.client.post(
        f"/api/v1/engineer/sessions/{sid}/revoke",
        json={"reason": "done"},
        headers=world.engineers["alice"],
    )
    assert revoked.status_code == 200, revoked.text
    answer = waiter.join(WAIT_S - 5)
    assert [r["session_id"] for r in answer["revoked"]] == [sid]
    assert broker.reads[host.agent_id] == reads + 1  # one wake, one read: as a request


def test_the_poll_carries_the_case_cursor_and_answers_when_it_moved(world: World) -> None:
    host = world.hosts["host1"]
    cursor = world.poll("host1")["case_cursor"]
    assert cursor > 0  # the case's "received" event
    waiter = Waiter(
        lambda: world.client.get(
            POLL, params={"wait": WAIT_S, "cursor": cursor}, headers=host.headers
        ).json()
    )
    _until(lambda: _broker(world.desk.app).sleeping == 1)
    # a session request writes a customer-visible event on the case: the cursor moves
    world.ask("alice", host.case_number)
    assert waiter.join(WAIT_S - 5)["case_cursor"] > cursor
    # a stale cursor answers at once
    stale = world.client.get(POLL, params={"wait": WAIT_S, "cursor": 0}, headers=host.headers)
    assert stale.json()["case_cursor"] > 0


def test_a_desk_over_its_read_budget_sheds_with_retry_after(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vxassist.desk.sessions import broker as broker_module

    monkeypatch.setattr(broker_module.time, "monotonic", lambda: 5000.0)  # one second
    broker = _broker(world.desk.app)
    broker.reads_per_s = 1
    for host in world.hosts.values():
        broker.forget(host.agent_id)
    first = world.client.get(POLL, headers=world.hosts["host1"].headers)
    second = world.client.get(POLL, headers=world.hosts["host2"].headers)
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [200, 503]
    busy = first if first.status_code == 503 else second
    assert busy.json()["detail"]["code"] == "desk_busy"
    assert 1 <= int(busy.headers["Retry-After"]) <= 60
    assert broker.shed == 1


def test_a_thousand_polls_are_held_without_a_thread_each(tmp_path: Path) -> None:
    clock = SettableClock()
    config = sessions_config(request_timeout_s=600, max_wait_s=120)
    url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    app = create_app(url, config, clock=clock)
    polls = 1000
    with TestClient(app) as client, live_server(app) as base:
        world = build_world(Desk(app, client, app.state.db, clock, config, url))
        broker = _broker(app)
        broker.reads_per_s = 0  # no shedding: every poll is let in at once
        host = world.hosts["host1"]
        before = threading.active_count()
        seen: dict[str, int] = {}

        async def fleet() -> list[dict[str, Any]]:
            limits = httpx.Limits(max_connections=polls + 10, max_keepalive_connections=0)
            async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as http:

                async def one() -> dict[str, Any]:
                    answer = await http.get(POLL, params={"wait": 100}, headers=host.headers)
                    assert answer.status_code == 200, answer.text
                    body: dict[str, Any] = answer.json()
                    return body

                tasks = [asyncio.create_task(one()) for _ in range(polls)]
                for _ in range(3000):
                    if broker.sleeping >= polls:
                        break
                    await asyncio.sleep(0.02)
                seen["waiting"] = broker.sleeping
                seen["threads"] = threading.active_count()
                await asyncio.to_thread(world.ask, "alice", host.case_number)
                return await asyncio.gather(*tasks)

        answers = asyncio.run(fleet())
        assert seen["waiting"] == polls
        # the desk's thread pool and the test's own threads, never one per poll
        assert seen["threads"] < before + 50
        assert all(len(a["requests"]) == 1 for a in answers)


# -- PostgreSQL: two workers, LISTEN/NOTIFY ------------------------------------------


@pytest.fixture
def two_workers(
    postgres_url: str,
) -> Iterator[tuple[World, list[tuple[FastAPI, str]]]]:
    # poll_interval_s is only the pause before a lost LISTEN connection is made again
    config = sessions_config(request_timeout_s=600, poll_interval_s=0.2, max_wait_s=WAIT_S + 5)
    clock = SettableClock()
    apps = [create_app(postgres_url, config, clock=clock) for _ in range(2)]
    with ExitStack() as stack:
        client = stack.enter_context(TestClient(apps[0]))
        urls = [stack.enter_context(live_server(app)) for app in apps]
        world = build_world(Desk(apps[0], client, apps[0].state.db, clock, config, postgres_url))
        yield world, list(zip(apps, urls, strict=True))


def _ask_on(url: str, world: World, engineer: str, case_number: int) -> str:
    token = world.engineers[engineer]["Authorization"].split()[1]
    with DeskClient(url, token, timeout=15) as desk:
        asked = desk.request(
            "POST",
            "/api/v1/engineer/sessions",
            json={
                "case_number": case_number,
                "scopes": ["shell"],
                "minutes": 10,
                "reason": "fleet",
                "public_key": new_key()[1],
            },
        )
    return str(asked["session_id"])


def _host_poll_on(url: str, world: World, host: str) -> Waiter:
    token = world.hosts[host].headers["Authorization"].split()[1]

    def poll() -> dict[str, Any]:
        with DeskClient(url, token, timeout=WAIT_S + 15) as desk:
            return desk.request("GET", POLL, params={"wait": str(WAIT_S)})

    return Waiter(poll)


def _start_listening(url: str, world: World, broker: Broker) -> None:
    """A first poll starts the worker's LISTEN connection; its catch-up wake is over
    once it listens."""
    token = world.hosts["host2"].headers["Authorization"].split()[1]
    with DeskClient(url, token, timeout=15) as desk:
        desk.request("GET", POLL)
    _until(lambda: broker.listening)


def test_a_request_on_one_worker_wakes_only_that_host_on_the_other(
    two_workers: tuple[World, list[tuple[FastAPI, str]]],
) -> None:
    world, [(_app_a, url_a), (app_b, url_b)] = two_workers
    broker_b = _broker(app_b)
    one, two = world.hosts["host1"], world.hosts["host2"]
    _start_listening(url_b, world, broker_b)
    first = _host_poll_on(url_b, world, "host1")
    second = _host_poll_on(url_b, world, "host2")
    _until(lambda: broker_b.sleeping == 2)
    reads = dict(broker_b.reads)
    sid = _ask_on(url_a, world, "alice", one.case_number)
    assert [r["session_id"] for r in first.join(WAIT_S - 5)["requests"]] == [sid]
    assert broker_b.notifications_received >= 1
    assert broker_b.reads[one.agent_id] == reads[one.agent_id] + 1
    assert broker_b.reads[two.agent_id] == reads[two.agent_id]  # not woken
    assert second.waiting


def test_a_killed_listener_is_made_again_and_loses_no_request(
    two_workers: tuple[World, list[tuple[FastAPI, str]]], postgres_url: str
) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    world, [(_app_a, url_a), (app_b, url_b)] = two_workers
    broker_b = _broker(app_b)
    host = world.hosts["host1"]
    _start_listening(url_b, world, broker_b)
    waiter = _host_poll_on(url_b, world, "host1")
    _until(lambda: broker_b.sleeping == 1)
    dsn = make_url(postgres_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(dsn, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        ).fetchall()
        assert killed, "no LISTEN connection to kill"
        # asked while worker B listens to nobody: its NOTIFY reaches no one there
        sid = _ask_on(url_a, world, "alice", host.case_number)
    answer = waiter.join(WAIT_S - 5)
    assert [r["session_id"] for r in answer["requests"]] == [sid]
    _until(lambda: broker_b.reconnects >= 1 and broker_b.listening)
