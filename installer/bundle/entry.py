"""The bundle's entry point: ``vxassist`` as the bundled program.

A frozen program has no Python interpreter to start, yet the agent starts
``sys.executable`` as one in three places: the self-test tries Qt in a child
(``-c``), a session's keeper runs ``-I -S -c CODE ARGS`` and a login item
starts ``-m vxassist``. None of ``-c``, ``-m``, ``-I``, ``-S`` is a vxassist
option, so when the bundle is started with them first, it does what the
interpreter would; any other arguments go to the vxassist command line.
"""

from __future__ import annotations

import runpy
import sys

#: interpreter flags that change nothing in a frozen program (no site, no environment)
_IGNORED_FLAGS = frozenset({"-I", "-S", "-E", "-s", "-B", "-u"})


def _as_interpreter(argv: list[str]) -> int | None:
    """Run ``-c CODE`` or ``-m MODULE`` as Python would; None when ``argv`` is neither."""
    rest = list(argv)
    while rest and rest[0] in _IGNORED_FLAGS:
        rest.pop(0)
    if len(rest) >= 2 and rest[0] == "-c":
        sys.argv = ["-c", *rest[2:]]
        exec(compile(rest[1], "<string>", "exec"), {"__name__": "__main__"})
        return 0
    if len(rest) >= 2 and rest[0] == "-m":
        sys.argv = [sys.argv[0], *rest[2:]]
        runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
        return 0
    return None


def main() -> int:
    code = _as_interpreter(sys.argv[1:])
    if code is not None:
        return code
    from vxassist.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    raise SystemExit(main())
