"""The default command, ``vxassist`` with no arguments: the tray agent.

Qt is imported only on the path that runs the tray, so every other command
(and a machine with no display) never loads it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

NO_DISPLAY = "no display here: run `vxassist agent` for the headless agent"


def has_display(env: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether a window can be shown: always on Windows and macOS; on X11/Wayland when
    a display is named, or when ``QT_QPA_PLATFORM`` picks a platform explicitly."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if platform.startswith(("win", "darwin")):
        return True
    return any(env.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def run_default(verbose: bool = False) -> int:
    if not has_display():
        print(f"vxassist: {NO_DISPLAY}", file=sys.stderr)
        return 2
    import importlib.util

    if importlib.util.find_spec("PySide6") is None:
        print(
            "vxassist: the tray needs PySide6, which is not installed here; "
            "run `vxassist agent` for the headless agent.",
            file=sys.stderr,
        )
        return 2
    from vxassist.cliutil import Context
    from vxassist.errors import VxError
    from vxassist.ui.app import run_tray

    ctx = Context.create(verbose=verbose)
    try:
        return run_tray(ctx)
    except VxError as exc:
        print(f"vxassist: {exc.message}", file=sys.stderr)
        return exc.exit_code
