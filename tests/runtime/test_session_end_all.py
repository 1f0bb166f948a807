"""``vxassist session end --all``: what installers run before an upgrade or removal.

A real control server (as the agent runs it) on a loop thread of its own; the
command is the real command line, in-process.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from vxassist import cli, control
from vxassist.errors import VxError
from vxassist.paths import Paths
from vxassist.remote.cli import NO_AGENT_EXIT

pytestmark = pytest.mark.timeout(60)


class Agent:
    """Live sessions s1, s2 and a stuck s3 that refuses to end."""

    def __init__(self, paths: Paths, live: list[str]) -> None:
        self.live = list(live)
        self.loop = asyncio.new_event_loop()
        self.server = control.ControlServer(paths, self.handle)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)

    async def handle(self, command: str, args: dict[str, Any]) -> Any:
        if command == "sessions":
            return [{"session_id": s} for s in self.live]
        if command == "end":
            if args["session_id"] == "s3":
                raise VxError("The session's shell did not close; end it again.")
            self.live.remove(args["session_id"])
            return {"session_id": args["session_id"], "ended": True}
        return {}

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def agent(paths: Paths) -> Iterator[Agent]:
    running = Agent(paths, ["s1", "s2"])
    yield running
    running.close()


def test_every_live_session_is_ended(agent: Agent, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["session", "end", "--all"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "Session s1 ended: every channel is closed.",
        "Session s2 ended: every channel is closed.",
    ]
    assert agent.live == []
    assert cli.main(["session", "end", "--all", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"ended": [], "failed": []}


def test_one_that_will_not_end_does_not_keep_the_others_and_fails_the_exit(
    agent: Agent, capsys: pytest.CaptureFixture[str]
) -> None:
    agent.live = ["s3", "s1"]
    assert cli.main(["session", "end", "--all"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "Session s1 ended: every channel is closed.",
        "Session s3 did not end: The session's shell did not close; end it again.",
    ]
    assert agent.live == ["s3"]


def test_no_agent_running_is_its_own_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["session", "end", "--all"]) == NO_AGENT_EXIT
    assert "No vxassist agent is running" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["session", "end"], ["session", "end", "s1", "--all"]])
def test_one_id_or_all(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    assert "Give one session id, or --all" in capsys.readouterr().err
