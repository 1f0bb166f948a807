"""A REAL OpenSSH relay whose AuthorizedKeysCommand is ``vxassist desk relay-keys``.

The desk is real (SQLite), the relay is the shipped hardened sshd config, the
clients are the stock ``ssh``. The relay runs on this machine, so a test stands
in for a host's tunnel end by listening on the host's relay port itself.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from fastapi.testclient import TestClient

from tests.desk.conftest import Desk, SettableClock
from tests.fixtures.relay import Relay, free_port
from tests.sessions.conftest import World, build_world
from vxassist.desk.app import create_app
from vxassist.desk.config import DeskConfig
from vxassist.desk.relay_keys import lookup_lines
from vxassist.desk.sessions.config import RelayConfig, SessionsConfig

pytestmark = pytest.mark.slow
TIMEOUT_S = 30


class Banner:
    """A loopback TCP server that greets every connection with ``NAME\\n`` then closes."""

    def __init__(self, port: int, name: str) -> None:
        self.sock = socket.create_server(("127.0.0.1", port))
        self.name = name
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.sendall(self.name.encode() + b"\n")

    def close(self) -> None:
        self.sock.close()


class RelayWorld:
    def __init__(self, world: World, relay: Relay, folder: Path) -> None:
        self.world = world
        self.relay = relay
        self.folder = folder
        (folder / "known_hosts").write_text(f"{relay.known_hosts_line()}\n")

    def key_file(self, name: str, key: asyncssh.SSHKey) -> Path:
        path = self.folder / f"{name}.key"
        path.write_bytes(key.export_private_key())
        path.chmod(0o600)
        return path

    def ssh(
        self, user: str, key: Path, *args: str, stdin: str = ""
    ) -> subprocess.CompletedProcess[str]:
        command = [
            "ssh",
            "-F",
            "/dev/null",
            "-p",
            str(self.relay.port),
            "-i",
            str(key),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={self.folder / 'known_hosts'}",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "ExitOnForwardFailure=yes",
            "-o",
            "ControlMaster=no",
            *args,
            f"{user}@{self.relay.host}",
        ]
        return subprocess.run(
            command, input=stdin, capture_output=True, text=True, timeout=TIMEOUT_S
        )

    def open_through(self, key: Path, port: int) -> subprocess.CompletedProcess[str]:
        """``ssh -W 127.0.0.1:PORT``: what ProxyJump does on the relay hop."""
        return self.ssh("vxeng", key, "-W", f"127.0.0.1:{port}")


@pytest.fixture
def relay_world(tmp_path: Path) -> Iterator[RelayWorld]:
    db_url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    relay = Relay(
        tmp_path / "relay",
        authorized_keys_command=[
            "/usr/bin/env",
            f"VXASSIST_HOME={tmp_path / 'relaykeys-home'}",
            sys.executable,
            "-m",
            "vxassist.desk.relay_keys",  # = `vxassist desk relay-keys`, quicker to start
            "--db",
            db_url,
            "%u",
            "%t",
            "%k",
        ],
    )
    # the relay-keys command runs on the real clock: so does this desk
    clock = SettableClock(datetime.now(UTC).replace(microsecond=0))
    config = DeskConfig(
        sessions=SessionsConfig(
            relay=RelayConfig(
                host=relay.host,
                port=relay.port,
                known_hosts=relay.host_key_line(),
                # ports other tests on this machine are unlikely to hold
                port_min=(first := free_port()),
                port_max=min(first + 100, 65535),
            ),
            request_timeout_s=600,
        )
    )
    app = create_app(db_url, config, clock=clock)
    with TestClient(app) as client, relay:
        desk = Desk(app, client, app.state.db, clock, config, db_url)
        yield RelayWorld(build_world(desk), relay, tmp_path)


def _approved(w: RelayWorld, engineer: str, host: str, **kw: Any) -> tuple[str, asyncssh.SSHKey]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    pub = key.export_public_key().decode().strip()
    case = w.world.hosts[host].case_number
    sid = w.world.ask(engineer, case, public_key=pub).json()["session_id"]
    assert w.world.decide(host, sid, **kw).status_code == 200
    return sid, key


def _port(w: RelayWorld, host: str) -> int:
    return int(w.world.hosts[host].enrollment["relay"]["listen_port"])


def test_relay_keys_command_answers_sshd(relay_world: RelayWorld) -> None:
    w = relay_world
    host = w.world.hosts["host1"]
    kind, blob = host.key.export_public_key().decode().split()[:2]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "vxassist",
            "desk",
            "relay-keys",
            "--db",
            w.world.desk.url,
            "vxagent",
            kind,
            blob,
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=True,
    ).stdout
    assert out == (
        f'restrict,port-forwarding,permitlisten="127.0.0.1:{_port(w, "host1")}" {kind} {blob}\n'
    )
    for user in ("vxeng", "root", "vxagent2"):
        assert lookup_lines(w.world.desk.url, user, kind, blob, datetime.now(UTC)) == []


def test_host_may_listen_on_its_own_port_only(relay_world: RelayWorld) -> None:
    w = relay_world
    one = w.world.hosts["host1"]
    key = w.key_file("host1", one.key)
    own, other = _port(w, "host1"), _port(w, "host2")
    behind = Banner(0, "behind-host1")
    local = behind.sock.getsockname()[1]
    tunnel = subprocess.Popen(
        [
            "ssh",
            "-F",
            "/dev/null",
            "-p",
            str(w.relay.port),
            "-i",
            str(key),
            "-N",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ExitOnForwardFailure=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={w.folder / 'known_hosts'}",
            "-R",
            f"127.0.0.1:{own}:127.0.0.1:{local}",
            f"vxagent@{w.relay.host}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        greeting = b""
        deadline = time.monotonic() + TIMEOUT_S
        while not greeting and time.monotonic() < deadline and tunnel.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", own), 2) as s:
                greeting = s.recv(100)
            if not greeting:
                time.sleep(0.1)
        assert greeting == b"behind-host1\n", tunnel.stderr.read() if tunnel.poll() else ""
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=10)
        behind.close()

    stolen = w.ssh("vxagent", key, "-N", "-R", f"127.0.0.1:{other}:127.0.0.1:9")
    assert stolen.returncode == 255
    assert "remote port forwarding failed" in stolen.stderr
    wide = w.ssh("vxagent", key, "-N", "-R", f"0.0.0.0:{own}:127.0.0.1:9")
    assert wide.returncode == 255
    # no -L for hosts, no shell, and the host key is not an engineer key
    local_fwd = w.ssh("vxagent", key, "-W", f"127.0.0.1:{own}")
    assert local_fwd.returncode != 0
    shell = w.ssh("vxagent", key, "echo", "pwned")
    assert "pwned" not in shell.stdout and shell.returncode != 0
    as_engineer = w.ssh("vxeng", key, "-W", f"127.0.0.1:{own}")
    assert as_engineer.returncode == 255 and "Permission denied" in as_engineer.stderr


def test_engineer_reaches_only_the_granted_port_while_the_grant_lives(
    relay_world: RelayWorld,
) -> None:
    w = relay_world
    one, two = _port(w, "host1"), _port(w, "host2")
    banners = [Banner(one, "host1"), Banner(two, "host2")]
    try:
        sid, alice_key = _approved(w, "alice", "host1")
        alice = w.key_file("alice", alice_key)
        through = w.open_through(alice, one)
        assert through.stdout == "host1\n", through.stderr
        # the other customer's host, and any other port: administratively prohibited
        assert "host2" not in w.open_through(alice, two).stdout
        assert w.open_through(alice, w.relay.port).returncode != 0
        # no shell on the relay
        shell = w.ssh("vxeng", alice, "echo", "pwned")
        assert "pwned" not in shell.stdout and shell.returncode != 0
        # the certificate is no way in either (the relay hop takes the plain key only)
        cert = w.folder / "alice.key-cert.pub"
        approved = w.world.client.get(
            f"/api/v1/engineer/sessions/{sid}", headers=w.world.engineers["alice"]
        ).json()
        cert.write_text(approved["certificate"] + "\n")
        bob = w.key_file("bob", asyncssh.generate_private_key("ssh-ed25519"))
        unknown = w.open_through(bob, one)
        assert unknown.returncode == 255 and "Permission denied" in unknown.stderr

        # bob holds a grant on host2 only
        _bob_sid, bob_key = _approved(w, "bob", "host2")
        bob = w.key_file("bob2", bob_key)
        assert w.open_through(bob, two).stdout == "host2\n"
        assert "host1" not in w.open_through(bob, one).stdout

        # revoked: refused at once
        revoked = w.world.client.post(
            f"/api/v1/engineer/sessions/{sid}/revoke", headers=w.world.engineers["alice"]
        )
        assert revoked.status_code == 200
        after = w.open_through(alice, one)
        assert after.returncode == 255 and "Permission denied" in after.stderr
    finally:
        for b in banners:
            b.close()


def test_expired_and_not_yet_approved_grants_open_nothing(relay_world: RelayWorld) -> None:
    w = relay_world
    port = _port(w, "host1")
    banner = Banner(port, "host1")
    try:
        # a grant whose window lies in the past (desk clock set back for the decision)
        real = w.world.desk.clock.now
        w.world.desk.clock.now = real - timedelta(minutes=20)
        _sid, old_key = _approved(w, "alice", "host1", minutes=10)
        w.world.desk.clock.now = real
        expired = w.open_through(w.key_file("old", old_key), port)
        assert expired.returncode == 255 and "Permission denied" in expired.stderr

        # pending (not yet decided) and denied requests open nothing
        key = asyncssh.generate_private_key("ssh-ed25519")
        pub = key.export_public_key().decode().strip()
        case = w.world.hosts["host1"].case_number
        sid = w.world.ask("alice", case, public_key=pub).json()["session_id"]
        path = w.key_file("pending", key)
        assert w.open_through(path, port).returncode == 255
        assert w.world.decide("host1", sid, approved=False).status_code == 200
        assert w.open_through(path, port).returncode == 255
    finally:
        banner.close()
