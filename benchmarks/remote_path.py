"""The remote path, side by side: all-OpenSSH vs the vxassist agent, same relay.

One run starts one relay (OpenSSH sshd on loopback, hardened as in the demo) and
two "hosts" behind it:

- baseline: OpenSSH's own sshd + sftp-server on a loopback port, behind
  ``ssh -R`` to the relay (what an all-OpenSSH setup would do);
- vxassist: the agent's RemoteSessionService (embedded asyncssh server, no local
  listener) behind its own reverse tunnel, with a grant and a certificate signed
  the way the desk signs it.

The engineer side is the stock OpenSSH client in both cases (``-F`` config with
``ProxyJump`` through the relay). Measured: sftp put and get of one file
(``sftp -b``), the round trip of one byte on an open connection (a ``cat`` echo;
the two paths take turns every 50 rounds), a new connection (``ssh host true``),
Allow-to-shell-prompt (from the approval to the first bytes of the shell on the
engineer's terminal) and teardown (from the deadline, or the baseline's tunnel
stop, to the engineer's ssh exiting).

    .venv/bin/python benchmarks/remote_path.py [--size-mb 200] [--rounds 200] [--repeat 3]

Prints each figure for both paths and the ratio vxassist / OpenSSH (for
throughput higher is better, for times lower is better) against the targets.
Two last lines give floors of the round trip (``--no-floor`` skips them): asyncssh
on both SSH layers (a bare asyncssh server behind an asyncssh tunnel, running
commands on pipes as the baseline's sshd does, with the agent's per-packet trims
and no other vxassist code), and the same bare server alone behind OpenSSH's
``ssh -R`` (one SSH layer in Python; it needs a local listener, which the agent
must not have).
Needs root (sshd), /usr/sbin/sshd, and libnss-wrapper when the relay accounts
do not exist.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

from vxassist.demo import wait_for_port
from vxassist.eventloop import loop_kind, new_event_loop
from vxassist.relay.local import OpenSshRelay, free_port, stop_group, stop_process_tree
from vxassist.remote.packets import trim_per_packet_work
from vxassist.remote.server import MAX_PACKET as SERVER_MAX_PACKET
from vxassist.remote.server import SERVER_CIPHERS
from vxassist.remote.server import WINDOW as SERVER_WINDOW
from vxassist.remote.tunnel import CLIENT_CIPHERS

T = TypeVar("T")
SFTP_SERVER = "/usr/lib/openssh/sftp-server"


def keygen(path: Path, comment: str) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
    )
    return path.with_suffix(".pub").read_text().strip()


def pub_of(path: Path) -> str:
    return Path(str(path) + ".pub").read_text().strip()


@dataclass
class Target:
    """One way to reach a host through the relay, as the engineer's ssh sees it."""

    name: str
    config: Path
    alias: str
    remote_dir: Path


def write_engineer_config(
    folder: Path,
    name: str,
    relay: OpenSshRelay,
    eng_key: Path,
    listen_port: int,
    user: str,
    host_key_line: str,
    remote_dir: Path,
    certificate: Path | None = None,
) -> Target:
    known_relay = folder / f"{name}_relay_known_hosts"
    known_relay.write_text(relay.known_hosts_line() + "\n")
    alias = f"bench-{name}"
    known_target = folder / f"{name}_known_hosts"
    key = host_key_line.split()
    known_target.write_text(f"{alias} {key[0]} {key[1]}\n")
    cert_line = f"  CertificateFile {certificate}\n" if certificate else ""
    config = folder / f"{name}_ssh_config"
    config.write_text(
        f"Host relay-{name}\n"
        f"  HostName {relay.host}\n  Port {relay.port}\n  User vxeng\n"
        f"  IdentityFile {eng_key}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {known_relay}\n  StrictHostKeyChecking yes\n"
        "  BatchMode yes\n  LogLevel ERROR\n"
        f"Host {alias}\n"
        f"  HostName 127.0.0.1\n  Port {listen_port}\n  User {user}\n"
        f"  ProxyJump relay-{name}\n"
        f"  IdentityFile {eng_key}\n{cert_line}  IdentitiesOnly yes\n"
        f"  HostKeyAlias {alias}\n  UserKnownHostsFile {known_target}\n"
        "  StrictHostKeyChecking yes\n  BatchMode yes\n  LogLevel ERROR\n"
    )
    return Target(name, config, alias, remote_dir)


