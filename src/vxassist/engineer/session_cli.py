"""``vxassist engineer request|connect|ssh-config|extend|list|revoke``: remote sessions.

``request`` makes a key for the session, asks the desk, shows the verification
code, waits for the customer (Ctrl-C withdraws the request) and says what to type
next. ``connect`` runs the stock ``ssh`` with the session's generated config;
``ssh-config`` prints that config's path for ``sftp -F``, ``scp -F``, ``ssh -L``.
``extend`` asks the customer for more minutes and, on approval, saves the
certificate for the longer window.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from vxassist.cliutil import Context, add_json_flag, emit
from vxassist.timefmt import local_time


def register_commands(group: argparse._SubParsersAction[Any]) -> None:
    req = group.add_parser(
        "request",
        help="ask the host of a case for a remote session",
        description="Ask for a session on a case; waits for the customer's answer.",
    )
    req.add_argument("case_number", type=int, metavar="CASE")
    req.add_argument(
        "--scope",
        action="append",
        dest="scopes",
        metavar="SCOPE",
        help="shell, files or forward:HOST:PORT (repeat for several)",
    )
    req.add_argument("--minutes", type=int, default=30, help="how long (default 30)")
    req.add_argument("--reason", required=True, help="why; the customer reads it")
    req.add_argument("--no-wait", action="store_true", help="do not wait for the answer")
    add_json_flag(req)
    req.set_defaults(func=cmd_request)

    con = group.add_parser(
        "connect",
        help="open an approved session with ssh",
        description="Run ssh into the host of an approved session; after -- come ssh "
        "options and/or a remote command.",
    )
    con.add_argument("session_id", metavar="SESSION")
    con.add_argument("extra", nargs=argparse.REMAINDER, metavar="-- SSH_ARGS")
    con.set_defaults(func=cmd_connect)

    cfg = group.add_parser(
        "ssh-config",
        help="print the path of a session's ssh config (for sftp -F, scp -F, ssh -L)",
    )
    cfg.add_argument("session_id", metavar="SESSION")
    add_json_flag(cfg)
    cfg.set_defaults(func=cmd_ssh_config)

    lst = group.add_parser("list", help="your remote sessions, newest first")
    add_json_flag(lst)
    lst.set_defaults(func=cmd_list)

    ext = group.add_parser(
        "extend",
        help="ask the customer for more minutes on a live session",
        description="Ask for more minutes on one of your live sessions; waits for the "
        "customer's answer and, on approval, saves the certificate for the longer window.",
    )
    ext.add_argument("session_id", metavar="SESSION")
    ext.add_argument("--minutes", type=int, required=True, help="how many more minutes")
    ext.add_argument("--reason", default="", help="why; the customer reads it")
    add_json_flag(ext)
    ext.set_defaults(func=cmd_extend)

    rev = group.add_parser("revoke", help="end one of your sessions now")
    rev.add_argument("session_id", metavar="SESSION")
    rev.add_argument("--reason", default="", help="noted on the case")
    add_json_flag(rev)
    rev.set_defaults(func=cmd_revoke)


def _client(ctx: Context, timeout: float = 20.0) -> Any:
    from vxassist.engineer.account import engineer_client

    return engineer_client(ctx.paths, ctx.secrets(), timeout=timeout)


def _line(s: dict[str, Any]) -> str:
    until = f"  until {local_time(s['not_after'])}" if s.get("not_after") else ""
    return (
        f"{s.get('session_id')}  {s.get('status', '?'):<8}  case {s.get('case_number')}  "
        f"{', '.join(s.get('scopes') or [])}{until}"
    )


def _next_steps(session: dict[str, Any], config_path: str) -> str:
    sid = session["session_id"]
    host = f"vx-session-{sid}"
    lines = [f"Approved: {', '.join(session['scopes'])} until {local_time(session['not_after'])}."]
    if "shell" in session["scopes"]:
        lines += [
            f"Connect:  vxassist engineer connect {sid}",
            f"Or:       ssh -F {config_path} {host}",
        ]
    if "files" in session["scopes"]:
        lines.append(f"Files:    sftp -F {config_path} {host}   (or scp -F ...)")
    for scope in session["scopes"]:
        if scope.startswith("forward:"):
            target = scope[len("forward:") :]
            port = int(target.rpartition(":")[2])
            local = port + 10000 if port + 10000 < 65536 else port
            lines.append(f"Forward:  ssh -F {config_path} -N -L {local}:{target} {host}")
    lines.append(f"Config:   {config_path}")
    return "\n".join(lines)


def _still_waiting(session: dict[str, Any]) -> None:
    lapses = local_time(session.get("expires_at"))
    print(f"  still waiting; the request lapses at {lapses}", flush=True)


def cmd_request(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.engineer import sessions
    from vxassist.errors import UsageError

    scopes = args.scopes or ["shell"]
    if args.minutes < 1:
        raise UsageError("--minutes must be at least 1.")
    with _client(ctx) as client:
        session, files = sessions.request_session(
            client, ctx.paths, args.case_number, scopes, args.minutes, args.reason
        )
        sid = session["session_id"]
        if not args.json:
            print(
                f"Session {sid} requested on case {args.case_number}.\n"
                f"Verification code: {session['verification_code']} "
                "(the customer sees the same code; give it if they ask).",
                flush=True,
            )
        if args.no_wait:
            emit(session, args.json, lambda s: "Not waiting; check with `vxassist engineer list`.")
            return 0
        if not args.json:
            print("Waiting for the customer's answer (Ctrl-C withdraws the request)...", flush=True)
        try:
            session = sessions.wait_for_decision(client, sid, None if args.json else _still_waiting)
        except KeyboardInterrupt:
            withdrawn = sessions.revoke(client, sid, "withdrawn by the engineer")
            sessions.forget_finished(ctx.paths, [withdrawn])
            print(f"vxassist: request {sid} withdrawn.", file=sys.stderr)
            return 130
    status = session.get("status")
    if status != "approved":
        from vxassist.engineer.account import EngineerError

        sessions.forget_finished(ctx.paths, [session])

        note = f" ({session['note']})" if session.get("note") else ""
        emit(session, args.json, lambda s: "")
        raise EngineerError(
            f"The session was not approved: it is {status}{note}. "
            "Talk to the customer, then ask again if needed.",
        )
    files = sessions.prepare(ctx.paths, session)
    emit(
        {**session, "ssh_config": str(files.ssh_config)},
        args.json,
        lambda s: _next_steps(s, str(files.ssh_config)),
    )
    return 0


def _fresh(ctx: Context, session_id: str) -> tuple[dict[str, Any], Any]:
    from vxassist.engineer import sessions

    sessions.files_for(ctx.paths, session_id)  # refuse odd ids before asking the desk
    with _client(ctx) as client:
        session = sessions.get(client, session_id)
    return session, sessions.prepare(ctx.paths, session)


def cmd_connect(ctx: Context, args: argparse.Namespace) -> int:
    import subprocess

    from vxassist.engineer import sessions

    extra = list(args.extra)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    session, files = _fresh(ctx, args.session_id)
    command = sessions.ssh_command(files, session["session_id"], extra)
    return subprocess.call(command)


def cmd_ssh_config(ctx: Context, args: argparse.Namespace) -> int:
    session, files = _fresh(ctx, args.session_id)
    data = {
        "session_id": session["session_id"],
        "ssh_config": str(files.ssh_config),
        "host": f"vx-session-{session['session_id']}",
        "known_hosts": str(files.known_hosts),
        "not_after": session["not_after"],
    }
    emit(data, args.json, lambda d: d["ssh_config"])
    return 0


def cmd_list(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.engineer import sessions

    with _client(ctx) as client:
        rows = sessions.list_sessions(client)
    sessions.forget_finished(ctx.paths, rows)
    emit(
        {"sessions": rows},
        args.json,
        lambda d: "\n".join(map(_line, d["sessions"])) or "no sessions",
    )
    return 0


def cmd_extend(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.engineer import sessions
    from vxassist.engineer.account import EngineerError
    from vxassist.errors import UsageError

    if args.minutes < 1:
        raise UsageError("--minutes must be at least 1.")
    sessions.files_for(ctx.paths, args.session_id)  # refuse odd ids before asking the desk
    with _client(ctx) as client:
        asked = sessions.request_extension(client, args.session_id, args.minutes, args.reason)
        if not args.json:
            print(
                f"Extension {asked['number']} of session {args.session_id} asked: "
                f"{args.minutes} more minutes. Waiting for the customer's answer "
                f"(until {local_time(asked['expires_at'])} at the latest)...",
                flush=True,
            )
        final = sessions.wait_for_extension(client, asked)
    session = final.get("session") or {}
    end = local_time(session.get("not_after")) if session.get("not_after") else "?"
    status = final.get("status")
    if status == "approved":
        try:
            files = sessions.prepare(ctx.paths, session)
        except sessions.SessionNotReady as exc:
            emit(final, args.json, lambda e: "")
            raise EngineerError(
                f"The customer approved the extension (the session now ends at {end}), "
                f"but its certificate could not be saved here: {exc.message}",
            ) from exc
        emit(
            {**final, "ssh_config": str(files.ssh_config)},
            args.json,
            lambda e: (
                f"Approved: session {args.session_id} now ends at {end}. "
                "The renewed certificate is saved; new logins work until then."
            ),
        )
        return 0
    emit(final, args.json, lambda e: "")
    note = str(final.get("note") or "")
    if session.get("status") != "approved":
        raise EngineerError(
            f"The session is {session.get('status', 'over')} now, so it was not extended; "
            "ask for a new session with `vxassist engineer request`.",
        )
    if status == "refused":
        why = f" ({note})" if note and note != "refused" else ""
        raise EngineerError(
            f"The extension was refused{why}; the session still ends at {end}.",
        )
    if status == "expired":
        raise EngineerError(
            f"The customer did not answer in time, so the extension was not granted; "
            f"the session still ends at {end}.",
        )
    raise EngineerError(
        f"The customer has not answered yet; check later with `vxassist engineer list`. "
        f"The session still ends at {end}.",
    )


def cmd_revoke(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.engineer import sessions

    sessions.files_for(ctx.paths, args.session_id)
    with _client(ctx) as client:
        session = sessions.revoke(client, args.session_id, args.reason)
    sessions.forget_finished(ctx.paths, [session])
    emit(session, args.json, lambda s: "revoked: " + _line(s))
    return 0
