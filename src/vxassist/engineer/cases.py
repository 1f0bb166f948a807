"""The engineer's case commands: ``login``, ``cases``, ``case N``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from vxassist.cliutil import Context, add_json_flag, emit
from vxassist.errors import UsageError
from vxassist.timefmt import local_time

STATUSES = ("open", "in_progress", "waiting_customer", "resolved", "closed", "no_contract")


def register_commands(group: argparse._SubParsersAction[Any]) -> None:
    login = group.add_parser("login", help="log in to a desk with your engineer token")
    login.add_argument("--desk", required=True, metavar="URL", help="the desk's address")
    login.add_argument(
        "--token",
        help="your engineer token (default: asked without echo on a terminal, "
        "else read from standard input)",
    )
    add_json_flag(login)
    login.set_defaults(func=cmd_login)

    cases = group.add_parser("cases", help="cases at the desk")
    cases.add_argument("--status", choices=STATUSES, help="only cases in this status")
    add_json_flag(cases)
    cases.set_defaults(func=cmd_cases)

    case = group.add_parser("case", help="show one case, or change its status")
    case.add_argument("number", metavar="N", help="the case number")
    case.add_argument("--status", choices=STATUSES, help="set this status")
    case.add_argument("--note", help="a note for the case history (with --status)")
    add_json_flag(case)
    case.set_defaults(func=cmd_case)


def _read_token(given: str | None) -> str:
    if given is not None:
        return given
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("Engineer token: ")
    return sys.stdin.readline()


def cmd_login(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.engineer.account import login

    who = login(ctx.paths, ctx.secrets(), args.desk, _read_token(args.token))
    emit(who, args.json, lambda d: f"Logged in to {d['desk_url']} as engineer {d.get('name')}.")
    return 0


def _line(c: dict[str, Any]) -> str:
    number = c.get("case_number")
    label = str(number) if number is not None else str(c.get("reference", "?"))
    return (
        f"{label:>8}  {c.get('status', '?'):<16} P{c.get('priority', '?')}  "
        f"due {local_time(c.get('response_due'))}  {c.get('company', '')}: "
        f"{c.get('brief', '')}"
    )


def cmd_cases(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.engineer.account import engineer_client

    with engineer_client(ctx.paths, ctx.secrets()) as client:
        cases = client.engineer_cases(args.status)
    emit(
        {"cases": cases},
        args.json,
        lambda d: "\n".join(_line(c) for c in d["cases"]) or "No cases.",
    )
    return 0


def _detail(c: dict[str, Any]) -> str:
    lines = [_line(c)]
    for name in ("contact_name", "contact_phone", "contact_email", "details", "steps_taken"):
        if c.get(name):
            lines.append(f"  {name}: {c[name]}")
    if isinstance(c.get("escalation"), dict):
        lines.append(f"  escalated to {c['escalation'].get('to')}: {c['escalation'].get('reason')}")
    for event in c.get("events") or []:
        if isinstance(event, dict):
            lines.append(
                f"  {event.get('at', '')} {event.get('kind', '')} {event.get('author', '')}: "
                f"{event.get('text', '')}"
            )
    return "\n".join(lines)


def cmd_case(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.cases.model import parse_case_number
    from vxassist.engineer.account import engineer_client

    number = parse_case_number(args.number)
    if number is None:
        raise UsageError(f"'{args.number}' is not a case number; give the number, like 1042.")
    if args.note and not args.status:
        raise UsageError("A note goes with a status change; add --status.")
    with engineer_client(ctx.paths, ctx.secrets()) as client:
        if args.status:
            case = client.engineer_set_status(number, args.status, args.note)
        else:
            case = client.get_case(number)
    emit(case, args.json, _detail)
    return 0
