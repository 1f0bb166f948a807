"""Processes the engineer started die with the agent, even when it is SIGKILLed.

The agent is a process of its own here (``tests/remote/agent_process.py``), so
the test can kill it; the relay is the real sshd, the engineer the stock ssh.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.remote.agent_process import write_spec
from tests.remote.conftest import World
from tests.remote.test_teardown import processes_with

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")
ROOT = Path(__file__).resolve().parents[2]
BOUND_S = 30.0


def wait_for(check: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + BOUND_S
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {BOUND_S:.0f} s"
        time.sleep(0.05)


@pytest.fixture
def clients() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start_agent(world: World, tmp_path: Path, session_id: str) -> subprocess.Popen[str]:
    grant = world.grant(session_id, ("shell",))
    world.certify(grant)
    world.configure_engineer(session_id)
    spec = tmp_path / "agent.json"
    write_spec(spec, grant, world.endpoint(), world.user_ca.public_line, world.home)
    agent = subprocess.Popen(
        [sys.executable, "-m", "tests.remote.agent_process", str(spec)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert agent.stdout is not None
    assert agent.stdout.readline().strip() == "ready"
    return agent


def ssh(world: World, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["ssh", "-F", str(world.engineer.config_file), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_killed_agent_takes_the_engineers_processes_with_it(
    world: World, tmp_path: Path, clients: list[subprocess.Popen[bytes]]
) -> None:
    agent = start_agent(world, tmp_path, "k1")
    try:
        shell = ssh(world, "-tt", "agent")
        clients.append(shell)
        assert shell.stdin is not None
        # a background job and a foreground one, typed at the shell
        shell.stdin.write(b"sleep 611.25 &\nsleep 611.5\n")
        shell.stdin.flush()
        clients.append(ssh(world, "agent", "sleep 612.25 & sleep 612.5"))
        # one that left the session and its process group
        clients.append(ssh(world, "agent", "setsid sleep 612.75 & sleep 612.8"))
        markers = ("611.25", "611.5", "612.25", "612.5", "612.75", "612.8")
        wait_for(lambda: all(processes_with(m) for m in markers), "engineer's processes")

        os.kill(agent.pid, signal.SIGKILL)
        agent.wait(BOUND_S)

        wait_for(lambda: not any(processes_with(m) for m in markers), "end of those processes")
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        for marker in ("611.25", "611.5", "612.25", "612.5", "612.75", "612.8"):
            for pid in processes_with(marker):
                os.kill(pid, signal.SIGKILL)
