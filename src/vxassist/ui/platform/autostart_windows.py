"""Start at login on Windows: the user's Run key (HKCU, no administrator needed).

A per-machine install (installer/windows/vxassist.iss) writes the same value name
under HKLM's Run key, which starts the tray at every user's login. Then the
user's own switch shows "on" and cannot be turned off here, and it never writes a
second, per-user entry: two entries would start two agents at login, the second
of which asks the first to show its window.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys

from vxassist.ui.platform import launch_command

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
VALUE_NAME = "vxassist"

MACHINE_WIDE = (
    "the administrator starts vxassist at every login for all users of this computer; "
    "only the administrator can turn that off"
)


class RunKeyAutostart:
    supported = sys.platform.startswith("win")

    def __init__(self, command: list[str] | None = None) -> None:
        self._command = command or launch_command()

    def machine_wide(self) -> bool:
        """Whether the installer's per-machine entry (HKLM Run) starts vxassist for everyone."""
        if sys.platform != "win32":
            return False
        import winreg

        # the 64-bit view, where a 64-bit install writes it, whatever this process is
        access = winreg.KEY_READ | winreg.KEY_WOW64_64KEY
        try:
            with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, RUN_KEY, 0, access) as key:
                value, _kind = winreg.QueryValueEx(key, VALUE_NAME)
        except OSError:
            return False
        return bool(value)

    def _user_entry(self) -> bool:
        if sys.platform != "win32":
            return False
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                value, _kind = winreg.QueryValueEx(key, VALUE_NAME)
        except OSError:
            return False
        return bool(value)

    def enabled(self) -> bool:
        if sys.platform != "win32":
            return False
        return self.machine_wide() or self._user_entry()

    def set_enabled(self, on: bool) -> None:
        if sys.platform != "win32":
            raise OSError("the Run key exists on Windows only")
        import winreg

        machine = self.machine_wide()
        if machine and not on:
            raise OSError(MACHINE_WIDE)
        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            if on and not machine:
                command = subprocess.list2cmdline(self._command)
                winreg.SetValueEx(key, VALUE_NAME, 0, winreg.REG_SZ, command)
            else:  # off, or on through the machine's entry: no per-user one
                with contextlib.suppress(FileNotFoundError):
                    winreg.DeleteValue(key, VALUE_NAME)
