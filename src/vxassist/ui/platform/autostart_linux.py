"""Start at login on Linux desktops: an XDG autostart entry (freedesktop.org spec)."""

from __future__ import annotations

import os
from pathlib import Path

from vxassist.ui.platform import launch_command

ENTRY_NAME = "vxassist.desktop"


def autostart_dir(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "autostart"


_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def exec_line(command: list[str]) -> str:
    """``Exec=`` quoting of the Desktop Entry spec (double quotes; \\ " ` $ escaped)."""
    parts = []
    for arg in command:
        if arg and not (set(arg) & _RESERVED):
            parts.append(arg)
            continue
        escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
        parts.append(f'"{escaped}"')
    # a literal % is doubled (field codes); the key's value is a string, whose own
    # escaping doubles each backslash once more
    return " ".join(parts).replace("%", "%%").replace("\\", "\\\\")


def desktop_entry(command: list[str]) -> str:
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=vxassist\n"
        "Comment=Remote support for this computer\n"
        f"Exec={exec_line(command)}\n"
        "Terminal=false\n"
        "X-GNOME-Autostart-enabled=true\n"
    )


class XdgAutostart:
    supported = True

    def __init__(self, folder: Path | None = None, command: list[str] | None = None) -> None:
        self.path = (folder or autostart_dir()) / ENTRY_NAME
        self._command = command or launch_command()

    def enabled(self) -> bool:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            return False
        return "Hidden=true" not in text and "X-GNOME-Autostart-enabled=false" not in text

    def set_enabled(self, on: bool) -> None:
        if on:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(desktop_entry(self._command), encoding="utf-8")
            tmp.replace(self.path)
        else:
            self.path.unlink(missing_ok=True)
