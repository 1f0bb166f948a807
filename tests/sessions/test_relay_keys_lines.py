"""relay-keys decisions, pure: the lines sshd gets, and the silence when nothing applies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncssh

from vxassist.desk.relay_keys import (
    EngineerGrant,
    authorized_lines,
    live_ports,
    normalized_key,
)

NOW = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)
KEY = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().split()
OTHER = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().split()


class Table:
    def __init__(self) -> None:
        self.agents: dict[str, int] = {}
        self.grants: dict[str, list[EngineerGrant]] = {}

    def agent_port(self, key: str) -> int | None:
        return self.agents.get(key)

    def engineer_grants(self, key: str) -> list[EngineerGrant]:
        return self.grants.get(key, [])


def _grant(port: int, start: int, stop: int, status: str = "open") -> EngineerGrant:
    return EngineerGrant(
        port, NOW + timedelta(minutes=start), NOW + timedelta(minutes=stop), status
    )


def test_agent_key_listens_on_its_own_port_only() -> None:
    table = Table()
    table.agents[" ".join(KEY)] = 20001
    assert authorized_lines("vxagent", KEY[0], KEY[1], table, NOW) == [
        f'restrict,port-forwarding,permitlisten="127.0.0.1:20001" {KEY[0]} {KEY[1]}'
    ]
    assert authorized_lines("vxagent", OTHER[0], OTHER[1], table, NOW) == []
    # a host key is no engineer key, and no other account exists
    assert authorized_lines("vxeng", KEY[0], KEY[1], table, NOW) == []
    assert authorized_lines("root", KEY[0], KEY[1], table, NOW) == []


def test_engineer_key_opens_live_grants_only() -> None:
    table = Table()
    table.grants[" ".join(KEY)] = [
        _grant(20001, -1, 10),
        _grant(20002, -20, -1),  # expired
        _grant(20003, 5, 20),  # not yet
        _grant(20004, -1, 10, "closed"),  # case closed
        _grant(20001, -1, 10),
    ]
    assert authorized_lines("vxeng", KEY[0], KEY[1], table, NOW) == [
        f'restrict,port-forwarding,permitopen="127.0.0.1:20001" {KEY[0]} {KEY[1]}'
    ]
    table.grants[" ".join(KEY)].append(_grant(20005, 0, 5))
    line = authorized_lines("vxeng", KEY[0], KEY[1], table, NOW)[0]
    assert 'permitopen="127.0.0.1:20001",permitopen="127.0.0.1:20005"' in line
    assert authorized_lines("vxagent", KEY[0], KEY[1], table, NOW) == []


def test_skew_allowance_at_start_only() -> None:
    g = [_grant(1, 0, 1)]
    assert live_ports(g, NOW - timedelta(seconds=30)) == [1]
    assert live_ports(g, NOW - timedelta(seconds=31)) == []
    assert live_ports(g, NOW + timedelta(minutes=1)) == []


def test_forged_or_odd_keys_are_not_looked_up() -> None:
    assert normalized_key(KEY[0], KEY[1]) == " ".join(KEY)
    assert normalized_key("ecdsa-sha2-nistp256", KEY[1]) is None  # type/blob mismatch
    assert normalized_key("ssh-ed25519-cert-v01@openssh.com", KEY[1]) is None
    assert normalized_key(KEY[0], "AAAA$$") is None
    assert normalized_key(KEY[0], 'AAAA" command="x') is None
    table = Table()
    table.agents[" ".join(KEY)] = 1
    assert authorized_lines("vxagent", KEY[0], KEY[1] + "\nfoo", table, NOW) == []
