"""The desk hands out relay ports that are free: with the relay on this machine (the
demo, a one-box install), a port something already listens on is skipped, so two
demos on one machine no longer both get the first port of the range."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.desk.conftest import Desk, SettableClock
from tests.sessions.conftest import RELAY_KEY, World, build_world
from vxassist.desk.app import create_app
from vxassist.desk.config import DeskConfig
from vxassist.desk.sessions.config import RelayConfig, SessionsConfig


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port another program listens on (another demo's tunnel)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield int(sock.getsockname()[1])


def _world(tmp_path: Path, relay_host: str, first: int) -> Iterator[World]:
    relay = RelayConfig(
        host=relay_host, port=2222, known_hosts=RELAY_KEY, port_min=first, port_max=first + 20
    )
    config = DeskConfig(sessions=SessionsConfig(relay=relay))
    url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    app = create_app(url, config, clock=SettableClock())
    with TestClient(app) as client:
        yield build_world(Desk(app, client, app.state.db, SettableClock(), config, url))


def test_a_port_in_use_on_this_machine_is_not_handed_out(tmp_path: Path, held_port: int) -> None:
    for world in _world(tmp_path, "127.0.0.1", held_port):
        ports = [h.enrollment["relay"]["listen_port"] for h in world.hosts.values()]
        assert held_port not in ports
        assert len(set(ports)) == len(ports)
        assert all(held_port < p <= held_port + 20 for p in ports)


def test_a_relay_elsewhere_is_not_probed_from_here(tmp_path: Path, held_port: int) -> None:
    # the desk cannot see the relay machine's ports; the database alone decides
    for world in _world(tmp_path, "relay.example.com", held_port):
        ports = sorted(h.enrollment["relay"]["listen_port"] for h in world.hosts.values())
        assert ports[0] == held_port
