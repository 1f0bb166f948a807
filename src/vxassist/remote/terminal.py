"""Processes the engineer drives: a PTY (Unix pty, Windows ConPTY) or plain pipes.

All three share :class:`Terminal` and report to a :class:`ProcessEvents` by
callbacks, on the event loop: output as it comes (``process_output``), input
room again after :meth:`Terminal.write` said the child is backed up
(``process_writable``), and once, when the output has ended and the child has
exited, its status (``process_done``). No task sits between the child and the
SSH channel: a byte typed by the engineer goes from the channel's callback
straight into the child, and its echo from the loop's reader straight into the
channel. Output is read by the event loop (Unix) or a worker thread (Windows),
never by blocking the loop.

Flow control both ways: :meth:`Terminal.pause_output` stops reading from the
child (the channel's send buffer is full), and ``write`` returns ``False`` when
the child's input is backed up (the caller stops reading the channel until
``process_writable``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from vxassist.remote.errors import RemoteError

#: the largest terminal we pass on (a client may send nonsense)
MAX_COLS = 1000
MAX_ROWS = 1000
#: how long to keep reading after the process ended, for output still in flight
DRAIN_S = 0.5
#: bytes read from the child per call
READ_SIZE = 65536
#: input queued for a child above this means "backed up"
INPUT_HIGH_WATER = 64 * 1024


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


def exit_status(code: int) -> int:
    """A shell-style status: the exit code, or 128 + the signal that ended it."""
    return code if code >= 0 else 128 - code


class ProcessEvents(Protocol):
    """What a running :class:`Terminal` tells its owner (always on the event loop)."""

    def process_output(self, data: bytes, stderr: bool) -> None: ...

    def process_writable(self) -> None: ...

    def process_done(self, status: int) -> None: ...


class Terminal(Protocol):
    def write(self, data: bytes) -> bool: ...

    def close_input(self) -> None: ...

    def pause_output(self) -> None: ...

    def resume_output(self) -> None: ...

    def resize(self, cols: int, rows: int) -> None: ...

    def kill(self) -> None: ...

    def close(self) -> None: ...


class _Completion:
    """Reports ``process_done`` once, when the output has ended and the child exited."""

    def __init__(self, events: ProcessEvents) -> None:
        self._events = events
        self._status: int | None = None
        self._output_open = True
        self._reported = False

    def exited(self, status: int) -> None:
        if self._status is None:
            self._status = status
            self._report()

    def output_ended(self) -> None:
        if self._output_open:
            self._output_open = False
            self._report()

    @property
    def has_exited(self) -> bool:
        return self._status is not None

    def _report(self) -> None:
        if self._status is not None and not self._output_open and not self._reported:
            self._reported = True
            self._events.process_done(self._status)


class _ExitWatch(asyncio.SubprocessProtocol):
    """Tells the PTY when its child exits (its streams are the terminal, not pipes)."""

    def __init__(self) -> None:
        self.owner: UnixPty | None = None
        self.transport: asyncio.SubprocessTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def process_exited(self) -> None:
        if self.owner is not None and self.transport is not None:
            self.owner._exited(exit_status(self.transport.get_returncode() or 0))


class UnixPty:
    """A child on a new pseudo-terminal, which is its controlling terminal."""

    def __init__(
        self,
        master_fd: int,
        transport: asyncio.SubprocessTransport,
        watch: _ExitWatch,
        events: ProcessEvents,
    ) -> None:
        self._fd = master_fd
        self._transport = transport
        self.pid = int(transport.get_pid())
        self._loop = asyncio.get_running_loop()
        self._done = _Completion(events)
        self._events = events
        self._reading = False
        self._paused = False
        self._output_ended = False
        self._closed = False
        self._pending = bytearray()  # input the terminal did not take yet
        self._drain_timer: asyncio.TimerHandle | None = None
        self._start_reading()
        watch.owner = self
        code = transport.get_returncode()
        if code is not None:  # exited before we listened
            self._exited(exit_status(code))

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str,
        events: ProcessEvents,
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

            loop = asyncio.get_running_loop()
            transport, watch = await loop.subprocess_exec(
                _ExitWatch,
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
        return cls(master, transport, watch, events)

    # output --------------------------------------------------------------------------

    def _start_reading(self) -> None:
        if not self._reading and not self._paused and not self._output_ended:
            self._reading = True
            self._loop.add_reader(self._fd, self._on_readable)

    def _stop_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:  # EIO: every slave side is closed
            data = b""
        if data:
            self._events.process_output(data, False)
        else:
            self._end_output()

    def _end_output(self) -> None:
        if not self._output_ended:
            self._stop_reading()
            self._output_ended = True
            if self._drain_timer is not None:
                self._drain_timer.cancel()
            self._done.output_ended()

    def pause_output(self) -> None:
        self._paused = True
        self._stop_reading()

    def resume_output(self) -> None:
        self._paused = False
        if not self._closed:
            self._start_reading()

    def _exited(self, status: int) -> None:
        self._done.exited(status)
        if not self._output_ended and self._drain_timer is None:
            # The child is gone; a background job may hold the terminal: drain briefly.
            self._drain_timer = self._loop.call_later(DRAIN_S, self._end_output)

    # input ---------------------------------------------------------------------------

    def write(self, data: bytes) -> bool:
        """Queue ``data`` for the child; ``False`` when its input is backed up."""
        if self._closed:
            return True
        if self._pending:
            self._pending += data
        else:
            self._pending = bytearray(data)
            self._flush_input()
            if self._pending:
                self._loop.add_writer(self._fd, self._on_writable)
        return len(self._pending) < INPUT_HIGH_WATER

    def _flush_input(self) -> None:
        try:
            written = os.write(self._fd, self._pending)
        except BlockingIOError:
            return
        except OSError:  # the terminal is gone; nobody reads this input any more
            written = len(self._pending)
        del self._pending[:written]

    def _on_writable(self) -> None:
        backed_up = len(self._pending) >= INPUT_HIGH_WATER
        self._flush_input()
        if not self._pending:
            self._loop.remove_writer(self._fd)
        if backed_up and len(self._pending) < INPUT_HIGH_WATER:
            self._events.process_writable()

    def close_input(self) -> None:
        self.write(b"\x04")

    def resize(self, cols: int, rows: int) -> None:
        if not self._closed:
            with contextlib.suppress(OSError):
                _set_winsize(self._fd, *clamp_size(cols, rows))

    def kill(self) -> None:
        """End the child's whole process group, and close the terminal."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self.close()

    def close(self) -> None:
        self._end_output()
        if self._pending:
            self._pending.clear()
            self._loop.remove_writer(self._fd)
        if not self._closed:
            self._closed = True
            os.close(self._fd)
        if self._done.has_exited:
            self._transport.close()


