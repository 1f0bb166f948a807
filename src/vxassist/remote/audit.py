"""The host's audit trail: append-only JSON lines, each chained to the one before.

Every line carries ``seq``, ``ts``, ``event``, the event's fields, ``prev`` (the
previous line's hash) and ``hash`` = SHA-256 over the canonical JSON of the line
without ``hash``. Changing, inserting or deleting any line (one byte is enough)
breaks the chain at that line, which :meth:`AuditLog.verify` reports. Cutting
lines off the end leaves a valid shorter chain, so the last line's seq and hash
are also kept beside the log (``audit.jsonl.head``) and in the export: a cut shows,
and so do lines without their head file. Both changed together show against a
copy kept elsewhere: every session's end sends the last line's seq and hash to
the desk with the summary (:meth:`AuditLog.last`), and
:meth:`AuditLog.verify_against` checks the log against that copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from vxassist.paths import Paths
from vxassist.remote.errors import AuditError

GENESIS = "0" * 64
LOG_NAME = "audit.jsonl"

try:  # Unix: serialize writers across processes too
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

except ImportError:  # pragma: no cover - Windows: one agent process writes

    def _lock(fd: int) -> None:
        return None

    def _unlock(fd: int) -> None:
        return None


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8")


def _digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(_canonical(body)).hexdigest()


def _last_line(fh: BinaryIO, size: int) -> bytes:
    """The last complete line of a file opened in binary mode."""
    chunk = 4096
    end = size
    data = b""
    while end > 0:
        start = max(0, end - chunk)
        fh.seek(start)
        data = fh.read(end - start) + data
        end = start
        stripped = data.rstrip(b"\n")
        if b"\n" in stripped:
            return stripped.rsplit(b"\n", 1)[1]
        chunk *= 2
    return data.rstrip(b"\n")


class AuditLog:
    """An append-only, hash-chained log at ``path`` (JSON lines, fsync on every line)."""

    def __init__(
        self,
        path: Path,
        recordings_dir: Path | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.path = Path(path)
        self.recordings_dir = recordings_dir
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()

    @classmethod
    def for_paths(cls, paths: Paths, clock: Callable[[], datetime] | None = None) -> AuditLog:
        return cls(paths.audit_dir / LOG_NAME, paths.recordings_dir, clock)

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        """Write one event; returns the line as written (with ``seq`` and ``hash``)."""
        reserved = {"seq", "ts", "event", "prev", "hash"} & fields.keys()
        if reserved:
            raise AuditError(
                "An audit event used a reserved field name.", detail=",".join(sorted(reserved))
            )
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            except OSError as exc:
                raise AuditError(
                    f"The audit log {self.path} cannot be written; check its folder.",
                    detail=str(exc),
                ) from exc
            try:
                _lock(fd)
                with os.fdopen(os.dup(fd), "rb") as fh:
                    size = os.fstat(fd).st_size
                    prev, seq = GENESIS, 0
                    if size:
                        try:
                            last = json.loads(_last_line(fh, size))
                            prev, seq = str(last["hash"]), int(last["seq"])
                        except (ValueError, KeyError, TypeError) as exc:
                            raise AuditError(
                                "The audit log's last line is damaged; run "
                                "`vxassist audit verify` and keep a copy before going on.",
                                detail=str(exc),
                            ) from exc
                record: dict[str, Any] = {
                    "seq": seq + 1,
                    "ts": self._clock().isoformat(),
                    "event": event,
                    **fields,
                    "prev": prev,
                }
                record = json.loads(_canonical(record))
                record["hash"] = _digest(record)
                os.write(fd, _canonical(record) + b"\n")
                os.fsync(fd)
                self._write_head(record)
            except OSError as exc:
                raise AuditError(
                    f"The audit log {self.path} cannot be written; check the disk.",
                    detail=str(exc),
                ) from exc
            finally:
                _unlock(fd)
                os.close(fd)
        return record

    def records(self) -> Iterator[dict[str, Any]]:
        """Every line that parses, in order (use :meth:`verify` to trust them)."""
        try:
            with self.path.open("rb") as fh:
                for raw in fh:
                    try:
                        yield json.loads(raw)
                    except ValueError:
                        continue
        except FileNotFoundError:
            return

    def verify(self) -> tuple[bool, int | None, str]:
        """Check the whole chain: ``(ok, first bad line number (1-based), why)``."""
        prev, expected_seq = GENESIS, 1
        try:
            fh = self.path.open("rb")
        except FileNotFoundError:
            if self._read_head() is not None:
                return False, 1, "the audit log was removed"
            return True, None, "no audit log yet"
        except OSError as exc:
            raise AuditError(
                f"The audit log {self.path} cannot be read; check its permissions.",
                detail=str(exc),
            ) from exc
        with fh:
            lineno = 0
            for lineno, raw in enumerate(fh, start=1):
                if not raw.endswith(b"\n"):
                    return False, lineno, "the line is cut short"
                try:
                    record = json.loads(raw)
                except ValueError:
                    return False, lineno, "the line is not valid JSON"
                if not isinstance(record, dict):
                    return False, lineno, "the line is not an object"
                if raw != _canonical(record) + b"\n":
                    return False, lineno, "the line is not in canonical form"
                if record.get("seq") != expected_seq:
                    return False, lineno, f"sequence {record.get('seq')} where {expected_seq} due"
                if record.get("prev") != prev:
                    return False, lineno, "the link to the previous line is broken"
                if record.get("hash") != _digest(record):
                    return False, lineno, "the line's hash does not match its content"
                prev, expected_seq = str(record["hash"]), expected_seq + 1
        head = self._read_head()
        if head is None and lineno:
            # every append writes the head: lines without it were cut with it
            return False, lineno + 1, f"the head file {self.head_path.name} is missing"
        if head is not None and (
            head.get("seq", 0) > lineno or (head.get("seq") == lineno and head.get("hash") != prev)
        ):
            return False, lineno + 1, f"lines after line {lineno} were removed (head: {head})"
        return True, None, f"{lineno} lines, chain intact"

    def verify_against(self, seq: int, digest: str) -> tuple[bool, int | None, str]:
        """Check that line ``seq`` is still there with hash ``digest`` (a copy kept elsewhere).

        Run after :meth:`verify`: together they show lines cut off the end even
        when the head file was rewritten to match.
        """
        if seq <= 0:
            return True, None, "nothing recorded elsewhere yet"
        for record in self.records():
            if record.get("seq") == seq:
                if record.get("hash") == digest:
                    return True, None, f"line {seq} matches the copy kept at the desk"
                return False, seq, f"line {seq} differs from the copy kept at the desk"
        return False, seq, f"line {seq}, reported to the desk, is no longer in the log"

    def last(self) -> dict[str, Any]:
        """The last line's ``seq`` and ``hash`` (0 and ``GENESIS`` when empty)."""
        with self._lock:
            try:
                with self.path.open("rb") as fh:
                    size = os.fstat(fh.fileno()).st_size
                    if not size:
                        return {"seq": 0, "hash": GENESIS}
                    record = json.loads(_last_line(fh, size))
                return {"seq": int(record["seq"]), "hash": str(record["hash"])}
            except FileNotFoundError:
                return {"seq": 0, "hash": GENESIS}
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise AuditError(
                    "The audit log's last line is damaged; run "
                    "`vxassist audit verify` and keep a copy before going on.",
                    detail=str(exc),
                ) from exc

    @property
    def head_path(self) -> Path:
        return self.path.with_name(self.path.name + ".head")

    def _write_head(self, record: dict[str, Any]) -> None:
        """The last line's seq and hash beside the log, so cutting lines off the end shows."""
        tmp = self.head_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"seq": record["seq"], "hash": record["hash"]}))
        os.replace(tmp, self.head_path)

    def _read_head(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.head_path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def head(self) -> str:
        """The hash of the last line (``GENESIS`` when empty)."""
        last = GENESIS
        for record in self.records():
            last = str(record.get("hash", last))
        return last

    def export(self, dest_zip: Path) -> Path:
        """Write the log, the recordings and a manifest (head hash, verify result) to a zip."""
        dest_zip = Path(dest_zip)
        ok, bad, why = self.verify()
        manifest = {
            "exported_at": self._clock().isoformat(),
            "head": self.head(),
            "verified": ok,
            "first_bad_line": bad,
            "verify": why,
            "recordings": [],
        }
        try:
            dest_zip.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(dest_zip, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                if self.path.exists():
                    zf.write(self.path, LOG_NAME)
                if self.head_path.exists():
                    zf.write(self.head_path, self.head_path.name)
                if self.recordings_dir and self.recordings_dir.is_dir():
                    for rec in sorted(self.recordings_dir.glob("*.cast")):
                        zf.write(rec, f"recordings/{rec.name}")
                        digest = hashlib.sha256(rec.read_bytes()).hexdigest()
                        manifest["recordings"].append({"file": rec.name, "sha256": digest})  # type: ignore[attr-defined]
                zf.writestr("manifest.json", json.dumps(manifest, indent=2))
        except OSError as exc:
            raise AuditError(
                f"The export to {dest_zip} failed; choose a folder you can write to.",
                detail=str(exc),
            ) from exc
        return dest_zip
