"""The ``vxassist`` command line: one entry point, each area adds its commands.

Areas register sub-commands from their own ``cli`` module and import their heavy
dependencies inside the handlers, so ``vxassist sysinfo`` never loads the desk.
A handler returns an exit code; a ``VxError`` becomes its sentence on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from vxassist.cliutil import Context
from vxassist.errors import VxError
from vxassist.paths import Paths
from vxassist.version import VersionAction

log = logging.getLogger(__name__)
# before the log file is set up, an error is said once on stderr, not twice
log.addHandler(logging.NullHandler())

#: modules with a ``register(subparsers)`` function, in ``--help`` order
AREAS = (
    "vxassist.sysinfo.cli",
    "vxassist.cases.cli",
    "vxassist.remote.cli",
    "vxassist.engineer.cli",
    "vxassist.desk.cli",
    "vxassist.demo",
    "vxassist.selftest",
    "vxassist.version",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vxassist",
        description="Remote assistance and support cases for VXTracker hosts.",
    )
    parser.add_argument("--version", action=VersionAction)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in AREAS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "func", None)
    if handler is None and args.command is not None:
        parser.parse_args([args.command, "--help"])
        return 2
    try:
        if handler is None:
            from vxassist.app import run_default

            return run_default()
        ctx = Context.create(verbose=args.verbose)
        code = int(handler(ctx, args) or 0)
        sys.stdout.flush()  # a closed pipe must fail here, not at interpreter exit
        return code
    except VxError as exc:
        log.error("%s (%s)", exc.message, exc.detail or type(exc).__name__)
        print(f"vxassist: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("vxassist: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`vxassist sysinfo | head`): stop quietly, as a
        # command killed by SIGPIPE would, and keep the exit flush from failing again
        log.debug("output pipe closed by the reader")
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13
    except Exception as exc:  # no command ever ends in a traceback
        if isinstance(exc, ModuleNotFoundError) and _is_desk_part(exc.name):
            log.error("the desk is not installed here (%s missing)", exc.name)
            print(f"vxassist: {DESK_NOT_INSTALLED}", file=sys.stderr)
            return 1
        log.critical("unexpected error in %s", args.command or "the agent", exc_info=True)
        print(
            f"vxassist: an unexpected error stopped this command ({type(exc).__name__}); "
            f"the details are in {_log_path()}.",
            file=sys.stderr,
        )
        return 1


#: what the desk adds to the agent: the agent's installers (the bundle) leave it out
DESK_PARTS = (
    "fastapi",
    "uvicorn",
    "starlette",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "vxassist.desk",
)
DESK_NOT_INSTALLED = (
    "this command needs the desk, which this installation of the agent does not include; "
    "run it where the desk is installed (pip install 'vxassist[desk]')."
)


def _is_desk_part(module: str | None) -> bool:
    return bool(module) and any(
        module == part or str(module).startswith(part + ".") for part in DESK_PARTS
    )


def _log_path() -> str:
    """Where the log file is, for a message that points a user to it."""
    try:
        return str(Paths.from_env().log_file)
    except Exception:  # the message must still be printed
        return "the vxassist log folder"
