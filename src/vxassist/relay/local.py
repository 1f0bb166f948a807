"""The relay run by hand: a hardened OpenSSH sshd on a loopback port, from one folder.

``vxassist demo``, the remote-path benchmark and the tests run the relay through
:class:`OpenSshRelay`: the shipped template rendered by :func:`render_local`, a
host key of its own, and the relay accounts given to sshd alone through
libnss-wrapper when the machine does not have them (never in /etc/passwd).

Stopping it ends every connection it serves. sshd's per-connection children
call ``setsid()`` and leave its process group, so :func:`stop_process_tree`
stops the whole tree of descendants, not only the group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from vxassist.errors import VxError
from vxassist.relay import AGENT_ACCOUNT, ENGINEER_ACCOUNT, render_local

if TYPE_CHECKING:
    from vxassist.remote.tunnel import RelayEndpoint

SSHD = "/usr/sbin/sshd"
NSS_WRAPPER_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so",
    "/usr/lib/aarch64-linux-gnu/libnss_wrapper.so",
    "/usr/lib64/libnss_wrapper.so",
    "/usr/lib/libnss_wrapper.so",
)
#: where sshd's accounts come from: ``auto`` = the machine's when both exist, else
#: private ones through libnss-wrapper; ``private`` = always through libnss-wrapper
AccountSource = Literal["auto", "private"]
#: how many rounds :func:`stop_process_tree` spends catching processes that fork
_FREEZE_ROUNDS = 50


class LocalRelayError(VxError):
    """The relay sshd could not be started here."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nss_wrapper_library() -> str | None:
    """The libnss-wrapper shared library of this machine, if it is installed."""
    for candidate in NSS_WRAPPER_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return None


def account_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def relay_accounts_exist() -> bool:
    """Whether this machine has both relay accounts (``installer/relay`` makes them)."""
    return account_exists(AGENT_ACCOUNT) and account_exists(ENGINEER_ACCOUNT)


