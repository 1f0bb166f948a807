"""The ``vxassist`` command line: one entry point, each area adds its commands.

Areas register sub-commands from their own ``cli`` module and import their heavy
dependencies inside the handlers, so ``vxassist sysinfo`` never loads the desk.
A handler returns an exit code; a ``VxError`` becomes its sentence on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from vxassist import __version__
from vxassist.cliutil import Context
from vxassist.errors import VxError

log = logging.getLogger(__name__)

#: modules with a ``register(subparsers)`` function, in ``--help`` order
AREAS = (
    "vxassist.sysinfo.cli",
    "vxassist.cases.cli",
    "vxassist.remote.cli",
    "vxassist.engineer.cli",
    "vxassist.desk.cli",
    "vxassist.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vxassist",
        description="Remote assistance and support cases for VXTracker hosts.",
    )
    parser.add_argument("--version", action="version", version=f"vxassist {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in AREAS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "func", None)
    if handler is None:
        if args.command is None:
            from vxassist.app import run_default

            return run_default()
        parser.parse_args([args.command, "--help"])
        return 2
    ctx = Context.create(verbose=args.verbose)
    try:
        return int(handler(ctx, args) or 0)
    except VxError as exc:
        log.error("%s (%s)", exc.message, exc.detail or type(exc).__name__)
        print(f"vxassist: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("vxassist: interrupted.", file=sys.stderr)
        return 130
