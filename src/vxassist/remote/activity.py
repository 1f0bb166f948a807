"""What an engineer did, in the customer's words: one line per session event.

The live-session window's activity feed shows these lines. :func:`describe_activity`
takes an event as the session service and the broker publish it (an audit line or
a broker event, a plain dict) and answers a short sentence, or None for events a
customer need not see (bookkeeping such as the recording's checksum).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any


def human_size(size: int) -> str:
    """``2.1 MB``, ``340 KB``, ``12 bytes`` (decimal units, as file managers show)."""
    if size < 1000:
        return "1 byte" if size == 1 else f"{size} bytes"
    for unit, factor in (("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12)):
        value = size / factor
        if value < 999.5 or unit == "TB":
            break
    text = f"{value:.1f}".removesuffix(".0") if value < 99.95 else f"{value:.0f}"
    return f"{text} {unit}"


def file_name(path: str) -> str:
    """The last part of a path from either kind of host."""
    name = PureWindowsPath(path).name if "\\" in path else PurePosixPath(path).name
    return name or path


_CHANNEL_REFUSED = {
    "reverse-forward": "a reverse forward",
    "unix-forward": "a forward to a local socket",
    "unix-listen": "a listener on a local socket",
    "tun": "a network tunnel",
    "tap": "a network tunnel",
    "pty": "a terminal",
    "shell": "a shell",
    "exec": "running a command",
    "sftp": "file transfer",
}

_FILE_OPS = {
    "remove": "deleted {name}",
    "mkdir": "made the folder {name}",
    "rmdir": "removed the folder {name}",
}


def _file(event: Mapping[str, Any]) -> str:
    op = str(event.get("op", ""))
    name = file_name(str(event.get("path", "")))
    size = event.get("size")
    if op in ("download", "upload"):
        verb = "downloaded" if op == "download" else "uploaded"
        sized = f"{name}, {human_size(int(size))}" if isinstance(size, int) else name
        if event.get("interrupted"):
            return f"{op} of {name} cut short at {human_size(int(size or 0))}"
        return f"{verb} {sized}"
    if op == "rename":
        return f"renamed {name} to {file_name(str(event.get('to', '')))}"
    template = _FILE_OPS.get(op)
    return template.format(name=name) if template else f"{op} {name}".strip()


def _channel(event: Mapping[str, Any]) -> str | None:
    kind = str(event.get("kind", ""))
    command = str(event.get("command") or "")
    if kind == "shell":
        return "opened a shell"
    if kind == "exec":
        return f"ran a command: {command}"
    if kind == "sftp":
        return "opened a file transfer"
    if kind == "scp":
        return "started a file copy (scp)"
    return None


def describe_activity(event: Mapping[str, Any]) -> str | None:
    """One plain sentence for one session event, or None when nothing is worth saying."""
    kind = str(event.get("event", ""))
    reason = str(event.get("reason") or "")
    if kind == "login":
        return f"{event.get('engineer') or 'the engineer'} connected"
    if kind == "disconnect":
        return "the engineer disconnected"
    if kind == "channel":
        return _channel(event)
    if kind == "file":
        return _file(event)
    if kind == "forward":
        return f"opened a forward to {event.get('target')}"
    if kind == "forward_refused":
        return f"a forward to {event.get('target')} was refused"
    if kind == "file_refused":
        name = file_name(str(event.get("path", "")))
        return (
            f"access to {name} was refused: {reason}" if reason else f"access to {name} was refused"
        )
    if kind == "channel_refused":
        what = _CHANNEL_REFUSED.get(str(event.get("kind", "")), str(event.get("kind", "")))
        return f"{what} was refused"
    if kind == "login_refused":
        return f"a login was refused: {reason}"
    if kind == "session_start":
        return "the session started; waiting for the engineer to connect"
    if kind == "tunnel_lost":
        return "the connection to the relay was lost; reconnecting"
    if kind == "tunnel_up" and event.get("resumed"):
        return "the connection to the relay is back"
    if kind == "session_extended":
        minutes = event.get("minutes")
        by = f" by {minutes} minutes" if isinstance(minutes, int) else ""
        return f"the session was extended{by}, until {_clock(event.get('not_after'))}"
    if kind == "extension_request":
        who = event.get("engineer") or "the engineer"
        text = f"{who} asked for {event.get('minutes')} more minutes"
        return f"{text}: {reason}" if reason else text
    if kind == "extension_decision" and not event.get("approved"):
        note = str(event.get("note") or event.get("reason") or "")
        return f"no more time was given: {note}" if note else "no more time was given"
    if kind == "extension_withdrawn":
        return "the request for more time was withdrawn"
    if kind == "extension_undone":
        until = _clock(event.get("not_after"))
        return f"the extension was taken back ({reason}); the session ends at {until}"
    if kind in ("teardown", "session_end"):
        return f"the session ended: {reason}" if reason else "the session ended"
    if kind == "revoked":
        return "the desk revoked the session"
    return None


def _clock(iso: Any) -> str:
    """``14:05`` in local time for an ISO timestamp (the text itself if it is not one)."""
    try:
        return datetime.fromisoformat(str(iso)).astimezone().strftime("%H:%M")
    except ValueError:
        return str(iso)


#: well-known local services a forward may reach, by port
_SERVICES = {
    3389: "Remote Desktop",
    22: "SSH",
    1433: "SQL Server",
    3306: "MySQL",
    5432: "PostgreSQL",
    80: "web server",
    443: "web server",
}


def describe_scope(scope: str) -> str:
    """What a scope lets the engineer do, in the customer's words (for the consent prompt)."""
    if scope == "shell":
        return "Run commands in a terminal"
    if scope == "files":
        return "Read and copy files"
    if scope.startswith("forward:"):
        target = scope.removeprefix("forward:")
        _, _, port = target.rpartition(":")
        service = _SERVICES.get(int(port)) if port.isdigit() else None
        where = f"{service} at {target}" if service else target
        return f"Connect to the local service {where}"
    return scope


