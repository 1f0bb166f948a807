"""The engineer's update-request commands: ``update-requests`` and ``update-request ID``."""

from __future__ import annotations

import argparse
from typing import Any

from vxassist.cliutil import Context, add_json_flag, emit
from vxassist.errors import UsageError
from vxassist.timefmt import local_time

STATUSES = ("requested", "refused", "answered", "closed")
PATH = "/api/v1/engineer/update-requests"


def register_commands(group: argparse._SubParsersAction[Any]) -> None:
    listing = group.add_parser(
        "update-requests", help="patch and upgrade requests, those waiting first"
    )
    listing.add_argument("--status", choices=STATUSES, help="only requests in this status")
    add_json_flag(listing)
    listing.set_defaults(func=cmd_update_requests)

    one = group.add_parser(
        "update-request", help="show one update request, or answer it (--answer)"
    )
    one.add_argument("id", metavar="ID", help="the request's number")
    one.add_argument("--answer", help="the answer the customer reads")
    one.add_argument("--link", metavar="URL", help="with --answer: where to download the update")
    one.add_argument(
        "--close",
        action="store_true",
        help="with --answer: close the request (nothing more will follow)",
    )
    add_json_flag(one)
    one.set_defaults(func=cmd_update_request)


def _line(r: dict[str, Any]) -> str:
    what = (
        f"patch {r.get('product_version')}"
        if r.get("kind") == "patch"
        else f"upgrade {r.get('product_version')} -> {r.get('target_version')}"
    )
    case = f" case {r['case_number']}" if r.get("case_number") else ""
    return (
        f"{r.get('id'):>6}  {r.get('status', '?'):<10} {local_time(r.get('created_at'))}  "
        f"{r.get('company', '')} ({r.get('hostname', '')}){case}: {what}, "
        f"{r.get('contact_name')} <{r.get('contact_email')}>"
    )


def _detail(r: dict[str, Any]) -> str:
    lines = [_line(r), "  " + str(r.get("description", "")).replace("\n", "\n  ")]
    if r.get("reason"):
        lines.append(f"  refused: {r['reason']}")
    if r.get("answer"):
        lines.append(f"  answer by {r.get('answered_by')}: {r['answer']}")
    if r.get("download_url"):
        lines.append(f"  download: {r['download_url']}")
    return "\n".join(lines)


def cmd_update_requests(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.engineer.account import engineer_client

    params = {"status": args.status} if args.status else None
    with engineer_client(ctx.paths, ctx.secrets()) as client:
        found = client.request("GET", PATH, params=params)
    emit(
        found,
        args.json,
        lambda d: (
            "\n".join(_line(r) for r in d.get("update_requests") or []) or "No update requests."
        ),
    )
    return 0


def cmd_update_request(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.engineer.account import engineer_client

    if not args.id.isdecimal() or not 0 < int(args.id) < 2**31:
        raise UsageError(f"'{args.id}' is not a request number; give one, like 3.")
    request_id = int(args.id)
    if args.answer is None and (args.link or args.close):
        raise UsageError("A link or --close goes with an answer; add --answer TEXT.")
    with engineer_client(ctx.paths, ctx.secrets()) as client:
        if args.answer is not None:
            body = {
                "answer": args.answer,
                "download_url": args.link,
                "status": "closed" if args.close else "answered",
            }
            found = client.request("POST", f"{PATH}/{request_id}/answer", json=body)
        else:
            found = client.request("GET", f"{PATH}/{request_id}")
    emit(found, args.json, _detail)
    return 0
