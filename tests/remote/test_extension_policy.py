"""Extensions on the host: the pure screening and grant change (clock passed in), the
grant table's replacement, and the terminal prompter on a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import pty
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from vxassist.remote.consent import DenyPrompter, TtyPrompter
from vxassist.remote.errors import GrantError
from vxassist.remote.grants import (
    ExtensionRequest,
    Grant,
    GrantTable,
    Refusal,
    Scope,
    extend_grant,
    key_id_for,
    screen_extension,
)
from vxassist.settings import RemotePolicy

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
GRANT = Grant(
    session_id="s1",
    engineer="alice",
    case_number=42,
    scopes=(Scope("shell"),),
    not_before=NOW - timedelta(minutes=20),
    not_after=NOW + timedelta(minutes=10),
    key_id=key_id_for("alice", 42, "s1"),
)


def ask(minutes: int = 15, engineer: str = "alice") -> ExtensionRequest:
    return ExtensionRequest("s1", 1, engineer, minutes, "one more run", NOW)


def screen(req: ExtensionRequest, grant: Grant | None = GRANT, **kw: object) -> object:
    can_prompt = bool(kw.pop("can_prompt", True))
    now = kw.pop("now", NOW)
    assert isinstance(now, datetime)
    return screen_extension(req, grant, RemotePolicy(**kw), can_prompt, now)  # type: ignore[arg-type]


def test_screening_passes_the_holder_and_caps_the_whole_grant_by_policy() -> None:
    assert screen(ask(15)) == ask(15)
    # the grant already lasts 30 minutes: a 40-minute policy leaves 10
    assert screen(ask(15), max_minutes=40) == ask(10)
    refused = screen(ask(15), max_minutes=30)
    assert isinstance(refused, Refusal) and "at most 30 minutes in all" in refused.reason


@pytest.mark.parametrize(
    ("req", "grant", "kw", "why"),
    [
        (ask(engineer="bob"), GRANT, {}, "only the engineer who holds the session"),
        (ask(), None, {}, "already ended"),
        (ask(), GRANT, {"now": GRANT.not_after}, "already ended"),
        (ask(), GRANT, {"enabled": False}, "switched off"),
        (ask(), GRANT, {"can_prompt": False}, "nobody can answer"),
        (ask(0), GRANT, {}, "not a positive number"),
    ],
)
def test_screening_refuses_without_asking(
    req: ExtensionRequest, grant: Grant | None, kw: dict[str, object], why: str
) -> None:
    refused = screen(req, grant, **kw)
    assert isinstance(refused, Refusal) and why in refused.reason


def test_a_grant_grows_only_while_it_runs_and_the_table_takes_the_new_window() -> None:
    longer = extend_grant(GRANT, 5, NOW)
    assert longer.not_after == GRANT.not_after + timedelta(minutes=5)
    assert (longer.session_id, longer.scopes, longer.key_id) == ("s1", GRANT.scopes, GRANT.key_id)
    with pytest.raises(GrantError):
        extend_grant(GRANT, 5, GRANT.not_after)
    with pytest.raises(GrantError):
        extend_grant(GRANT, 0, NOW)

    table = GrantTable()
    table.add(GRANT)
    assert table.replace(longer) == GRANT
    assert table.live("s1", GRANT.not_after + timedelta(minutes=1)) == longer
    with pytest.raises(GrantError):  # who and what stay as approved
        table.replace(Grant(**{**longer.__dict__, "scopes": (Scope("files"),)}))
    table.spend("s1", "ended by the customer")
    with pytest.raises(GrantError):
        table.replace(extend_grant(longer, 5, NOW))


@pytest.fixture
def terminal() -> Iterator[tuple[int, int]]:
    master, slave = pty.openpty()
    yield master, slave
    for fd in (master, slave):
        with contextlib.suppress(OSError):
            os.close(fd)


def answer(
    terminal: tuple[int, int], typed: list[bytes], timeout_s: float = 10.0
) -> tuple[int | None, str]:
    master, slave = terminal
    out = io.StringIO()

    async def main() -> int | None:
        prompter = TtyPrompter(input_fd=slave, output=out)
        task = asyncio.ensure_future(prompter.ask_extension(GRANT, 15, "one more run", timeout_s))
        for line in typed:
            await asyncio.sleep(0.05)
            os.write(master, line)
        return await task

    return asyncio.run(main()), out.getvalue()


def test_terminal_approves_all_or_fewer_minutes(terminal: tuple[int, int]) -> None:
    minutes, shown = answer(terminal, [b"y\n", b"\n"])
    assert minutes == 15
    assert "Extension request" in shown and "alice" in shown and "one more run" in shown
    assert "Allow more time for this session? [y/N]" in shown


def test_terminal_can_shorten(terminal: tuple[int, int]) -> None:
    assert answer(terminal, [b"yes\n", b"5\n"])[0] == 5


@pytest.mark.parametrize("typed", [[b"\n"], [b"n\n"], [b"y\n", b"99\n"], [b"y\n", b"zero\n"]])
def test_terminal_refuses_by_default_and_on_nonsense(
    terminal: tuple[int, int], typed: list[bytes]
) -> None:
    assert answer(terminal, typed)[0] is None


def test_no_answer_in_time_is_a_refusal(terminal: tuple[int, int]) -> None:
    minutes, shown = answer(terminal, [], timeout_s=0.5)
    assert minutes is None and "No answer in time: extension refused" in shown


def test_nobody_to_ask_refuses() -> None:
    assert asyncio.run(DenyPrompter().ask_extension(GRANT, 15, "x", 5.0)) is None
    r, w = os.pipe()
    try:
        not_a_tty = TtyPrompter(input_fd=r, output=io.StringIO())
        assert asyncio.run(not_a_tty.ask_extension(GRANT, 15, "x", 5.0)) is None
    finally:
        os.close(r)
        os.close(w)


class _OneGrantService:
    """The session service as the broker sees it, holding one live grant."""

    def __init__(self, grant: Grant) -> None:
        self.grant = grant

    def live_grant(self, session_id: str, now: datetime) -> Grant | None:
        return self.grant if session_id == self.grant.session_id else None

    def extend(self, session_id: str, not_after: datetime, **_fields: object) -> Grant:
        assert not_after > self.grant.not_after > NOW
        self.grant = replace(self.grant, not_after=not_after)
        return self.grant


class _Records:
    """The desk (answers every report) and the audit log, both only noting calls."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, object]]] = []

    def request(self, method: str, path: str, json: object = None, timeout: object = None) -> dict:
        return {}

    def append(self, event: str, **fields: object) -> dict[str, object]:
        self.lines.append((event, fields))
        return {"event": event, **fields}


