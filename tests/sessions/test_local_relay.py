"""The relay run by hand (``vxassist.relay.local``): one runner for the demo and the tests.

A stopped relay must drop every agent's and engineer's connection: sshd serves
each connection from a child that calls ``setsid()``, so killing sshd's process
group alone leaves those children, and the connections, alive. The relay here is
the real sshd with the shipped config; the agent and the engineer are the stock
``ssh`` with ``-R`` and ``-L``, and a loopback echo server is the host's service.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncssh
import pytest

import vxassist.demo
from tests.fixtures.relay import AGENT, ENGINEER, Relay, free_port, relay_ssh_args
from tests.fixtures.ssh import write_private
from vxassist.demo import DemoStack
from vxassist.relay.local import (
    OpenSshRelay,
    descendants,
    nss_wrapper_library,
    stop_process_tree,
)

pytestmark = pytest.mark.skipif(
    not Path("/usr/sbin/sshd").exists() or os.geteuid() != 0,
    reason="runs OpenSSH sshd, which needs root and openssh-server",
)
TIMEOUT_S = 30.0


# -- processes, as /proc shows them --------------------------------------------------


def _identity(pid: int) -> tuple[int, str] | None:
    """(pid, start time) while ``pid`` runs (not a zombie); None once it has ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in "ZX":
        return None
    return pid, fields[19]


def _group(pid: int) -> int | None:
    with contextlib.suppress(ProcessLookupError):
        return os.getpgid(pid)
    return None


