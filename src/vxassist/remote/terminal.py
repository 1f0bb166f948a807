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
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from vxassist.remote.children import ChildAccount, child_setup, guard
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


class _Exitable(Protocol):
    def _exited(self, status: int) -> None: ...


class _ExitWatch(asyncio.SubprocessProtocol):
    """Tells its owner when the child exits (its streams are not the transport's)."""

    def __init__(self) -> None:
        self._owner: _Exitable | None = None
        self._transport: asyncio.SubprocessTransport | None = None
        self._status: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def process_exited(self) -> None:
        assert self._transport is not None
        self._status = exit_status(self._transport.get_returncode() or 0)
        if self._owner is not None:
            self._owner._exited(self._status)

    def attach(self, owner: _Exitable) -> None:
        """From now on ``owner`` hears of the exit (at once if it happened already)."""
        self._owner = owner
        if self._status is not None:
            owner._exited(self._status)


class _InputWriter:
    """A child's input through a non-blocking fd; what it does not take yet is queued.

    ``write`` answers ``False`` once INPUT_HIGH_WATER bytes wait, and
    ``on_writable`` is called when they fell below it again. Written with
    ``os.write`` on the loop's writer callback, the same on every loop.
    """

    def __init__(self, fd: int, on_writable: Callable[[], None]) -> None:
        self._fd = fd
        self._on_writable = on_writable
        self._loop = asyncio.get_running_loop()
        self._pending = bytearray()
        self._waiting = False  # a writer callback is registered
        self._eof = False  # close the fd once the queue is written
        self._done = False

    def write(self, data: bytes) -> bool:
        if self._done or self._eof:
            return True
        self._pending += data
        if not self._waiting:
            self._flush()
            if self._pending and not self._done:
                self._waiting = True
                self._loop.add_writer(self._fd, self._writable)
        return len(self._pending) < INPUT_HIGH_WATER

    def _flush(self) -> None:
        try:
            written = os.write(self._fd, self._pending)
        except BlockingIOError:
            return
        except OSError:  # the child is gone; nobody reads this input any more
            written = len(self._pending)
        del self._pending[:written]

    def _writable(self) -> None:
        backed_up = len(self._pending) >= INPUT_HIGH_WATER
        self._flush()
        if not self._pending:
            self._stop_waiting()
            if self._eof:
                self.close(close_fd=True)
        if backed_up and len(self._pending) < INPUT_HIGH_WATER:
            self._on_writable()

    def _stop_waiting(self) -> None:
        if self._waiting:
            self._waiting = False
            self._loop.remove_writer(self._fd)

    def close_after_flush(self) -> None:
        """End of input: the fd is closed once the queue is written."""
        self._eof = True
        if not self._pending:
            self.close(close_fd=True)

    def close(self, close_fd: bool) -> None:
        """Drop what is queued; close the fd if it is ours alone."""
        self._pending.clear()
        self._stop_waiting()
        if not self._done:
            self._done = True
            if close_fd:
                os.close(self._fd)


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
        self._input = _InputWriter(master_fd, events.process_writable)
        self._drain_timer: asyncio.TimerHandle | None = None
        self._start_reading()
        watch.attach(self)

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str,
        events: ProcessEvents,
        cols: int = 80,
        rows: int = 24,
        account: ChildAccount | None = None,
    ) -> UnixPty:
        import pty

        master, slave = pty.openpty()
        try:
            _set_winsize(master, *clamp_size(cols, rows))
            os.set_blocking(master, False)
            if account is not None:
                os.fchown(slave, account.uid, -1)
            # a new session with the terminal as its controlling one, the session's
            # account, and death with the agent (see vxassist.remote.children)
            make_controlling = child_setup(account, controlling_tty=slave)
            loop = asyncio.get_running_loop()
            transport, watch = await loop.subprocess_exec(
                _ExitWatch,
                *argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=guard.child_env(env),
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
        guard.started(int(transport.get_pid()))
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
        return self._input.write(data)

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
        guard.ended(self.pid)
        self.close()

    def close(self) -> None:
        self._end_output()
        self._input.close(close_fd=False)  # the fd is the terminal's, closed below
        if not self._closed:
            self._closed = True
            os.close(self._fd)
        if self._done.has_exited:
            self._transport.close()


def _set_winsize(fd: int, cols: int, rows: int) -> None:
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class _ChildOutput(asyncio.Protocol):
    """The child's stdout or stderr, our end."""

    def __init__(self, owner: PipeProcess, stderr: bool) -> None:
        self._owner = owner
        self._stderr = stderr

    def data_received(self, data: bytes) -> None:
        self._owner._events.process_output(data, self._stderr)

    def eof_received(self) -> bool:
        return False  # close our end

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._output_closed(self._stderr)


class PipeProcess:
    """A command without a terminal (``ssh host cmd``): stdin, stdout, stderr as pipes.

    Plain OS pipes on every event loop: uvloop's own subprocess pipes are socket
    pairs, and bash, seeing a socket on stdin, takes itself for a login over
    rsh/ssh and reads ``~/.bashrc`` (180 ms and its output on every command).
    """

    def __init__(self, events: ProcessEvents) -> None:
        self._events = events
        self._done = _Completion(events)
        self._transport: asyncio.SubprocessTransport | None = None
        self.pid = 0
        self._open_outputs = {False, True}  # stdout, stderr
        self._stdin: _InputWriter | None = None
        self._outputs: list[asyncio.ReadTransport] = []

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str,
        events: ProcessEvents,
        account: ChildAccount | None = None,
    ) -> PipeProcess:
        loop = asyncio.get_running_loop()
        self = cls(events)
        pipes = [os.pipe() for _ in range(3)]  # not inheritable: only the child's dup2 copies
        theirs = [pipes[0][0], pipes[1][1], pipes[2][1]]
        ours = [pipes[0][1], pipes[1][0], pipes[2][0]]
        try:
            transport, watch = await loop.subprocess_exec(
                _ExitWatch,
                *argv,
                stdin=theirs[0],
                stdout=theirs[1],
                stderr=theirs[2],
                env=guard.child_env(env),
                cwd=cwd,
                **_own_session(account),
            )
        except OSError as exc:
            for fd in ours:
                os.close(fd)
            raise RemoteError(
                "The command could not be started on this host.", detail=str(exc)
            ) from exc
        finally:
            for fd in theirs:
                os.close(fd)
        self._transport = transport
        self.pid = int(transport.get_pid())
        guard.started(self.pid)
        os.set_blocking(ours[0], False)
        self._stdin = _InputWriter(ours[0], events.process_writable)
        for fd, stderr in ((ours[1], False), (ours[2], True)):
            reader, _ = await loop.connect_read_pipe(
                lambda stderr=stderr: _ChildOutput(self, stderr),  # type: ignore[misc]
                os.fdopen(fd, "rb", buffering=0),
            )
            self._outputs.append(reader)
        watch.attach(self)
        return self

    def _exited(self, status: int) -> None:
        self._done.exited(status)

    def _output_closed(self, stderr: bool) -> None:
        self._open_outputs.discard(stderr)
        if not self._open_outputs:
            self._done.output_ended()

    def write(self, data: bytes) -> bool:
        """Queue ``data`` for the child's stdin; ``False`` when it is backed up."""
        return self._stdin.write(data) if self._stdin is not None else True

    def close_input(self) -> None:
        if self._stdin is not None:
            self._stdin.close_after_flush()

    def pause_output(self) -> None:
        for pipe in self._outputs:
            if not pipe.is_closing():
                pipe.pause_reading()

    def resume_output(self) -> None:
        for pipe in self._outputs:
            if not pipe.is_closing():
                pipe.resume_reading()

    def resize(self, cols: int, rows: int) -> None:
        return None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if sys.platform == "win32":
                if self._transport is not None:
                    self._transport.kill()
            else:
                os.killpg(self.pid, signal.SIGKILL)
        guard.ended(self.pid)

    def close(self) -> None:
        if self._stdin is not None:
            self._stdin.close(close_fd=True)
        for pipe in self._outputs:
            if not pipe.is_closing():
                pipe.close()
        if self._transport is not None:
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
                env=guard.child_env(env),
                dimensions=(rows, cols),
            )
        except OSError as exc:
            raise RemoteError("The shell could not be started on this host.") from exc
        guard.started(int(process.pid))
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
    account: ChildAccount | None = None,
) -> UnixPty | WindowsPty:
    """The platform's PTY for ``argv`` (as ``account`` where the agent can switch to it)."""
    if sys.platform == "win32":
        return await WindowsPty.spawn(argv, env, cwd, events, cols, rows)
    return await UnixPty.spawn(argv, env, cwd, events, cols, rows, account)


def _own_session(account: ChildAccount | None) -> dict[str, Any]:
    """subprocess options for a child in a session of its own, tied to the agent's life."""
    if sys.platform == "win32":
        return {}
    return {"preexec_fn": child_setup(account)}