class _ApprovesTogether:
    """A customer who approves everything asked, once both requests are on screen."""

    can_prompt = True

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def ask_extension(
        self, grant: Grant, minutes: int, reason: str, timeout_s: float
    ) -> int | None:
        await self.release.wait()
        return minutes


def test_two_extensions_answered_one_after_the_other_stay_within_the_hosts_cap() -> None:
    from vxassist.remote.broker import SessionBroker

    service = _OneGrantService(GRANT)  # 30 minutes so far; the policy allows 60 in all
    records = _Records()
    prompter = _ApprovesTogether()
    broker = SessionBroker(
        records,  # type: ignore[arg-type]
        prompter,
        RemotePolicy(max_minutes=60),
        service,  # type: ignore[arg-type]
        records,
        frozenset,
        lambda: NOW,
        relay=lambda: None,
    )

    async def main() -> None:
        asks = [
            {"session_id": "s1", "number": n, "engineer": "alice", "minutes": 20} for n in (1, 2)
        ]
        both = [asyncio.ensure_future(broker.handle_extension(raw)) for raw in asks]
        await asyncio.sleep(0.05)  # both screened against the 30-minute grant: 20 fit
        prompter.release.set()
        await asyncio.gather(*both)

    asyncio.run(main())
    assert service.grant.not_after - service.grant.not_before == timedelta(minutes=60)
