"""Recording replay: reading asciicast, pauses shortened, seeking, and the engineer's screen."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.remote.conftest import World, serving
from tests.remote.test_teardown import BOUND_S, eventually, logins, spawn
from vxassist.remote.errors import AuditError
from vxassist.remote.replay import (
    CastEvent,
    TerminalScreen,
    describe_recording,
    index_at,
    parse_cast,
    read_cast,
    screen_at,
    shorten_pauses,
)

HEADER = json.dumps({"version": 2, "width": 20, "height": 4, "timestamp": 1, "title": "t"})


def _cast(*events: tuple[float, str, str]) -> list[str]:
    return [HEADER, *(json.dumps(list(e)) for e in events)]


def test_parse_keeps_events_in_order_and_counts_damage() -> None:
    cast = parse_cast(
        [*_cast((0.5, "o", "a"), (1.0, "i", "x"), (2.0, "r", "30x5")), '[3.0, "o", "cut sho']
    )
    assert (cast.width, cast.height, cast.title) == (20, 4, "t")
    assert [e.kind for e in cast.events] == ["o", "i", "r"]
    assert cast.duration == 2.0
    assert cast.damaged_lines == 1


def test_a_file_that_is_not_a_recording_is_said_so(tmp_path: Path) -> None:
    bad = tmp_path / "notes.cast"
    bad.write_text("hello\n")
    with pytest.raises(AuditError, match="not a session recording"):
        read_cast(bad)
    with pytest.raises(AuditError, match="cannot be read"):
        read_cast(tmp_path / "missing.cast")


def test_long_pauses_are_cut_to_the_idle_limit() -> None:
    events = [CastEvent(t, "o", "x") for t in (0.5, 1.0, 31.0, 31.5, 100.0)]
    short = shorten_pauses(events, 2.0)
    assert [e.at for e in short] == [0.5, 1.0, 3.0, 3.5, 5.5]
    assert [e.at for e in shorten_pauses(events, None)] == [0.5, 1.0, 31.0, 31.5, 100.0]


def test_seeking_replays_into_a_fresh_screen() -> None:
    cast = parse_cast(_cast((1.0, "o", "one\r\n"), (2.0, "o", "two\r\n"), (3.0, "o", "\x1b[2J")))
    events = list(cast.events)
    assert index_at(events, 1.5) == 1
    assert screen_at(cast, events, 2.0).lines()[:2] == ["one", "two"]
    assert screen_at(cast, events, 1.0).lines()[:2] == ["one", ""]
    # backwards works: nothing of a later moment is left on screen
    assert screen_at(cast, events, 3.0).lines() == ["", "", "", ""]
    assert screen_at(cast, events, 0.0).lines()[0] == ""


def test_resize_events_resize_the_screen() -> None:
    term = TerminalScreen(20, 4)
    term.apply(CastEvent(0, "r", "40x10"))
    assert term.size == (40, 10)
    term.apply(CastEvent(0, "r", "nonsense"))
    assert term.size == (40, 10)


def test_a_recording_replays_to_the_screen_the_engineer_last_saw(world: World) -> None:
    grant = world.grant("rp1", ("shell",))
    world.certify(grant)
    world.configure_engineer("rp1")

    async def main() -> bytes:
        async with serving(world, grant):
            shell = await spawn(world, "ssh", "-tt", "agent")
            await eventually(lambda: logins(world) == 1)
            assert shell.stdin is not None and shell.stdout is not None
            for line in (
                "printf 'first %s\\n' line",
                'for i in 1 2 3; do echo "row $i of the loop"; done',
                "printf '\\033[1mbold\\033[0m and plain\\n'",
                "exit",
            ):
                shell.stdin.write(line.encode() + b"\n")
                await shell.stdin.drain()
            out = await asyncio.wait_for(shell.stdout.read(), BOUND_S)
            await asyncio.wait_for(shell.wait(), BOUND_S)
            await eventually(lambda: bool(world.events_named("recording")))
            return out

    seen_bytes = asyncio.run(main())
    assert b"row 3 of the loop" in seen_bytes
    (recording,) = world.events_named("recording")
    cast = read_cast(world.paths.recordings_dir / recording["file"])
    engineer = TerminalScreen(cast.width, cast.height)
    engineer.feed_bytes(seen_bytes)
    replayed = screen_at(cast, cast.events, cast.duration)
    assert replayed.lines() == engineer.lines()
    assert any("row 3 of the loop" in line for line in replayed.lines())
    # the same end with long pauses shortened
    short = shorten_pauses(cast.events, 0.1)
    assert screen_at(cast, short, short[-1].at).lines() == engineer.lines()


def test_recordings_are_named_by_session_start_and_size() -> None:
    local = datetime(2026, 12, 3, 14, 0, 41, tzinfo=UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert describe_recording("s-7f3a-20261203T140041-1.cast", 12_300) == (
        f"s-7f3a, {local}, 12.3 KB"
    )
    assert describe_recording("odd name.cast") == "odd name.cast"