# -- the baseline: OpenSSH sshd behind ssh -R ----------------------------------


@dataclass
class OpenSshHost:
    folder: Path
    relay: OpenSshRelay
    eng_key: Path
    listen_port: int
    remote_dir: Path
    port: int = 0
    _sshd: subprocess.Popen[bytes] | None = None
    _tunnel: subprocess.Popen[bytes] | None = None
    tunnel_key: Path = field(init=False)

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        host_key = self.folder / "ssh_host_ed25519_key"
        keygen(host_key, "baseline-host")
        self.tunnel_key = self.folder / "tunnel_key"
        keygen(self.tunnel_key, "baseline-tunnel")
        (self.folder / "authorized_keys").write_text(pub_of(self.eng_key) + "\n")
        self.port = free_port()
        config = self.folder / "sshd_config"
        config.write_text(
            f"ListenAddress 127.0.0.1:{self.port}\nHostKey {host_key}\n"
            f"PidFile {self.folder / 'sshd.pid'}\nUsePAM no\nStrictModes no\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\n"
            f"AuthorizedKeysFile {self.folder / 'authorized_keys'}\n"
            "PrintMotd no\nPrintLastLog no\n"
            f"Subsystem sftp {SFTP_SERVER}\n"
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        log = (self.folder / "sshd.log").open("ab")
        self._sshd = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        wait_for_port("127.0.0.1", self.port, 10, self._sshd)
        self.relay.authorize(
            "vxagent",
            f'restrict,port-forwarding,permitlisten="127.0.0.1:{self.listen_port}" '
            + pub_of(self.tunnel_key),
        )

    def host_key_line(self) -> str:
        return pub_of(self.folder / "ssh_host_ed25519_key")

    def open_tunnel(self) -> None:
        """``ssh -R`` to the relay; returns once the relay confirmed the forward."""
        known = self.folder / "relay_known_hosts"
        known.write_text(self.relay.known_hosts_line() + "\n")
        self._tunnel = subprocess.Popen(
            [
                "ssh",
                "-v",
                "-N",
                "-p",
                str(self.relay.port),
                "-i",
                str(self.tunnel_key),
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                f"UserKnownHostsFile={known}",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "ExitOnForwardFailure=yes",
                "-R",
                f"127.0.0.1:{self.listen_port}:127.0.0.1:{self.port}",
                f"vxagent@{self.relay.host}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert self._tunnel.stderr is not None
        deadline = time.monotonic() + 15
        seen = []
        for raw in self._tunnel.stderr:
            seen.append(raw)
            if b"remote forward success" in raw:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("baseline tunnel did not come up")
        else:
            raise RuntimeError("baseline tunnel exited: " + b"".join(seen[-15:]).decode())
        # keep draining its debug output so it never blocks
        threading.Thread(target=self._drain, args=(self._tunnel,), daemon=True).start()

    @staticmethod
    def _drain(proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for _ in proc.stderr:
            pass

    def close_tunnel(self) -> None:
        if self._tunnel is not None:
            stop_group(self._tunnel)
            self._tunnel = None

    def stop(self) -> None:
        self.close_tunnel()
        if self._sshd is not None:
            stop_process_tree(self._sshd)  # its connections leave its process group


# -- vxassist: the agent's session service --------------------------------------


class LoopThread:
    """An asyncio loop on its own thread, as the agent runs it."""

    def __init__(self) -> None:
        self.loop = new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def stop(self) -> None:
        # let file work still running in the loop's threads finish first
        with contextlib.suppress(Exception):
            self.run(self.loop.shutdown_default_executor(), timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


@dataclass
class VxHost:
    folder: Path
    relay: OpenSshRelay
    eng_key: Path
    listen_port: int
    remote_dir: Path
    runtime: LoopThread = field(default_factory=LoopThread)
    service: Any = None
    ca: Any = None
    endpoint: Any = None
    host_key: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    _counter: int = 0

    def start(self) -> None:
        from vxassist.desk.ca import CertificateAuthority
        from vxassist.paths import Paths
        from vxassist.remote.audit import AuditLog
        from vxassist.remote.hostkey import ensure_host_key
        from vxassist.remote.service import RelayEndpoint, RemoteSessionService
        from vxassist.settings import RemotePolicy

        home = self.folder / "home"
        paths = Paths.from_env({"VXASSIST_HOME": str(home)}).ensure()
        self.host_key = ensure_host_key(paths).strip()
        self.relay.authorize(
            "vxagent",
            f'restrict,port-forwarding,permitlisten="127.0.0.1:{self.listen_port}" '
            + self.host_key,
        )
        self.ca = CertificateAuthority(self.folder / "ca")
        # as root, like the OpenSSH baseline it is compared with
        policy = RemotePolicy(file_roots=(str(self.remote_dir),), allow_root_session=True)
        audit = AuditLog.for_paths(paths)
        self.endpoint = RelayEndpoint(
            host=self.relay.host,
            port=self.relay.port,
            user="vxagent",
            listen_port=self.listen_port,
            known_hosts=self.relay.known_hosts_line(),
        )

        async def make() -> Any:
            return RemoteSessionService(
                paths, policy, audit, self.ca.user_ca_public_key, on_event=self.events.append
            )

        self.service = self.runtime.run(make())

    def new_grant(self, seconds: float) -> tuple[Any, Path]:
        """A grant for ``seconds`` from now and the engineer's certificate file for it."""
        from vxassist.remote.grants import Grant, Scope, key_id_for

        self._counter += 1
        session_id = f"bench{os.getpid()}x{self._counter}"
        now = datetime.now(UTC)
        scopes = (Scope("shell"), Scope("files"))
        grant = Grant(
            session_id=session_id,
            engineer="bench",
            case_number=1,
            scopes=scopes,
            not_before=now,
            not_after=now + timedelta(seconds=seconds),
            key_id=key_id_for("bench", 1, session_id),
        )
        cert = self.ca.sign_user_key(
            pub_of(self.eng_key),
            key_id=grant.key_id,
            principals=[session_id],
            not_before=grant.not_before,
            not_after=grant.not_after,
            scopes=[str(s) for s in scopes],
        )
        cert_file = self.folder / f"{session_id}-cert.pub"
        cert_file.write_text(cert + "\n")
        return grant, cert_file

    def open(self, grant: Any) -> None:
        self.runtime.run(self.service.start(grant, self.endpoint))

    def end(self, session_id: str, reason: str) -> None:
        with contextlib.suppress(Exception):
            self.runtime.run(self.service.end(session_id, reason))

    def stop(self) -> None:
        if self.service is not None:
            with contextlib.suppress(Exception):
                self.runtime.run(self.service.close())
        self.runtime.stop()


# -- the floor: asyncssh alone, both layers, the same child ---------------------


class _ChildOutput(asyncio.SubprocessProtocol):
    def __init__(self, chan: Any) -> None:
        self.chan = chan
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.chan.write(data)

    def process_exited(self) -> None:
        self.chan.exit(self.transport.get_returncode())


class _BareSession(asyncssh.SSHServerSession[bytes]):
    """The command runs under ``sh -c`` as sshd runs it, wired by callbacks; nothing is
    checked, recorded or audited."""

    def connection_made(self, chan: Any) -> None:
        self._chan = chan
        self._command = "true"
        self._stdin: Any = None
        self._early: list[bytes | None] = []

    def exec_requested(self, command: str) -> bool:
        self._command = command
        return True

    def session_started(self) -> None:
        self._starting = asyncio.ensure_future(self._spawn())

    async def _spawn(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.subprocess_exec(
            lambda: _ChildOutput(self._chan),
            "/bin/sh",
            "-c",
            self._command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._stdin = transport.get_pipe_transport(0)
        for data in self._early:
            self._feed(data)

    def _feed(self, data: bytes | None) -> None:
        if data is None:
            self._stdin.close()
        else:
            self._stdin.write(data)

    def data_received(self, data: bytes, datatype: Any) -> None:
        if self._stdin is None:
            self._early.append(data)
        else:
            self._feed(data)

    def eof_received(self) -> bool:
        if self._stdin is None:
            self._early.append(None)
        else:
            self._feed(None)
        return True


class _BareServer(asyncssh.SSHServer):
    def connection_made(self, conn: Any) -> None:
        trim_per_packet_work(conn, SERVER_CIPHERS)

    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: Any) -> bool:
        return True

    def session_requested(self) -> Any:
        return _BareSession()


async def _bare_listen(key: Path, port: int, **options: Any) -> Any:
    """A bare asyncssh server on 127.0.0.1:``port`` with the agent's ciphers and windows."""
    return await asyncssh.listen(
        "127.0.0.1",
        port,
        server_host_keys=[str(key)],
        server_factory=_BareServer,
        encryption_algs=SERVER_CIPHERS,
        window=SERVER_WINDOW,
        max_pktsize=SERVER_MAX_PACKET,
        encoding=None,
        **options,
    )


@dataclass
class AsyncsshFloor:
    """The least an asyncssh host can do on this path: asyncssh as tunnel and as server
    (the agent's ciphers, windows and no ignore packets), and commands on pipes as
    the baseline's sshd runs them; no grant, audit, recording or confinement."""

    folder: Path
    relay: OpenSshRelay
    listen_port: int
    runtime: LoopThread
    host_key: str = ""
    _conn: Any = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        key = self.folder / "host_key"
        self.host_key = keygen(key, "bench-floor")
        self.relay.authorize(
            "vxagent",
            f'restrict,port-forwarding,permitlisten="127.0.0.1:{self.listen_port}" '
            + self.host_key,
        )
        known = self.folder / "relay_known_hosts"
        known.write_text(self.relay.known_hosts_line() + "\n")

        async def serve() -> Any:
            conn = await asyncssh.connect(
                self.relay.host,
                self.relay.port,
                username="vxagent",
                client_keys=[str(key)],
                known_hosts=str(known),
                encryption_algs=CLIENT_CIPHERS,
            )
            trim_per_packet_work(conn, CLIENT_CIPHERS)
            await _bare_listen(key, self.listen_port, tunnel=conn)
            return conn

        self._conn = self.runtime.run(serve())

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()


@dataclass
class ServerOnlyFloor(OpenSshHost):
    """asyncssh as the server alone, behind OpenSSH's ``ssh -R`` as the tunnel.

    One SSH layer in Python instead of two. It needs a local listener, which the
    agent must not have, so it is a measurement, not an option: it shows what the
    tunnel layer in Python costs against a process hop through OpenSSH.
    """

    runtime: LoopThread | None = None
    host_key: str = ""
    _server: Any = None

    def start(self) -> None:
        assert self.runtime is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        key = self.folder / "host_key"
        self.host_key = keygen(key, "bench-server-floor")
        self.tunnel_key = self.folder / "tunnel_key"
        keygen(self.tunnel_key, "bench-server-floor-tunnel")
        self.port = free_port()

        async def serve() -> Any:
            return await _bare_listen(key, self.port)

        self._server = self.runtime.run(serve())
        self.relay.authorize(
            "vxagent",
            f'restrict,port-forwarding,permitlisten="127.0.0.1:{self.listen_port}" '
            + pub_of(self.tunnel_key),
        )

    def stop(self) -> None:
        self.close_tunnel()
        if self._server is not None:
            self._server.close()


# -- the measurements ------------------------------------------------------------


def ssh_cmd(target: Target, *args: str) -> list[str]:
    return ["ssh", "-F", str(target.config), *args, target.alias]


def first_prompt_s(target: Target, t0: float) -> float:
    """Seconds from ``t0`` to the first bytes of an interactive shell."""
    proc = subprocess.Popen(
        [*ssh_cmd(target, "-tt")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        if not ready or not os.read(proc.stdout.fileno(), 4096):
            proc.kill()
            raise RuntimeError(f"{target.name}: no shell prompt: {proc.stderr.read()!r}")
        return time.perf_counter() - t0
    finally:
        proc.kill()
        proc.wait()


def new_connection_s(target: Target, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run([*ssh_cmd(target), "true"], check=True, stdin=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


class EchoLink:
    """One open ``ssh host cat``: a byte goes out, comes back; each round trip timed."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.proc = subprocess.Popen(
            [*ssh_cmd(target), "cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
        )
        self.times: list[float] = []

    def rounds(self, count: int, keep: bool = True) -> None:
        proc = self.proc
        assert proc.stdin is not None and proc.stdout is not None
        for _ in range(count):
            t0 = time.perf_counter()
            proc.stdin.write(b"x")
            if os.read(proc.stdout.fileno(), 1) != b"x":
                raise RuntimeError(f"{self.target.name}: echo lost")
            if keep:
                self.times.append(time.perf_counter() - t0)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(10)


def round_trip_s(target: Target, rounds: int) -> float:
    """Median time for one byte to go to ``cat`` on the host and come back."""
    return round_trips_s([target], rounds)[target.name]


def round_trips_s(targets: list[Target], rounds: int, block: int = 50) -> dict[str, float]:
    """Median round trip per target, the targets taking turns every ``block`` rounds.

    Taking turns in small blocks spreads the load other programs put on the
    machine evenly over the paths compared (measured one after the other, the
    ratio swung by the drift between the two halves).
    """
    links = [EchoLink(t) for t in targets]
    try:
        for link in links:
            link.rounds(10, keep=False)  # warm up
        done = 0
        while done < rounds:
            step = min(block, rounds - done)
            for link in links:
                link.rounds(step)
            done += step
    finally:
        for link in links:
            link.close()
    return {link.target.name: statistics.median(link.times) for link in links}


def sftp_s(target: Target, batch: str) -> float:
    script = target.config.with_suffix(".batch")
    script.write_text(batch)
    t0 = time.perf_counter()
    done = subprocess.run(
        ["sftp", "-q", "-F", str(target.config), "-b", str(script), target.alias],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{target.name}: sftp failed ({done.returncode}): {done.stderr}")
    return elapsed


def teardown_s(target: Target, deadline_monotonic: float, stop: Callable[[], None] | None) -> float:
    """Open a connection, wait for the deadline (or call ``stop``), time until ssh exits."""
    proc = subprocess.Popen(
        [*ssh_cmd(target), "cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"x")
    proc.stdin.flush()
    if os.read(proc.stdout.fileno(), 1) != b"x":
        raise RuntimeError(f"{target.name}: no echo before teardown")
    delay = deadline_monotonic - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    t0 = time.monotonic()
    if stop is not None:
        stop()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        return float("inf")
    return time.monotonic() - max(t0, deadline_monotonic)


@dataclass
class Figures:
    allow_to_prompt_s: float = float("nan")
    #: the part of allow_to_prompt_s until the reverse tunnel was up
    allow_to_tunnel_s: float = float("nan")
    new_connection_s: float = float("nan")
    round_trip_ms: float = float("nan")
    put_mb_s: float = float("nan")
    get_mb_s: float = float("nan")
    teardown_s: float = float("nan")
    new_connection_times: list[float] = field(default_factory=list)


def measure(pairs: list[tuple[Target, Figures]], rounds: int) -> None:
    """New connections on each path in turn, then round trips taking turns."""
    for _ in range(5):
        for target, figures in pairs:
            figures.new_connection_times.append(new_connection_s(target, 1))
    for _, figures in pairs:
        figures.new_connection_s = statistics.median(figures.new_connection_times)
    medians = round_trips_s([t for t, _ in pairs], rounds)
    for target, figures in pairs:
        figures.round_trip_ms = medians[target.name] * 1000


def transfer_s(target: Target, local_file: Path) -> tuple[float, float]:
    """Seconds for one sftp put of ``local_file`` and one get of it back."""
    remote = target.remote_dir / f"{target.name}.bin"
    back = local_file.with_name(f"{target.name}.back")
    put = sftp_s(target, f"put {local_file} {remote}\n")
    get = sftp_s(target, f"get {remote} {back}\n")
    if back.stat().st_size != local_file.stat().st_size:
        raise RuntimeError(f"{target.name}: the file came back with another size")
    back.unlink()
    remote.unlink()
    return put, get


def measure_transfers(
    pairs: list[tuple[Target, Figures]], size_mb: int, local_file: Path, repeat: int
) -> None:
    """Put and get on each path in turn, ``repeat`` times; the median speed is kept.

    Taking turns spreads the load other programs put on the machine over both paths.
    """
    times: dict[str, list[tuple[float, float]]] = {t.name: [] for t, _ in pairs}
    for _ in range(repeat):
        for target, _figures in pairs:
            times[target.name].append(transfer_s(target, local_file))
    for target, figures in pairs:
        figures.put_mb_s = size_mb / statistics.median(p for p, _ in times[target.name])
        figures.get_mb_s = size_mb / statistics.median(g for _, g in times[target.name])


def report(base: Figures, ours: Figures | None, note: str) -> None:
    rows = [
        ("sftp put (MB/s)", "put_mb_s", "higher", ">= 1.0x"),
        ("sftp get (MB/s)", "get_mb_s", "higher", ">= 1.0x"),
        ("round trip (ms)", "round_trip_ms", "lower", "<= 1.2x"),
        ("new connection (s)", "new_connection_s", "lower", ""),
        ("Allow to prompt (s)", "allow_to_prompt_s", "lower", "<= 1 s"),
        ("  of which tunnel (s)", "allow_to_tunnel_s", "lower", ""),
        ("teardown (s)", "teardown_s", "lower", "<= 1 s"),
    ]
    print(f"{'':22}{'OpenSSH':>12}{'vxassist':>12}{'ratio':>10}  target")
    for label, attr, _better, target in rows:
        b = getattr(base, attr)
        o = getattr(ours, attr) if ours else float("nan")
        ratio = o / b if b and b == b and o == o else float("nan")
        print(f"{label:22}{b:12.3f}{o:12.3f}{ratio:9.2f}x  {target}")
    if note:
        print(note)


def _override_agent_windows(tunnel_window: int | None, server_window: int | None) -> None:
    """Patch the agent's window constants for this run only (an experiment)."""
    import vxassist.remote.service as service
    import vxassist.remote.tunnel as tunnel

    if tunnel_window:
        tunnel.WINDOW = tunnel_window
        print(f"experiment: tunnel channel window {tunnel_window} bytes")
    if server_window:
        service.WINDOW = server_window  # type: ignore[attr-defined]
        print(f"experiment: server channel window {server_window} bytes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=200, help="round trips measured")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="put/get rounds, the paths taking turns; the median is reported",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--baseline-only", action="store_true")
    parser.add_argument(
        "--no-floor", action="store_true", help="skip the bare asyncssh host (round trips)"
    )
    parser.add_argument(
        "--tunnel-window",
        type=int,
        metavar="BYTES",
        help="experiment: the agent's tunnel (relay connection) channel window",
    )
    parser.add_argument(
        "--server-window",
        type=int,
        metavar="BYTES",
        help="experiment: the agent's embedded server channel window",
    )
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        help="the agent's event loop (default: what the agent uses, uvloop where installed)",
    )
    args = parser.parse_args(argv)
    if args.loop:
        os.environ["VXASSIST_EVENT_LOOP"] = args.loop
    _override_agent_windows(args.tunnel_window, args.server_window)
    if os.geteuid() != 0 or not Path("/usr/sbin/sshd").exists():
        print("remote_path: needs root and /usr/sbin/sshd", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="vx-bench-"))
    remote_dir = work / "remote"
    remote_dir.mkdir()
    local_file = work / "payload.bin"
    with local_file.open("wb") as fh:
        for _ in range(args.size_mb):
            fh.write(os.urandom(1_000_000))
    eng_key = work / "engineer_key"
    keygen(eng_key, "bench-engineer")
    relay = OpenSshRelay(work / "relay").start()
    base_port, ours_port, floor_port, server_floor_port = (free_port() for _ in range(4))
    relay.authorize(
        "vxeng",
        f'restrict,port-forwarding,permitopen="127.0.0.1:{base_port}",'
        f'permitopen="127.0.0.1:{ours_port}",permitopen="127.0.0.1:{floor_port}",'
        f'permitopen="127.0.0.1:{server_floor_port}" ' + pub_of(eng_key),
    )
    baseline = OpenSshHost(work / "baseline", relay, eng_key, base_port, remote_dir)
    vx: VxHost | None = None
    floor: AsyncsshFloor | None = None
    floor_pairs: list[tuple[Target, Figures]] = []
    server_floor: ServerOnlyFloor | None = None
    note = ""
    try:
        baseline.start()
        base_target = write_engineer_config(
            work,
            "openssh",
            relay,
            eng_key,
            base_port,
            "root",
            baseline.host_key_line(),
            remote_dir,
        )
        base = Figures()
        t0 = time.perf_counter()
        baseline.open_tunnel()
        base.allow_to_tunnel_s = time.perf_counter() - t0
        base.allow_to_prompt_s = first_prompt_s(base_target, t0)

        ours: Figures | None = None
        ours_target: Target | None = None
        if not args.baseline_only:
            try:
                vx = VxHost(work / "vxassist", relay, eng_key, ours_port, remote_dir)
                vx.start()
                grant, cert = vx.new_grant(3600)
                ours_target = write_engineer_config(
                    work,
                    "vxassist",
                    relay,
                    eng_key,
                    ours_port,
                    grant.session_id,
                    vx.host_key,
                    remote_dir,
                    cert,
                )
                ours = Figures()
                t0 = time.perf_counter()
                vx.open(grant)
                ours.allow_to_tunnel_s = time.perf_counter() - t0
                ours.allow_to_prompt_s = first_prompt_s(ours_target, t0)
            except (NotImplementedError, ImportError) as exc:
                note = f"vxassist path not available in this build: {exc!r}"
                ours = None

        if not args.no_floor:
            runtime = vx.runtime if vx is not None else LoopThread()
            floor = AsyncsshFloor(work / "floor", relay, floor_port, runtime)
            floor.start()
            floor_target = write_engineer_config(
                work, "floor", relay, eng_key, floor_port, "floor", floor.host_key, remote_dir
            )
            server_floor = ServerOnlyFloor(
                work / "server-floor",
                relay,
                eng_key,
                server_floor_port,
                remote_dir,
                runtime=runtime,
            )
            server_floor.start()
            server_floor.open_tunnel()
            server_floor_target = write_engineer_config(
                work,
                "serverfloor",
                relay,
                eng_key,
                server_floor_port,
                "floor",
                server_floor.host_key,
                remote_dir,
            )
            floor_pairs = [(floor_target, Figures()), (server_floor_target, Figures())]

        # the same measurements on both paths, taking turns
        pairs = [(base_target, base)]
        if ours is not None and ours_target is not None:
            pairs.append((ours_target, ours))
        measure(pairs + floor_pairs, args.rounds)
        measure_transfers(pairs, args.size_mb, local_file, args.repeat)

        base.teardown_s = teardown_s(base_target, time.monotonic(), baseline.close_tunnel)
        if ours is not None and vx is not None and ours_target is not None:
            vx.end(grant.session_id, "benchmark")
            grant, cert = vx.new_grant(4)
            deadline = time.monotonic() + (grant.not_after - datetime.now(UTC)).total_seconds()
            ours_target = write_engineer_config(
                work,
                "vxassist",
                relay,
                eng_key,
                ours_port,
                grant.session_id,
                vx.host_key,
                remote_dir,
                cert,
            )
            vx.open(grant)
            ours.teardown_s = teardown_s(ours_target, deadline, None)
        print(
            f"remote path, {args.size_mb} MB file (median of {args.repeat}), "
            f"{args.rounds} round trips, agent loop {loop_kind()}, work in {work}"
        )
        report(base, ours, note)
        for (_target, figures), label in zip(
            floor_pairs,
            (
                "asyncssh floor (asyncssh as tunnel and server, commands on pipes, nothing else)",
                "asyncssh server alone behind OpenSSH's ssh -R (needs a local listener)",
            ),
            strict=True,
        ):
            print(
                f"{label}: round trip {figures.round_trip_ms:.3f} ms = "
                f"{figures.round_trip_ms / base.round_trip_ms:.2f}x, new connection "
                f"{figures.new_connection_s:.3f} s"
            )
    finally:
        if server_floor is not None:
            server_floor.stop()
        if floor is not None:
            floor.stop()
        if vx is not None:
            vx.stop()
        baseline.stop()
        relay.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
