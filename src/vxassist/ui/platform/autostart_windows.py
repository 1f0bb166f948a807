"""Start at login on Windows: the user's Run key (HKCU, no administrator needed)."""

from __future__ import annotations

import contextlib
import subprocess
import sys

from vxassist.ui.platform import launch_command

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
VALUE_NAME = "vxassist"


class RunKeyAutostart:
    supported = sys.platform.startswith("win")

    def __init__(self, command: list[str] | None = None) -> None:
        self._command = command or launch_command()

    def enabled(self) -> bool:
        if sys.platform != "win32":
            return False
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                value, _kind = winreg.QueryValueEx(key, VALUE_NAME)
        except OSError:
            return False
        return bool(value)

    def set_enabled(self, on: bool) -> None:
        if sys.platform != "win32":
            raise OSError("the Run key exists on Windows only")
        import winreg

        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            if on:
                command = subprocess.list2cmdline(self._command)
                winreg.SetValueEx(key, VALUE_NAME, 0, winreg.REG_SZ, command)
            else:
                with contextlib.suppress(FileNotFoundError):
                    winreg.DeleteValue(key, VALUE_NAME)
