"""A real desk for the tests: the app over SQLite and over a real PostgreSQL.

``db_url`` is parametrized, so every test that uses the desk runs on both. The
clock is the one edge replaced: a settable clock the tests move by hand.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.fixtures.postgres import (  # noqa: F401 (fixtures)
    PostgresServer,
    postgres_server,
    postgres_url,
)
from vxassist.desk import admin
from vxassist.desk.app import create_app
from vxassist.desk.config import DeskConfig
from vxassist.desk.db import Database, upgrade

#: a Tuesday, 10:00 in Los Angeles: inside support hours
TUESDAY_10AM = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)


@dataclass
class SettableClock:
    now: datetime = TUESDAY_10AM

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def case_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "company": "Acme Telecom",
        "install_type": "single server",
        "location": "Fresno, CA",
        "database_type": "SQL Server 2019",
        "vxtracker_server": "VXT01 7.2.1",
        "pbx_manufacturer": "Avaya",
        "pbx_model": "IP Office 500 V2",
        "contact_name": "Ann Example",
        "contact_phone": "+1 559 555 0100",
        "contact_email": "ann@acme.example",
        "brief": "Calls are not recorded since this morning",
        "details": "The SMDR link shows no records since 06:10.",
        "steps_taken": "Restarted the collector service.",
        "priority": 2,
        "continues_case": None,
        "third_party_app": None,
        "third_party_version": None,
        "system_report": {"os": {"name": "Windows Server 2019"}, "collectors": []},
    }
    body.update(changes)
    return body


@dataclass
class Desk:
    """The app, a client on it, the database for admin work, and the clock."""

    app: FastAPI
    client: TestClient
    db: Database
    clock: SettableClock
    config: DeskConfig
    url: str
    tokens: dict[str, str] = field(default_factory=dict)

    def add_contract(self, contract_id: str = "C-1001", expires: date = date(2027, 6, 30)) -> None:
        admin.add_contract(
            self.db,
            admin.NewContract(
                contract_id, "Acme Telecom", expires, "Ann Example", "555 0100", "ann@acme.example"
            ),
            self.clock(),
            self.config,
        )

    def code(self, contract_id: str = "C-1001", days: int | None = None) -> str:
        return str(admin.new_code(self.db, contract_id, self.clock(), self.config, days)["code"])

    def enroll(self, hostname: str = "vxhost1", contract_id: str = "C-1001") -> dict[str, str]:
        """Enroll a host; returns Authorization headers for it."""
        answer = self.client.post(
            "/api/v1/enroll",
            json={"code": self.code(contract_id), "hostname": hostname, "host_public_key": None},
        )
        assert answer.status_code == 201, answer.text
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    def engineer(self, name: str = "jdoe") -> dict[str, str]:
        token = admin.add_engineer(self.db, name, self.clock())["token"]
        return {"Authorization": f"Bearer {token}"}

    def create(self, headers: dict[str, str], key: str | None = None, **changes: Any) -> Any:
        key = key or uuid.uuid4().hex
        return self.client.post(
            "/api/v1/cases", json=case_body(**changes), headers={**headers, "Idempotency-Key": key}
        )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A desk database migrated once; tests start from a copy (migrations have their own tests)."""
    path = tmp_path_factory.mktemp("desk-template") / "desk.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> str:  # noqa: F811
    url = postgres_server.fresh_database()
    upgrade(url)
    return url.rsplit("/", 1)[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated desk database of the test's own, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "desk.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.fresh_database(template=request.getfixturevalue("postgres_template"))
    yield url
    server.drop_database(url)


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def desk_config() -> DeskConfig:
    return DeskConfig()


@pytest.fixture
def desk(db_url: str, clock: SettableClock, desk_config: DeskConfig) -> Iterator[Desk]:
    app = create_app(db_url, desk_config, clock=clock, migrate=False)
    with TestClient(app) as client:
        yield Desk(app, client, app.state.db, clock, desk_config, db_url)


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1 (a free port) in a thread; its base URL."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        threading.Event().wait(0.01)
    assert server.started, "uvicorn did not start within 5 s"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
