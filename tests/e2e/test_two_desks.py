"""Two desk processes on one PostgreSQL: what an engineer does on one reaches a host
holding its long poll on the other (issue 11: "a reply made on one is seen by a host
polling the other").

Two real ``vxassist desk serve`` processes share one real PostgreSQL database. The
host enrolls, files its case and holds its long poll on desk B, with the agent's own
desk client and the cursor the agent's broker sends; the engineer works on desk A
with ``vxassist engineer case ...``. A reply and a status change answer the host's
poll with a moved ``case_cursor`` (through PostgreSQL's LISTEN/NOTIFY, bounded
waits only), and the host reads what changed with the cheap call
(``GET /api/v1/cases/changes?since=N``); an internal note moves nothing and leaves the
poll waiting. Skipped without PostgreSQL's binaries (CI installs them).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cases.conftest import CASE_FLAGS
from tests.fixtures.desk import RunningDesk
from tests.fixtures.postgres import PostgresServer, postgres_server  # noqa: F401 (fixture)
from vxassist.cli import main
from vxassist.cliutil import Context
from vxassist.deskclient import DeskClient

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

CONTRACT = "C-TWO"
POLL = "/api/v1/agent/session-requests"
#: how long the host's poll may wait (its desk answers earlier when it has news)
WAIT_S = 90
#: how long a poll is given to show it was not answered (a lower bound, never a speed check)
QUIET_S = 3.0


@dataclass
class TwoDesks:
    a: RunningDesk
    b: RunningDesk


@pytest.fixture
def two_desks(postgres_server: PostgresServer, tmp_path: Path) -> Iterator[TwoDesks]:  # noqa: F811
    from vxassist.desk.db import upgrade

    url = postgres_server.fresh_database()
    upgrade(url)  # once, before either desk starts
    a = RunningDesk(tmp_path / "desk-a", db_url=url)
    b = RunningDesk(tmp_path / "desk-b", db_url=url)
    try:
        with a, b:
            a.add_contract(CONTRACT, "Two Desks Hotels")
            yield TwoDesks(a, b)
    finally:
        postgres_server.drop_database(url)


class Poll:
    """One long poll of the host, held on a thread with a client of its own, as the
    agent's broker holds it (the cursor it last saw)."""

    def __init__(self, cursor: int) -> None:
        self.answer: dict[str, Any] = {}
        params = {"wait": str(WAIT_S), "cursor": str(cursor)}

        def hold() -> None:
            with host_client() as broker:
                self.answer = broker.request("GET", POLL, params=params)

        self._thread = threading.Thread(target=hold, daemon=True)
        self._thread.start()

    def waiting_after(self, seconds: float) -> bool:
        self._thread.join(seconds)
        return self._thread.is_alive()

    def join(self) -> dict[str, Any]:
        # well before the poll's own end: the answer came from the change, not the wait
        self._thread.join(WAIT_S - 30)
        assert not self._thread.is_alive(), "the host's long poll on desk B was not answered"
        return self.answer


def vx(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code = main([*args, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out) if out.strip() else None


def host_client() -> DeskClient:
    """The agent's own desk client (its enrollment's address and token)."""
    from vxassist.cases.intake import desk_client

    ctx = Context.create()
    client = desk_client(ctx.settings, ctx.secrets())
    client.timeout = WAIT_S + 30
    return client


def test_the_engineer_on_desk_a_reaches_the_host_polling_desk_b(
    two_desks: TwoDesks, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = two_desks.a, two_desks.b
    # the host talks to desk B only
    vx(capsys, "enroll", "--desk", b.url, "--code", b.enrollment_code(CONTRACT))
    number = int(vx(capsys, "case", "new", *CASE_FLAGS)["case_number"])
    # the engineer talks to desk A only
    vx(capsys, "engineer", "login", "--desk", a.url, "--token", a.add_engineer("two-desks"))

    with host_client() as host:
        assert host.base_url.rstrip("/") == b.url
        # the broker's first poll: at once, with the host's cursor
        cursor = int(host.request("GET", POLL)["case_cursor"])
        assert cursor > 0 and host.case_changes(cursor) == {"cursor": cursor, "cases": []}

        # a reply on desk A answers the poll held on desk B
        poll = Poll(cursor)
        reply = "Restart the SMDR collector, then send its log."
        vx(capsys, "engineer", "case", "reply", str(number), "--text", reply)
        replied = int(poll.join()["case_cursor"])
        assert replied > cursor
        # the cheap call names the case; the host reads the reply there
        assert host.case_changes(cursor) == {"cursor": replied, "cases": [number]}
        thread = host.get_case(number)["events"]
        assert [e["text"] for e in thread if e["kind"] == "reply"] == [reply]

        # an internal note on desk A: the cursor stays and the held poll goes on waiting
        poll = Poll(replied)
        vx(capsys, "engineer", "case", "note", str(number), "--text", "PBX firmware is old")
        assert host.case_changes(replied) == {"cursor": replied, "cases": []}
        assert poll.waiting_after(QUIET_S), "an internal note answered the host's poll"

        # a status change on desk A answers that same poll
        vx(capsys, "engineer", "case", "status", str(number), "waiting_customer")
        moved = int(poll.join()["case_cursor"])
        assert moved > replied
        assert host.case_changes(replied) == {"cursor": moved, "cases": [number]}
        seen = host.get_case(number)
        assert seen["status"] == "waiting_customer"
        assert "PBX firmware is old" not in json.dumps(seen)

    # the host's own command shows the same, through desk B
    shown = vx(capsys, "case", "show", str(number))
    assert shown["status"] == "waiting_customer"
    assert reply in json.dumps(shown)
