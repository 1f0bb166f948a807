"""``vxassist case patch|upgrade|update-requests``: ask the desk for a product update
and read its answer (the policy's "Product updates").

A patch needs a detailed description of the problem; an upgrade goes only to the
technical contact of a current agreement. A request the desk refuses is kept
there with the reason, and this command prints it with what to do.
"""

from __future__ import annotations

import argparse
from typing import Any

from vxassist.cliutil import Context, add_json_flag, emit
from vxassist.errors import UsageError
from vxassist.timefmt import local_time

PATH = "/api/v1/update-requests"


def register(case_sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``patch``, ``upgrade`` and ``update-requests`` to ``vxassist case``."""
    patch = case_sub.add_parser(
        "patch", help="ask for a patch (with a detailed description of the problem)"
    )
    patch.add_argument("--version", required=True, help="the product version installed now")
    patch.add_argument(
        "--description",
        required=True,
        help="the problem in detail: what happens, when, and what was tried",
    )
    _common(patch)
    patch.set_defaults(func=cmd_patch)

    upgrade = case_sub.add_parser(
        "upgrade",
        help="ask for a version upgrade (current agreement, technical contact only)",
    )
    upgrade.add_argument("--version", required=True, help="the product version installed now")
    upgrade.add_argument("--to", required=True, metavar="VERSION", help="the version wanted")
    upgrade.add_argument("--description", help="why, or anything the engineer should know")
    _common(upgrade)
    upgrade.set_defaults(func=cmd_upgrade)

    show = case_sub.add_parser(
        "update-requests", help="this host's patch and upgrade requests with their answers"
    )
    show.add_argument("id", metavar="ID", nargs="?", help="one request, with its answer")
    add_json_flag(show)
    show.set_defaults(func=cmd_update_requests)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--contact-name", required=True, help="who asks")
    parser.add_argument(
        "--contact-email",
        required=True,
        help="who asks; upgrades go only to the technical contact of the agreement",
    )
    parser.add_argument("--case", metavar="N", help="the case this request is about")
    add_json_flag(parser)


def _client(ctx: Context) -> Any:
    from vxassist.cases.intake import desk_client

    return desk_client(ctx.settings, ctx.secrets())


def _case(value: str | None) -> int | None:
    if value is None:
        return None
    from vxassist.cases.model import parse_case_number

    number = parse_case_number(value)
    if number is None:
        raise UsageError(f"'{value}' is not a case number; give the number, like 1042.")
    return number


def request_text(r: dict[str, Any]) -> str:
    """One request as the customer reads it: what was asked, the state, the answer."""
    what = (
        f"patch for {r.get('product_version')}"
        if r.get("kind") == "patch"
        else f"upgrade from {r.get('product_version')} to {r.get('target_version')}"
    )
    lines = [f"Update request {r.get('id')}: {what}, {r.get('status')}"]
    lines.append(f"  asked by {r.get('contact_name')} <{r.get('contact_email')}>")
    lines.append(f"  on {local_time(r.get('created_at'))}")
    if r.get("case_number"):
        lines.append(f"  case {r['case_number']}")
    if r.get("status") == "refused" and r.get("reason"):
        lines.append(f"  Refused: {r['reason']}")
    if r.get("answer"):
        lines.append(f"  Answer from {r.get('answered_by')} on {local_time(r.get('answered_at'))}:")
        lines.extend("    " + line for line in str(r["answer"]).splitlines())
    if r.get("download_url"):
        lines.append(f"  Download: {r['download_url']}")
    if r.get("status") == "requested":
        lines.append("  Waiting for an engineer's answer.")
    return "\n".join(lines)


def _file(ctx: Context, args: argparse.Namespace, body: dict[str, Any]) -> int:
    body.update(
        contact_name=args.contact_name,
        contact_email=args.contact_email,
        case_number=_case(args.case),
    )
    with _client(ctx) as client:
        answer = client.request("POST", PATH, json=body)
    emit(answer, args.json, request_text)
    # a refused request is kept at the desk, but what was asked for will not come
    return 3 if answer.get("status") == "refused" else 0


def cmd_patch(ctx: Context, args: argparse.Namespace) -> int:
    description = (args.description or "").strip()
    if not description:
        raise UsageError("Describe the problem in detail with --description.")
    return _file(
        ctx,
        args,
        {"kind": "patch", "product_version": args.version, "description": description},
    )


def cmd_upgrade(ctx: Context, args: argparse.Namespace) -> int:
    description = (args.description or "").strip() or f"Upgrade to {args.to}."
    return _file(
        ctx,
        args,
        {
            "kind": "upgrade",
            "product_version": args.version,
            "target_version": args.to,
            "description": description,
        },
    )


def cmd_update_requests(ctx: Context, args: argparse.Namespace) -> int:
    with _client(ctx) as client:
        if args.id is not None:
            if not args.id.isdecimal() or not 0 < int(args.id) < 2**31:
                raise UsageError(f"'{args.id}' is not a request number; give one, like 3.")
            one = client.request("GET", f"{PATH}/{int(args.id)}")
            emit(one, args.json, request_text)
            return 0
        found = client.request("GET", PATH)
    emit(
        found,
        args.json,
        lambda d: (
            "\n\n".join(request_text(r) for r in d.get("update_requests") or [])
            or "No update requests."
        ),
    )
    return 0