def _environ_has(pid: int, entry: str) -> bool:
    try:
        return entry.encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def _still_running(identities: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """Those of ``identities`` still running once SIGKILL had time to land (bounded)."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        left = {ident for ident in identities if _identity(ident[0]) == ident}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def _wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {TIMEOUT_S:.0f} s"
        time.sleep(0.05)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# -- the parts around the relay ----------------------------------------------------------


class Echo:
    """The host's local service: a loopback TCP server that echoes what it reads."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(4096):
                conn.sendall(data)

    def close(self) -> None:
        self.sock.close()


def _ssh(relay: OpenSshRelay, key: Path, user: str, *forward: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*relay_ssh_args(relay, key, user), "-N", *forward, relay.host],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _key(relay: OpenSshRelay, folder: Path, account: str, options: str) -> Path:
    key = asyncssh.generate_private_key("ssh-ed25519")
    path = folder / account / "id_ed25519"
    write_private(path, key.export_private_key("openssh"))
    relay.authorize(account, f"{options} {key.export_public_key('openssh').decode().strip()}")
    return path


def _demo_relay(folder: Path) -> OpenSshRelay:
    """The relay as the demo builds it (the machine's accounts when they exist)."""
    return OpenSshRelay(folder)


def _test_relay(folder: Path) -> OpenSshRelay:
    return Relay(folder)


@pytest.fixture(params=[_demo_relay, _test_relay], ids=["demo", "tests"])
def any_relay(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenSshRelay]:
    if nss_wrapper_library() is None:
        pytest.skip("libnss-wrapper is not installed (scripts/setup.sh installs it)")
    relay: OpenSshRelay = request.param(tmp_path / "relay")
    try:
        yield relay.start()
    finally:
        relay.stop()


# -- the tests ---------------------------------------------------------------------------------


def test_a_stopped_relay_drops_every_connection_and_leaves_no_sshd_behind(
    any_relay: OpenSshRelay, tmp_path: Path
) -> None:
    relay = any_relay
    tunnel_port, engineer_port = free_port(), free_port()
    agent_key = _key(
        relay, tmp_path, AGENT, f'restrict,port-forwarding,permitlisten="127.0.0.1:{tunnel_port}"'
    )
    engineer_key = _key(
        relay, tmp_path, ENGINEER, f'restrict,port-forwarding,permitopen="127.0.0.1:{tunnel_port}"'
    )
    echo = Echo()
    clients: list[subprocess.Popen[bytes]] = []
    try:
        agent = _ssh(
            relay, agent_key, AGENT, "-R", f"127.0.0.1:{tunnel_port}:127.0.0.1:{echo.port}"
        )
        clients.append(agent)
        _wait_for(lambda: _listening(tunnel_port), "agent's tunnel on the relay")
        engineer = _ssh(
            relay,
            engineer_key,
            ENGINEER,
            "-L",
            f"127.0.0.1:{engineer_port}:127.0.0.1:{tunnel_port}",
        )
        clients.append(engineer)
        _wait_for(lambda: _listening(engineer_port), "engineer's forward")
        # an engineer's live connection: engineer -> relay -> agent's tunnel -> service
        conn = socket.create_connection(("127.0.0.1", engineer_port), timeout=TIMEOUT_S)
        with conn:
            conn.sendall(b"ping\n")
            assert conn.recv(16) == b"ping\n"

            assert relay.pid is not None
            leader = relay.pid
            children = descendants(leader)
            ours = {i for i in map(_identity, [leader, *children]) if i is not None}
            # the case a process-group kill misses: connections served outside sshd's group
            assert any(_group(pid) not in (None, leader) for pid in children), children
            assert len(ours) > 3  # the listener and both connections' sshd processes

            relay.stop()

            # the engineer's open connection is dropped, and both clients see the end
            assert conn.recv(16) == b""
            assert engineer.wait(TIMEOUT_S) != 0
            assert agent.wait(TIMEOUT_S) != 0
        assert _still_running(ours) == set()
        private = f"NSS_WRAPPER_PASSWD={relay.folder / 'passwd'}"
        leftovers = [
            int(p.name)
            for p in Path("/proc").iterdir()
            if p.name.isdigit() and _environ_has(int(p.name), private)
        ]
        assert leftovers == []
        assert not _listening(relay.port)
        assert not _listening(tunnel_port)
    finally:
        echo.close()
        for client in clients:
            if client.poll() is None:
                client.kill()
                client.wait()


def test_restart_serves_the_same_port_and_key_and_new_connections(
    any_relay: OpenSshRelay, tmp_path: Path
) -> None:
    relay = any_relay
    port, key_line = relay.port, relay.known_hosts_line()
    tunnel_port = free_port()
    agent_key = _key(
        relay, tmp_path, AGENT, f'restrict,port-forwarding,permitlisten="127.0.0.1:{tunnel_port}"'
    )
    first = _ssh(relay, agent_key, AGENT, "-R", f"127.0.0.1:{tunnel_port}:127.0.0.1:9")
    second: subprocess.Popen[bytes] | None = None
    try:
        _wait_for(lambda: _listening(tunnel_port), "agent's tunnel on the relay")
        relay.restart()
        assert first.wait(TIMEOUT_S) != 0  # the old connection did not survive
        assert (relay.port, relay.known_hosts_line()) == (port, key_line)
        second = _ssh(relay, agent_key, AGENT, "-R", f"127.0.0.1:{tunnel_port}:127.0.0.1:9")
        _wait_for(lambda: _listening(tunnel_port), "agent's tunnel after the restart")
        assert second.poll() is None
    finally:
        for client in (first, second):
            if client is not None and client.poll() is None:
                client.kill()
                client.wait()


def test_stopping_a_tree_ends_children_that_left_the_group_and_nothing_else(
    tmp_path: Path,
) -> None:
    """The relay's stop, on a plain process tree: one child escaped the group by setsid."""
    pid_file = tmp_path / "escaped.pid"
    script = f"setsid sh -c 'echo $$ > {pid_file}; exec sleep 300' & exec sleep 300"
    tree = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    bystander = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        _wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() != "", "child pid")
        escaped = int(pid_file.read_text())
        ident = _identity(escaped)
        assert ident is not None and _group(escaped) != tree.pid

        stop_process_tree(tree, grace_s=5)

        assert tree.returncode is not None
        assert _still_running({ident}) == set()
        assert bystander.poll() is None  # only the tree it was given
    finally:
        for proc in (tree, bystander):
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_the_demo_and_the_tests_run_the_same_relay(tmp_path: Path) -> None:
    # one runner: the demo's name for it, and the fixture's relay adds only test policy
    assert vxassist.demo.OpenSshRelay is OpenSshRelay
    assert issubclass(Relay, OpenSshRelay)
    added = {name for name in vars(Relay) if not name.startswith("__")}
    assert added == {"accounts", "nss_wrapper"}  # private accounts, skip without them
    for name in ("start", "stop", "restart", "authorize", "clear_keys", "endpoint", "_env"):
        assert getattr(Relay, name) is getattr(OpenSshRelay, name), name
    assert Relay(tmp_path / "t").accounts == "private"

    # and the demo's own start builds that runner
    if nss_wrapper_library() is None:
        pytest.skip("libnss-wrapper is not installed (scripts/setup.sh installs it)")
    stack = DemoStack(tmp_path / "demo", relay="openssh", say=lambda _text: None)
    try:
        stack.start_relay()
        assert type(stack._openssh) is OpenSshRelay
        assert stack._openssh.accounts == "auto"
        assert _listening(stack.relay_port)
        assert stack.relay_label == f"OpenSSH sshd on 127.0.0.1:{stack.relay_port}"
        pid = stack._openssh.pid
        assert pid is not None
    finally:
        stack.stop()
    # the demo's own sshd is gone (its port is not checked: another test on 127.0.0.1
    # may take a freed loopback port at once)
    assert stack._openssh is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
