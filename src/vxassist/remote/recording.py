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
from typing import IO

from vxassist.remote.errors import AuditError


class AsciicastRecorder:
    """Writes one asciicast v2 file; feed it bytes as they pass."""

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
    ) -> None:
        self.path = Path(path)
        self._monotonic = monotonic
        self._t0 = monotonic()
        self._decoders = {
            "o": codecs.getincrementaldecoder("utf-8")("replace"),
            "i": codecs.getincrementaldecoder("utf-8")("replace"),
        }
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
            self._fh: IO[str] | None = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        except OSError as exc:
            raise AuditError(
                f"The session recording {self.path} cannot be written; check the disk.",
                detail=str(exc),
            ) from exc
        self._write(header)
        self.digest = ""

    def _write(self, item: object) -> None:
        if self._fh is not None:
            self._fh.write(json.dumps(item, ensure_ascii=False) + "\n")

    def _event(self, kind: str, data: bytes) -> None:
        text = self._decoders[kind].decode(data)
        if text:
            self._write([round(self._monotonic() - self._t0, 6), kind, text])

    def output(self, data: bytes) -> None:
        self._event("o", data)

    def input(self, data: bytes) -> None:
        self._event("i", data)

    def resize(self, cols: int, rows: int) -> None:
        self._write([round(self._monotonic() - self._t0, 6), "r", f"{cols}x{rows}"])

    def close(self) -> str:
        """Finish the file; returns its SHA-256 (hex). Safe to call twice."""
        if self._fh is not None:
            for kind, decoder in self._decoders.items():
                rest = decoder.decode(b"", final=True)
                if rest:
                    self._write([round(self._monotonic() - self._t0, 6), kind, rest])
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
            self.digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        return self.digest
