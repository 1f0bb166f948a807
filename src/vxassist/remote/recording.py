"""Session recordings in asciicast v2 (playable with ``asciinema play``).

The header line is followed by ``[seconds, "o", text]`` output events, ``"i"``
input events (what the engineer typed) and ``"r"`` resize events. The file's
SHA-256, returned by :meth:`AsciicastRecorder.close`, goes into the audit log
and the session summary so a changed recording shows.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from vxassist.remote.errors import AuditError

#: events kept in memory are written out once they reach this many bytes ...
FLUSH_BYTES = 64 * 1024
#: ... or this many seconds after the first of them
FLUSH_S = 1.0

_encode = json.JSONEncoder(ensure_ascii=False).encode
Scheduler = Callable[[float, Callable[[], None]], Any]


class AsciicastRecorder:
    """Writes one asciicast v2 file; feed it bytes as they pass.

    Events are kept in memory as they pass (raw bytes: decoding and JSON
    formatting happen when they are written out, off the keystroke's path)
    and written to the file at most ``FLUSH_S``
    seconds (with ``schedule``, e.g. the event loop's ``call_later``; without it,
    at the next event) or ``FLUSH_BYTES`` after they happened, and at
    :meth:`close`, which also fsyncs and hashes the file. If the agent process
    dies, the recording loses at most that unwritten tail: the price of not
    making a write call per keystroke on the loop that carries the session.
    """

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        started: datetime,
        title: str = "",
        term: str = "",
        command: str = "",
        monotonic: Callable[[], float] = time.monotonic,
        schedule: Scheduler | None = None,
    ) -> None:
        self.path = Path(path)
        self._monotonic = monotonic
        self._schedule = schedule
        self._t0 = monotonic()
        self._decoders = {
            "o": codecs.getincrementaldecoder("utf-8")("replace"),
            "i": codecs.getincrementaldecoder("utf-8")("replace"),
        }
        #: events not yet in the file: (monotonic time, kind, raw bytes or JSON text)
        self._events: list[tuple[float, str, bytes | str]] = []
        self._buffered = 0
        self._first_at = 0.0  # when the oldest buffered event happened
        self._timer: Any = None
        header: dict[str, object] = {
            "version": 2,
            "width": max(1, width),
            "height": max(1, height),
            "timestamp": int(started.timestamp()),
            "title": title,
            "env": {"TERM": term or "dumb", "SHELL": os.environ.get("SHELL", "")},
        }
        if command:
            header["command"] = command
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self._fh: BinaryIO | None = os.fdopen(fd, "wb", buffering=0)
        except OSError as exc:
            raise AuditError(
                f"The session recording {self.path} cannot be written; check the disk.",
                detail=str(exc),
            ) from exc
        self._write((_encode(header) + "\n").encode("utf-8"))
        self.digest = ""

    def _append(self, now: float, kind: str, data: bytes | str) -> None:
        """Keep one event; it is decoded and formatted only when written out."""
        if self._fh is None:
            return
        if not self._events:
            self._first_at = now
            if self._schedule is not None:
                self._timer = self._schedule(FLUSH_S, self.flush)
        self._events.append((now, kind, data))
        self._buffered += len(data)
        if self._buffered >= FLUSH_BYTES or (
            self._schedule is None and now - self._first_at >= FLUSH_S
        ):
            self.flush()

    def _lines(self) -> list[str]:
        lines = []
        for now, kind, data in self._events:
            if isinstance(data, bytes):
                text = self._decoders[kind].decode(data)
                if not text:
                    continue
                payload = _encode(text)
            else:
                payload = data
            lines.append(f'[{round(now - self._t0, 6)!r}, "{kind}", {payload}]\n')
        return lines

    def flush(self) -> None:
        """Write the buffered events to the file (not fsynced)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._events and self._fh is not None:
            data = "".join(self._lines()).encode("utf-8")
            self._events.clear()
            self._buffered = 0
            self._write(data)

    def _write(self, data: bytes) -> None:
        assert self._fh is not None
        try:
            self._fh.write(data)
        except OSError as exc:
            raise AuditError(
                f"The session recording {self.path} cannot be written; check the disk.",
                detail=str(exc),
            ) from exc

    def output(self, data: bytes) -> None:
        self._append(self._monotonic(), "o", data)

    def input(self, data: bytes) -> None:
        self._append(self._monotonic(), "i", data)

    def resize(self, cols: int, rows: int) -> None:
        self._append(self._monotonic(), "r", f'"{int(cols)}x{int(rows)}"')

    def close(self) -> str:
        """Finish the file; returns its SHA-256 (hex). Safe to call twice."""
        if self._fh is not None:
            self.flush()
            now = self._monotonic()
            for kind, decoder in self._decoders.items():
                rest = decoder.decode(b"", final=True)
                if rest:
                    self._events.append((now, kind, _encode(rest)))
            self.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
            self.digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        return self.digest
