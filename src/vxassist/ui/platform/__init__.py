"""What differs by platform for the tray: start at login and desktop notifications.

One small module per platform, picked at run time; the rest of ``ui/`` only sees
the two protocols below. A platform with no module gets an honest stand-in that
says start at login is not offered here.
"""

from __future__ import annotations

import sys
from typing import Protocol


class Autostart(Protocol):
    """Start vxassist when this user logs in."""

    #: False where this platform has no way we support
    supported: bool

    def enabled(self) -> bool: ...

    def set_enabled(self, on: bool) -> None:
        """Raises OSError when the login item cannot be written or removed."""
        ...


class Notifier(Protocol):
    def notify(self, title: str, message: str) -> None: ...


class NoAutostart:
    supported = False

    def enabled(self) -> bool:
        return False

    def set_enabled(self, on: bool) -> None:
        raise OSError("start at login is not offered on this system")


class NoNotifier:
    def notify(self, title: str, message: str) -> None:
        return None


def launch_command() -> list[str]:
    """How a login item starts the tray agent: this interpreter running vxassist.

    In the bundle (PyInstaller) the program itself is vxassist.
    """
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "vxassist"]


def autostart() -> Autostart:
    if sys.platform.startswith("win"):
        from vxassist.ui.platform.autostart_windows import RunKeyAutostart

        return RunKeyAutostart()
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        from vxassist.ui.platform.autostart_linux import XdgAutostart

        return XdgAutostart()
    return NoAutostart()


def notifier() -> Notifier:
    """Notifications for when there is no tray to show them (the tray has its own)."""
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        from vxassist.ui.platform.notify_linux import NotifySend

        return NotifySend()
    return NoNotifier()
