"""Command-line commands of the remote area: ``vxassist audit`` and ``vxassist agent``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vxassist.cliutil import Context, add_json_flag, emit


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this area's commands."""
    from vxassist.agent_main import register_agent

    register_agent(sub)
    _register_audit(sub)


def _register_audit(sub: argparse._SubParsersAction[Any]) -> None:
    audit = sub.add_parser("audit", help="the local audit trail and session recordings")
    verbs = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    show = verbs.add_parser("show", help="print the audit trail")
    show.add_argument("--session", metavar="ID", help="only this session's events")
    add_json_flag(show)
    show.set_defaults(func=_show)

    verify = verbs.add_parser(
        "verify", help="check the hash chain: a changed, inserted or removed line shows"
    )
    add_json_flag(verify)
    verify.set_defaults(func=_verify)

    export = verbs.add_parser("export", help="write the trail and recordings to a zip file")
    export.add_argument("file", metavar="FILE.zip", type=Path)
    add_json_flag(export)
    export.set_defaults(func=_export)


def _human_line(record: dict[str, Any]) -> str:
    skip = {"seq", "ts", "event", "prev", "hash", "session_id", "summary"}
    rest = " ".join(f"{k}={v}" for k, v in record.items() if k not in skip)
    session = record.get("session_id", "")
    return f"{record.get('ts', '')} {record.get('event', '')} {session} {rest}".rstrip()


def _show(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.remote.audit import AuditLog

    records = list(AuditLog.for_paths(ctx.paths).records())
    if args.session:
        records = [
            r
            for r in records
            if r.get("session_id") == args.session or args.session in r.get("sessions", [])
        ]
    emit(records, args.json, lambda rs: "\n".join(_human_line(r) for r in rs) or "No events.")
    return 0


def _verify(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.remote.audit import AuditLog

    log = AuditLog.for_paths(ctx.paths)
    ok, bad, why = log.verify()
    result = {"ok": ok, "first_bad_line": bad, "reason": why, "path": str(log.path)}

    def human(r: dict[str, Any]) -> str:
        if r["ok"]:
            return f"Audit trail intact: {r['reason']}."
        return (
            f"Audit trail changed at line {r['first_bad_line']}: {r['reason']}. "
            "Keep a copy of the file and tell your administrator."
        )

    emit(result, args.json, human)
    return 0 if ok else 1


def _export(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.remote.audit import AuditLog

    dest = AuditLog.for_paths(ctx.paths).export(args.file)
    emit({"file": str(dest)}, args.json, lambda r: f"Audit trail exported to {r['file']}.")
    return 0
