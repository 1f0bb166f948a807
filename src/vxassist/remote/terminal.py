"""Processes the engineer drives: a PTY (Unix pty, Windows ConPTY) or plain pipes.

All three share :class:`Terminal`: ``read()`` gives output until ``b""`` (EOF),
``write()`` feeds input, ``resize()``, ``wait()`` for the exit status,
``kill()``. Output is read by the event loop (Unix) or a worker thread
(Windows), never by blocking the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import struct
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from vxassist.remote.errors import RemoteError

#: the largest terminal we pass on (a client may send nonsense)
MAX_COLS = 1000
MAX_ROWS = 1000
#: how long to keep reading after the process ended, for output still in flight
DRAIN_S = 0.5


def clamp_size(cols: int, rows: int) -> tuple[int, int]:
    """A terminal size every platform accepts: 1..MAX in each direction (0 = 80x24)."""
    cols = 80 if cols <= 0 else min(cols, MAX_COLS)
    rows = 24 if rows <= 0 else min(rows, MAX_ROWS)
    return cols, rows


def windows_command_line(argv: Sequence[str]) -> str:
    """The one command-line string Windows' CreateProcess (and ConPTY) takes."""
    if not argv:
        raise RemoteError("No program was given to start.")
    return subprocess.list2cmdline(list(argv))


class Terminal(Protocol):
    async def read(self) -> bytes: ...

    def write(self, data: bytes) -> None: ...

    def close_input(self) -> None: ...

    def resize(self, cols: int, rows: int) -> None: ...

    async def wait(self) -> int: ...

    def kill(self) -> None: ...


class UnixPty:
    """A child on a new pseudo-terminal, which is its controlling terminal."""

    def __init__(self, master_fd: int, proc: asyncio.subprocess.Process) -> None:
        self._fd = master_fd
        self._proc = proc
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._eof = False
        self._closed = False
        self._loop.add_reader(self._fd, self._on_readable)

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str,
        cols: int = 80,
        rows: int = 24,
    ) -> UnixPty:
        import fcntl
        import pty
        import termios

        master, slave = pty.openpty()
        try:
            _set_winsize(master, *clamp_size(cols, rows))
            os.set_blocking(master, False)

            def make_controlling() -> None:  # runs in the child, before exec
                # A new session, with the terminal as its controlling one. Done here
                # rather than by start_new_session and fd 0: under uvloop this runs
                # before the child's standard streams are in place.
                if os.getsid(0) != os.getpid():
                    os.setsid()
                fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=dict(env),
                cwd=cwd,
                preexec_fn=make_controlling,
            )
        except OSError as exc:
            os.close(master)
            raise RemoteError(
                "The shell could not be started on this host.", detail=str(exc)
            ) from exc
        finally:
            os.close(slave)
        return cls(master, proc)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: every slave side is closed
            data = b""
        if not data:
            self._stop_reading()
        self._queue.put_nowait(data)

    def _stop_reading(self) -> None:
        if not self._eof:
            self._eof = True
            self._loop.remove_reader(self._fd)

    async def read(self) -> bytes:
        if self._eof and self._queue.empty():
            return b""
        exited = asyncio.ensure_future(self._proc.wait())
        getter = asyncio.ensure_future(self._queue.get())
        try:
            done, _ = await asyncio.wait({getter, exited}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                return getter.result()
            # The child is gone; a background job may hold the terminal: drain briefly.
            try:
                return await asyncio.wait_for(getter, DRAIN_S)
            except TimeoutError:
                self._stop_reading()
                return b""
        finally:
            getter.cancel()
            exited.cancel()

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._fd, view) :]
            except BlockingIOError:
                # the child does not read: drop rather than stall the loop
                return
            except OSError:
                return

    def close_input(self) -> None:
        self.write(b"\x04")

    def resize(self, cols: int, rows: int) -> None:
        with contextlib.suppress(OSError):
            _set_winsize(self._fd, *clamp_size(cols, rows))

    async def wait(self) -> int:
        code = await self._proc.wait()
        return code if code >= 0 else 128 - code

    def kill(self) -> None:
        """End the child's whole process group, and close the terminal."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        self._stop_reading()
        if not self._closed:
            self._closed = True
            os.close(self._fd)
        self._queue.put_nowait(b"")

    def close(self) -> None:
        self._stop_reading()
        if not self._closed:
            self._closed = True
            os.close(self._fd)


def _set_winsize(fd: int, cols: int, rows: int) -> None:
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class PipeProcess:
    """A command without a terminal (``ssh host cmd``): stdin, stdout, stderr as pipes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc

    @classmethod
    async def spawn(cls, argv: Sequence[str], env: Mapping[str, str], cwd: str) -> PipeProcess:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise RemoteError(
                "The command could not be started on this host.", detail=str(exc)
            ) from exc
        return cls(proc)

    async def read(self) -> bytes:
        assert self._proc.stdout is not None
        return await self._proc.stdout.read(65536)

    async def read_stderr(self) -> bytes:
        assert self._proc.stderr is not None
        return await self._proc.stderr.read(65536)

    def write(self, data: bytes) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.is_closing():
            self._proc.stdin.write(data)

    async def drain(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.is_closing():
            with contextlib.suppress(ConnectionError):
                await self._proc.stdin.drain()

    def close_input(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()

    def resize(self, cols: int, rows: int) -> None:
        return None

    async def wait(self) -> int:
        code = await self._proc.wait()
        return code if code >= 0 else 128 - code

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if sys.platform == "win32":
                self._proc.kill()
            else:
                os.killpg(self._proc.pid, signal.SIGKILL)


class WindowsPty:
    """A child on a Windows pseudo console (ConPTY through pywinpty)."""

    def __init__(self, process: Any) -> None:
        self._p = process
        self._loop = asyncio.get_running_loop()

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str,
        cols: int = 80,
        rows: int = 24,
    ) -> WindowsPty:
        if sys.platform != "win32":
            raise RemoteError("A Windows console can only be opened on Windows.")
        from winpty import PtyProcess  # pywinpty, Windows only

        cols, rows = clamp_size(cols, rows)
        try:
            process = await asyncio.to_thread(
                PtyProcess.spawn,
                windows_command_line(argv),
                cwd=cwd,
                env=dict(env),
                dimensions=(rows, cols),
            )
        except OSError as exc:
            raise RemoteError("The shell could not be started on this host.") from exc
        return cls(process)

    async def read(self) -> bytes:
        def blocking_read() -> bytes:
            try:
                text = self._p.read(65536)
            except EOFError:
                return b""
            return text.encode("utf-8") if isinstance(text, str) else bytes(text)

        return await asyncio.to_thread(blocking_read)

    def write(self, data: bytes) -> None:
        self._p.write(data.decode("utf-8", "replace"))

    def close_input(self) -> None:
        # Ctrl-Z then Enter is end of input for Windows console programs
        with contextlib.suppress(OSError, EOFError):
            self._p.write("\x1a\r\n")

    def resize(self, cols: int, rows: int) -> None:
        cols, rows = clamp_size(cols, rows)
        self._p.setwinsize(rows, cols)

    async def wait(self) -> int:
        await asyncio.to_thread(self._p.wait)
        return int(self._p.exitstatus or 0)

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self._p.terminate(force=True)


async def spawn_terminal(
    argv: Sequence[str], env: Mapping[str, str], cwd: str, cols: int, rows: int
) -> UnixPty | WindowsPty:
    """The platform's PTY for ``argv``."""
    if sys.platform == "win32":
        return await WindowsPty.spawn(argv, env, cwd, cols, rows)
    return await UnixPty.spawn(argv, env, cwd, cols, rows)
