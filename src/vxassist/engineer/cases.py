"""The engineer's case commands: ``login``, ``cases``, ``case N``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from vxassist.cases.status import STATUS_LABELS as LABELS
from vxassist.cliutil import Context, add_json_flag, emit
from vxassist.errors import UsageError
from vxassist.timefmt import local_time

STATUSES = tuple(LABELS)  # open, in_progress, waiting_customer, resolved, closed, no_contract
SETTABLE = tuple(s for s in STATUSES if s != "no_contract")
TARGETS = {"manager": "technical_support_manager", "sales": "sales_manager"}


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

    cases.add_argument("--priority", type=int, choices=(1, 2, 3, 4), help="only this priority")
    cases.add_argument("--company", help="only companies whose name contains this")
    cases.add_argument("--assignee", help="only this engineer's cases ('' for nobody's)")
    cases.add_argument(
        "--escalated", action="store_true", default=None, help="only cases escalated now"
    )
    cases.add_argument(
        "--breached", action="store_true", default=None, help="only cases past their deadline"
    )

    case = group.add_parser("case", help="one case: show it, answer, note, change it")
    actions = case.add_subparsers(dest="case_action", metavar="ACTION")
    actions.required = True

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=help_text)
        parser.add_argument("number", metavar="N", help="the case number")
        add_json_flag(parser)
        return parser

    show = action("show", "the case with its whole thread, internal notes included")
    show.set_defaults(func=cmd_case_show)
    for name, help_text in (
        ("reply", "answer the customer (the host reads it)"),
        ("note", "an internal note (the host never sees it)"),
        ("call", "log a telephone call with the customer"),
    ):
        parser = action(name, help_text)
        parser.add_argument("--text", required=True, help="what to write")
        parser.set_defaults(func=cmd_case_text)
    status = action("status", "move the case along the workflow")
    status.add_argument("status", choices=SETTABLE, help="the new status")
    status.add_argument("--note", help="why, for the case history")
    status.set_defaults(func=cmd_case_status)
    assign = action("assign", "give the case to an engineer")
    who = assign.add_mutually_exclusive_group(required=True)
    who.add_argument("--to", metavar="NAME", help="the engineer's name at the desk")
    who.add_argument("--nobody", action="store_true", help="take it from whoever has it")
    assign.set_defaults(func=cmd_case_assign)
    escalate = action("escalate", "escalate to a manager, or close an escalation")
    escalate.add_argument("--to", choices=("manager", "sales"), help="whom to brief")
    escalate.add_argument("--reason", help="why (with --to)")
    escalate.add_argument(
        "--close", type=int, metavar="ID", help="close the open escalation with this id"
    )
    escalate.add_argument("--note", help="a word on closing (with --close)")
    escalate.set_defaults(func=cmd_case_escalate)
    fetch = action("attachment", "save a file the host attached (secrets already removed)")
    fetch.add_argument("id", type=int, help="the attachment's id, as `case show` lists it")
    fetch.add_argument("--output", "-o", metavar="FILE", required=True, help="where to save it")
    fetch.set_defaults(func=cmd_case_attachment)


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
    status = str(c.get("status", "?"))
    found = c.get("deadline")
    deadline: dict[str, Any] = found if isinstance(found, dict) else {}
    flags = ""
    if c.get("escalated"):
        flags += " [escalated]"
    if c.get("assignee"):
        flags += f" [{c['assignee']}]"
    return (
        f"{label:>8}  {LABELS.get(status, status):<19} P{c.get('priority', '?')}  "
        f"{deadline.get('text') or 'due ' + local_time(c.get('response_due'))}  "
        f"{c.get('company', '')}: {c.get('brief', '')}{flags}"
    )


def cmd_cases(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.engineer.account import engineer_client

    with engineer_client(ctx.paths, ctx.secrets()) as client:
        cases = client.engineer_queue(
            status=args.status,
            priority=args.priority,
            company=args.company,
            assignee=args.assignee,
            escalated=args.escalated,
            breached=args.breached,
        )
    emit(
        {"cases": cases},
        args.json,
        lambda d: "\n".join(_line(c) for c in d["cases"]) or "No cases.",
    )
    return 0


def thread_lines(events: Any, *, internal: bool) -> list[str]:
    """The thread as text; engineers' replies stand out, internal notes are marked."""
    lines = []
    for event in events or []:
        if not isinstance(event, dict):
            continue
        if event.get("visibility") == "internal" and not internal:
            continue
        kind = str(event.get("kind", ""))
        mark = ">>" if kind in ("reply", "call") else "  "
        tag = " (internal)" if event.get("visibility") == "internal" else ""
        lines.append(
            f"  {mark} {local_time(event.get('at'))} {kind}{tag} {event.get('author', '')}: "
            f"{event.get('text', '')}"
        )
        for f in event.get("attachments") or []:
            if isinstance(f, dict):
                lines.append(
                    f"       attachment {f.get('id')}: {f.get('filename')} ({f.get('size')} bytes)"
                )
    return lines


