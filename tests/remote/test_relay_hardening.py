"""The shipped relay config on a real sshd: accounts get their one forward and nothing else."""

from __future__ import annotations

import subprocess
from pathlib import Path

import asyncssh
import pytest

from tests.fixtures.relay import AGENT, ENGINEER, Relay, free_port, relay_ssh_args, render_config
from tests.fixtures.ssh import write_private


def ssh(relay: Relay, key: Path, user: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*relay_ssh_args(relay, key, user), *args, relay.host],
        capture_output=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def keys(relay: Relay, tmp_path: Path) -> dict[str, Path]:
    out = {}
    for user, option in ((AGENT, "permitlisten"), (ENGINEER, "permitopen")):
        key = asyncssh.generate_private_key("ssh-ed25519")
        path = tmp_path / f"{user}_key"
        write_private(path, key.export_private_key("openssh"))
        line = key.export_public_key("openssh").decode().strip()
        relay.authorize(user, f'restrict,port-forwarding,{option}="127.0.0.1:40000" {line}')
        out[user] = path
    return out


@pytest.mark.parametrize("user", [AGENT, ENGINEER])
def test_no_command_and_no_terminal(relay: Relay, keys: dict[str, Path], user: str) -> None:
    command = ssh(relay, keys[user], user, "-o", "RemoteCommand=echo pwned")
    assert command.returncode != 0 and b"pwned" not in command.stdout
    tty = ssh(relay, keys[user], user, "-tt", "-o", "RemoteCommand=tty")
    assert tty.returncode != 0 and b"/dev/" not in tty.stdout


def test_agent_cannot_open_local_forwards(relay: Relay, keys: dict[str, Path]) -> None:
    result = ssh(relay, keys[AGENT], AGENT, "-W", f"127.0.0.1:{relay.port}")
    assert result.returncode != 0


def test_agent_listens_only_on_its_own_port(relay: Relay, keys: dict[str, Path]) -> None:
    other = ssh(relay, keys[AGENT], AGENT, "-N", "-R", f"127.0.0.1:{free_port()}:127.0.0.1:9")
    assert other.returncode != 0
    assert b"remote port forwarding failed" in other.stderr


def test_engineer_reaches_only_granted_ports(relay: Relay, keys: dict[str, Path]) -> None:
    other = ssh(relay, keys[ENGINEER], ENGINEER, "-W", f"127.0.0.1:{relay.port}")
    assert other.returncode != 0
    listen = ssh(relay, keys[ENGINEER], ENGINEER, "-N", "-R", "127.0.0.1:40000:127.0.0.1:9")
    assert listen.returncode != 0


def test_unknown_key_and_other_accounts_refused(relay: Relay, keys: dict[str, Path]) -> None:
    assert ssh(relay, keys[AGENT], ENGINEER, "-W", "127.0.0.1:40000").returncode == 255
    assert ssh(relay, keys[ENGINEER], "root", "-W", "127.0.0.1:40000").returncode == 255


def test_rendered_config_passes_sshd_check(relay: Relay) -> None:
    text = render_config(
        relay.folder,
        relay.port,
        ["/usr/local/bin/vxassist", "desk", "relay-keys", "--db", "sqlite:///x", "%u", "%t", "%k"],
    )
    assert "AuthorizedKeysCommand /usr/local/bin/vxassist desk relay-keys" in text
    assert "ForceCommand /bin/false" in text and "PermitTTY no" in text
    check = relay.folder / "check_config"
    check.write_text(text)
    result = subprocess.run(
        ["/usr/sbin/sshd", "-t", "-f", str(check)], capture_output=True, env=relay._env()
    )
    assert result.returncode == 0, result.stderr
