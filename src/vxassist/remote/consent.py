"""Asking the customer: prompters that turn a session request into a decision.

A prompter shows who asks, for which case and why, the scopes (which can be
narrowed), the duration (which can be shortened) and the verification code the
engineer also sees. Deny is the default, and no answer in time is a deny. A
decision is about one request only: nothing carries over to another. An
extension of a live session is a new question of its own (``ask_extension``),
answered the same way: refused by default and when nobody answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import UTC, datetime, timedelta
from typing import Protocol, TextIO

from vxassist.remote.grants import ConsentDecision, Grant, Scope, SessionRequest


class Prompter(Protocol):
    """Something that can ask a person about a session request."""

    @property
    def can_prompt(self) -> bool:
        """Whether someone can answer at all (False: requests are refused unasked)."""
        ...

    async def ask(self, req: SessionRequest, timeout_s: float) -> ConsentDecision: ...

    async def ask_extension(
        self, grant: Grant, minutes: int, reason: str, timeout_s: float
    ) -> int | None:
        """More minutes on the live ``grant``: the minutes approved (maybe fewer than
        ``minutes``), or None = refused. No answer within ``timeout_s`` is a refusal."""
        ...


class DenyPrompter:
    """Nobody answers here: every request is denied."""

    @property
    def can_prompt(self) -> bool:
        return False

    async def ask(self, req: SessionRequest, timeout_s: float) -> ConsentDecision:
        return ConsentDecision.deny("nobody can answer prompts on this host")

    async def ask_extension(
        self, grant: Grant, minutes: int, reason: str, timeout_s: float
    ) -> int | None:
        return None


def describe_request(req: SessionRequest) -> str:
    """The text of the prompt (also used by other front ends)."""
    lines = [
        "",
        "=== Remote access request ===",
        f"  Engineer:          {req.engineer}",
        f"  Case:              {req.case_number} - {req.case_brief}",
        f"  Reason:            {req.reason}",
        "  Scopes:            " + "  ".join(f"{n}) {s}" for n, s in enumerate(req.scopes, start=1)),
        f"  Duration:          {req.minutes} minutes",
        f"  Verification code: {req.verification_code}  (the engineer sees the same code)",
        "",
    ]
    return "\n".join(lines)


def describe_extension(grant: Grant, minutes: int, reason: str, now: datetime) -> str:
    """The text of an extension prompt (also used by other front ends)."""
    new_end = grant.not_after + timedelta(minutes=minutes)
    lines = [
        "",
        "=== Extension request: more time for a live session ===",
        f"  Engineer:          {grant.engineer}",
        f"  Case:              {grant.case_number}",
        f"  Session:           {grant.session_id}",
        f"  Reason:            {reason or '(none given)'}",
        f"  Time left now:     {_minutes_text(grant.remaining(now))}",
        f"  Asked for:         {minutes} more minutes "
        f"(until {new_end.astimezone().strftime('%H:%M:%S')} instead of "
        f"{grant.not_after.astimezone().strftime('%H:%M:%S')})",
        "",
    ]
    return "\n".join(lines)


def _minutes_text(left: timedelta) -> str:
    seconds = int(left.total_seconds())
    return f"{seconds // 60} min {seconds % 60:02d} s"


def narrow_scopes(offered: tuple[Scope, ...], answer: str) -> tuple[Scope, ...] | None:
    """Scopes picked by number (``"1 3"``); empty answer = all offered; None = unusable."""
    answer = answer.replace(",", " ").strip()
    if not answer:
        return offered
    picked: list[Scope] = []
    for token in answer.split():
        if not token.isdigit() or not 1 <= int(token) <= len(offered):
            return None
        scope = offered[int(token) - 1]
        if scope not in picked:
            picked.append(scope)
    return tuple(picked)


def shorten_minutes(offered: int, answer: str) -> int | None:
    """Minutes between 1 and ``offered``; empty answer = ``offered``; None = unusable."""
    answer = answer.strip()
    if not answer:
        return offered
    if not answer.isdigit() or not 1 <= int(answer) <= offered:
        return None
    return int(answer)


class _LineReader:
    """Lines from a terminal file descriptor, read by the event loop (never blocking it)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buf = b""
        self._eof = False
        self._wakeup: asyncio.Event = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError:  # EIO: the terminal is gone
            data = b""
        if not data:
            self._eof = True
            self._loop.remove_reader(self._fd)
        self._buf += data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        self._wakeup.set()

    def __enter__(self) -> _LineReader:
        self._loop.add_reader(self._fd, self._on_readable)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.remove_reader(self._fd)

    async def readline(self) -> str | None:
        """One line without its end, or None at end of input."""
        while b"\n" not in self._buf:
            if self._eof:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode("utf-8", "replace").strip()


