"""Asking a host for a remote session from the console, and following it to its summary."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.console.conftest import Console
from tests.desk.conftest import Desk
from tests.sessions.conftest import new_key, sessions_config
from vxassist.desk.config import DeskConfig


@pytest.fixture
def desk_config() -> DeskConfig:
    return sessions_config()


def test_a_session_asked_in_the_console_is_followed_to_its_summary(
    desk: Desk, signed_in: Console
) -> None:
    desk.add_contract("C-1")
    enrolled = desk.client.post(
        "/api/v1/enroll",
        json={"code": desk.code("C-1"), "hostname": "vxt01", "host_public_key": new_key()[1]},
    )
    assert enrolled.status_code == 201, enrolled.text
    host = {"Authorization": f"Bearer {enrolled.json()['token']}"}
    number = desk.create(host).json()["case_number"]
    page = f"/console/cases/{number}"

    asked = signed_in.post_form(
        page,
        f"{page}/session",
        {
            "scope_shell": "1",
            "scope_files": "1",
            "forwards": "127.0.0.1:3389",
            "minutes": "20",
            "reason": "look at the SMDR collector",
            "public_key": new_key()[1],
        },
    )
    assert "requested; read the customer the code" in asked.text, asked.text
    code = re.search(r"the code ([A-Z0-9-]+)\.", asked.text)
    assert code
    # pending: the page refreshes itself (no JavaScript) and shows the code to read out
    assert '<meta http-equiv="refresh"' in asked.text
    assert f"<strong>{code.group(1)}</strong>" in asked.text

    # the host sees the request through its poll, and the customer approves
    polled = desk.client.get("/api/v1/agent/session-requests", headers=host).json()
    request = polled["requests"][0]
    assert request["scopes"] == ["shell", "files", "forward:127.0.0.1:3389"]
    now = desk.clock()
    decided = desk.client.post(
        f"/api/v1/agent/session-requests/{request['session_id']}/decision",
        json={
            "approved": True,
            "scopes": ["shell"],
            "not_before": now.isoformat(),
            "not_after": (now + timedelta(minutes=10)).isoformat(),
            "note": "only the shell, please",
        },
        headers=host,
    )
    assert decided.status_code == 200, decided.text
    approved = signed_in.get(page).text
    assert "approved" in approved and "only the shell, please" in approved
    assert '<meta http-equiv="refresh"' not in approved

    ended = desk.client.post(
        f"/api/v1/agent/sessions/{request['session_id']}/ended",
        json={"reason": "ended by the customer", "summary": {"commands": 3}},
        headers=host,
    )
    assert ended.status_code == 200, ended.text
    final = signed_in.get(page).text
    assert "ended by the customer" in final
    assert re.search(r"<summary>Summary</summary>.*<dt>commands</dt><dd>3</dd>", final, re.S)
