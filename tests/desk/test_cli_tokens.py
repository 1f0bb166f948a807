"""``vxassist desk host list|revoke`` and ``vxassist desk engineer remove``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.desk.test_cli import run
from vxassist.desk import admin
from vxassist.desk.config import DeskConfig
from vxassist.desk.db import Database, upgrade
from vxassist.desk.models import Agent


def test_host_revoke_and_engineer_remove(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'admin.sqlite3'}"
    upgrade(url)
    db = Database(url)
    now = datetime.now(UTC)
    admin.add_contract(
        db,
        admin.NewContract("C-1", "Acme", date(2099, 1, 1), "Ann", "555", "a@x.example"),
        now,
        DeskConfig(),
    )
    with db.writing() as session:
        session.add(
            Agent(
                agent_id="a1",
                contract_id="C-1",
                hostname="vxhost1",
                token_hash="h" * 64,
                enrolled_at=now,
            )
        )
    admin.add_engineer(db, "jdoe", now)
    db.dispose()
    config = ["--db", url]
    code, listed, _ = run(capsys, "desk", "host", "list", *config, "--json")
    assert code == 0 and [h["agent_id"] for h in listed["hosts"]] == ["a1"]
    code, out, _ = run(capsys, "desk", "host", "revoke", "a1", *config)
    assert code == 0 and "host a1 (vxhost1) revoked" in out
    code, _, err = run(capsys, "desk", "host", "revoke", "nope", *config)
    assert code != 0 and "There is no host nope" in err
    code, removed, _ = run(capsys, "desk", "engineer", "remove", "jdoe", *config, "--json")
    assert code == 0 and removed == {"name": "jdoe", "revoked_sessions": [], "unassigned_cases": 0}
    code, engineers, _ = run(capsys, "desk", "engineer", "list", *config, "--json")
    assert engineers == {"engineers": []}
    db = Database(url)
    with db.reading() as session:
        agent = session.get(Agent, "a1")
        assert agent is not None and agent.token_hash != "h" * 64
    db.dispose()