class TtyPrompter:
    """Asks on a terminal (the headless agent's ``--consent tty``)."""

    def __init__(self, input_fd: int | None = None, output: TextIO | None = None) -> None:
        import sys

        self._fd = sys.stdin.fileno() if input_fd is None else input_fd
        self._out = output if output is not None else sys.stdout
        self._busy = asyncio.Lock()

    @property
    def can_prompt(self) -> bool:
        try:
            return os.isatty(self._fd)
        except OSError:
            return False

    def _say(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._out.write(text)
            self._out.flush()

    async def ask(self, req: SessionRequest, timeout_s: float) -> ConsentDecision:
        """One prompt at a time; the whole dialogue must finish within ``timeout_s``."""
        if not self.can_prompt:
            return ConsentDecision.deny("no terminal to ask on")
        try:
            # waiting behind another prompt counts against this request's time too
            async with asyncio.timeout(timeout_s), self._busy:
                return await self._dialogue(req, timeout_s)
        except TimeoutError:
            self._say(f"\nNo answer in time: denied (session {req.session_id}).\n")
            return ConsentDecision.deny("no answer within the timeout")

    async def ask_extension(
        self, grant: Grant, minutes: int, reason: str, timeout_s: float
    ) -> int | None:
        """Like :meth:`ask`: one prompt at a time, the whole dialogue within ``timeout_s``."""
        if not self.can_prompt:
            return None
        try:
            async with asyncio.timeout(timeout_s), self._busy:
                return await self._extension_dialogue(grant, minutes, reason, timeout_s)
        except TimeoutError:
            self._say(f"\nNo answer in time: extension refused (session {grant.session_id}).\n")
            return None

    async def _extension_dialogue(
        self, grant: Grant, minutes: int, reason: str, timeout_s: float
    ) -> int | None:
        self._say(describe_extension(grant, minutes, reason, datetime.now(UTC)))
        with _LineReader(self._fd) as reader:
            self._say(
                f"Allow more time for this session? [y/N] (refused after {int(timeout_s)} s) "
            )
            answer = await reader.readline()
            if answer is None or answer.lower() not in ("y", "yes"):
                self._say("Extension refused.\n")
                return None
            self._say(f"Minutes to add (1-{minutes}, Enter = {minutes}): ")
            line = await reader.readline()
            allowed = None if line is None else shorten_minutes(minutes, line)
            if allowed is None:
                self._say("Not a number in range: extension refused.\n")
                return None
        self._say(f"Extended by {allowed} minutes.\n")
        return allowed

    async def _dialogue(self, req: SessionRequest, timeout_s: float) -> ConsentDecision:
        self._say(describe_request(req))
        with _LineReader(self._fd) as reader:
            self._say(f"Allow this session? [y/N] (denied after {int(timeout_s)} s) ")
            answer = await reader.readline()
            if answer is None or answer.lower() not in ("y", "yes"):
                self._say("Denied.\n")
                return ConsentDecision.deny("denied at the terminal")
            scopes: tuple[Scope, ...] = req.scopes
            if len(req.scopes) > 1:
                self._say("Scopes to allow (numbers, Enter = all listed): ")
                line = await reader.readline()
                picked = None if line is None else narrow_scopes(req.scopes, line)
                if not picked:
                    self._say("Not a choice from the list: denied.\n")
                    return ConsentDecision.deny("scope answer not understood")
                scopes = picked
            self._say(f"Minutes to allow (1-{req.minutes}, Enter = {req.minutes}): ")
            line = await reader.readline()
            minutes = None if line is None else shorten_minutes(req.minutes, line)
            if minutes is None:
                self._say("Not a number in range: denied.\n")
                return ConsentDecision.deny("duration answer not understood")
        self._say(f"Allowed: {' '.join(map(str, scopes))} for {minutes} minutes.\n")
        return ConsentDecision(True, scopes, minutes, "approved at the terminal")
