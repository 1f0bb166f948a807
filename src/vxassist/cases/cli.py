"""Command-line commands of the cases area: ``case ...``, ``outbox`` and ``enroll``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from vxassist.cases.fields import CASE_FIELDS, Priority
from vxassist.cases.status import QUEUED, status_label
from vxassist.cliutil import Context, add_json_flag, emit
from vxassist.errors import UsageError

ESCALATION_TARGETS = ("technical_support_manager", "sales_manager")

#: exit codes of ``case new``: scripts tell where the request went without parsing text
EXIT_FILED = 0
EXIT_QUEUED = 3
EXIT_EMAILED = 4
EXIT_SAVED = 5
EXIT_NOT_SENT = 6
CASE_NEW_EXIT_CODES = (
    f"Exit status: {EXIT_FILED} filed at the desk, with a case number or a reference; "
    f"{EXIT_QUEUED} queued in the outbox, sent when the desk answers; "
    f"{EXIT_EMAILED} e-mailed to support instead of the desk; "
    f"{EXIT_SAVED} saved to a file, to be sent another way; "
    f"{EXIT_NOT_SENT} not sent, the customer said no; "
    "1 refused by the desk or failed; 2 bad input."
)


def _priority_text() -> str:
    return "; ".join(f"{p.value} = {p.label} ({p.meaning})" for p in Priority)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``case``, ``outbox`` and ``enroll``."""
    case = sub.add_parser("case", help="open and follow support cases")
    case_sub = case.add_subparsers(dest="case_command", metavar="ACTION")
    case_sub.required = True

    new = case_sub.add_parser(
        "new",
        help="open a support case",
        description="Open a support case. Fields come from the system report, then "
        "--from FILE.toml, then the flags; the fields marked [required] that are still "
        "empty are asked for on a terminal, and on a terminal what will be sent is shown "
        "for a yes before it goes (--yes skips the question). "
        "Priority levels: " + _priority_text() + ".",
        epilog=CASE_NEW_EXIT_CODES,
    )
    for spec in CASE_FIELDS:
        flag = "--" + spec.name.replace("_", "-")
        mark = "[required] " if spec.required else ""
        if spec.name == "priority":
            new.add_argument(
                flag,
                dest=spec.name,
                metavar="1-4",
                help=f"{mark}{spec.label}: " + _priority_text(),
            )
        else:
            new.add_argument(
                flag,
                dest=spec.name,
                metavar="TEXT",
                help=f"{mark}{spec.label}: {spec.help}"
                + ("; default: from the system report" if spec.from_system else ""),
            )
    new.add_argument(
        "--from",
        dest="from_file",
        metavar="FILE.toml",
        help="read the fields from a TOML file with the same keys "
        "(and [[also]] tables for further issues)",
    )
    new.add_argument(
        "--no-system-report", action="store_true", help="do not attach the system report"
    )
    new.add_argument(
        "--anonymize",
        action="store_true",
        help="also remove host names, addresses and user names from the report",
    )
    new.add_argument(
        "--dry-run", action="store_true", help="show exactly what would be sent, and send nothing"
    )
    new.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="send without showing the request for a yes first (only asked on a terminal)",
    )
    add_json_flag(new)
    new.set_defaults(func=cmd_case_new)

    lst = case_sub.add_parser("list", help="this host's cases at the desk")
    add_json_flag(lst)
    lst.set_defaults(func=cmd_case_list)

    show = case_sub.add_parser("show", help="one case with its history")
    show.add_argument("number", metavar="N", help="the case number")
    add_json_flag(show)
    show.set_defaults(func=cmd_case_show)

    upd = case_sub.add_parser("update", help="add information to a case")
    upd.add_argument("number", metavar="N", help="the case number")
    upd.add_argument("--text", required=True, help="what is new")
    upd.add_argument("--priority", metavar="1-4", help="change the priority: " + _priority_text())
    upd.add_argument(
        "--attach-report",
        action="store_true",
        help="also send a fresh system report of this host, secrets removed as for a new case",
    )
    upd.add_argument(
        "--anonymize",
        action="store_true",
        help="with --attach-report: also remove host names, addresses and user names",
    )
    upd.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="with --attach-report or --attach-log: send without showing what goes for a "
        "yes first (only asked on a terminal)",
    )
    upd.add_argument(
        "--attach-log",
        metavar="FILE",
        action="append",
        default=[],
        help="also send this log or text file, secrets removed (up to 5 times)",
    )
    add_json_flag(upd)
    upd.set_defaults(func=cmd_case_update)

    esc = case_sub.add_parser("escalate", help="ask for a case to be escalated")
    esc.add_argument("number", metavar="N", help="the case number")
    esc.add_argument(
        "--to",
        required=True,
        choices=ESCALATION_TARGETS,
        help="the Manager of Technical Support or the local Sales Manager",
    )
    esc.add_argument("--reason", required=True, help="why the case needs escalation")
    add_json_flag(esc)
    esc.set_defaults(func=cmd_case_escalate)

    from vxassist.cases.update_requests import register as register_update_requests

    register_update_requests(case_sub)

    outbox = sub.add_parser("outbox", help="requests waiting to be sent")
    outbox.add_argument(
        "--flush", action="store_true", help="try to send every waiting request now"
    )
    outbox.add_argument(
        "--all", action="store_true", help="also list delivered, rejected and e-mailed requests"
    )
    add_json_flag(outbox)
    outbox.set_defaults(func=cmd_outbox)

    enroll = sub.add_parser("enroll", help="register this host with a support desk")
    enroll.add_argument("--desk", required=True, metavar="URL", help="the desk's address")
    enroll.add_argument("--code", required=True, help="the enrollment code from support")
    enroll.add_argument("--hostname", help="the name to register (default: this host's name)")
    add_json_flag(enroll)
    enroll.set_defaults(func=cmd_enroll)


