"""The processes an engineer starts die with the agent, however the agent dies.

A killed agent (SIGKILL, a crash, the power button of a service manager) runs
no teardown, and a child nobody asked otherwise lives on under PID 1. So:

- **Linux**: every child gets a parent-death signal (SIGKILL) and a session of
  its own (:func:`child_setup`, run in the child between fork and exec). The
  signal fires when the *thread* that forked the child ends, so children are
  spawned from the event loop's thread, which lives as long as the agent. It
  reaches the child only, not what the child starts (``sleep 600 &`` typed in
  the shell), so a small :class:`Keeper` process, started once, holds the
  children's session ids on a pipe from the agent. When that pipe ends (the
  agent exited, in any way: the kernel closes its end), the keeper kills every
  process still in one of those sessions, and every process whose environment
  carries this agent's keeper token (:data:`KEEPER_ENV`, given to each child:
  it catches what left the session with ``setsid``, unless it also cleared its
  environment), and exits.
- **Windows**: every child joins a job object that kills its processes when
  the job's last handle closes (:class:`WindowsJob`); the agent holds that
  handle, and its death closes it. Processes the child starts join the job too.
- **Other Unix**: only the sessions; the agent's own teardown ends them.

The same hook drops the child to the session's account when the agent runs as
root (:class:`ChildAccount`): groups, gid, then uid, and only then the
parent-death signal, which the kernel clears on a change of credentials.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from vxassist.remote.errors import RemoteError

T = TypeVar("T")

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
#: the environment entry that marks a process as started for a session of this agent
KEEPER_ENV = "VXASSIST_KEEPER"


def _load_prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
        return None


#: looked up once, in the parent: the child only calls it
_prctl = _load_prctl()


@dataclass(frozen=True)
class ChildAccount:
    """The account a session's processes run as, when the agent can switch to it."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str
    shell: str


class SessionAccountError(RemoteError):
    """The session's account, as the machine policy names it, cannot be used."""


def session_account(name: str, allow_root: bool) -> ChildAccount | None:
    """The account sessions run as, from the machine policy; None = the agent's own.

    Only an agent running as root switches: to ``name``, or stays root when the
    policy allows a root session. An agent that is not root runs sessions as
    itself. Raises :class:`SessionAccountError` (a sentence) when the named
    account cannot be used, so the session is refused.
    """
    if sys.platform == "win32" or os.geteuid() != 0 or allow_root:
        return None
    import pwd

    if not name:
        raise SessionAccountError(
            "This agent runs as root and its policy names no session account; set "
            'session_account = "NAME" (or allow_root_session = true) in the machine policy.'
        )
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise SessionAccountError(
            f"The session account '{name}' named by the machine policy does not exist; "
            "create it or name another with session_account in the machine policy.",
        ) from None
    if entry.pw_uid == 0:
        raise SessionAccountError(
            f"The session account '{name}' is root; a root session needs "
            "allow_root_session = true in the machine policy.",
        )
    try:
        groups = tuple(os.getgrouplist(name, entry.pw_gid))
    except OSError:
        groups = (entry.pw_gid,)
    return ChildAccount(
        name, entry.pw_uid, entry.pw_gid, groups, entry.pw_dir or "/", entry.pw_shell or ""
    )


# -- file access as the session's account (Linux) ---------------------------------------

#: raw system call numbers: glibc's setgroups() changes every thread of the process
_SYS_SETGROUPS = {"x86_64": 116, "aarch64": 159}
_SYS_SETFSUID = {"x86_64": 122, "aarch64": 151}
_SYS_SETFSGID = {"x86_64": 123, "aarch64": 152}


