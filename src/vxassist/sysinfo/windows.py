"""The Windows registry, read through ``winreg`` (imported only on Windows).

Keys are written ``HKLM\\SOFTWARE\\...``; both 64- and 32-bit views are read by
naming ``WOW6432Node`` explicitly, as the rules do.
"""

from __future__ import annotations

import sys
from typing import Any

from vxassist.sysinfo.probe import ProbeError, RegValue, Unsupported

_HIVES = {
    "HKLM": "HKEY_LOCAL_MACHINE",
    "HKEY_LOCAL_MACHINE": "HKEY_LOCAL_MACHINE",
    "HKCU": "HKEY_CURRENT_USER",
    "HKEY_CURRENT_USER": "HKEY_CURRENT_USER",
    "HKU": "HKEY_USERS",
    "HKEY_USERS": "HKEY_USERS",
}


def _winreg() -> Any:
    """The ``winreg`` module (tests replace this one function, nothing else)."""
    if sys.platform != "win32":
        raise Unsupported("there is no registry on this platform")
    import winreg

    return winreg


def _open(key: str) -> Any:
    winreg = _winreg()
    hive_name, _, sub = key.partition("\\")
    hive = _HIVES.get(hive_name.upper())
    if hive is None:
        raise ProbeError(f"unknown registry hive in {key}")
    try:
        return winreg.OpenKey(
            getattr(winreg, hive), sub, 0, winreg.KEY_READ | winreg.KEY_WOW64_64KEY
        )
    except FileNotFoundError:
        return None
    except PermissionError as exc:
        raise ProbeError(f"registry key {key} not readable ({exc})") from exc


def _keep(out: dict[str, RegValue], name: str, value: Any) -> None:
    if isinstance(value, str | int | bytes):
        out[name] = value
    elif isinstance(value, list):
        out[name] = [str(v) for v in value]


def reg_values(key: str, names: tuple[str, ...] | None = None) -> dict[str, RegValue]:
    winreg = _winreg()
    handle = _open(key)
    if handle is None:
        return {}
    out: dict[str, RegValue] = {}
    if names is not None:
        with handle:
            for name in names:
                try:
                    value, _kind = winreg.QueryValueEx(handle, name)
                except OSError:
                    continue
                _keep(out, name, value)
        return out
    with handle:
        index = 0
        while True:
            try:
                name, value, _kind = winreg.EnumValue(handle, index)
            except OSError:
                break
            index += 1
            _keep(out, str(name), value)
    return out


def reg_subkeys(key: str) -> list[str]:
    winreg = _winreg()
    handle = _open(key)
    if handle is None:
        return []
    out: list[str] = []
    with handle:
        index = 0
        while True:
            try:
                out.append(str(winreg.EnumKey(handle, index)))
            except OSError:
                break
            index += 1
    return out
