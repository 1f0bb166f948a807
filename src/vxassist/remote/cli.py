"""Command-line commands of the remote area: ``agent``, ``audit`` and ``session``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vxassist.cliutil import Context, add_json_flag, emit
from vxassist.errors import UsageError, VxError


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this area's commands."""
    from vxassist.agent_main import register_agent

    register_agent(sub)
    _register_audit(sub)
    _register_session(sub)


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
    copy, note = _desk_copy(ctx) if ok else (None, "")
    if copy is not None and isinstance(copy.get("seq"), int) and isinstance(copy.get("hash"), str):
        ok, bad, note = log.verify_against(copy["seq"], copy["hash"])
        if not ok:
            why = note
    result = {
        "ok": ok,
        "first_bad_line": bad,
        "reason": why,
        "desk_copy": note,
        "path": str(log.path),
    }

    def human(r: dict[str, Any]) -> str:
        if r["ok"]:
            return f"Audit trail intact: {r['reason']}; {r['desk_copy']}."
        return (
            f"Audit trail changed at line {r['first_bad_line']}: {r['reason']}. "
            "Keep a copy of the file and tell your administrator."
        )

    emit(result, args.json, human)
    return 0 if ok else 1


def _desk_copy(ctx: Context) -> tuple[dict[str, Any] | None, str]:
    """The desk's copy of the audit position (from the latest session's end), or why not."""
    from vxassist.cases.intake import desk_client

    unchecked = "so lines cut together with the head file would not show"
    try:
        client = desk_client(ctx.settings, ctx.secrets(), timeout=10.0)
    except VxError:
        return None, f"no copy outside this host to compare with (not enrolled), {unchecked}"
    try:
        with client:
            answer = client.request("GET", "/api/v1/agent/audit-head", timeout=10.0)
    except VxError as exc:
        return None, f"the desk's copy could not be fetched ({exc.message}), {unchecked}"
    if answer.get("seq") is None:
        return answer, "the desk holds no copy yet (no session has ended)"
    return answer, ""


def _export(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.remote.audit import AuditLog

    dest = AuditLog.for_paths(ctx.paths).export(args.file)
    emit({"file": str(dest)}, args.json, lambda r: f"Audit trail exported to {r['file']}.")
    return 0


# -- vxassist session: the running agent's live sessions ----------------------------------

#: exit code when no agent of this account is running
NO_AGENT_EXIT = 3


class AgentNotRunning(VxError):
    """No agent of this account answers on the control channel."""

    exit_code = NO_AGENT_EXIT


def _register_session(sub: argparse._SubParsersAction[Any]) -> None:
    session = sub.add_parser(
        "session",
        help="the host's live sessions; end one without stopping the agent",
        description=(
            "Talk to this account's running agent (headless or tray) over its local "
            f"control channel. Exit code {NO_AGENT_EXIT} when no agent is running."
        ),
    )
    verbs = session.add_subparsers(dest="session_command", metavar="ACTION", required=True)

    lst = verbs.add_parser("list", help="the live sessions: engineer, case, scopes, time left")
    add_json_flag(lst)
    lst.set_defaults(func=_session_list)

    end = verbs.add_parser(
        "end", help="end one session now: every channel closes, the agent keeps running"
    )
    end.add_argument(
        "session_id", metavar="ID", nargs="?", help="the session id (see `session list`)"
    )
    end.add_argument(
        "--all",
        action="store_true",
        help="end every live session (installers run this before an upgrade or removal)",
    )
    add_json_flag(end)
    end.set_defaults(func=_session_end)


def _ask_agent(ctx: Context, command: str, **args: Any) -> Any:
    from vxassist.control import ask

    answer = ask(ctx.paths, command, **args)
    if answer is None:
        raise AgentNotRunning(
            "No vxassist agent is running for this account; start it with `vxassist agent` "
            "(or the tray), or run this as the account that runs it.",
        )
    return answer


def _session_list(ctx: Context, args: argparse.Namespace) -> int:
    sessions = _ask_agent(ctx, "sessions")
    rows = [s for s in sessions if isinstance(s, dict)] if isinstance(sessions, list) else []

    def human(data: dict[str, Any]) -> str:
        if not data["sessions"]:
            return "No live sessions."
        lines = [f"{'SESSION':<24} {'ENGINEER':<16} {'CASE':>6}  {'LEFT':>6}  SCOPES"]
        for s in data["sessions"]:
            lines.append(
                f"{s.get('session_id', '')!s:<24} {s.get('engineer', '')!s:<16} "
                f"{s.get('case_number', '')!s:>6}  {s.get('left', '')!s:>6}  "
                + ", ".join(str(x) for x in s.get("scopes") or [])
            )
        return "\n".join(lines)

    emit({"sessions": rows}, args.json, human)
    return 0


def _session_end(ctx: Context, args: argparse.Namespace) -> int:
    if args.all == bool(args.session_id):
        raise UsageError("Give one session id, or --all to end every live session.")
    if args.all:
        return _session_end_all(ctx, args)
    answer = _ask_agent(ctx, "end", session_id=args.session_id)
    data = dict(answer) if isinstance(answer, dict) else {"session_id": args.session_id}
    emit(
        data,
        args.json,
        lambda d: f"Session {d.get('session_id')} ended: every channel is closed.",
    )
    return 0


def _session_end_all(ctx: Context, args: argparse.Namespace) -> int:
    """End every live session of this account's agent, one after the other."""
    sessions = _ask_agent(ctx, "sessions")
    ids = [
        str(s["session_id"])
        for s in (sessions if isinstance(sessions, list) else [])
        if isinstance(s, dict) and s.get("session_id")
    ]
    ended: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    for session_id in ids:
        try:
            answer = _ask_agent(ctx, "end", session_id=session_id)
        except AgentNotRunning:
            raise
        except VxError as exc:  # one that will not end does not keep the others open
            failed.append({"session_id": session_id, "error": exc.message})
            continue
        ended.append(dict(answer) if isinstance(answer, dict) else {"session_id": session_id})

    def human(data: dict[str, Any]) -> str:
        lines = [
            f"Session {d.get('session_id')} ended: every channel is closed." for d in data["ended"]
        ]
        lines += [f"Session {d['session_id']} did not end: {d['error']}" for d in data["failed"]]
        return "\n".join(lines) or "No live sessions."

    emit({"ended": ended, "failed": failed}, args.json, human)
    return 1 if failed else 0
