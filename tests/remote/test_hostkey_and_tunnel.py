"""The host key, the relay's known_hosts handling, and the service's own refusals."""

from __future__ import annotations

import asyncio
import json
import stat
from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures.ssh import TestCA
from vxassist.paths import Paths
from vxassist.remote.audit import AuditLog
from vxassist.remote.errors import GrantError, HostKeyError, RemoteError, TunnelError
from vxassist.remote.grants import Grant, Scope, key_id_for
from vxassist.remote.hostkey import (
    ensure_host_key,
    host_key_path,
    load_host_certificate,
    load_host_key,
    public_key_line,
)
from vxassist.remote.service import RelayEndpoint, RemoteSessionService
from vxassist.remote.tunnel import _CoalescingChannel, relay_known_hosts, writes_joined
from vxassist.settings import RemotePolicy


def test_host_key_made_once_and_private(paths: Paths) -> None:
    line = ensure_host_key(paths)
    assert line.startswith("ssh-ed25519 ")
    assert ensure_host_key(paths) == line
    assert stat.S_IMODE(host_key_path(paths).stat().st_mode) == 0o600
    assert public_key_line(load_host_key(paths)) == line


def test_missing_host_key_says_enroll(paths: Paths) -> None:
    with pytest.raises(HostKeyError, match="enroll"):
        load_host_key(paths)


def test_host_certificate_from_enrollment(paths: Paths) -> None:
    ensure_host_key(paths)
    assert load_host_certificate(paths) is None
    cert = TestCA().sign_host(load_host_key(paths), "vx-7")
    (paths.data_dir / "enrollment.json").write_text(
        json.dumps({"host_certificate": cert.export_certificate().decode()})
    )
    loaded = load_host_certificate(paths)
    assert loaded is not None and list(loaded.principals) == ["vx-7"]
    (paths.data_dir / "enrollment.json").write_text(json.dumps({"host_certificate": "junk"}))
    with pytest.raises(HostKeyError, match="enroll this host again"):
        load_host_certificate(paths)


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPH2GQYeVjLhaDsxNG2W7ex0/cE5iQpzBotV5qNPexxP"


@pytest.mark.parametrize("known", [KEY, f"[relay.example]:2222 {KEY}", f"# comment\n{KEY}\n"])
def test_relay_known_hosts_forms(known: str) -> None:
    relay = RelayEndpoint("relay.example", 2222, "vxagent", 40001, known)
    assert relay_known_hosts(relay) is not None


@pytest.mark.parametrize("known", ["", "# only a comment", "ssh-ed25519 not-base64!"])
def test_relay_known_hosts_refused(known: str) -> None:
    with pytest.raises(TunnelError):
        relay_known_hosts(RelayEndpoint("relay.example", 2222, "vxagent", 40001, known))


def _grant(session_id: str, minutes: float) -> Grant:
    now = datetime.now(UTC)
    return Grant(
        session_id,
        "alice",
        1,
        (Scope("shell"),),
        now - timedelta(minutes=1),
        now + timedelta(minutes=minutes),
        key_id_for("alice", 1, session_id),
    )


def test_service_refuses_dead_grants_and_bad_ca(paths: Paths) -> None:
    audit = AuditLog.for_paths(paths)
    with pytest.raises(RemoteError, match="CA key"):
        RemoteSessionService(paths, RemotePolicy(), audit, "not a key")
    service = RemoteSessionService(paths, RemotePolicy(), audit, TestCA().public_line)
    relay = RelayEndpoint("127.0.0.1", 1, "vxagent", 2, KEY)
    with pytest.raises(GrantError, match="already ended"):
        asyncio.run(service.start(_grant("old", -0.5), relay))
    assert service.active() == []
    assert asyncio.run(service.end("unknown", "x")) == {}
    with pytest.raises(GrantError, match="already used"):
        asyncio.run(service.start(_grant("unknown", 5), relay))


class _RecordingChannel:
    """The relay channel's edge: what the embedded server's writes became."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)


def test_server_writes_joined_per_turn_of_the_loop_or_per_block() -> None:
    """One tunnel message per burst: small separate writes stall on the relay (Nagle)."""

    async def run() -> None:
        relay_chan = _RecordingChannel()
        transport = _CoalescingChannel(relay_chan)
        transport.write(b"a")
        transport.write(b"b")
        assert relay_chan.writes == []  # at the end of this turn
        await asyncio.sleep(0)
        assert relay_chan.writes == [b"ab"]
        with writes_joined():
            transport.write(b"c")
            with writes_joined():
                transport.write(b"d")
            assert relay_chan.writes == [b"ab"]  # the outermost block sends
        assert relay_chan.writes == [b"ab", b"cd"]  # at once, not a turn later
        await asyncio.sleep(0)
        assert relay_chan.writes == [b"ab", b"cd"]

    asyncio.run(run())