# -- stopping a process and everything it started ---------------------------------


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of ``pid`` from /proc, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name may hold spaces and parentheses: fields follow the last ")"
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid``, found by parent links in /proc (Linux).

    Empty where there is no /proc; a process whose parent has already exited
    belongs to init and is no longer found here.
    """
    children: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            stat = _proc_stat(int(entry.name))
            if stat is not None:
                children.setdefault(stat[1], []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _wait_stopped(pids: Iterable[int], timeout_s: float = 1.0) -> None:
    """Return once every pid is stopped, a zombie or gone (or after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    for pid in pids:
        while time.monotonic() < deadline:
            stat = _proc_stat(pid)
            if stat is None or stat[0] in "TtZX":
                break
            time.sleep(0.001)


def _freeze_tree(leader: int) -> list[int]:
    """SIGSTOP ``leader`` and its descendants until no new one appears; the descendants.

    A stopped process can neither accept a connection nor fork, so once a round
    finds no new descendant the tree is complete; none escapes by forking while
    its parent is killed (its orphan would belong to init and not be found).
    """
    _signal([leader], signal.SIGSTOP)
    _wait_stopped([leader])
    frozen: list[int] = []
    for _ in range(_FREEZE_ROUNDS):
        new = [pid for pid in descendants(leader) if pid not in frozen]
        if not new:
            break
        _signal(new, signal.SIGSTOP)
        _wait_stopped(new)
        frozen.extend(new)
    return frozen


def stop_group(proc: subprocess.Popen[Any], grace_s: float = 5.0) -> None:
    """Stop ``proc`` and the process group it leads (started with a new session).

    SIGTERM (and SIGCONT, should it be stopped), SIGKILL after ``grace_s``. A
    child that left the group is not reached: see :func:`stop_process_tree`.
    """
    for sig in (signal.SIGTERM, signal.SIGCONT):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # members of the group that outlived the leader
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def stop_process_tree(proc: subprocess.Popen[Any], grace_s: float = 5.0) -> None:
    """Stop ``proc`` (started with a new session), its group and all it started.

    Descendants are killed outright, also those that left the group: sshd's
    per-connection children do, and a stopped relay must drop every connection.
    Then ``proc`` and its group as :func:`stop_group` does. Finding them scans
    /proc (some milliseconds), which is why :func:`stop_group` stays apart.
    """
    if proc.poll() is None:
        _signal(_freeze_tree(proc.pid), signal.SIGKILL)
    stop_group(proc, grace_s)


# -- the relay ---------------------------------------------------------------------


@dataclass
class OpenSshRelay:
    """A hardened OpenSSH sshd on a loopback port, acting as the relay.

    Its configuration is the one operators install (``vxassist.relay``), rendered
    for ``folder``. Accounts: ``vxagent`` may only ask for remote forwards
    (``PermitOpen none``), ``vxeng`` may only open local forwards; neither gets a
    command or a TTY.
    Keys come either from ``authorized_keys`` files (:meth:`authorize`) or from
    ``authorized_keys_command`` (the desk's ``relay-keys``). ``accounts`` says
    whether sshd sees this machine's relay accounts or private ones provided to
    it alone through libnss-wrapper (see :data:`AccountSource`).

    The port (a free one unless given) and the host key are fixed when the
    object is made, so clients can be configured before :meth:`start`, and
    :meth:`restart` comes back on the same port with the same key.
    """

    folder: Path
    authorized_keys_command: Sequence[str] | None = None
    port: int = 0
    host: str = "127.0.0.1"
    log_file: Path | None = None
    accounts: AccountSource = "auto"
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.authorized_keys_dir.mkdir(exist_ok=True)
        if not self.host_key_file.exists():
            subprocess.run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "vxassist-relay",
                    "-f",
                    str(self.host_key_file),
                ],
                check=True,
                stdin=subprocess.DEVNULL,
            )
        if not self.port:
            self.port = free_port()
        if self.log_file is None:
            self.log_file = self.folder / "sshd.log"

    # -- files ----------------------------------------------------------------------

    @property
    def host_key_file(self) -> Path:
        return self.folder / "ssh_host_ed25519_key"

    @property
    def authorized_keys_dir(self) -> Path:
        return self.folder / "authorized_keys"

    @property
    def config_file(self) -> Path:
        return self.folder / "sshd_config"

    @property
    def log_path(self) -> Path:
        """:attr:`log_file`, which is set once the relay is made."""
        assert self.log_file is not None
        return self.log_file

    @property
    def pid(self) -> int | None:
        """The listening sshd's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    # -- what clients need --------------------------------------------------------------

    def host_key_line(self) -> str:
        """``KIND KEY`` of the relay's host key."""
        kind, blob = (self.folder / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        return f"{kind} {blob}"

    def known_hosts_line(self) -> str:
        """``[host]:port KIND KEY`` for clients that verify the relay."""
        return f"[{self.host}]:{self.port} {self.host_key_line()}"

    def endpoint(self, listen_port: int, user: str = AGENT_ACCOUNT) -> RelayEndpoint:
        """Where an agent's tunnel goes: this relay, ``user``, its ``listen_port``."""
        from vxassist.remote.tunnel import RelayEndpoint

        return RelayEndpoint(self.host, self.port, user, listen_port, self.known_hosts_line())

    def authorize(self, account: str, line: str) -> None:
        """Append an authorized_keys ``line`` for ``account`` (file mode only)."""
        with (self.authorized_keys_dir / account).open("a") as fh:
            fh.write(line.strip() + "\n")

    def clear_keys(self, account: str) -> None:
        """Forget every authorized_keys line of ``account`` (file mode only)."""
        with contextlib.suppress(FileNotFoundError):
            (self.authorized_keys_dir / account).unlink()

    # -- sshd's accounts ------------------------------------------------------------------

    def nss_wrapper(self) -> str:
        """The libnss-wrapper library to preload; an error sentence when it is missing."""
        lib = nss_wrapper_library()
        if lib is None:
            raise LocalRelayError(
                "The relay accounts vxagent and vxeng do not exist and libnss-wrapper is not "
                "installed; install libnss-wrapper or create the accounts (installer/relay).",
            )
        return lib

    def _env(self) -> dict[str, str]:
        """sshd's environment, with the private accounts preloaded when they are used."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("NSS_WRAPPER")}
        if self.accounts == "auto" and relay_accounts_exist():
            return env
        lib = self.nss_wrapper()
        home = self.folder / "home"
        home.mkdir(exist_ok=True)
        passwd = self.folder / "passwd"
        group = self.folder / "group"
        passwd.write_text(
            "root:x:0:0:root:/root:/bin/sh\n"
            "sshd:x:101:65534::/run/sshd:/usr/sbin/nologin\n"
            f"{AGENT_ACCOUNT}:x:64001:64001:vxassist agents:{home}:/bin/sh\n"
            f"{ENGINEER_ACCOUNT}:x:64002:64002:vxassist engineers:{home}:/bin/sh\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        )
        group.write_text(
            f"root:x:0:\nnogroup:x:65534:\n{AGENT_ACCOUNT}:x:64001:\n{ENGINEER_ACCOUNT}:x:64002:\n"
        )
        env.update(LD_PRELOAD=lib, NSS_WRAPPER_PASSWD=str(passwd), NSS_WRAPPER_GROUP=str(group))
        return env

    # -- running ------------------------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> Self:
        """Write the config, start sshd, return once it listens."""
        if self._proc is not None and self._proc.poll() is None:
            return self
        self.stop()  # reap a sshd that ended on its own
        env = self._env()
        self.config_file.write_text(
            render_local(self.folder, self.port, self.authorized_keys_command, self.host)
        )
        # sshd needs its privilege-separation folder even when run by hand
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        with self.log_path.open("ab") as log:
            proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                # a group of its own: a Ctrl-C at the demo's terminal does not reach it
                start_new_session=True,
            )
        self._proc = proc
        try:
            self._wait_listening(proc, timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_listening(self, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=0.5),
            ):
                return
            if proc.poll() is not None:
                raise LocalRelayError(
                    f"The relay sshd stopped before it listened on {self.host}:{self.port}; "
                    f"see its log {self.log_path}.",
                    detail=f"exit code {proc.returncode}: {self._log_tail()}",
                )
            if time.monotonic() > deadline:
                raise LocalRelayError(
                    f"The relay sshd did not listen on {self.host}:{self.port} within "
                    f"{timeout_s:.0f} s; see its log {self.log_path}.",
                    detail=self._log_tail(),
                )
            time.sleep(0.05)

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop sshd and end every connection it serves."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process_tree(proc)

    def restart(self) -> None:
        """Stop, then start again on the same port with the same host key."""
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
