"""The local control channel of a running agent: ``vxassist session list|end`` and "show".

A running agent (headless or tray) listens on a loopback TCP port and answers
one JSON line per request with one JSON line. Commands: ``ping``, ``sessions``
(the live sessions), ``end`` (one session id; answered once every channel of
that session is closed) and ``show`` (a second ``vxassist`` asks the first to
bring its window forward).

Who may use it: whoever can read the control file. The agent writes
``control.json`` (port, a random 32-byte token, its pid) into the user's data
folder with mode 0600, a fresh token on every start. Each request carries the
token, compared in constant time; a wrong one gets an error line and nothing
is done. On Windows the file sits in the user's profile, whose ACL admits the
user, SYSTEM and Administrators only: the same rule, "this account or an
administrator", on both systems.

Why loopback TCP plus a token rather than an AF_UNIX socket in a 0700 folder:
one mechanism that works the same on Linux and Windows (asyncio has no Unix
sockets on Windows, and named-pipe servers only on the Proactor loop), testable
the same way on both. Other local accounts can connect to the port but hold no
token; binding 127.0.0.1 keeps the network out. A token left behind by an agent
that died is worthless to anyone who later binds that port, since the next
start makes a new one; the client also checks that the pid in the file still
runs (POSIX) and refuses a file that other accounts could read.

One agent per account: the running agent holds an OS lock on ``agent.lock`` in
the data folder for its whole life (``AgentLock``, through ``filelock``: flock on
POSIX, LockFileEx on Windows). The system drops it with the process, even after
kill -9, so two agents started in the same instant cannot both run, and a
crashed one never blocks the next.

Every wait is bounded; a malformed, oversized, late or unauthorised request is
answered with an error line (when the peer still listens) and never stops the
agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import secrets
import socket
import stat
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import filelock

from vxassist.errors import VxError
from vxassist.paths import Paths

log = logging.getLogger(__name__)

#: the commands a running agent answers
COMMANDS = ("ping", "sessions", "end", "show")
#: longest request line the agent reads
MAX_LINE = 64 * 1024
#: how long the agent waits for a client's request line
READ_TIMEOUT_S = 5.0
#: how long one command may run before the agent answers with an error
COMMAND_TIMEOUT_S = 30.0
#: how long the agent waits for a slow client to take the answer
WRITE_TIMEOUT_S = 5.0
#: connections served at once; more are answered "busy" at once
MAX_CLIENTS = 16
#: how long ``ask`` waits for an answer by default
ASK_TIMEOUT_S = 10.0

Handler = Callable[[str, dict[str, Any]], Awaitable[Any]]


class AgentLock:
    """The lock the running agent of an account holds (see the module's docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = filelock.FileLock(path, timeout=0)

    def acquire(self) -> bool:
        """Take the lock now, or say that another agent holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except filelock.Timeout:
            return False
        return True

    def release(self) -> None:
        self._lock.release()


def one_agent_lock(paths: Paths) -> AgentLock:
    return AgentLock(paths.data_dir / "agent.lock")


class ControlError(VxError):
    """The control channel cannot be used, or the agent answered with an error."""


def control_file(paths: Paths) -> Path:
    """Where a running agent leaves its port and token."""
    return paths.data_dir / "control.json"


def _error(message: str, code: str = "error") -> dict[str, Any]:
    return {"ok": False, "code": code, "error": message}


class ControlServer:
    """The agent's side: serves the control channel until ``close()``.

    ``handler(command, args)`` runs on the agent's loop and returns what goes
    into the answer's ``result``; a :class:`VxError` it raises becomes the
    answer's ``error`` sentence.
    """

    def __init__(self, paths: Paths, handler: Handler, *, info: dict[str, Any] | None = None):
        self._paths = paths
        self._handler = handler
        self._info = dict(info or {})
        self._token = secrets.token_hex(32)
        self._server: asyncio.Server | None = None
        self._clients = 0
        self.port = 0

    @property
    def path(self) -> Path:
        return control_file(self._paths)

    async def start(self) -> None:
        """Listen on 127.0.0.1 (a free port) and write the control file."""
        self._server = await asyncio.start_server(
            self._serve, host="127.0.0.1", port=0, limit=MAX_LINE
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        try:
            self._write_file()
        except OSError:
            self._server.close()
            self._server = None
            raise
        log.info("control channel on 127.0.0.1:%d (%s)", self.port, self.path)

    def _write_file(self) -> None:
        target = self.path
        target.parent.mkdir(parents=True, exist_ok=True)
        body = {"port": self.port, "token": self._token, "pid": os.getpid(), **self._info}
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(body, fh)
        os.replace(tmp, target)

    async def close(self) -> None:
        """Stop listening and remove the control file if it is still this agent's."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), timeout=2.0)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("token") == self._token:
                self.path.unlink()
        except (OSError, ValueError):
            pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients += 1
        try:
            if self._clients > MAX_CLIENTS:
                answer = _error("The agent is busy; try again in a moment.", "busy")
            else:
                answer = await self._read_and_answer(reader)
            data = json.dumps(answer, default=str).encode("utf-8") + b"\n"
            writer.write(data)
            await asyncio.wait_for(writer.drain(), timeout=WRITE_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            log.info("control client went away: %r", exc)
        except Exception:  # one odd client must never stop the agent
            log.exception("control channel: unexpected failure serving a client")
        finally:
            self._clients -= 1
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), timeout=1.0)

    async def _read_and_answer(self, reader: asyncio.StreamReader) -> dict[str, Any]:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=READ_TIMEOUT_S)
        except TimeoutError:
            return _error("No request arrived in time.", "timeout")
        except ValueError:  # longer than MAX_LINE
            return _error("The request is too long.", "bad_request")
        try:
            request = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _error("The request is not a JSON line.", "bad_request")
        if not isinstance(request, dict):
            return _error("The request is not a JSON object.", "bad_request")
        token = request.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(
            token.encode("utf-8", "surrogatepass"), self._token.encode("ascii")
        ):
            log.warning("control channel: a request with a wrong token was refused")
            return _error(
                "Not authorised: only this account (or an administrator) can control the agent.",
                "unauthorized",
            )
        command = request.get("command")
        args = request.get("args") or {}
        if command not in COMMANDS:
            return _error(
                f"Unknown command {command!r}; the agent knows {', '.join(COMMANDS)}.",
                "bad_request",
            )
        if not isinstance(args, dict):
            return _error("The command's arguments are not a JSON object.", "bad_request")
        try:
            result = await asyncio.wait_for(
                self._handler(str(command), args), timeout=COMMAND_TIMEOUT_S
            )
        except VxError as exc:
            return _error(exc.message, getattr(exc, "code", "") or "failed")
        except TimeoutError:
            return _error(f"The agent did not finish {command!r} in time.", "timeout")
        except Exception:
            log.exception("control command %s failed", command)
            return _error(
                f"The agent could not do {command!r}; its log is at {self._paths.log_file}.",
                "failed",
            )
        return {"ok": True, "result": result}


