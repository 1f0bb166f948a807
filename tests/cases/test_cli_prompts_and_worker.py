"""Prompts on a terminal, a broken keyring, and the agent's outbox worker."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest

from tests.cases.conftest import CASE_FLAGS, AgentProcess, free_port, write_settings
from tests.fakes.memory_keyring import MemoryKeyring
from tests.fixtures.desk import RunningDesk, unique_contract
from vxassist.cases.intake import make_sender, open_store
from vxassist.cases.model import build_request
from vxassist.cases.outbox import Kind, OutboxSender, OutboxService, State
from vxassist.cli import main
from vxassist.paths import Paths
from vxassist.secrets import open_secret_store
from vxassist.settings import load_settings


def test_missing_fields_are_asked_for_on_a_terminal(agent_process: AgentProcess) -> None:
    flags = list(CASE_FLAGS)
    for name in ("--contact-email", "--priority"):
        at = flags.index(name)
        del flags[at : at + 2]
    master, slave = pty.openpty()
    process = subprocess.Popen(
        agent_process.command("case", "new", *flags, "--dry-run"),
        env=agent_process.env(),
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60

    def answer_after(prompt: bytes, count: int, answer: bytes) -> None:
        nonlocal seen
        while seen.count(prompt) < count:
            assert time.monotonic() < deadline, seen
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                seen += os.read(master, 4096)
        os.write(master, answer)

    try:
        answer_after(b"> Technical contact e-mail: ", 1, b"bob@\n")
        answer_after(b"> Technical contact e-mail: ", 2, b"bob@acme.example.com\n")
        answer_after(b"> Priority level (1-4): ", 1, b"1\n")
        out, _ = process.communicate(timeout=60)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, seen
    # an empty field is asked for, not called "missing" before anything was typed
    assert b"missing" not in seen
    assert b"'bob@' is not an e-mail address" in seen  # a bad answer is asked again
    body = json.loads(out)
    assert body["contact_email"] == "bob@acme.example.com"
    assert body["priority"] == 1


def test_a_broken_keyring_still_keeps_the_request(
    vx_home: Path, paths: Paths, capsys: pytest.CaptureFixture[str]
) -> None:
    write_settings(vx_home, desk_url=f"http://127.0.0.1:{free_port()}")
    keyring.set_keyring(keyring.backends.fail.Keyring())
    assert main(["case", "new", *CASE_FLAGS]) == 1
    err = capsys.readouterr().err
    assert "keyring" in err and "kept in the outbox as item 1" in err
    [item] = open_store(paths).items()
    assert item.state is State.PENDING


def test_the_agents_worker_delivers_what_waits(
    shared_desk: RunningDesk,
    paths: Paths,
    capsys: pytest.CaptureFixture[str],
    memory_keyring: MemoryKeyring,
) -> None:
    contract = unique_contract(shared_desk)
    code = shared_desk.enrollment_code(contract["contract_id"])
    assert main(["enroll", "--desk", shared_desk.url, "--code", code]) == 0
    capsys.readouterr()
    from tests.cases.test_model import good

    store = open_store(paths)
    item = store.add(
        Kind.CASE, "POST", "/api/v1/cases", build_request(good()).payload(), datetime.now(UTC)
    )
    settings = load_settings(paths)
    secrets = open_secret_store(paths, settings.secrets_backend)
    made: list[str] = []

    def make() -> OutboxSender:
        made.append(type(keyring.get_keyring()).__name__)
        return make_sender(paths, settings, secrets)

    async def run() -> None:
        # The keyring fails at first (locked): the worker says so and keeps going.
        keyring.set_keyring(keyring.backends.fail.Keyring())
        stop = asyncio.Event()
        worker = asyncio.create_task(OutboxService(make, interval_s=0.2).run(stop))
        for _ in range(600):
            if len(made) >= 2:
                break
            await asyncio.sleep(0.05)
        assert store.get(item.id).state is State.PENDING
        keyring.set_keyring(memory_keyring)
        for _ in range(300):
            if store.get(item.id).state is not State.PENDING:
                break
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(worker, timeout=30)

    asyncio.run(run())
    done = store.get(item.id)
    assert done.state is State.DELIVERED and isinstance(done.case_number, int)
    assert made[0] == "Keyring" and made[-1] == "MemoryKeyring"
