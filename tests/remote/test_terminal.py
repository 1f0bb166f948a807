"""The shared terminal interface (Unix PTY, pipes) and the Windows parts that run anywhere."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


class Collector:
    """A process's owner, as the SSH channel is: keeps what the process reports."""

    def __init__(self) -> None:
        self.out = b""
        self.err = b""
        self.writable = 0
        self.done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.seen = asyncio.Event()

    def process_output(self, data: bytes, stderr: bool) -> None:
        if stderr:
            self.err += data
        else:
            self.out += data
        self.seen.set()

    def process_writable(self) -> None:
        self.writable += 1

    def process_done(self, status: int) -> None:
        assert not self.done.done(), "done reported twice"
        self.done.set_result(status)

    async def wait_for(self, text: bytes) -> None:
        while text not in self.out:
            self.seen.clear()
            await asyncio.wait_for(self.seen.wait(), 10)

    async def status(self) -> int:
        return await asyncio.wait_for(self.done, 10)


@pytest.mark.skipif(sys.platform == "win32", reason="Unix PTY")
def test_pty_is_the_controlling_terminal_with_the_size_asked(tmp_path: Path) -> None:
    async def main() -> tuple[bytes, int]:
        seen = Collector()
        term = await UnixPty.spawn(
            ["/bin/sh", "-c", "tty; stty size; test -t 0 && echo interactive; exit 5"],
            ENV,
            str(tmp_path),
            seen,
            cols=100,
            rows=30,
        )
        status = await seen.status()
        term.close()
        return seen.out, status

    out, status = asyncio.run(main())
    assert b"/dev/pts/" in out
    assert b"30 100" in out
    assert b"interactive" in out
    assert status == 5


@pytest.mark.skipif(sys.platform == "win32", reason="Unix PTY")
def test_pty_input_resize_and_kill(tmp_path: Path) -> None:
    async def main() -> tuple[bytes, int]:
        seen = Collector()
        term = await UnixPty.spawn(["/bin/sh"], ENV, str(tmp_path), seen)
        term.resize(120, 40)
        assert term.write(b"stty size\n")
        await seen.wait_for(b"40 120")
        term.kill()
        return seen.out, await seen.status()

    out, status = asyncio.run(main())
    assert b"40 120" in out
    assert status == 128 + 9


@pytest.mark.skipif(sys.platform == "win32", reason="Unix PTY")
def test_pty_output_paused_and_resumed_loses_nothing(tmp_path: Path) -> None:
    """A full channel pauses reading the terminal; the child waits, nothing is lost."""

    async def main() -> tuple[bytes, int, int]:
        seen = Collector()
        term = await UnixPty.spawn(
            ["/bin/sh", "-c", "stty -onlcr; seq 1 20000; echo end"], ENV, str(tmp_path), seen
        )
        await seen.wait_for(b"\n")
        term.pause_output()
        held = len(seen.out)
        await asyncio.sleep(0.3)  # the child fills the terminal's buffer and blocks
        during = len(seen.out) - held
        term.resume_output()
        status = await seen.status()
        term.close()
        return seen.out, during, status

    out, during, status = asyncio.run(main())
    assert during == 0
    assert out.decode().split() == [*map(str, range(1, 20001)), "end"]
    assert status == 0


@pytest.mark.skipif(sys.platform == "win32", reason="Unix PTY")
def test_pty_input_the_child_does_not_read_yet_is_held_not_dropped(tmp_path: Path) -> None:
    """More input than the terminal takes: write says so, and later delivers all of it."""

    async def main() -> tuple[bytes, list[bool], int, int]:
        seen = Collector()
        term = await UnixPty.spawn(
            ["/bin/sh", "-c", "stty raw -echo; sleep 0.5; head -c 200000 | wc -c"],
            ENV,
            str(tmp_path),
            seen,
        )
        await asyncio.sleep(0.2)  # stty done, the shell sleeps and reads nothing
        answers = [term.write(b"x" * 10000) for _ in range(20)]
        status = await seen.status()
        term.close()
        return seen.out, answers, seen.writable, status

    out, answers, writable, status = asyncio.run(main())
    assert status == 0
    assert out.split()[-1] == b"200000"
    assert answers[0] is True and answers[-1] is False  # backed up at some point
    assert writable == 1


