"""Replaying asciicast v2 recordings: events, a timeline with long pauses shortened, seeking.

Pure parts of the agent's recording player (the Qt player in ``ui/audit_window.py``
only draws). A recording is read once into :class:`Cast`; :func:`shorten_pauses`
caps every pause at an idle limit, as ``asciinema play -i`` does; :func:`screen_at`
replays the events up to a moment into a fresh :class:`pyte.Screen`, which is what
seeking means for a terminal (its screen is the sum of everything before).
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyte

from vxassist.remote.activity import human_size
from vxassist.remote.errors import AuditError

#: pauses longer than this are shortened to it by default (seconds)
IDLE_LIMIT_S = 2.0


@dataclass(frozen=True)
class CastEvent:
    """One recorded event: ``o`` output, ``i`` input, ``r`` resize (``"COLSxROWS"``)."""

    at: float
    kind: str
    data: str


@dataclass(frozen=True)
class Cast:
    """A whole recording: its header and its events in time order."""

    path: Path
    width: int
    height: int
    title: str
    timestamp: int
    events: tuple[CastEvent, ...]
    #: lines that could not be read (a recording cut short by a crash loses its tail)
    damaged_lines: int = 0

    @property
    def duration(self) -> float:
        return self.events[-1].at if self.events else 0.0


def parse_cast(lines: Iterable[str], path: Path = Path("recording.cast")) -> Cast:
    """A recording from its lines; raises :class:`AuditError` when the header is unusable."""
    it = iter(lines)
    try:
        header = json.loads(next(it))
        if not isinstance(header, dict) or header.get("version") != 2:
            raise ValueError("not an asciicast v2 header")
        width, height = int(header["width"]), int(header["height"])
    except (StopIteration, ValueError, KeyError, TypeError) as exc:
        raise AuditError(
            f"{path.name} is not a session recording this player can read.", detail=str(exc)
        ) from exc
    events: list[CastEvent] = []
    damaged = 0
    last = 0.0
    for raw in it:
        if not raw.strip():
            continue
        try:
            at, kind, data = json.loads(raw)
            at = max(float(at), last)  # time never runs backwards on screen
        except (ValueError, TypeError):
            damaged += 1
            continue
        if kind in ("o", "i", "r") and isinstance(data, str):
            events.append(CastEvent(at, kind, data))
            last = at
    return Cast(
        path=path,
        width=max(1, width),
        height=max(1, height),
        title=str(header.get("title") or ""),
        timestamp=int(header.get("timestamp") or 0),
        events=tuple(events),
        damaged_lines=damaged,
    )


def read_cast(path: Path) -> Cast:
    """Read a recording file (blocking: call it off the GUI thread for big files)."""
    try:
        with Path(path).open(encoding="utf-8", errors="replace") as fh:
            return parse_cast(fh, Path(path))
    except OSError as exc:
        raise AuditError(
            f"The recording {Path(path).name} cannot be read; check that the file is there.",
            detail=str(exc),
        ) from exc


def shorten_pauses(events: Sequence[CastEvent], idle_limit_s: float | None) -> list[CastEvent]:
    """The events with every pause longer than ``idle_limit_s`` cut to it (None: as recorded)."""
    if idle_limit_s is None or idle_limit_s <= 0:
        return list(events)
    out: list[CastEvent] = []
    shift = 0.0
    prev = 0.0
    for event in events:
        gap = event.at - prev
        if gap > idle_limit_s:
            shift += gap - idle_limit_s
        prev = event.at
        out.append(replace(event, at=event.at - shift))
    return out


def index_at(events: Sequence[CastEvent], t: float) -> int:
    """How many events happened at or before ``t``."""
    return bisect.bisect_right([e.at for e in events], t)


def parse_size(data: str) -> tuple[int, int] | None:
    """``"120x40"`` as (cols, rows), or None."""
    cols, sep, rows = data.partition("x")
    if sep and cols.isdigit() and rows.isdigit() and int(cols) > 0 and int(rows) > 0:
        return int(cols), int(rows)
    return None


class TerminalScreen:
    """A VT100 screen (pyte) fed text or bytes, with the lines to draw."""

    def __init__(self, cols: int, rows: int) -> None:
        self.screen: Any = pyte.Screen(max(1, cols), max(1, rows))
        self._text: Any = pyte.Stream(self.screen)
        self._bytes: Any = pyte.ByteStream(self.screen)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.screen.columns), int(self.screen.lines)

    def feed_text(self, text: str) -> None:
        self._text.feed(text)

    def feed_bytes(self, data: bytes) -> None:
        self._bytes.feed(data)

    def resize(self, cols: int, rows: int) -> None:
        if (cols, rows) != self.size:
            self.screen.resize(max(1, rows), max(1, cols))

    def apply(self, event: CastEvent) -> None:
        """Play one recorded event (input is what was typed: the echo shows it already)."""
        if event.kind == "o":
            self.feed_text(event.data)
        elif event.kind == "r":
            size = parse_size(event.data)
            if size is not None:
                self.resize(*size)

    def lines(self) -> list[str]:
        """The screen's rows as text, trailing blanks removed."""
        return [str(line).rstrip() for line in self.screen.display]

    @property
    def cursor(self) -> tuple[int, int]:
        return int(self.screen.cursor.x), int(self.screen.cursor.y)


def screen_at(cast: Cast, events: Sequence[CastEvent], t: float) -> TerminalScreen:
    """The screen as it was at ``t`` on the timeline of ``events``: a fresh screen, replayed."""
    term = TerminalScreen(cast.width, cast.height)
    for event in events[: index_at(events, t)]:
        term.apply(event)
    return term


_NAME = re.compile(r"^(?P<session>.+)-(?P<stamp>\d{8}T\d{6})-(?P<n>\d+)\.cast$")


def describe_recording(name: str, size: int | None = None) -> str:
    """``s-7f3a, 2026-12-03 14:00:41, 12 KB`` for a recording's file name (local time).

    Recordings are named ``SESSION-YYYYmmddTHHMMSS-N.cast`` (UTC); other names are
    shown as they are.
    """
    match = _NAME.match(name)
    parts = [name]
    if match:
        when = datetime.strptime(match["stamp"], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        parts = [match["session"], when.astimezone().strftime("%Y-%m-%d %H:%M:%S")]
    if size is not None:
        parts.append(human_size(size))
    return ", ".join(parts)
