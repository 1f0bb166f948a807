"""The engineer's commands against a real desk over HTTP, and the ssh config they write,
read back by OpenSSH itself (``ssh -G``)."""

from __future__ import annotations

import json
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.desk.conftest import live_server
from tests.sessions.conftest import RELAY_KEY, World
from vxassist import cli
from vxassist.engineer import sessions
from vxassist.engineer.sshconfig import (
    RELAY_ALIAS,
    SessionEndpoint,
    SshConfigError,
    known_hosts,
    ssh_config,
)
from vxassist.paths import Paths

HOST_CA = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPBgsM4ArLI1NWVzKui75X6gGUlqAmA2qwFtWQ/lOwN2 ca"


def _endpoint(tmp_path: Path, **kw: Any) -> SessionEndpoint:
    base: dict[str, Any] = dict(
        session_id="0123456789abcdef",
        relay_host="relay.example.com",
        relay_port=2222,
        relay_user="vxeng",
        relay_known_hosts=RELAY_KEY,
        listen_port=20007,
        host_alias="vx-a1b2c3",
        host_ca_public_key=HOST_CA,
        identity_file=tmp_path / "dir with space 100%" / "id_ed25519",
        certificate_file=tmp_path / "dir with space 100%" / "session.cert",
        known_hosts_file=tmp_path / "dir with space 100%" / "known_hosts",
    )
    base.update(kw)
    return SessionEndpoint(**base)