def test_pipes_keep_stdout_and_stderr_apart(tmp_path: Path) -> None:
    async def main() -> tuple[bytes, bytes, int]:
        seen = Collector()
        proc = await PipeProcess.spawn(
            ["/bin/sh", "-c", "cat; echo err >&2; exit 4"], ENV, str(tmp_path), seen
        )
        proc.write(b"in")
        proc.close_input()
        status = await seen.status()
        proc.close()
        return seen.out, seen.err, status

    assert asyncio.run(main()) == (b"in", b"err\n", 4)


def test_pipe_output_comes_first_even_when_the_child_exits_at_once(tmp_path: Path) -> None:
    async def main() -> tuple[bytes, int]:
        seen = Collector()
        proc = await PipeProcess.spawn(
            ["/bin/sh", "-c", "head -c 3000000 /dev/zero; kill -9 $$"], ENV, str(tmp_path), seen
        )
        status = await seen.status()
        proc.close()
        return seen.out, status

    out, status = asyncio.run(main())
    assert len(out) == 3_000_000
    assert status == 128 + 9


def test_pipe_flow_control_both_ways(tmp_path: Path) -> None:
    """A child that reads late backs up (write says so, writable follows); paused output
    is held in the child, and all of it arrives once resumed."""

    async def main() -> tuple[bytes, list[bool], int, int, int]:
        seen = Collector()
        proc = await PipeProcess.spawn(
            ["/bin/sh", "-c", "sleep 0.5; wc -c; head -c 2000000 /dev/zero"],
            ENV,
            str(tmp_path),
            seen,
        )
        answers = [proc.write(b"y" * 65536) for _ in range(16)]
        proc.close_input()
        await seen.wait_for(b"1048576")
        proc.pause_output()
        await asyncio.sleep(0.3)
        held = len(seen.out)
        await asyncio.sleep(0.3)
        during = len(seen.out) - held
        proc.resume_output()
        status = await seen.status()
        proc.close()
        return seen.out, answers, seen.writable, during, status

    out, answers, writable, during, status = asyncio.run(main())
    assert answers[0] is True and answers[-1] is False
    assert writable >= 1
    assert out.startswith(b"1048576\n") and len(out) == len(b"1048576\n") + 2_000_000
    assert during == 0
    assert status == 0


def test_spawn_failure_is_a_sentence(tmp_path: Path) -> None:
    async def main() -> None:
        await PipeProcess.spawn(["/nonexistent/shell"], ENV, str(tmp_path), Collector())

    with pytest.raises(RemoteError, match="could not be started"):
        asyncio.run(main())


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

        async def main() -> None:
            await WindowsPty.spawn(["cmd.exe"], {}, str(tmp_path), Collector())

        asyncio.run(main())


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


def test_asciicast_events_are_buffered_then_written_within_a_second(tmp_path: Path) -> None:
    from vxassist.remote import recording

    timers: list[tuple[float, Any]] = []

    class Timer:
        def __init__(self, delay: float, fn: Any) -> None:
            self.cancelled = False
            timers.append((delay, fn))

        def cancel(self) -> None:
            self.cancelled = True

    path = tmp_path / "b.cast"
    rec = AsciicastRecorder(path, 80, 24, datetime(2026, 11, 26, tzinfo=UTC), schedule=Timer)
    on_disk = path.read_bytes()
    assert on_disk.count(b"\n") == 1  # the header is written at once
    timers.clear()
    rec.output(b"typed")
    rec.input(b"ls")
    assert path.read_bytes() == on_disk  # held in memory ...
    assert [delay for delay, _ in timers] == [recording.FLUSH_S]  # ... one timer for both
    timers[0][1]()  # the second is up
    assert path.read_bytes().count(b"\n") == 3
    rec.output(b"z" * recording.FLUSH_BYTES)  # a large chunk goes out at once
    assert b"zzz" in path.read_bytes()
    rec.output(b"tail")
    digest = rec.close()
    text = path.read_text()
    assert text.endswith('"o", "tail"]\n')
    import hashlib

    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()


def test_asciicast_without_a_timer_writes_at_the_next_event_after_a_second(
    tmp_path: Path,
) -> None:
    now = [0.0]
    path = tmp_path / "c.cast"
    rec = AsciicastRecorder(
        path, 80, 24, datetime(2026, 11, 26, tzinfo=UTC), monotonic=lambda: now[0]
    )
    now[0] = 0.1
    rec.output(b"a")
    now[0] = 0.2
    rec.output(b"b")
    assert path.read_text().count("\n") == 1  # held
    now[0] = 1.3
    rec.output(b"c")  # more than a second since "a" was buffered: all three written
    assert path.read_text().count("\n") == 4
    rec.close()
