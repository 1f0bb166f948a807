"""The event loop: uvloop where installed, asyncio's own on request or where it is not."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from pathlib import Path

import pytest

from tests.remote.test_terminal import Collector
from vxassist import eventloop
from vxassist.remote.terminal import PipeProcess, UnixPty

HAS_UVLOOP = importlib.util.find_spec("uvloop") is not None
LOOPS = [
    "asyncio",
    pytest.param("uvloop", marks=pytest.mark.skipif(not HAS_UVLOOP, reason="no uvloop")),
]
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "xterm"}


def _loop_class(kind: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(eventloop.ENV_VAR, kind)

    async def main() -> str:
        return type(asyncio.get_running_loop()).__module__

    return eventloop.run(main())


@pytest.mark.skipif(not HAS_UVLOOP, reason="no uvloop")
def test_uvloop_is_the_default_where_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(eventloop.ENV_VAR, raising=False)
    assert eventloop.loop_kind() == "uvloop"
    assert _loop_class("", monkeypatch).startswith("uvloop")


@pytest.mark.skipif(not HAS_UVLOOP, reason="no uvloop")
def test_uvloop_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _loop_class("uvloop", monkeypatch).startswith("uvloop")
    assert eventloop.loop_kind() == "uvloop"


def test_the_stock_loop_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _loop_class("asyncio", monkeypatch).startswith("asyncio")
    assert eventloop.loop_kind() == "asyncio"


@pytest.mark.parametrize("wanted", ["", "uvloop"])
def test_the_stock_loop_when_uvloop_is_missing(
    wanted: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import fails as if not installed
    monkeypatch.setenv(eventloop.ENV_VAR, wanted)
    assert eventloop.loop_kind() == "asyncio"
    loop = eventloop.new_event_loop()
    try:
        assert type(loop).__module__.startswith("asyncio")
    finally:
        loop.close()
    # a warning only when uvloop was asked for by name (Windows has none, by design)
    assert bool([r for r in caplog.records if "not installed" in r.getMessage()]) == bool(wanted)


def test_run_returns_the_result_and_raises_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    async def fail() -> None:
        raise LookupError("x")

    assert eventloop.run(answer()) == 42
    with pytest.raises(LookupError):
        eventloop.run(fail())


@pytest.mark.skipif(sys.platform == "win32", reason="Unix PTY")
@pytest.mark.parametrize("kind", LOOPS)
def test_pty_child_leads_a_session_with_the_terminal_as_controlling_one(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under uvloop the child's set-up runs before its stdio is in place: still a ctty."""
    monkeypatch.setenv(eventloop.ENV_VAR, kind)
    script = 'echo via-tty > /dev/tty && echo "sid=$(ps -o sid= -p $$ | tr -d " ") pid=$$"; exit 3'

    async def main() -> tuple[bytes, int]:
        seen = Collector()
        term = await UnixPty.spawn(["/bin/sh", "-c", script], ENV, str(tmp_path), seen)
        status = await seen.status()
        term.close()
        return seen.out, status

    out, status = eventloop.run(main())
    text = out.decode()
    assert "via-tty" in text  # /dev/tty opens only with a controlling terminal
    fields = dict(part.split("=") for part in text.split() if "=" in part)
    assert fields["sid"] == fields["pid"]
    assert status == 3


@pytest.mark.skipif(sys.platform == "win32", reason="Unix pipes")
@pytest.mark.parametrize("kind", LOOPS)
def test_a_command_gets_pipes_not_sockets(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a socket on stdin bash takes itself for an rsh/ssh login and reads ~/.bashrc."""
    monkeypatch.setenv(eventloop.ENV_VAR, kind)
    script = "test -p /dev/stdin && test -p /dev/stdout && test -p /dev/stderr && echo pipes"

    async def main() -> tuple[bytes, int]:
        seen = Collector()
        proc = await PipeProcess.spawn(["/bin/sh", "-c", script], ENV, str(tmp_path), seen)
        status = await seen.status()
        proc.close()
        return seen.out, status

    assert eventloop.run(main()) == (b"pipes\n", 0)
