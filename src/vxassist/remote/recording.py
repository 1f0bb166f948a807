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

    Events are buffered in memory and written to the file at most ``FLUSH_S``
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
        self._buffer: list[bytes] = []
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
        self._append(_encode(header), self._t0)
        self.flush()
        self.digest = ""

    def _append(self, line: str, now: float) -> None:
        if self._fh is None:
            return
        data = (line + "\n").encode("utf-8")
        if not self._buffer:
            self._first_at = now
            if self._schedule is not None:
                self._timer = self._schedule(FLUSH_S, self.flush)
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= FLUSH_BYTES or (
            self._schedule is None and now - self._first_at >= FLUSH_S
        ):
            self.flush()

    def flush(self) -> None:
        """Write the buffered events to the file (not fsynced)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._buffer and self._fh is not None:
            data = b"".join(self._buffer)
            self._buffer.clear()
            self._buffered = 0
            try:
                self._fh.write(data)
            except OSError as exc:
                raise AuditError(
                    f"The session recording {self.path} cannot be written; check the disk.",
                    detail=str(exc),
                ) from exc

    def _record(self, kind: str, payload: str) -> None:
        now = self._monotonic()
        self._append(f'[{round(now - self._t0, 6)!r}, "{kind}", {payload}]', now)

    def _event(self, kind: str, data: bytes) -> None:
        text = self._decoders[kind].decode(data)
        if text:
            self._record(kind, _encode(text))

    def output(self, data: bytes) -> None:
        self._event("o", data)

    def input(self, data: bytes) -> None:
        self._event("i", data)

    def resize(self, cols: int, rows: int) -> None:
        self._record("r", f'"{int(cols)}x{int(rows)}"')

    def close(self) -> str:
        """Finish the file; returns its SHA-256 (hex). Safe to call twice."""
        if self._fh is not None:
            for kind, decoder in self._decoders.items():
                rest = decoder.decode(b"", final=True)
                if rest:
                    self._record(kind, _encode(rest))
            self.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
            self.digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        return self.digest
