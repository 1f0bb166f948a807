"""``vxassist engineer ...``: the support engineer's side.

Each feature module of this package has ``register_commands(group)`` that adds
its actions to the ``engineer`` group; list it in ``FEATURES`` to switch it on.
Feature modules import their heavy dependencies inside the handlers.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

#: modules with ``register_commands(group)``, in ``--help`` order
FEATURES: tuple[str, ...] = (
    "vxassist.engineer.cases",
    "vxassist.engineer.session_cli",
    "vxassist.engineer.update_requests",
)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``engineer`` and every feature's actions under it."""
    engineer = sub.add_parser(
        "engineer",
        help="the support engineer's side",
        description="Commands for support engineers: log in to the desk, follow cases.",
    )
    group = engineer.add_subparsers(dest="engineer_command", metavar="ACTION")
    group.required = True
    for name in FEATURES:
        importlib.import_module(name).register_commands(group)
