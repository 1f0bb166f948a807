"""``vxassist demo``: desk, relay and agent on one machine, embedded defaults."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: "argparse._SubParsersAction[Any]") -> None:
    """Add the ``demo`` command (filled in with the remote-session work)."""
