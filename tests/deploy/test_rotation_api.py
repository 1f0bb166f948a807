"""CA rotation through the desk's API, in-process on SQLite: which CA signs a
host's sessions before and after a rotation, what engineers are told to trust,
and a host whose CA was retired is told to enroll again instead of getting a
certificate it would refuse. (The whole deployment: test_vendor_side.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.desk.conftest import Desk, SettableClock
from tests.sessions.conftest import World, build_world, sessions_config
from vxassist.desk.app import create_app
from vxassist.desk.ca import CertificateAuthority, inspect_certificate


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    base = sessions_config(request_timeout_s=180, poll_interval_s=0.2, max_wait_s=5)
    config = replace(base, sessions=replace(base.sessions, ca_dir=tmp_path / "ca"))
    url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    app = create_app(url, config, clock=SettableClock())
    with TestClient(app) as client:
        yield build_world(Desk(app, client, app.state.db, app.state.clock, config, url))


def _blob(line: str) -> str:
    return line.split()[1]


def _approved(world: World, host: str) -> dict[str, object]:
    case = world.hosts[host].case_number
    asked = world.ask("alice", case, ["shell"], 10)
    assert asked.status_code == 201, asked.text
    decided = world.decide(host, asked.json()["session_id"], scopes=["shell"], minutes=10)
    assert decided.status_code == 200, decided.text
    session: dict[str, object] = decided.json()
    return session


def test_a_rotation_signs_each_hosts_sessions_with_the_ca_it_trusts(
    world: World, tmp_path: Path
) -> None:
    ca = CertificateAuthority(tmp_path / "ca")
    user_before = world.hosts["host1"].enrollment["user_ca_public_key"]
    host_before = world.hosts["host1"].enrollment["host_ca_public_key"]
    assert _blob(user_before) == _blob(ca.user_ca_public_key)

    ca.rotate("user")  # as `vxassist desk ca rotate`, beside the running desk
    ca.rotate("host")
    new_host = world.enroll("host3", "C-1")  # enrolled after the rotation
    assert _blob(new_host.enrollment["user_ca_public_key"]) == _blob(ca.user_ca_public_key)
    assert _blob(new_host.enrollment["user_ca_public_key"]) != _blob(user_before)
    signer = inspect_certificate(new_host.enrollment["host_certificate"]).signing_key
    assert _blob(signer) == _blob(ca.host_ca_public_key)

    old = _approved(world, "host1")
    new = _approved(world, "host3")
    assert _blob(inspect_certificate(str(old["certificate"])).signing_key) == _blob(user_before)
    assert _blob(inspect_certificate(str(new["certificate"])).signing_key) == _blob(
        ca.user_ca_public_key
    )
    # engineers trust hosts certified by either host CA
    for session in (old, new):
        trusted = [_blob(line) for line in str(session["host_ca_public_key"]).splitlines()]
        assert trusted == [_blob(ca.host_ca_public_key), _blob(host_before)]

    # retired (with --force): the old host is told to enroll again, before anyone asks it
    ca.retire("user")
    refused = world.ask("alice", world.hosts["host1"].case_number, ["shell"], 10)
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"]["code"] == "host_ca_retired"
    assert "enroll again" in refused.json()["detail"]["message"]
    assert _approved(world, "host3")["status"] == "approved"
