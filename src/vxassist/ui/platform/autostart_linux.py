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


def system_autostart_dirs(env: dict[str, str] | None = None) -> list[Path]:
    """The machine's autostart folders (where the Debian package puts its entry)."""
    env = dict(os.environ) if env is None else env
    dirs = [d for d in (env.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":") if d]
    return [Path(d) / "autostart" for d in dirs]


def _starts(text: str) -> bool:
    return "Hidden=true" not in text and "X-GNOME-Autostart-enabled=false" not in text


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
    """The user's own entry; an entry of the machine's (the package's) counts too.

    A user entry of the same name overrides the machine's (XDG autostart spec):
    switching off where the machine starts vxassist at login writes a user entry
    with ``Hidden=true``.
    """

    supported = True

    def __init__(
        self,
        folder: Path | None = None,
        command: list[str] | None = None,
        system_folders: list[Path] | None = None,
    ) -> None:
        self.path = (folder or autostart_dir()) / ENTRY_NAME
        self._command = command or launch_command()
        self._system = system_autostart_dirs() if system_folders is None else system_folders

    def _machine_starts(self) -> bool:
        for folder in self._system:
            try:
                return _starts((folder / ENTRY_NAME).read_text(encoding="utf-8"))
            except OSError:
                continue
        return False

    def enabled(self) -> bool:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return self._machine_starts()
        except OSError:
            return False
        return _starts(text)

    def _write(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(self.path)

    def set_enabled(self, on: bool) -> None:
        if on:
            self._write(desktop_entry(self._command))
        elif self._machine_starts():
            self._write(desktop_entry(self._command) + "Hidden=true\n")
        else:
            self.path.unlink(missing_ok=True)
