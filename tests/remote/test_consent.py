"""The terminal prompter on a real pseudo-terminal: answers, narrowing, timeout, default deny."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import pty
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from vxassist.remote.consent import DenyPrompter, TtyPrompter, narrow_scopes, shorten_minutes
from vxassist.remote.grants import ConsentDecision, Scope, SessionRequest

REQ = SessionRequest(
    session_id="s-1",
    engineer="alice",
    case_number=42,
    case_brief="CDR stopped",
    scopes=(Scope("shell"), Scope("files"), Scope("forward", "127.0.0.1", 3389)),
    minutes=30,
    reason="collector logs",
    verification_code="482-913",
    key_fingerprint="SHA256:abc",
    received_at=datetime(2026, 11, 26, tzinfo=UTC),
)


@pytest.fixture
def terminal() -> Iterator[tuple[int, int]]:
    master, slave = pty.openpty()
    yield master, slave
    for fd in (master, slave):
        with contextlib.suppress(OSError):
            os.close(fd)


def ask(
    slave: int,
    master: int,
    answers: list[bytes],
    timeout_s: float = 10.0,
    req: SessionRequest = REQ,
) -> tuple[ConsentDecision, str]:
    out = io.StringIO()

    async def main() -> ConsentDecision:
        prompter = TtyPrompter(input_fd=slave, output=out)
        assert prompter.can_prompt
        task = asyncio.ensure_future(prompter.ask(req, timeout_s))
        for answer in answers:
            await asyncio.sleep(0.05)
            os.write(master, answer)
        return await task

    return asyncio.run(main()), out.getvalue()


def test_prompt_shows_everything_and_approves(terminal: tuple[int, int]) -> None:
    master, slave = terminal
    decision, shown = ask(slave, master, [b"y\n", b"\n", b"\n"])
    assert decision == ConsentDecision(True, REQ.scopes, 30, "approved at the terminal")
    for part in (
        "alice",
        "42",
        "CDR stopped",
        "collector logs",
        "482-913",
        "forward:127.0.0.1:3389",
        "30 minutes",
    ):
        assert part in shown
    assert "[y/N]" in shown


def test_scopes_narrowed_and_duration_shortened(terminal: tuple[int, int]) -> None:
    master, slave = terminal
    decision, _ = ask(slave, master, [b"yes\n", b"2\n", b"10\n"])
    assert decision.approved
    assert decision.scopes == (Scope("files"),)
    assert decision.minutes == 10


@pytest.mark.parametrize(
    "answers",
    [
        [b"\n"],
        [b"n\n"],
        [b"maybe\n"],
        [b"y\n", b"9\n"],
        [b"y\n", b"1\n", b"31\n"],
        [b"y\n", b"1\n", b"-5\n"],
    ],
)
def test_anything_but_a_clear_yes_denies(terminal: tuple[int, int], answers: list[bytes]) -> None:
    master, slave = terminal
    decision, _ = ask(slave, master, answers)
    assert not decision.approved
    assert decision.scopes == ()


def test_no_answer_in_time_denies(terminal: tuple[int, int]) -> None:
    master, slave = terminal
    decision, shown = ask(slave, master, [], timeout_s=0.5)
    assert not decision.approved
    assert "no answer" in decision.note
    assert "No answer in time" in shown


def test_half_an_answer_then_silence_denies(terminal: tuple[int, int]) -> None:
    master, slave = terminal
    decision, _ = ask(slave, master, [b"y\n"], timeout_s=0.8)
    assert not decision.approved


def test_event_loop_keeps_running_while_the_prompt_waits(terminal: tuple[int, int]) -> None:
    master, slave = terminal
    ticks = 0

    async def main() -> ConsentDecision:
        nonlocal ticks
        prompter = TtyPrompter(input_fd=slave, output=io.StringIO())
        task = asyncio.ensure_future(prompter.ask(REQ, 10))
        for _ in range(10):
            await asyncio.sleep(0.01)
            ticks += 1
        os.write(master, b"n\n")
        return await task

    assert not asyncio.run(main()).approved
    assert ticks == 10


def test_not_a_terminal_cannot_prompt() -> None:
    read_end, write_end = os.pipe()
    try:
        prompter = TtyPrompter(input_fd=read_end, output=io.StringIO())
        assert not prompter.can_prompt
        decision = asyncio.run(prompter.ask(REQ, 5))
        assert not decision.approved
    finally:
        os.close(read_end)
        os.close(write_end)


def test_deny_prompter() -> None:
    prompter = DenyPrompter()
    assert not prompter.can_prompt
    assert not asyncio.run(prompter.ask(REQ, 5)).approved


def test_answer_parsers() -> None:
    assert narrow_scopes(REQ.scopes, "3, 1") == (REQ.scopes[2], REQ.scopes[0])
    assert narrow_scopes(REQ.scopes, "0") is None
    assert narrow_scopes(REQ.scopes, "") == REQ.scopes
    assert shorten_minutes(30, "") == 30
    assert shorten_minutes(30, "0") is None
    assert shorten_minutes(30, "15") == 15


def test_a_second_request_waiting_behind_the_first_times_out(terminal: tuple[int, int]) -> None:
    master, slave = terminal

    async def main() -> tuple[ConsentDecision, ConsentDecision]:
        prompter = TtyPrompter(input_fd=slave, output=io.StringIO())
        first = asyncio.ensure_future(prompter.ask(REQ, 2.0))
        second = asyncio.ensure_future(prompter.ask(REQ, 0.3))
        late = await second  # the first still holds the terminal
        os.write(master, b"n\n")
        return await first, late

    first, late = asyncio.run(main())
    assert not first.approved and first.note == "denied at the terminal"
    assert not late.approved and "no answer" in late.note
