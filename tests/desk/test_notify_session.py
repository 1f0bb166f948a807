"""A remote session's summary reaches the case's technical contact by e-mail."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.desk.conftest import Desk, SettableClock
from tests.desk.smtp import SmtpServer, smtp  # noqa: F401 (fixture)
from tests.desk.test_notify import CONTACT, mail_config
from tests.sessions.conftest import World, build_world, sessions_config
from vxassist.desk.app import create_app


@pytest.fixture
def world(tmp_path: Path, smtp: SmtpServer) -> Iterator[World]:  # noqa: F811
    clock = SettableClock()
    mailing = mail_config(smtp)
    config = dataclasses.replace(
        sessions_config(request_timeout_s=180, poll_interval_s=0.2, max_wait_s=20),
        mail=mailing.mail,
        escalation=mailing.escalation,
        public_url=mailing.public_url,
    )
    url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    app = create_app(url, config, clock=clock)
    with TestClient(app) as client:
        yield build_world(Desk(app, client, app.state.db, clock, config, url))


def test_the_session_summary_is_mailed_to_the_contact(
    world: World,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    one = world.hosts["host1"]
    sid = world.ask("alice", one.case_number).json()["session_id"]
    assert world.decide("host1", sid).status_code == 200
    summary = {"files": ["/var/log/vxtracker/smdr.log"], "commands": ["systemctl status vxc"]}
    ended = world.client.post(
        f"/api/v1/agent/sessions/{sid}/ended",
        json={"reason": "ended by the customer", "summary": summary},
        headers=one.headers,
    )
    assert ended.status_code == 200, ended.text
    [mail] = [m for m in smtp.wait_for(CONTACT) if "session" in m.subject]
    assert f"[Case {one.case_number}]" in mail.subject
    assert "alice" in mail.body and "smdr.log" in mail.body
    assert "systemctl status vxc" in mail.body
