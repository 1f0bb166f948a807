"""Command-line commands of the remote area."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this area's commands (filled in as the area is built)."""
    from vxassist.agent_main import register_agent

    register_agent(sub)