class AccountFiles:
    """One thread whose file access the kernel checks as the session's account.

    Linux keeps credentials per thread: this thread sets its own supplementary
    groups and its filesystem uid and gid by raw system calls (the C library's
    wrappers would change every thread of the agent), which also drops root's
    file capabilities in this thread alone. Every path the files scope touches
    (open, stat, list, make, remove, rename) goes through :meth:`run`; an open
    file's reads and writes then need no check. Simpler than a helper process
    per operation, and the kernel, not our code, decides what the account may
    do (modes, ACLs, ownership of new files).
    """

    def __init__(self, account: ChildAccount) -> None:
        import platform

        machine = platform.machine()
        if not sys.platform.startswith("linux") or machine not in _SYS_SETGROUPS:
            raise SessionAccountError(
                "Files cannot be served as the session account on this system; "
                "remove the files scope or set allow_root_session = true in the machine policy.",
                detail=f"{sys.platform} {machine}",
            )
        self.account = account
        self._numbers = (
            _SYS_SETGROUPS[machine],
            _SYS_SETFSUID[machine],
            _SYS_SETFSGID[machine],
        )
        self._ready = threading.Event()
        self._failure: str = ""
        self._pool = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="vxassist-files", initializer=self._become
        )

    def _become(self) -> None:
        setgroups, setfsuid, setfsgid = self._numbers
        libc = ctypes.CDLL(None, use_errno=True)
        account = self.account
        groups = (ctypes.c_uint * max(1, len(account.groups)))(*account.groups)
        if libc.syscall(setgroups, len(account.groups), groups) != 0:
            self._failure = f"setgroups: errno {ctypes.get_errno()}"
        libc.syscall(setfsgid, account.gid)
        libc.syscall(setfsuid, account.uid)
        # the calls answer the previous id: ask again to see they took
        if libc.syscall(setfsuid, -1 & 0xFFFFFFFF) != account.uid:
            self._failure = self._failure or "setfsuid did not take"
        if libc.syscall(setfsgid, -1 & 0xFFFFFFFF) != account.gid:
            self._failure = self._failure or "setfsgid did not take"

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` on the account's thread; refuses if the thread is not that account."""
        import asyncio

        loop = asyncio.get_running_loop()

        def checked() -> T:
            if self._failure:
                raise PermissionError(f"file access as {self.account.name} failed: {self._failure}")
            return work(*args)

        return await loop.run_in_executor(self._pool, checked)

    def close(self) -> None:
        self._pool.shutdown(wait=False)


def child_setup(
    account: ChildAccount | None = None, controlling_tty: int | None = None
) -> Callable[[], None]:
    """What runs in the child before exec: session, terminal, account, death with the agent.

    ``controlling_tty`` is the PTY's slave fd, taken as the controlling terminal by
    that fd itself: under uvloop this runs before the child's standard streams are
    in place.
    """
    parent = os.getpid()
    prctl = _prctl

    def setup() -> None:
        if os.getsid(0) != os.getpid():
            os.setsid()
        if controlling_tty is not None:
            import fcntl
            import termios

            fcntl.ioctl(controlling_tty, termios.TIOCSCTTY, 0)
        if account is not None:
            os.setgroups(list(account.groups))
            os.setgid(account.gid)
            os.setuid(account.uid)
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
            if os.getppid() != parent:  # the agent died before the signal was asked for
                os._exit(127)

    return setup


# -- the keeper (Linux) ---------------------------------------------------------------

#: the keeper's program: stdlib only, run by the agent's own interpreter
_KEEPER = r"""
import os, signal, sys, time
token = ("%s=%s" % (sys.argv[1], sys.argv[2])).encode()
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
live = set()
def sweep(*_):
    for _round in range(100):
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % name, "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] in (b"Z", b"X"):
                continue
            if int(fields[3]) in live:
                found.append(int(name))
                continue
            try:
                with open("/proc/%s/environ" % name, "rb") as fh:
                    if token in fh.read().split(b"\0"):
                        found.append(int(name))
            except OSError:
                pass
        if not found:
            break
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)
    os._exit(0)
signal.signal(signal.SIGTERM, sweep)
rest = b""
while True:
    try:
        chunk = os.read(0, 4096)
    except InterruptedError:
        continue
    if not chunk:
        break
    *lines, rest = (rest + chunk).split(b"\n")
    for line in lines:
        if line[:1] == b"+":
            live.add(int(line[1:]))
        elif line[:1] == b"-":
            live.discard(int(line[1:]))
sweep()
"""


class Keeper:
    """A process outside the agent that ends the sessions' processes when the agent ends.

    The agent writes ``+SID`` when it starts a child (a session leader) and
    ``-SID`` once it has killed that child's group itself; the keeper kills what
    is left in the sessions it still holds when its input ends.
    """

    def __init__(self, token: str) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._token = token

    def _started(self) -> subprocess.Popen[bytes] | None:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        read, write = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _KEEPER, KEEPER_ENV, self._token],
                stdin=read,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
        except OSError as exc:
            log.warning("no keeper for the sessions' processes: %s", exc)
            os.close(write)
            return None
        finally:
            os.close(read)
        assert self._proc.stdin is None
        self._pipe = write
        return self._proc

    def _send(self, line: str) -> None:
        with self._lock:
            if self._started() is None:
                return
            try:
                os.write(self._pipe, line.encode())
            except OSError as exc:
                log.warning("the sessions' keeper is gone: %s", exc)
                self._proc = None

    def watch(self, session_id: int) -> None:
        self._send(f"+{session_id}\n")

    def forget(self, session_id: int) -> None:
        if self._proc is not None:
            self._send(f"-{session_id}\n")

    def close(self) -> None:
        """End the keeper (it sweeps what it still holds)."""
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is not None:
                os.close(self._pipe)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)


# -- the job object (Windows) --------------------------------------------------------------


class WindowsJob:
    """A job object that kills its processes when the agent's handle to it closes."""

    _KILL_ON_JOB_CLOSE = 0x2000
    _EXTENDED_LIMIT_INFORMATION = 9
    _PROCESS_SET_QUOTA = 0x0100
    _PROCESS_TERMINATE = 0x0001

    def __init__(self) -> None:
        from ctypes import wintypes

        class _Basic(ctypes.Structure):
            _fields_ = [
                ("PerProcessUserTimeLimit", ctypes.c_int64),
                ("PerJobUserTimeLimit", ctypes.c_int64),
                ("LimitFlags", wintypes.DWORD),
                ("MinimumWorkingSetSize", ctypes.c_size_t),
                ("MaximumWorkingSetSize", ctypes.c_size_t),
                ("ActiveProcessLimit", wintypes.DWORD),
                ("Affinity", ctypes.c_size_t),
                ("PriorityClass", wintypes.DWORD),
                ("SchedulingClass", wintypes.DWORD),
            ]

        class _Io(ctypes.Structure):
            _fields_ = [(n, ctypes.c_uint64) for n in ("r", "w", "o", "rb", "wb", "ob")]

        class _Extended(ctypes.Structure):
            _fields_ = [
                ("BasicLimitInformation", _Basic),
                ("IoInfo", _Io),
                ("ProcessMemoryLimit", ctypes.c_size_t),
                ("JobMemoryLimit", ctypes.c_size_t),
                ("PeakProcessMemoryUsed", ctypes.c_size_t),
                ("PeakJobMemoryUsed", ctypes.c_size_t),
            ]

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
        self._kernel32 = kernel32
        self._handle = kernel32.CreateJobObjectW(None, None)
        if not self._handle:
            raise OSError(ctypes.get_last_error(), "CreateJobObjectW failed")  # type: ignore[attr-defined]
        info = _Extended()
        info.BasicLimitInformation.LimitFlags = self._KILL_ON_JOB_CLOSE
        if not kernel32.SetInformationJobObject(
            self._handle, self._EXTENDED_LIMIT_INFORMATION, ctypes.byref(info), ctypes.sizeof(info)
        ):
            raise OSError(ctypes.get_last_error(), "SetInformationJobObject failed")  # type: ignore[attr-defined]

    def add(self, pid: int) -> None:
        """Put process ``pid`` (and what it starts from now on) into the job."""
        k = self._kernel32
        process = k.OpenProcess(self._PROCESS_SET_QUOTA | self._PROCESS_TERMINATE, False, pid)
        if not process:
            raise OSError(ctypes.get_last_error(), f"OpenProcess({pid}) failed")  # type: ignore[attr-defined]
        try:
            if not k.AssignProcessToJobObject(self._handle, process):
                raise OSError(ctypes.get_last_error(), "AssignProcessToJobObject failed")  # type: ignore[attr-defined]
        finally:
            k.CloseHandle(process)


class _Guard:
    """The platform's way of tying children to the agent's life."""

    def __init__(self) -> None:
        self._keeper: Keeper | None = None
        self._job: WindowsJob | None = None
        self._lock = threading.Lock()
        self.token = secrets.token_hex(16)

    def child_env(self, env: Mapping[str, str]) -> dict[str, str]:
        """``env`` with this agent's keeper mark (Linux), for every child it starts."""
        if not sys.platform.startswith("linux"):
            return dict(env)
        return {**env, KEEPER_ENV: self.token}

    def started(self, pid: int) -> None:
        """A child (a session leader on Unix) was started."""
        try:
            if sys.platform == "win32":
                with self._lock:
                    if self._job is None:
                        self._job = WindowsJob()
                self._job.add(pid)
            elif sys.platform.startswith("linux"):
                with self._lock:
                    if self._keeper is None:
                        self._keeper = Keeper(self.token)
                self._keeper.watch(pid)
        except OSError as exc:
            log.warning("child %s is not tied to the agent's life: %s", pid, exc)

    def ended(self, pid: int) -> None:
        """The agent killed that child's group itself."""
        if self._keeper is not None:
            self._keeper.forget(pid)


#: one per agent process
guard = _Guard()