# -- helpers ------------------------------------------------------------------


def _case_number(value: str) -> int:
    from vxassist.cases.model import parse_case_number

    number = parse_case_number(value)
    if number is None:
        raise UsageError(f"'{value}' is not a case number; give the number, like 1042.")
    return number


def _priority(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(Priority(int(value)))
    except ValueError as exc:
        raise UsageError(
            f"'{value}' is not a priority level; choose 1 to 4: {_priority_text()}."
        ) from exc


def _when(iso: str | None) -> str:
    """A deadline in the customer's local time and in the support desk's time."""
    if not iso:
        return "unknown"
    from zoneinfo import ZoneInfo

    from vxassist.cases.intake import support_tz
    from vxassist.timefmt import local_time, parse_moment

    if parse_moment(iso) is None:
        return str(iso)
    return (
        f"{local_time(iso)} (your time), {local_time(iso, ZoneInfo(support_tz()))} (Pacific time)"
    )


def _read_toml(path: str) -> dict[str, Any]:
    import tomllib

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise UsageError(f"The file {path} does not exist; check the name.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML; fix it and try again ({exc}).") from exc
    except OSError as exc:
        raise UsageError(f"{path} cannot be read; check its permissions.", str(exc)) from exc


def _prompt_missing(values: dict[str, Any]) -> None:
    """Ask on the terminal for fields still missing or wrong, until each is right."""
    from vxassist.cases.model import SPECS, check_fields

    _, problems = check_fields(values)
    for problem in problems:
        spec = SPECS.get(problem.field)
        if spec is None:
            continue
        message: str | None = problem.message
        hint = " (1-4)" if spec.name == "priority" else ""
        # An empty field is simply asked for; a message only says what was wrong with
        # a value given (a flag, the file, or an answer).
        said = bool(str(values.get(spec.name) or "").strip())
        while message:
            # Prompts go to stderr: stdout carries only the answer (--json, --dry-run).
            if said:
                print(message, file=sys.stderr)
            print(f"> {spec.label}{hint}: ", end="", file=sys.stderr, flush=True)
            line = sys.stdin.readline()
            if not line:
                return
            values[spec.name] = line.strip()
            said = True
            message = next(
                (p.message for p in check_fields(values)[1] if p.field == spec.name), None
            )


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def preview_text(payload: dict[str, Any]) -> str:
    """What ``case new`` will send: each field, then the report's parts with their sizes."""
    import json

    from vxassist.cases.fields import CASE_FIELDS

    lines = ["This request will be sent to support:"]
    width = max(len(spec.label) for spec in CASE_FIELDS)
    for spec in CASE_FIELDS:
        value = payload.get(spec.name)
        if value is None or value == "":
            continue
        text = " ".join(str(value).split())
        if spec.name == "priority" and text in {str(p.value) for p in Priority}:
            text = f"{text} = {Priority(int(text)).label}"
        if len(text) > 200:
            text = text[:197] + "..."
        lines.append(f"  {spec.label:<{width}}  {text}")
    for n, issue in enumerate(payload.get("also") or [], start=1):
        lines.append(f"  Further issue {n} (its own case): {issue.get('brief', '')}")
    lines += _report_lines(payload.get("system_report"))
    body = len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
    lines.append(f"  Request size: {_size(body)}")
    return "\n".join(lines)


def _report_lines(report: Any) -> list[str]:
    """The report's parts with their sizes, as ``case new`` and ``case update`` show them."""
    import json

    if not isinstance(report, dict) or not report:
        return ["  No system report."]
    total = len(json.dumps(report, ensure_ascii=False).encode("utf-8"))
    lines = [f"  System report, {_size(total)} in all, secrets removed:"]
    for name, part in _report_parts(report):
        size = len(json.dumps(part, ensure_ascii=False).encode("utf-8"))
        status = part.get("status") if isinstance(part, dict) else None
        note = f"  {status}" if status and status != "ok" else ""
        lines.append(f"    {name:<24} {_size(size):>9}{note}")
    return lines


def update_preview_text(number: int, body: dict[str, Any]) -> str:
    """What ``case update`` will send: the text, any new priority, the report's parts."""
    import json

    text = " ".join(str(body.get("text", "")).split())
    lines = [
        f"This update will be sent to case {number}:",
        f"  {text[:197] + '...' if len(text) > 200 else text}",
    ]
    if body.get("priority") is not None:
        lines.append(f"  New priority: {body['priority']} = {Priority(body['priority']).label}")
    lines += _report_lines(body.get("system_report"))
    for item in body.get("attachments") or []:
        lines.append(f"  Log file: {item['filename']} (secrets removed)")
    size = len(json.dumps(body, ensure_ascii=False).encode("utf-8"))
    lines.append(f"  Update size: {_size(size)}")
    return "\n".join(lines)


def _report_parts(report: dict[str, Any]) -> list[tuple[str, Any]]:
    """The report's parts as the customer thinks of them: each section, then the list
    of what was collected; the header's few values are counted in the total only."""
    parts: list[tuple[str, Any]] = []
    for key, value in report.items():
        if key == "sections" and isinstance(value, dict):
            parts += [(str(name), section) for name, section in value.items()]
        elif isinstance(value, dict | list):
            parts.append((str(key), value))
    return parts


def _confirm(payload: dict[str, Any], preview: str | None = None) -> bool:
    """Show what will be sent and ask for a yes (on the terminal, through stderr)."""
    print(preview_text(payload) if preview is None else preview, file=sys.stderr)
    print("Send it? [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def _reason(text: str | None) -> str:
    """An outbox error as a clause: no closing period, no wrapping parentheses."""
    return (text or "no reason was given").strip().rstrip(".")


def _case_text(case: dict[str, Any]) -> str:
    from vxassist.timefmt import local_time

    number = case.get("case_number")
    lines = []
    if number is None:
        lines.append(
            f"No case number (reference {case.get('reference', '?')}, "
            f"status {status_label(case.get('status') or '?')})."
        )
    else:
        lines.append(f"Case {number}: {case.get('brief', '')}")
        lines.append(
            f"  Status: {status_label(case.get('status') or '?')}, priority "
            f"{case.get('priority', '?')} ({case.get('priority_label', '')})"
        )
        lines.append(f"  Response due: {_when(case.get('response_due'))}")
    if case.get("message"):
        lines.append(f"  {case['message']}")
    escalation = case.get("escalation")
    if isinstance(escalation, dict):
        lines.append(f"  Escalated to {escalation.get('to')}: {escalation.get('reason')}")
    for related in case.get("related") or []:
        if isinstance(related, dict):
            lines.append(
                f"  Also opened: case {related.get('case_number')} "
                f"({related.get('brief', '')}), response due "
                f"{_when(related.get('response_due'))}"
            )
    for event in case.get("events") or []:
        if isinstance(event, dict):
            if event.get("visibility") == "internal":
                continue  # the desk never sends these to a host; never print one anyway
            # what support wrote stands out from the host's own entries
            engineer = event.get("author_kind") == "engineer" and event.get("kind") in (
                "reply",
                "call",
            )
            who = f"{event.get('author', '')}{' (support)' if engineer else ''}"
            lines.append(
                f"  {'>>' if engineer else '  '} {local_time(event.get('at'))} "
                f"{event.get('kind', '')} {who}: {event.get('text', '')}"
            )
    return "\n".join(lines)


def _client(ctx: Context) -> Any:
    from vxassist.cases.intake import desk_client

    return desk_client(ctx.settings, ctx.secrets())


# -- handlers -----------------------------------------------------------------


def cmd_case_new(ctx: Context, args: argparse.Namespace) -> int:
    import json

    from vxassist.cases.model import build_request
    from vxassist.cases.outbox import OutboxFull, State
    from vxassist.cases.prefill import system_prefill

    values: dict[str, Any] = {}
    report = None
    note = ""
    if not args.no_system_report:
        prefill = system_prefill(
            ctx.settings, anonymize=args.anonymize or ctx.settings.anonymize_by_default
        )
        values.update(prefill.fields)
        report = prefill.report
        note = prefill.reason
    if args.from_file:
        values.update(_read_toml(args.from_file))
    for spec in CASE_FIELDS:
        given = getattr(args, spec.name)
        if given is not None:
            values[spec.name] = given
    if sys.stdin.isatty() and not args.json:
        _prompt_missing(values)
    if note and not args.json:
        print(f"Note: no system report attached: {note}.", file=sys.stderr)

    request = build_request(values, system_report=report)
    if args.dry_run:
        emit(request.payload(), True, str)
        return 0
    if sys.stdin.isatty() and not args.json and not args.yes and not _confirm(request.payload()):
        print("Nothing was sent; run the command again when the request is ready.", file=sys.stderr)
        return EXIT_NOT_SENT

    from vxassist.cases.intake import submit_case

    try:
        submission = submit_case(ctx.paths, ctx.settings, ctx.secrets(), request)
    except OutboxFull:
        if not args.from_file:
            # The disk is full: hand the typed request back so nothing is lost.
            json.dump(request.fields(), sys.stdout, indent=2, ensure_ascii=False)
            sys.stdout.write("\n")
        raise
    item = submission.item
    estimate = submission.estimate.isoformat() if submission.estimate else None
    data: dict[str, Any] = dict(item.answer or {})
    data.update(
        {
            "outbox_id": item.id,
            "outbox_state": str(item.state),
            "queued": item.state is State.PENDING,
            "idempotency_key": item.idempotency_key,
        }
    )
    data.setdefault("case_number", None)
    data.setdefault(
        "status",
        {
            State.PENDING: "queued",
            State.EMAILED: "emailed",
            State.SAVED: "saved",
            State.REJECTED: "rejected",
        }.get(item.state, str(item.state)),
    )
    data.setdefault("response_due", None)
    data["response_due_estimate"] = estimate
    if item.state is not State.DELIVERED:
        data["reason"] = item.last_error
        data["fallback_to"] = item.fallback_to or None

    if item.state is State.REJECTED:
        from vxassist.cases.model import CaseError

        if args.json:
            emit(data, True, str)
        raise CaseError(
            f"The desk refused the request: {_reason(item.last_error)}; it is kept in the "
            f"outbox as item {item.id}.",
            detail=f"outbox item {item.id} rejected",
        )

    def human(d: dict[str, Any]) -> str:
        if item.state is State.DELIVERED:
            text = _case_text(d)
            if d.get("case_number") is not None:
                text = text.replace(
                    f"Case {d['case_number']}:", f"Case {d['case_number']} opened:", 1
                )
            return text
        if item.state is State.PENDING:
            return (
                f"Not sent yet: {_reason(item.last_error or 'the desk cannot be reached now')}.\n"
                f"Your request is queued in the outbox as item {item.id}; it is sent "
                "when the desk answers, by the running agent or by `vxassist outbox --flush`.\n"
                f"Estimated response due: {_when(estimate)}"
            )
        if item.state is State.EMAILED:
            return (
                f"The desk could not take the request: {_reason(item.last_error)}.\n"
                f"It was e-mailed to {item.fallback_to} instead; it is outbox item {item.id}."
            )
        return (
            f"Neither the desk nor e-mail could take the request: "
            f"{_reason(item.last_error)}.\n"
            f"It is saved as {item.fallback_to}: send it to "
            f"{ctx.settings.support.email} another way, or call "
            f"{ctx.settings.support.phone}."
        )

    emit(data, args.json, human)
    return {
        State.DELIVERED: EXIT_FILED,
        State.PENDING: EXIT_QUEUED,
        State.EMAILED: EXIT_EMAILED,
        State.SAVED: EXIT_SAVED,
    }.get(item.state, EXIT_FILED)


def cmd_case_list(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.cases.intake import open_store
    from vxassist.cases.outbox import Kind, State

    queued = [
        i.summary() for i in open_store(ctx.paths).items((State.PENDING,)) if i.kind is Kind.CASE
    ]
    with _client(ctx) as client:
        cases = client.list_cases()

    def human(data: dict[str, Any]) -> str:
        rows = []
        for c in data["cases"]:
            number = c.get("case_number")
            label = f"{number:>6}" if number is not None else f"{c.get('reference', '?'):>6}"
            rows.append(
                f"{label}  {status_label(c.get('status') or '?'):<20} "
                f"P{c.get('priority', '?')}  {c.get('brief', '')}"
            )
        for q in data["queued"]:
            rows.append(f"{'#' + str(q['id']):>6}  {status_label(QUEUED):<20}     {q['brief']}")
        return "\n".join(rows) or "No cases yet."

    emit({"cases": cases, "queued": queued}, args.json, human)
    return 0


def cmd_case_show(ctx: Context, args: argparse.Namespace) -> int:
    number = _case_number(args.number)
    with _client(ctx) as client:
        case = client.get_case(number)
    emit(case, args.json, _case_text)
    return 0


def _read_logs(names: list[str]) -> list[tuple[str, bytes]]:
    from vxassist.cases.intake import LogFileError, read_logs

    try:
        return read_logs(names)
    except LogFileError as exc:
        raise UsageError(exc.message, detail=exc.detail) from exc


def cmd_case_update(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.cases.intake import submit_update
    from vxassist.cases.model import CaseError
    from vxassist.cases.outbox import State

    number = _case_number(args.number)
    text = (args.text or "").strip()
    if not text:
        raise UsageError("The update is empty; write what is new with --text.")
    if args.anonymize and not args.attach_report:
        raise UsageError("--anonymize applies to the report: add --attach-report, or leave it out.")
    priority = _priority(args.priority)
    logs = _read_logs(args.attach_log)
    report = None
    if args.attach_report:
        from vxassist.cases.prefill import system_prefill

        # collected and redacted as for `case new`
        prefill = system_prefill(
            ctx.settings, anonymize=args.anonymize or ctx.settings.anonymize_by_default
        )
        report = prefill.report
        if report is None:
            print(f"Note: no system report attached: {prefill.reason}.", file=sys.stderr)
    if (report is not None or logs) and sys.stdin.isatty() and not args.json and not args.yes:
        from vxassist.deskclient import update_body

        body = update_body(text, priority, report, logs)
        if not _confirm(body, update_preview_text(number, body)):
            print(
                "Nothing was sent; run the command again when the update is ready.",
                file=sys.stderr,
            )
            return EXIT_NOT_SENT
    item = submit_update(
        ctx.paths,
        ctx.settings,
        ctx.secrets(),
        number,
        text,
        priority,
        system_report=report,
        logs=logs,
    )
    if item.state is State.REJECTED:
        raise CaseError(
            f"The desk refused the update: {_reason(item.last_error)}; it is kept in the "
            f"outbox as item {item.id}."
        )
    attached = report is not None
    went = " A fresh system report went with it." if attached else ""
    if item.state is State.DELIVERED and item.answer is not None:
        emit(
            {**item.answer, "report_attached": attached},
            args.json,
            lambda d: _case_text(d) + ("\n" + went.strip() if attached else ""),
        )
        return 0
    data = {**item.summary(), "report_attached": attached}
    emit(
        data,
        args.json,
        lambda d: (
            f"The update is queued in the outbox as item {item.id} "
            f"({_reason(item.last_error)}).{went}"
            if item.state is State.PENDING
            else f"The update was sent by {item.state} to {item.fallback_to}.{went}"
        ),
    )
    return 0


def cmd_case_escalate(ctx: Context, args: argparse.Namespace) -> int:
    number = _case_number(args.number)
    reason = (args.reason or "").strip()
    if not reason:
        raise UsageError("Say why the case needs escalation with --reason.")
    with _client(ctx) as client:
        case = client.escalate_case(number, args.to, reason)
    emit(case, args.json, _case_text)
    return 0


def cmd_outbox(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.cases.intake import make_sender, open_store
    from vxassist.cases.outbox import State

    store = open_store(ctx.paths)
    if args.flush:
        with make_sender(ctx.paths, ctx.settings, ctx.secrets()) as sender:
            tried = {i.id for i in sender.flush(force=True)}
        items = [i for i in store.items() if args.all or i.id in tried]
    else:
        items = store.items() if args.all else store.items((State.PENDING,))
    data = [i.summary() for i in items]

    def human(rows: list[dict[str, Any]]) -> str:
        from vxassist.timefmt import local_time

        if not rows:
            return "The outbox is empty: nothing waits to be sent."
        out = []
        for r in rows:
            line = f"{r['id']:>4}  {r['state']:<9} {r['kind']:<6} {r['brief']}"
            if r["case_number"] is not None:
                line += f"  -> case {r['case_number']}"
            elif r["state"] == "delivered":
                line += f"  -> {r['status']} (reference {r['reference']})"
            if r["state"] == "pending":
                line += f"\n        next try {local_time(r['next_attempt_at'])}: {r['last_error']}"
            elif r["state"] in ("rejected", "emailed", "saved"):
                line += f"\n        {r['last_error']}"
                if r["fallback_to"]:
                    line += f"\n        sent to / saved as: {r['fallback_to']}"
            out.append(line)
        return "\n".join(out)

    emit({"items": data} if args.json else data, args.json, human)
    pending = [i for i in items if i.state is State.PENDING]
    if args.flush and pending:
        print(
            f"vxassist: {len(pending)} request(s) could not be sent yet and stay in the "
            "outbox; they are tried again later.",
            file=sys.stderr,
        )
        return 3
    return 0


def cmd_enroll(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.cases.enroll import enroll

    result = enroll(ctx.paths, ctx.secrets(), args.desk, args.code, hostname=args.hostname)
    data = {"desk_url": result.desk_url, **result.facts}

    def human(d: dict[str, Any]) -> str:
        text = (
            f"This host is enrolled with {d['desk_url']} as agent {d.get('agent_id')}"
            f" for {d.get('company') or 'your company'} (contract {d.get('contract_id')})."
        )
        if result.host_key_note:
            text += f"\nNote: no host key was registered: {result.host_key_note}."
        return text

    emit(data, args.json, human)
    return 0