def _detail(c: dict[str, Any]) -> str:
    lines = [_line(c)]
    for name in ("contact_name", "contact_phone", "contact_email", "details", "steps_taken"):
        if c.get(name):
            lines.append(f"  {name}: {c[name]}")
    if c.get("first_response_at"):
        lines.append(
            f"  first response: {local_time(c['first_response_at'])} "
            f"by {c.get('first_response_by', '?')}"
        )
    for e in c.get("escalations") or []:
        if isinstance(e, dict) and not e.get("closed_at"):
            lines.append(
                f"  escalation {e.get('id')} open, to {e.get('to')} ({e.get('recipient')}): "
                f"{e.get('reason')}"
            )
    lines.extend(thread_lines(c.get("events"), internal=True))
    return "\n".join(lines)


def _number(text: str) -> int:
    from vxassist.cases.model import parse_case_number

    number = parse_case_number(text)
    if number is None:
        raise UsageError(f"'{text}' is not a case number; give the number, like 1042.")
    return number


def _show(args: argparse.Namespace, case: dict[str, Any]) -> int:
    emit(case, args.json, _detail)
    return 0


def cmd_case_show(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.engineer.account import engineer_client

    number = _number(args.number)
    with engineer_client(ctx.paths, ctx.secrets()) as client:
        return _show(args, client.get_case(number))


def cmd_case_text(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.engineer.account import engineer_client

    number = _number(args.number)
    if not args.text.strip():
        raise UsageError("The text is empty; write it with --text.")
    route = {"reply": "replies", "note": "notes", "call": "calls"}[args.case_action]
    with engineer_client(ctx.paths, ctx.secrets()) as client:
        return _show(args, client.engineer_post(number, route, {"text": args.text}))


def cmd_case_status(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.engineer.account import engineer_client

    number = _number(args.number)
    with engineer_client(ctx.paths, ctx.secrets()) as client:
        return _show(args, client.engineer_set_status(number, args.status, args.note))


def cmd_case_assign(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.engineer.account import engineer_client

    number = _number(args.number)
    engineer = None if args.nobody else args.to
    with engineer_client(ctx.paths, ctx.secrets()) as client:
        return _show(args, client.engineer_post(number, "assign", {"engineer": engineer}))


def cmd_case_escalate(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.engineer.account import engineer_client

    number = _number(args.number)
    if args.close is not None:
        if args.to or args.reason:
            raise UsageError("--close ends an escalation; leave out --to and --reason.")
        with engineer_client(ctx.paths, ctx.secrets()) as client:
            return _show(args, client.engineer_close_escalation(number, args.close, args.note))
    if not args.to or not (args.reason or "").strip():
        raise UsageError("Say whom to brief and why: --to manager|sales --reason TEXT.")
    if args.note:
        raise UsageError("--note goes with --close; write the reason with --reason.")
    body = {"to": TARGETS[args.to], "reason": args.reason}
    with engineer_client(ctx.paths, ctx.secrets()) as client:
        return _show(args, client.engineer_post(number, "escalations", body))


def cmd_case_attachment(ctx: Context, args: argparse.Namespace) -> int:
    from pathlib import Path

    from vxassist.engineer.account import engineer_client

    number = _number(args.number)
    target = Path(args.output)
    if target.exists():
        raise UsageError(f"{target} exists already; name a new file with --output.")
    with engineer_client(ctx.paths, ctx.secrets()) as client:
        data = client.engineer_attachment(number, args.id)
    target.write_bytes(data)
    emit(
        {"case_number": number, "attachment": args.id, "saved": str(target), "size": len(data)},
        args.json,
        lambda d: (
            f"Saved attachment {d['attachment']} of case {number} to {d['saved']} "
            f"({d['size']} bytes)."
        ),
    )
    return 0
