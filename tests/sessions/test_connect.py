"""The whole chain from the engineer's chair: ``vxassist engineer request`` and
``connect`` with the stock ssh, through a REAL OpenSSH relay (keys from the desk's
relay-keys), into the agent's real embedded server, whose host key the desk
certified at enrollment and whose grant is the one the desk brokered. Then the
revoke reaches the host and its summary lands on the case.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.desk.conftest import Desk, SettableClock, live_server
from tests.fixtures.relay import Relay, free_port
from tests.sessions.conftest import Host, World
from vxassist import cli
from vxassist.desk.app import create_app
from vxassist.desk.config import DeskConfig
from vxassist.desk.sessions.config import RelayConfig, SessionsConfig
from vxassist.engineer import sessions
from vxassist.paths import Paths
from vxassist.remote.audit import AuditLog
from vxassist.remote.grants import Grant, Scope
from vxassist.remote.hostkey import CERT_NAME, ensure_host_key, load_host_key
from vxassist.remote.service import RemoteSessionService
from vxassist.remote.tunnel import RelayEndpoint
from vxassist.settings import RemotePolicy

pytestmark = pytest.mark.slow


@dataclass
class Chain:
    world: World
    relay: Relay
    url: str
    paths: Paths
    home: Path


@pytest.fixture
def chain(tmp_path: Path, paths: Paths) -> Iterator[Chain]:
    db_url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    relay = Relay(
        tmp_path / "relay",
        authorized_keys_command=[
            "/usr/bin/env",
            f"VXASSIST_HOME={tmp_path / 'relaykeys-home'}",
            sys.executable,
            "-m",
            "vxassist.desk.relay_keys",
            "--db",
            db_url,
            "%u",
            "%t",
            "%k",
        ],
    )
    first = free_port()
    config = DeskConfig(
        sessions=SessionsConfig(
            relay=RelayConfig(
                host=relay.host,
                port=relay.port,
                known_hosts=relay.host_key_line(),
                port_min=first,
                port_max=min(first + 100, 65535),
            ),
            request_timeout_s=600,
            poll_interval_s=0.2,
            max_wait_s=10,
        )
    )
    clock = SettableClock(datetime.now(UTC))
    app = create_app(db_url, config, clock=clock)
    home = tmp_path / "customer-home"
    home.mkdir()
    with TestClient(app) as client, relay, live_server(app) as url:
        desk = Desk(app, client, app.state.db, clock, config, db_url)
        world = World(desk)
        desk.add_contract("C-1")
        # the agent's own host key, enrolled: the desk certifies it
        host_line = ensure_host_key(paths)
        answer = client.post(
            "/api/v1/enroll",
            json={"code": desk.code("C-1"), "hostname": "vxhost1", "host_public_key": host_line},
        ).json()
        (paths.keys_dir / CERT_NAME).write_text(answer["host_certificate"] + "\n")
        headers = {"Authorization": f"Bearer {answer['token']}"}
        case = desk.create(headers).json()["case_number"]
        world.hosts["host1"] = Host("vxhost1", headers, answer, load_host_key(paths), case)
        world.engineers["alice"] = desk.engineer("alice")
        yield Chain(world, relay, url, paths, home)


def _grant(session: dict[str, Any]) -> Grant:
    sid = session["session_id"]
    return Grant(
        session_id=sid,
        engineer=session["engineer"],
        case_number=session["case_number"],
        scopes=tuple(Scope.parse(s) for s in session["scopes"]),
        not_before=datetime.fromisoformat(session["not_before"]),
        not_after=datetime.fromisoformat(session["not_after"]),
        key_id=f"{session['engineer']}/case-{session['case_number']}/session-{sid}",
    )


def test_engineer_connects_with_stock_ssh_and_the_summary_reaches_the_case(
    chain: Chain, capfd: pytest.CaptureFixture[str]
) -> None:
    world, host = chain.world, chain.world.hosts["host1"]
    token = world.engineers["alice"]["Authorization"].split()[1]
    assert cli.main(["engineer", "login", "--desk", chain.url, "--token", token]) == 0

    decided: dict[str, Any] = {}

    def customer() -> None:
        for _ in range(40):
            requests = world.poll("host1", wait=5)["requests"]
            if requests:
                answer = world.decide("host1", requests[0]["session_id"], scopes=["shell", "files"])
                decided.update(answer.json())
                return

    approver = threading.Thread(target=customer, daemon=True)
    approver.start()
    capfd.readouterr()
    code = cli.main(
        [
            "engineer",
            "request",
            str(host.case_number),
            "--scope",
            "shell",
            "--scope",
            "files",
            "--minutes",
            "30",
            "--reason",
            "collector check",
        ]
    )
    approver.join(timeout=30)
    assert code == 0, capfd.readouterr()
    sid = decided["session_id"]
    files = sessions.files_for(chain.paths, sid)
    enrollment = host.enrollment

    async def scenario() -> tuple[int, int, dict[str, Any]]:
        service = RemoteSessionService(
            chain.paths,
            RemotePolicy(file_roots=(str(chain.home),), allow_root_session=True),
            AuditLog.for_paths(chain.paths),
            enrollment["user_ca_public_key"],
            shell="/bin/sh",
            home=chain.home,
        )
        relay = enrollment["relay"]
        await service.start(
            _grant(decided),
            RelayEndpoint(
                relay["host"],
                relay["port"],
                relay["user"],
                relay["listen_port"],
                relay["known_hosts"],
            ),
        )
        try:
            ssh_rc = await asyncio.to_thread(
                cli.main,
                ["engineer", "connect", sid, "--", "-o", "BatchMode=yes", "echo", "hello-agent"],
            )
            # sftp with the same config, as the engineer would use it
            (chain.home / "smdr.log").write_text("record 1\n")
            sftp = await asyncio.to_thread(
                subprocess.run,
                [
                    "sftp",
                    "-F",
                    str(files.ssh_config),
                    "-o",
                    "BatchMode=yes",
                    "-b",
                    "-",
                    f"vx-session-{sid}",
                ],
                input=f"get {chain.home / 'smdr.log'} {chain.home.parent / 'got.log'}\n",
                capture_output=True,
                text=True,
                timeout=60,
            )
            # the engineer revokes; the host hears it and reports the summary
            assert cli.main(["engineer", "revoke", sid]) == 0
            revoked = world.poll("host1")["revoked"]
            assert [r["session_id"] for r in revoked] == [sid]
            summary = await service.end(sid, "revoked by the desk")
        finally:
            await service.close()
        return ssh_rc, sftp.returncode, summary

    ssh_rc, sftp_rc, summary = asyncio.run(scenario())
    out = capfd.readouterr()
    assert ssh_rc == 0, out.err
    assert "hello-agent" in out.out
    assert sftp_rc == 0
    assert (chain.home.parent / "got.log").read_text() == "record 1\n"
    assert not files.folder.exists()  # revoked: the session key is gone from disk

    ended = world.client.post(
        f"/api/v1/agent/sessions/{sid}/ended",
        json={"reason": "revoked by the desk", "summary": summary},
        headers=host.headers,
    )
    assert ended.status_code == 200, ended.text
    case = world.client.get(
        f"/api/v1/cases/{host.case_number}", headers=world.engineers["alice"]
    ).json()
    texts = [e["text"] for e in case["events"] if e["kind"] == "session_summary"]
    assert len(texts) == 1 and sid in texts[0] and "alice" in texts[0]
    # the grant is over: the relay no longer lets the session key through
    again = cli.main(["engineer", "connect", sid, "--", "-o", "BatchMode=yes", "true"])
    assert again != 0