def _set_winsize(fd: int, cols: int, rows: int) -> None:
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class _PipeWatch(asyncio.SubprocessProtocol):
    """Forwards a piped child's output, its end and its exit to its :class:`PipeProcess`."""

    def __init__(self) -> None:
        self.owner: PipeProcess | None = None
        self.transport: asyncio.SubprocessTransport | None = None
        #: what happened before the owner was there (only at start-up)
        self.early: list[tuple[str, Any]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def _deliver(self, kind: str, arg: Any) -> None:
        if self.owner is None:
            self.early.append((kind, arg))
        else:
            self.owner._event(kind, arg)

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        self._deliver("data", (fd, bytes(data) if isinstance(data, bytes) else data.encode()))

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._deliver("lost", fd)

    def process_exited(self) -> None:
        self._deliver("exited", None)

    def pause_writing(self) -> None:  # the child's stdin is backed up
        self._deliver("pause", None)

    def resume_writing(self) -> None:
        self._deliver("resume", None)


class PipeProcess:
    """A command without a terminal (``ssh host cmd``): stdin, stdout, stderr as pipes."""

    def __init__(
        self, transport: asyncio.SubprocessTransport, watch: _PipeWatch, events: ProcessEvents
    ) -> None:
        self._transport = transport
        self.pid = int(transport.get_pid())
        self._events = events
        self._done = _Completion(events)
        self._open_outputs = {1, 2}
        self._stdin_full = False
        self._stdin: Any = transport.get_pipe_transport(0)
        self._outputs: list[Any] = [transport.get_pipe_transport(fd) for fd in (1, 2)]
        watch.owner = self
        for kind, arg in watch.early:
            self._event(kind, arg)
        watch.early.clear()

    @classmethod
    async def spawn(
        cls, argv: Sequence[str], env: Mapping[str, str], cwd: str, events: ProcessEvents
    ) -> PipeProcess:
        loop = asyncio.get_running_loop()
        try:
            transport, watch = await loop.subprocess_exec(
                _PipeWatch,
                *argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise RemoteError(
                "The command could not be started on this host.", detail=str(exc)
            ) from exc
        return cls(transport, watch, events)

    def _event(self, kind: str, arg: Any) -> None:
        if kind == "data":
            fd, data = arg
            self._events.process_output(data, fd == 2)
        elif kind == "lost":
            self._open_outputs.discard(arg)
            if not self._open_outputs:
                self._done.output_ended()
        elif kind == "exited":
            self._done.exited(exit_status(self._transport.get_returncode() or 0))
        elif kind == "pause":
            self._stdin_full = True
        elif kind == "resume" and self._stdin_full:
            self._stdin_full = False
            self._events.process_writable()

    def write(self, data: bytes) -> bool:
        """Queue ``data`` for the child's stdin; ``False`` when it is backed up."""
        stdin = self._stdin
        if stdin is None or stdin.is_closing():
            return True
        stdin.write(data)
        return not self._stdin_full

    def close_input(self) -> None:
        if self._stdin is not None:
            self._stdin.close()  # after what is queued has been written

    def pause_output(self) -> None:
        for pipe in self._outputs:
            if pipe is not None and not pipe.is_closing():
                pipe.pause_reading()

    def resume_output(self) -> None:
        for pipe in self._outputs:
            if pipe is not None and not pipe.is_closing():
                pipe.resume_reading()

    def resize(self, cols: int, rows: int) -> None:
        return None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if sys.platform == "win32":
                self._transport.kill()
            else:
                os.killpg(self.pid, signal.SIGKILL)

    def close(self) -> None:
        self._transport.close()


class WindowsPty:
    """A child on a Windows pseudo console (ConPTY through pywinpty).

    pywinpty reads block, so a worker thread reads and hands each chunk to the
    loop; pausing the output holds that thread.
    """

    def __init__(self, process: Any, events: ProcessEvents) -> None:
        self._p = process
        self._events = events
        self._loop = asyncio.get_running_loop()
        self._done = _Completion(events)
        self._flowing = threading.Event()
        self._flowing.set()
        self._reader = threading.Thread(target=self._read_all, daemon=True)
        self._reader.start()
        self._waiter = asyncio.ensure_future(self._wait())

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str,
        events: ProcessEvents,
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
        return cls(process, events)

    def _read_all(self) -> None:  # on the reader thread
        while True:
            self._flowing.wait()
            try:
                text = self._p.read(READ_SIZE)
            except (EOFError, OSError):
                break
            data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
            if data:
                self._loop.call_soon_threadsafe(self._events.process_output, data, False)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            self._loop.call_soon_threadsafe(self._done.output_ended)

    async def _wait(self) -> None:
        await asyncio.to_thread(self._p.wait)
        self._done.exited(int(self._p.exitstatus or 0))

    def write(self, data: bytes) -> bool:
        self._p.write(data.decode("utf-8", "replace"))
        return True

    def close_input(self) -> None:
        # Ctrl-Z then Enter is end of input for Windows console programs
        with contextlib.suppress(OSError, EOFError):
            self._p.write("\x1a\r\n")

    def pause_output(self) -> None:
        self._flowing.clear()

    def resume_output(self) -> None:
        self._flowing.set()

    def resize(self, cols: int, rows: int) -> None:
        cols, rows = clamp_size(cols, rows)
        self._p.setwinsize(rows, cols)

    def kill(self) -> None:
        self._flowing.set()
        with contextlib.suppress(OSError):
            self._p.terminate(force=True)

    def close(self) -> None:
        self.kill()


async def spawn_terminal(
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: str,
    cols: int,
    rows: int,
    events: ProcessEvents,
) -> UnixPty | WindowsPty:
    """The platform's PTY for ``argv``."""
    if sys.platform == "win32":
        return await WindowsPty.spawn(argv, env, cwd, events, cols, rows)
    return await UnixPty.spawn(argv, env, cwd, events, cols, rows)