# -- the client ------------------------------------------------------------------------


def _pid_runs(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill(pid, 0) would end the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # the pid now belongs to another account: not our agent
        return False
    return True


def read_control_file(paths: Paths) -> dict[str, Any] | None:
    """The running agent's port and token, None when there is no file.

    Raises :class:`ControlError` for a file other accounts could read or
    change (it is not used) or one that cannot be read.
    """
    path = control_file(paths)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ControlError(
            f"The agent's control file {path} cannot be read; run this as the account "
            "that runs the agent.",
            detail=repr(exc),
        ) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ControlError(f"The agent's control file {path} is not a plain file; remove it.")
        if sys.platform != "win32":
            # an administrator (root) may use any account's agent; others only their own
            caller = os.getuid()
            foreign = caller != 0 and info.st_uid != caller
            if info.st_mode & 0o077 or foreign:
                raise ControlError(
                    f"The agent's control file {path} belongs to another account or is open "
                    "to others, so it is not used; run this as the agent's account, or "
                    "restart the agent to make a new file.",
                    detail=f"mode {stat.filemode(info.st_mode)} uid {info.st_uid}",
                )
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as fh:
        raw = fh.read(MAX_LINE)
    try:
        data = json.loads(raw.decode("utf-8"))
        port = int(data["port"])
        token = str(data["token"])
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise ControlError(
            f"The agent's control file {path} is damaged; restart the agent.", detail=repr(exc)
        ) from exc
    if not 0 < port < 65536 or not token:
        raise ControlError(f"The agent's control file {path} is damaged; restart the agent.")
    return dict(data)


def ask(paths: Paths, command: str, *, timeout_s: float = ASK_TIMEOUT_S, **args: Any) -> Any:
    """Send ``command`` to this account's running agent; its result.

    None when no agent answers (no control file, the agent that wrote it is
    gone, nothing listens). Raises :class:`ControlError` with the agent's
    sentence when it answers with an error, and when the control file may not
    be used or the agent took longer than ``timeout_s``. Blocking: call it off
    any event loop or GUI thread that must stay responsive.
    """
    info = read_control_file(paths)
    if info is None:
        return None
    pid = info.get("pid")
    if isinstance(pid, int) and not _pid_runs(pid):
        log.info("control file of pid %s, which no longer runs", pid)
        return None
    request = {"token": info["token"], "command": command, "args": args}
    try:
        sock = socket.create_connection(("127.0.0.1", int(info["port"])), timeout=timeout_s)
    except OSError as exc:
        log.info("no agent on the control port: %r", exc)
        return None
    with sock:
        try:
            sock.sendall(json.dumps(request).encode("utf-8") + b"\n")
            raw = _read_line(sock, timeout_s)
        except TimeoutError as exc:
            raise ControlError(
                f"The running agent did not answer within {timeout_s:.0f} s; try again, or "
                "restart it.",
                detail=f"{command}: {exc!r}",
            ) from exc
        except OSError as exc:
            log.info("control connection lost: %r", exc)
            return None
    if not raw:
        return None
    try:
        answer = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ControlError(
            "The program on the agent's control port is not a vxassist agent; restart the agent.",
            detail=repr(raw[:200]),
        ) from exc
    if not isinstance(answer, dict):
        raise ControlError("The agent's answer could not be read; restart the agent.")
    if not answer.get("ok"):
        raise ControlError(str(answer.get("error") or "The agent refused the request."))
    return answer.get("result")


def _read_line(sock: socket.socket, timeout_s: float) -> bytes:
    """Bytes up to the first newline (or EOF), within ``timeout_s`` in all."""
    deadline = time.monotonic() + timeout_s
    chunks: list[bytes] = []
    size = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no complete answer")
        sock.settimeout(left)
        chunk = sock.recv(65536)  # socket.timeout is TimeoutError
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if b"\n" in chunk or size > 16 * MAX_LINE:
            return b"".join(chunks).split(b"\n", 1)[0]
