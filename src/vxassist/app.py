"""Composition root of the tray agent (the default command)."""

from __future__ import annotations

import sys


def run_default() -> int:
    # The tray window arrives with its own issue; until then say what works.
    print(
        "vxassist: the tray agent is not part of this build yet. "
        "Use 'vxassist agent' for the headless agent or 'vxassist --help' for the commands.",
        file=sys.stderr,
    )
    return 2