def _effective(config: Path, host: str) -> dict[str, list[str]]:
    out = subprocess.run(
        ["ssh", "-G", "-F", str(config), host],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    seen: dict[str, list[str]] = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        seen.setdefault(key, []).append(value)
    return seen


def test_openssh_reads_the_two_hops_as_meant(tmp_path: Path) -> None:
    ep = _endpoint(tmp_path)
    config = tmp_path / "ssh_config"
    config.write_text(ssh_config(ep))
    agent = _effective(config, "vx-session-0123456789abcdef")
    assert agent["hostname"] == ["127.0.0.1"]
    assert agent["port"] == ["20007"]
    assert agent["user"] == ["0123456789abcdef"]
    assert agent["hostkeyalias"] == ["vx-a1b2c3"]
    assert agent["proxyjump"] == ["vx-relay-0123456789abcdef"]
    # ssh -G shows these two before %-expansion ("%%" is a literal "%" when loaded)
    assert agent["certificatefile"] == [str(ep.certificate_file).replace("%", "%%")]
    assert agent["identityfile"] == [str(ep.identity_file).replace("%", "%%")]
    assert agent["identitiesonly"] == ["yes"]
    assert agent["stricthostkeychecking"] == ["true"]
    assert agent["userknownhostsfile"] == [str(ep.known_hosts_file)]
    assert agent["globalknownhostsfile"] == ["/dev/null"]
    assert agent["forwardagent"] == ["no"]

    relay = _effective(config, "vx-relay-0123456789abcdef")
    assert relay["hostname"] == ["relay.example.com"]
    assert relay["port"] == ["2222"]
    assert relay["user"] == ["vxeng"]
    assert relay["hostkeyalias"] == [RELAY_ALIAS]
    assert "certificatefile" not in relay  # the relay hop uses the plain key only
    assert relay["identityfile"] == [str(ep.identity_file).replace("%", "%%")]
    assert relay["stricthostkeychecking"] == ["true"]

    lines = known_hosts(ep).splitlines()
    assert lines[0] == "@cert-authority vx-* " + " ".join(HOST_CA.split()[:2])
    assert lines[1] == f"{RELAY_ALIAS} {RELAY_KEY}"


def test_known_hosts_takes_keys_from_known_hosts_lines(tmp_path: Path) -> None:
    ep = _endpoint(tmp_path, relay_known_hosts=f"[127.0.0.1]:2222 {RELAY_KEY}\n")
    assert known_hosts(ep).splitlines()[1] == f"{RELAY_ALIAS} {RELAY_KEY}"
    with pytest.raises(SshConfigError):
        known_hosts(_endpoint(tmp_path, relay_known_hosts=""))
    with pytest.raises(SshConfigError):
        known_hosts(_endpoint(tmp_path, host_ca_public_key="garbage"))


@pytest.mark.parametrize(
    "change",
    [
        {"relay_host": "evil.example.com\n    ProxyCommand sh -c id"},
        {"host_alias": "vx-a b"},
        {"session_id": "x\nHost *"},
        {"listen_port": 0},
        {"relay_port": 70000},
    ],
)
def test_desk_values_cannot_inject_ssh_options(tmp_path: Path, change: dict[str, Any]) -> None:
    with pytest.raises(SshConfigError):
        ssh_config(_endpoint(tmp_path, **change))


@pytest.fixture
def engineer_desk(world: World) -> Iterator[str]:
    with live_server(world.desk.app) as url:
        yield url


def _login(world: World, url: str, name: str = "alice") -> None:
    token = world.engineers[name]["Authorization"].split()[1]
    assert cli.main(["engineer", "login", "--desk", url, "--token", token]) == 0


def _host_decides(world: World, approved: bool = True) -> threading.Thread:
    """The host: waits for the request by long poll, then answers it."""

    def run() -> None:
        for _ in range(50):
            requests = world.poll("host1", wait=5)["requests"]
            if requests:
                world.decide("host1", requests[0]["session_id"], approved=approved, minutes=15)
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_request_waits_for_approval_and_writes_the_files(
    world: World, engineer_desk: str, paths: Paths, capsys: pytest.CaptureFixture[str]
) -> None:
    _login(world, engineer_desk)
    capsys.readouterr()
    host = _host_decides(world)
    case = str(world.hosts["host1"].case_number)
    code = cli.main(
        [
            "engineer",
            "request",
            case,
            "--scope",
            "shell",
            "--scope",
            "files",
            "--minutes",
            "15",
            "--reason",
            "check the collector",
        ]
    )
    host.join(timeout=30)
    out = capsys.readouterr().out
    assert code == 0, out
    sid = out.split("Session ", 1)[1].split()[0]
    assert "Verification code: " in out
    assert "ssh -F " in out and f"vx-session-{sid}" in out
    files = sessions.files_for(paths, sid)
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    assert files.certificate.read_text().startswith("ssh-ed25519-cert-v01@openssh.com ")
    assert not (files.folder / "id_ed25519-cert.pub").exists()
    effective = _effective(files.ssh_config, f"vx-session-{sid}")
    assert effective["port"] == [str(world.hosts["host1"].enrollment["relay"]["listen_port"])]
    assert effective["hostkeyalias"] == [f"vx-{world.hosts['host1'].agent_id}"]
    ca_line = world.hosts["host1"].enrollment["host_ca_public_key"]
    assert f"@cert-authority vx-* {' '.join(ca_line.split()[:2])}" in files.known_hosts.read_text()

    assert cli.main(["engineer", "ssh-config", sid]) == 0
    assert capsys.readouterr().out.strip() == str(files.ssh_config)
    assert cli.main(["engineer", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["sessions"]
    assert [(s["session_id"], s["status"]) for s in listed] == [(sid, "approved")]

    assert cli.main(["engineer", "revoke", sid]) == 0
    assert "revoked" in capsys.readouterr().out
    assert not files.folder.exists()  # the spent key does not linger
    assert cli.main(["engineer", "connect", sid, "--", "true"]) != 0
    assert "not approved" in capsys.readouterr().err
    assert world.poll("host1")["revoked"] == [{"session_id": sid, "reason": "revoked by alice"}]


def test_denied_request_says_so(
    world: World, engineer_desk: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _login(world, engineer_desk)
    host = _host_decides(world, approved=False)
    code = cli.main(
        ["engineer", "request", str(world.hosts["host1"].case_number), "--reason", "look"]
    )
    host.join(timeout=30)
    assert code == 1
    assert "not approved: it is denied" in capsys.readouterr().err


def test_ctrl_c_withdraws_the_request(
    world: World,
    engineer_desk: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _login(world, engineer_desk)

    def interrupted(*_a: Any, **_k: Any) -> dict[str, Any]:
        raise KeyboardInterrupt

    monkeypatch.setattr(sessions, "wait_for_decision", interrupted)
    code = cli.main(
        ["engineer", "request", str(world.hosts["host1"].case_number), "--reason", "look"]
    )
    assert code == 130
    assert "withdrawn" in capsys.readouterr().err
    assert world.poll("host1")["requests"] == []


def test_session_commands_refuse_odd_ids_and_strangers(
    world: World, engineer_desk: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _login(world, engineer_desk, "bob")
    for bad in ("../../etc", "a b"):
        assert cli.main(["engineer", "ssh-config", bad]) != 0
    assert cli.main(["engineer", "revoke", "0" * 16]) != 0
    assert "no such session" in capsys.readouterr().err


def test_waiting_goes_round_until_the_customer_answers(
    world: World, engineer_desk: str, paths: Paths
) -> None:
    from vxassist.deskclient import DeskClient

    token = world.engineers["alice"]["Authorization"].split()[1]
    rounds: list[str] = []
    with DeskClient(engineer_desk, token, timeout=20) as client:
        session, files = sessions.request_session(
            client, paths, world.hosts["host1"].case_number, ["files"], 5, "logs"
        )
        assert files.key.exists() and session["status"] == "pending"

        def on_round(s: dict[str, Any]) -> None:
            rounds.append(s["status"])
            if len(rounds) == 2:  # the customer answers after two rounds
                assert (
                    world.decide("host1", s["session_id"], scopes=["files"], minutes=5).status_code
                    == 200
                )

        answer = sessions.wait_for_decision(client, session["session_id"], on_round, poll_s=0.2)
    assert rounds == ["pending", "pending"]
    assert answer["status"] == "approved" and answer["scopes"] == ["files"]
