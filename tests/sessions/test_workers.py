"""Two desk workers over one database: a request made on one wakes a host waiting on
the other. On SQLite by re-reading the database; on PostgreSQL by LISTEN/NOTIFY, with
the re-read interval set far beyond the test's patience."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.desk.conftest import Desk, SettableClock, live_server
from tests.sessions.conftest import World, build_world, new_key, sessions_config
from vxassist.desk.app import create_app
from vxassist.deskclient import DeskClient

WAIT_S = 25


@pytest.fixture(params=["sqlite", "postgresql"])
def two_workers(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[World, list[Any]]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
        poll = 0.2
    else:
        url = str(request.getfixturevalue("postgres_url"))
        poll = 600.0  # only NOTIFY can wake the other worker within the test
    config = sessions_config(request_timeout_s=600, poll_interval_s=poll, max_wait_s=WAIT_S)
    clock = SettableClock()
    apps: list[FastAPI] = [create_app(url, config, clock=clock) for _ in range(2)]
    with ExitStack() as stack:
        client = stack.enter_context(TestClient(apps[0]))
        urls = [stack.enter_context(live_server(app)) for app in apps]
        world = build_world(Desk(apps[0], client, apps[0].state.db, clock, config, url))
        yield world, [(app, u) for app, u in zip(apps, urls, strict=True)]


def test_request_on_one_worker_wakes_the_host_waiting_on_the_other(
    two_workers: tuple[World, list[Any]],
) -> None:
    world, workers = two_workers
    (_app_a, url_a), (app_b, url_b) = workers
    host = world.hosts["host1"]
    token = host.headers["Authorization"].split()[1]
    engineer = world.engineers["alice"]["Authorization"].split()[1]
    result: dict[str, Any] = {}

    with DeskClient(url_b, token, timeout=WAIT_S + 15) as on_b:
        # the first poll returns at once (nothing yet) and starts B's listener
        assert on_b.request("GET", "/api/v1/agent/session-requests")["requests"] == []

        def wait() -> None:
            result["answer"] = on_b.request(
                "GET", "/api/v1/agent/session-requests", params={"wait": str(WAIT_S)}
            )

        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()
        with DeskClient(url_a, engineer, timeout=15) as on_a:
            asked = on_a.request(
                "POST",
                "/api/v1/engineer/sessions",
                json={
                    "case_number": host.case_number,
                    "scopes": ["shell"],
                    "minutes": 10,
                    "reason": "cross-worker",
                    "public_key": new_key()[1],
                },
            )
        # woken well before its own wait ends (a deadlock guard, not a speed check)
        waiter.join(timeout=WAIT_S - 5)
        assert not waiter.is_alive(), "the host's long poll on worker B was not woken"
    assert [r["session_id"] for r in result["answer"]["requests"]] == [asked["session_id"]]
    if app_b.state.db.dialect == "postgresql":
        assert app_b.state.session_broker.notifications_received >= 1


def test_relay_keys_reads_postgresql_too(postgres_url: str) -> None:
    from datetime import UTC, datetime

    from vxassist.desk.relay_keys import lookup_lines

    clock = SettableClock(datetime.now(UTC))
    config = sessions_config(request_timeout_s=600)
    app = create_app(postgres_url, config, clock=clock)
    with TestClient(app) as client:
        world = build_world(Desk(app, client, app.state.db, clock, config, postgres_url))
        host = world.hosts["host1"]
        _key, pub = new_key()
        sid = world.ask("alice", host.case_number, public_key=pub).json()["session_id"]
        kind, blob = pub.split()[:2]
        now = datetime.now(UTC)
        assert lookup_lines(postgres_url, "vxeng", kind, blob, now) == []  # pending
        assert world.decide("host1", sid).status_code == 200
        port = host.enrollment["relay"]["listen_port"]
        assert lookup_lines(postgres_url, "vxeng", kind, blob, now) == [
            f'restrict,port-forwarding,permitopen="127.0.0.1:{port}" {kind} {blob}'
        ]
        hkind, hblob = host.key.export_public_key().decode().split()[:2]
        assert lookup_lines(postgres_url, "vxagent", hkind, hblob, now) == [
            f'restrict,port-forwarding,permitlisten="127.0.0.1:{port}" {hkind} {hblob}'
        ]
        assert lookup_lines(postgres_url, "vxagent", kind, blob, now) == []
