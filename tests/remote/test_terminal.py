"""The shared terminal interface (Unix PTY, pipes) and the Windows parts that run anywhere."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from vxassist.remote.errors import RemoteError
from vxassist.remote.recording import AsciicastRecorder
from vxassist.remote.terminal import (
    PipeProcess,
    UnixPty,
    WindowsPty,
    clamp_size,
    windows_command_line,
)

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "xterm"}


async def read_all(term: UnixPty | PipeProcess) -> bytes:
    out = b""
    while chunk := await asyncio.wait_for(term.read(), 10):
        out += chunk
    return out


@pytest.mark.skipif(sys.platform == "win32", reason="Unix PTY")
def test_pty_is_the_controlling_terminal_with_the_size_asked(tmp_path: Path) -> None:
    async def main() -> tuple[bytes, int]:
        term = await UnixPty.spawn(
            ["/bin/sh", "-c", "tty; stty size; test -t 0 && echo interactive; exit 5"],
            ENV,
            str(tmp_path),
            cols=100,
            rows=30,
        )
        out = await read_all(term)
        status = await term.wait()
        term.close()
        return out, status

    out, status = asyncio.run(main())
    assert b"/dev/pts/" in out
    assert b"30 100" in out
    assert b"interactive" in out
    assert status == 5


@pytest.mark.skipif(sys.platform == "win32", reason="Unix PTY")
def test_pty_input_resize_and_kill(tmp_path: Path) -> None:
    async def main() -> tuple[bytes, int]:
        term = await UnixPty.spawn(["/bin/sh"], ENV, str(tmp_path))
        term.resize(120, 40)
        term.write(b"stty size\n")
        out = b""
        while b"40 120" not in out:
            out += await asyncio.wait_for(term.read(), 10)
        term.kill()
        status = await asyncio.wait_for(term.wait(), 10)
        return out, status

    out, status = asyncio.run(main())
    assert b"40 120" in out
    assert status == 128 + 9


def test_pipes_keep_stdout_and_stderr_apart(tmp_path: Path) -> None:
    async def main() -> tuple[bytes, bytes, int]:
        proc = await PipeProcess.spawn(["/bin/sh", "-c", "cat; echo err >&2"], ENV, str(tmp_path))
        proc.write(b"in")
        await proc.drain()
        proc.close_input()
        out, err = await asyncio.gather(read_all(proc), proc.read_stderr())
        return out, err, await proc.wait()

    assert asyncio.run(main()) == (b"in", b"err\n", 0)


def test_spawn_failure_is_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(RemoteError, match="could not be started"):
        asyncio.run(PipeProcess.spawn(["/nonexistent/shell"], ENV, str(tmp_path)))


@pytest.mark.parametrize(
    ("asked", "given"),
    [((80, 24), (80, 24)), ((0, 0), (80, 24)), ((5000, 9000), (1000, 1000)), ((1, 1), (1, 1))],
)
def test_sizes_are_clamped(asked: tuple[int, int], given: tuple[int, int]) -> None:
    assert clamp_size(*asked) == given


def test_windows_command_line_quoting() -> None:
    assert windows_command_line(["cmd.exe"]) == "cmd.exe"
    assert (
        windows_command_line([r"C:\Program Files\VX\vx.exe", "a b", 'say "hi"', ""])
        == r'"C:\Program Files\VX\vx.exe" "a b" "say \"hi\"" ""'
    )
    with pytest.raises(RemoteError):
        windows_command_line([])


@pytest.mark.skipif(sys.platform == "win32", reason="checks the refusal off Windows")
def test_windows_console_refused_elsewhere(tmp_path: Path) -> None:
    with pytest.raises(RemoteError, match="only be opened on Windows"):
        asyncio.run(WindowsPty.spawn(["cmd.exe"], {}, str(tmp_path)))


def test_asciicast_v2_file(tmp_path: Path) -> None:
    ticks = iter([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    rec = AsciicastRecorder(
        tmp_path / "r.cast",
        100,
        30,
        datetime(2026, 11, 26, tzinfo=UTC),
        title="t",
        term="xterm",
        command="ls",
        monotonic=lambda: next(ticks),
    )
    rec.output("héllo".encode()[:2])  # a split UTF-8 sequence
    rec.output("héllo".encode()[2:])
    rec.input(b"ls\r")
    rec.resize(120, 40)
    digest = rec.close()
    assert rec.close() == digest
    lines = [json.loads(x) for x in (tmp_path / "r.cast").read_text().splitlines()]
    assert lines[0]["version"] == 2 and lines[0]["width"] == 100 and lines[0]["height"] == 30
    assert lines[0]["command"] == "ls"
    assert lines[1:] == [
        [0.5, "o", "h"],
        [1.0, "o", "éllo"],
        [1.5, "i", "ls\r"],
        [2.0, "r", "120x40"],
    ]
    import hashlib

    assert digest == hashlib.sha256((tmp_path / "r.cast").read_bytes()).hexdigest()


def test_shell_command_lines() -> None:
    from vxassist.remote.server import shell_argv

    if sys.platform == "win32":
        assert shell_argv("cmd.exe", "dir") == ["cmd.exe", "/c", "dir"]
    else:
        assert shell_argv("/bin/bash", "ls -l") == ["/bin/bash", "-c", "ls -l"]
        assert shell_argv("/bin/bash", "") == ["/bin/bash", "-l"]
        assert shell_argv("/opt/tools/runcmd", "x") == ["/opt/tools/runcmd", "-c", "x"]
    assert shell_argv(r"C:\Windows\System32\cmd.exe", "") == [r"C:\Windows\System32\cmd.exe"]
    assert windows_command_line(shell_argv("cmd.exe", 'type "C:\\vx log.txt"')) == (
        r'cmd.exe /c "type \"C:\vx log.txt\""'
    )