#: fields of an audit line that are its frame, not its content
_FRAME = {"seq", "ts", "event", "prev", "hash", "session_id", "case_number"}


@dataclass(frozen=True)
class AuditRow:
    """One audit line as the audit viewer shows it."""

    seq: int
    ts: str
    kind: str
    session_id: str
    case_number: int | None
    text: str
    #: the recording this line names (a process's or a finished recording's file), or ""
    recording: str = ""


def _details(record: Mapping[str, Any]) -> str:
    parts = []
    for key, value in record.items():
        if key in _FRAME or value in (None, "", [], {}):
            continue
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = "{...}"
        parts.append(f"{key.replace('_', ' ')}: {value}")
    return "; ".join(parts)


def _scopes(record: Mapping[str, Any]) -> str:
    return ", ".join(str(s) for s in record.get("scopes") or []) or "nothing"


def describe_audit(record: Mapping[str, Any]) -> str:
    """One audit line in words: the activity sentence, the agent's own steps, else its fields."""
    kind = str(record.get("event", ""))
    reason = str(record.get("reason") or record.get("note") or "")
    if kind == "request":
        text = (
            f"{record.get('engineer')} asked for {_scopes(record)} "
            f"for {record.get('minutes')} minutes"
        )
        return f"{text}: {reason}" if reason else text
    if kind == "prompt":
        about = " about more time" if record.get("extension") else ""
        timeout = float(record.get("timeout_s") or 0)
        return f"the customer was asked{about} (answer within {timeout:.0f} s)"
    if kind == "extension_requested":  # the audit's name for the broker's extension_request
        return describe_activity({**record, "event": "extension_request"}) or ""
    if kind == "extension_decision" and record.get("approved"):
        by = str(record.get("by") or "customer")
        return (
            f"{record.get('minutes')} more minutes approved by the {by}, "
            f"until {_clock(record.get('not_after'))}"
        )
    if kind == "decision":
        by = str(record.get("by") or "")
        if record.get("approved"):
            return f"approved by the {by or 'customer'}: {_scopes(record)}"
        who = {"agent": "refused by this agent", "desk": "withdrawn at the desk"}.get(
            by, f"denied by the {by or 'customer'}"
        )
        return f"{who}: {reason}" if reason else who
    if kind == "tunnel_up":
        return f"connected to the relay (port {record.get('listen_port')})"
    if kind == "tunnel_closed":
        return "closed the connection to the relay"
    if kind == "tunnel_gone":
        return "the relay stayed unreachable"
    if kind == "process":
        return f"started {record.get('command')}"
    if kind == "process_exit":
        return f"{record.get('command')} ended (status {record.get('status')})"
    if kind == "recording":
        return f"saved the recording {record.get('file')}"
    if kind == "revoke":
        return (
            f"the desk revoked the session: {reason}" if reason else "the desk revoked the session"
        )
    return describe_activity(record) or _details(record)


def _recording_of(record: Mapping[str, Any]) -> str:
    kind = record.get("event")
    name = record.get("file") if kind == "recording" else record.get("recording")
    return str(name) if kind in ("recording", "process") and name else ""


def audit_rows(records: Iterable[Mapping[str, Any]]) -> list[AuditRow]:
    """Audit lines as rows: a case number known for a session is shown on all its lines."""
    records = list(records)
    cases: dict[str, int] = {}
    for record in records:
        sid, case = record.get("session_id"), record.get("case_number")
        if isinstance(sid, str) and isinstance(case, int):
            cases.setdefault(sid, case)
    rows = []
    for record in records:
        sid = str(record.get("session_id") or "")
        case = record.get("case_number")
        rows.append(
            AuditRow(
                seq=int(record.get("seq") or 0),
                ts=str(record.get("ts") or ""),
                kind=str(record.get("event") or ""),
                session_id=sid,
                case_number=case if isinstance(case, int) else cases.get(sid),
                text=describe_audit(record),
                recording=_recording_of(record),
            )
        )
    return rows


def filter_rows(
    rows: Iterable[AuditRow],
    session_id: str | None = None,
    case_number: int | None = None,
    kind: str | None = None,
) -> list[AuditRow]:
    """The rows matching every filter given (None: any)."""
    return [
        r
        for r in rows
        if (session_id is None or r.session_id == session_id)
        and (case_number is None or r.case_number == case_number)
        and (kind is None or r.kind == kind)
    ]
