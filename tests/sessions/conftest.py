"""A real desk (the app over SQLite, or PostgreSQL where asked) set up for sessions.

Two contracts, one host each, a case on each host, two engineers; the clock is
the settable one of the desk's tests. Host keys are real ed25519 keys, so the
enrollment answer carries real host certificates and relay ports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from fastapi.testclient import TestClient

from tests.desk.conftest import Desk, SettableClock, case_body
from tests.fixtures.postgres import postgres_server, postgres_url  # noqa: F401 (fixtures)
from vxassist.desk import admin
from vxassist.desk.app import create_app
from vxassist.desk.config import DeskConfig
from vxassist.desk.sessions.config import RelayConfig, SessionsConfig

RELAY_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHJlbGF5cmVsYXlyZWxheXJlbGF5cmVsYXlyZWxheQ"


def new_key() -> tuple[asyncssh.SSHKey, str]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    return key, key.export_public_key().decode().strip()


@dataclass
class Host:
    name: str
    headers: dict[str, str]
    enrollment: dict[str, Any]
    key: asyncssh.SSHKey
    case_number: int

    @property
    def agent_id(self) -> str:
        return str(self.enrollment["agent_id"])


@dataclass
class World:
    desk: Desk
    hosts: dict[str, Host] = field(default_factory=dict)
    engineers: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def client(self) -> TestClient:
        return self.desk.client

    def enroll(self, name: str, contract_id: str) -> Host:
        key, pub = new_key()
        answer = self.client.post(
            "/api/v1/enroll",
            json={"code": self.desk.code(contract_id), "hostname": name, "host_public_key": pub},
        )
        assert answer.status_code == 201, answer.text
        data = answer.json()
        headers = {"Authorization": f"Bearer {data['token']}"}
        case = self.desk.create(headers, company=f"{name} company", brief=f"{name}: no CDR")
        assert case.status_code == 201, case.text
        host = Host(name, headers, data, key, int(case.json()["case_number"]))
        self.hosts[name] = host
        return host

    def ask(
        self,
        engineer: str,
        case_number: int,
        scopes: list[str] | None = None,
        minutes: int = 30,
        public_key: str | None = None,
    ) -> Any:
        return self.client.post(
            "/api/v1/engineer/sessions",
            json={
                "case_number": case_number,
                "scopes": ["shell", "files"] if scopes is None else scopes,
                "minutes": minutes,
                "reason": "look at the SMDR collector",
                "public_key": public_key or new_key()[1],
            },
            headers=self.engineers[engineer],
        )

    def poll(self, host: str, wait: float = 0) -> dict[str, Any]:
        answer = self.client.get(
            "/api/v1/agent/session-requests",
            params={"wait": wait},
            headers=self.hosts[host].headers,
        )
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        return data

    def decide(self, host: str, session_id: str, approved: bool = True, **body: Any) -> Any:
        now = self.desk.clock()
        minutes = body.pop("minutes", 30)
        payload = {
            "approved": approved,
            "scopes": body.pop("scopes", ["shell", "files"]) if approved else [],
            "not_before": now.isoformat() if approved else None,
            "not_after": (now + _minutes(minutes)).isoformat() if approved else None,
            "note": body.pop("note", ""),
        }
        return self.client.post(
            f"/api/v1/agent/session-requests/{session_id}/decision",
            json=payload,
            headers=self.hosts[host].headers,
        )


def _minutes(n: int) -> Any:
    from datetime import timedelta

    return timedelta(minutes=n)


def sessions_config(**kw: Any) -> DeskConfig:
    return DeskConfig(
        sessions=SessionsConfig(
            relay=RelayConfig(host="127.0.0.1", port=2222, known_hosts=RELAY_KEY),
            **kw,
        )
    )


def build_world(desk: Desk) -> World:
    world = World(desk)
    desk.add_contract("C-1", date(2027, 6, 30))
    admin.add_contract(
        desk.db,
        admin.NewContract(
            "C-2", "Other Corp", date(2027, 6, 30), "Olga", "555 0200", "o@x.example"
        ),
        desk.clock(),
        desk.config,
    )
    world.enroll("host1", "C-1")
    world.enroll("host2", "C-2")
    world.engineers["alice"] = desk.engineer("alice")
    world.engineers["bob"] = desk.engineer("bob")
    return world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """Two hosts of two customers with a case each, two engineers, a SQLite desk."""
    clock = SettableClock()
    config = sessions_config(request_timeout_s=180, poll_interval_s=0.2, max_wait_s=20)
    app = create_app(f"sqlite:///{tmp_path / 'desk.sqlite3'}", config, clock=clock)
    with TestClient(app) as client:
        desk = Desk(app, client, app.state.db, clock, config, f"sqlite:///{tmp_path}/desk.sqlite3")
        yield build_world(desk)


__all__ = ["RELAY_KEY", "World", "build_world", "case_body", "new_key", "sessions_config"]
