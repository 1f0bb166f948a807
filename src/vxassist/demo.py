"""``vxassist demo``: desk, relay and agent on one machine, embedded defaults.

The demo starts, under one folder, everything the remote-session story needs:
a desk on SQLite on a free loopback port, a relay (the machine's OpenSSH sshd
when there is one, else the development relay of :mod:`vxassist.devrelay`), a
demo contract, an enrolled agent, a filed case and a logged-in engineer, then
runs the headless agent in the foreground and prints what the engineer types
next. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vxassist.errors import VxError

SSHD = "/usr/sbin/sshd"
NSS_WRAPPER_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so",
    "/usr/lib/aarch64-linux-gnu/libnss_wrapper.so",
    "/usr/lib64/libnss_wrapper.so",
    "/usr/lib/libnss_wrapper.so",
)
AGENT_ACCOUNT = "vxagent"
ENGINEER_ACCOUNT = "vxeng"


class DemoError(VxError):
    """A part of the demo could not be started."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    host: str, port: int, timeout_s: float, proc: subprocess.Popen[Any] | None = None
) -> None:
    """Return once ``host:port`` accepts connections; raise after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise DemoError(
                f"A demo process stopped before it listened on {host}:{port}; see its log.",
                detail=f"exit code {proc.returncode}",
            )
        if time.monotonic() > deadline:
            raise DemoError(
                f"Nothing listened on {host}:{port} within {timeout_s:.0f} s; see the demo logs.",
            )
        time.sleep(0.05)


def stop_group(proc: subprocess.Popen[Any], grace_s: float = 5.0) -> None:
    """Terminate ``proc`` and the process group it leads (started with a new session)."""
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # children of the group that outlived the leader
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def nss_wrapper_library() -> str | None:
    for candidate in NSS_WRAPPER_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return None


def _account_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@dataclass
class OpenSshRelay:
    """A hardened OpenSSH sshd on a loopback port, acting as the relay.

    Accounts: ``vxagent`` may only ask for remote forwards (``PermitOpen none``),
    ``vxeng`` may only open local forwards; neither gets a command or a TTY.
    Keys come either from ``authorized_keys`` files written by the caller
    (``authorized_keys_dir/USER``) or from ``authorized_keys_command`` (the
    desk's ``relay-keys``). When the accounts do not exist on this machine they
    are provided to sshd alone through libnss-wrapper, never in /etc/passwd.
    """

    folder: Path
    authorized_keys_command: Sequence[str] | None = None
    port: int = 0
    host: str = "127.0.0.1"
    log_file: Path | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def host_key_file(self) -> Path:
        return self.folder / "ssh_host_ed25519_key"

    @property
    def authorized_keys_dir(self) -> Path:
        return self.folder / "authorized_keys"

    @property
    def config_file(self) -> Path:
        return self.folder / "sshd_config"

    def known_hosts_line(self) -> str:
        """``[host]:port KEY`` for clients that verify the relay."""
        key = (self.folder / "ssh_host_ed25519_key.pub").read_text().split()
        return f"[{self.host}]:{self.port} {key[0]} {key[1]}"

    def host_key_line(self) -> str:
        key = (self.folder / "ssh_host_ed25519_key.pub").read_text().split()
        return f"{key[0]} {key[1]}"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NSS_WRAPPER")}
        if _account_exists(AGENT_ACCOUNT) and _account_exists(ENGINEER_ACCOUNT):
            return env
        lib = nss_wrapper_library()
        if lib is None:
            raise DemoError(
                "The relay accounts vxagent and vxeng do not exist and libnss-wrapper is not "
                "installed; install libnss-wrapper or create the accounts (installer/relay).",
            )
        home = self.folder / "home"
        home.mkdir(exist_ok=True)
        passwd = self.folder / "passwd"
        group = self.folder / "group"
        passwd.write_text(
            "root:x:0:0:root:/root:/bin/sh\n"
            f"sshd:x:101:65534::/run/sshd:/usr/sbin/nologin\n"
            f"{AGENT_ACCOUNT}:x:64001:64001:vxassist agents:{home}:/bin/sh\n"
            f"{ENGINEER_ACCOUNT}:x:64002:64002:vxassist engineers:{home}:/bin/sh\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        )
        group.write_text(
            f"root:x:0:\nnogroup:x:65534:\n{AGENT_ACCOUNT}:x:64001:\n{ENGINEER_ACCOUNT}:x:64002:\n"
        )
        env.update(
            LD_PRELOAD=lib,
            NSS_WRAPPER_PASSWD=str(passwd),
            NSS_WRAPPER_GROUP=str(group),
        )
        return env

    def _write_config(self) -> None:
        lines = [
            f"ListenAddress {self.host}:{self.port}",
            f"HostKey {self.host_key_file}",
            f"PidFile {self.folder / 'sshd.pid'}",
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin no",
            f"AllowUsers {AGENT_ACCOUNT} {ENGINEER_ACCOUNT}",
            # keys under a temporary folder are not owned by the accounts
            "StrictModes no",
            "LoginGraceTime 15",
            "MaxStartups 100:30:200",
            "ClientAliveInterval 15",
            "ClientAliveCountMax 3",
            "AllowAgentForwarding no",
            "AllowStreamLocalForwarding no",
            "X11Forwarding no",
            "PermitTTY no",
            "PermitTunnel no",
            "PermitUserRC no",
            "GatewayPorts no",
            "ForceCommand /bin/false",
            "Subsystem sftp /bin/false",
            "LogLevel VERBOSE",
        ]
        if self.authorized_keys_command:
            lines += [
                "AuthorizedKeysFile none",
                "AuthorizedKeysCommand " + " ".join(self.authorized_keys_command),
                "AuthorizedKeysCommandUser root",
            ]
        else:
            # read as root: the accounts could not enter a private (0700) work folder
            lines += [
                "AuthorizedKeysFile none",
                f"AuthorizedKeysCommand /bin/cat {self.authorized_keys_dir}/%u",
                "AuthorizedKeysCommandUser root",
            ]
        lines += [
            f"Match User {AGENT_ACCOUNT}",
            "    AllowTcpForwarding remote",
            "    PermitOpen none",
            f"Match User {ENGINEER_ACCOUNT}",
            "    AllowTcpForwarding local",
            "    PermitListen none",
        ]
        self.config_file.write_text("\n".join(lines) + "\n")

    def start(self, timeout_s: float = 10.0) -> OpenSshRelay:
        """Generate the host key and config, start sshd, wait until it listens."""
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
            )
        if not self.port:
            self.port = free_port()
        self._write_config()
        # sshd needs its privilege-separation folder even when run by hand
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        log_path = self.log_file or self.folder / "sshd.log"
        with log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.config_file)],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env=self._env(),
                # its own process group, so stop() also ends per-connection children
                start_new_session=True,
            )
        wait_for_port(self.host, self.port, timeout_s, self._proc)
        return self

    def stop(self) -> None:
        if self._proc is not None:
            stop_group(self._proc)
        self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def authorize(self, account: str, line: str) -> None:
        """Append an authorized_keys ``line`` for ``account`` (file mode only)."""
        path = self.authorized_keys_dir / account
        with path.open("a") as fh:
            fh.write(line.rstrip("\n") + "\n")

    def __enter__(self) -> OpenSshRelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add the ``demo`` command (filled in with the remote-session work)."""
