"""The local control channel: only the token holder is served, bad input never hurts.

A real :class:`ControlServer` on a loop of its own thread (as in the agent),
spoken to with the real client (:func:`control.ask`) and with raw sockets for
what the client would never send.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vxassist import control
from vxassist.errors import VxError
from vxassist.paths import Paths

pytestmark = pytest.mark.timeout(60)


class Agent:
    """A control server on its own loop thread, recording the commands it carried out."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.loop = asyncio.new_event_loop()
        self.server = control.ControlServer(paths, self.handle)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)

    async def handle(self, command: str, args: dict[str, Any]) -> Any:
        self.calls.append((command, args))
        if command == "end":
            if args.get("session_id") != "s1":
                raise VxError("No live session has that id.")
            return {"session_id": "s1", "ended": True}
        if command == "sessions":
            return [{"session_id": "s1"}]
        if command == "show":
            raise RuntimeError("a face that broke")
        return {"pid": os.getpid()}

    def raw(self, data: bytes, read: bool = True) -> dict[str, Any]:
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=20) as sock:
            sock.sendall(data)
            if not read:
                return {}
            sock.settimeout(20)
            got = b""
            while not got.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                got += chunk
        answer: dict[str, Any] = json.loads(got)
        return answer

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def agent(paths: Paths) -> Iterator[Agent]:
    running = Agent(paths)
    yield running
    running.close()


def test_the_token_holder_is_served(agent: Agent, paths: Paths) -> None:
    path = control.control_file(paths)
    assert path.stat().st_mode & 0o777 == 0o600
    assert control.ask(paths, "sessions") == [{"session_id": "s1"}]
    assert control.ask(paths, "end", session_id="s1") == {"session_id": "s1", "ended": True}
    assert agent.calls == [("sessions", {}), ("end", {"session_id": "s1"})]


def test_an_agent_error_is_its_sentence(agent: Agent, paths: Paths) -> None:
    with pytest.raises(control.ControlError, match="No live session has that id"):
        control.ask(paths, "end", session_id="nope")
    # an unexpected failure in the agent is a sentence naming the log, and the agent lives on
    with pytest.raises(control.ControlError, match=r"could not do 'show'.*log"):
        control.ask(paths, "show")
    assert control.ask(paths, "ping") == {"pid": os.getpid()}


def test_a_wrong_token_gets_an_error_and_nothing_is_done(agent: Agent) -> None:
    for token in ("0" * 64, "", None, 42, "\udcff" * 64, "x" * 10000):
        answer = agent.raw(
            json.dumps({"token": token, "command": "end", "args": {"session_id": "s1"}}).encode()
            + b"\n"
        )
        assert answer["ok"] is False and answer["code"] == "unauthorized", token
    assert agent.calls == []


@pytest.mark.parametrize(
    "data",
    [
        b"not json\n",
        b"[1, 2]\n",
        b'"just a string"\n',
        b"\xff\xfe\n",
        b"{" + b"x" * (control.MAX_LINE + 10) + b"}\n",
    ],
)
def test_bad_input_is_answered_with_an_error_line(agent: Agent, paths: Paths, data: bytes) -> None:
    answer = agent.raw(data)
    assert answer["ok"] is False and answer["code"] == "bad_request"
    assert agent.calls == []
    assert control.ask(paths, "ping") is not None  # still serving


def test_unknown_commands_and_bad_arguments_are_refused(agent: Agent, paths: Paths) -> None:
    token = json.loads(control.control_file(paths).read_text())["token"]
    for request in (
        {"token": token, "command": "shutdown"},
        {"token": token, "command": "end", "args": ["s1"]},
    ):
        answer = agent.raw(json.dumps(request).encode() + b"\n")
        assert answer["ok"] is False and answer["code"] == "bad_request"
    assert agent.calls == []


def test_a_client_that_sends_nothing_is_dropped(
    agent: Agent, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control, "READ_TIMEOUT_S", 0.3)
    with socket.create_connection(("127.0.0.1", agent.server.port), timeout=20) as idle:
        idle.settimeout(20)
        answer = json.loads(idle.recv(65536))
    assert answer["code"] == "timeout"
    assert control.ask(paths, "ping") is not None


def test_a_control_file_open_to_others_is_refused(agent: Agent, paths: Paths) -> None:
    path = control.control_file(paths)
    path.chmod(0o644)
    with pytest.raises(control.ControlError, match="is not used"):
        control.ask(paths, "end", session_id="s1")
    path.chmod(0o600)
    assert agent.calls == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="chown needs root")
def test_another_accounts_control_file_is_refused_but_an_administrator_may_use_it(
    agent: Agent, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = control.control_file(paths)
    os.chown(path, 12345, 12345)  # the agent of account 12345
    # root is the administrator: it may end that account's session
    assert control.ask(paths, "end", session_id="s1") == {"session_id": "s1", "ended": True}
    # any other account may not (the caller's uid is the one edge replaced)
    monkeypatch.setattr(control.os, "getuid", lambda: 4242)
    with pytest.raises(control.ControlError, match="is not used"):
        control.ask(paths, "end", session_id="s1")
    assert agent.calls == [("end", {"session_id": "s1"})]


def test_a_control_file_that_is_a_symlink_is_not_followed(agent: Agent, paths: Paths) -> None:
    path = control.control_file(paths)
    elsewhere = path.with_name("elsewhere.json")
    path.rename(elsewhere)
    path.symlink_to(elsewhere)
    with pytest.raises(control.ControlError):
        control.ask(paths, "ping")
    assert agent.calls == []


def test_no_agent_is_none(paths: Paths, tmp_path: Path) -> None:
    assert control.ask(paths, "ping") is None  # no file
    # a file left by an agent that is gone: its port no longer listens
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = control.control_file(paths)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"port": port, "token": "a" * 64, "pid": os.getpid()}, fh)
    assert control.ask(paths, "ping", timeout_s=5) is None
    # ... or its pid is gone (nothing is even sent then)
    path.write_text(json.dumps({"port": port, "token": "a" * 64, "pid": 2**22 + 12345}))
    assert control.ask(paths, "ping", timeout_s=5) is None


def test_a_damaged_control_file_says_so(paths: Paths) -> None:
    path = control.control_file(paths)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("{half")
    with pytest.raises(control.ControlError, match="damaged"):
        control.ask(paths, "ping")


def test_closing_removes_only_its_own_file(paths: Paths) -> None:
    first = Agent(paths)
    second = Agent(paths)  # took over the file
    first.close()
    assert control.control_file(paths).exists()
    assert control.ask(paths, "ping") is not None
    second.close()
    assert not control.control_file(paths).exists()
