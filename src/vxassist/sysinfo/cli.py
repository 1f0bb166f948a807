"""Command-line commands of the sysinfo area: ``vxassist sysinfo``."""

from __future__ import annotations

import argparse
from typing import Any

from vxassist.cliutil import Context, add_json_flag, emit


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``vxassist sysinfo``."""
    parser = sub.add_parser(
        "sysinfo",
        help="collect and print the system report (secrets removed)",
        description="Collect what a support engineer needs to know about this host. "
        "Passwords, tokens and keys are always removed.",
    )
    add_json_flag(parser)
    parser.add_argument(
        "--anonymize",
        action="store_true",
        help="also replace host names, IP and MAC addresses and user names by aliases",
    )
    parser.add_argument("--out", metavar="FILE.zip", help="also save a bundle to attach to a case")
    parser.set_defaults(func=run_sysinfo)


def run_sysinfo(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.sysinfo.render import summary
    from vxassist.sysinfo.report import collect_report, write_bundle

    anonymize = bool(args.anonymize or ctx.settings.anonymize_by_default)
    report = collect_report(ctx.settings, anonymize=anonymize)
    if args.out:
        saved = write_bundle(report, args.out)
        if not args.json:
            print(f"Bundle saved to {saved}")
    emit(report.to_dict(), args.json, lambda _data: summary(report))
    return 0
