"""A stand-in for the ``winreg`` module, serving a recorded registry dump.

Only the calls ``vxassist.sysinfo.windows`` makes exist: ``OpenKey``,
``EnumValue``, ``EnumKey``, ``QueryValueEx``, the hive constants and access
flags. Keys listed in ``denied`` raise ``PermissionError`` as an ACL would.
"""

from __future__ import annotations

from typing import Any

HKEY_LOCAL_MACHINE = "HKLM"
HKEY_CURRENT_USER = "HKCU"
HKEY_USERS = "HKU"
KEY_READ = 0x20019
KEY_WOW64_64KEY = 0x0100
REG_SZ, REG_DWORD, REG_MULTI_SZ, REG_BINARY = 1, 4, 7, 3


class _Handle:
    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> _Handle:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class FakeWinreg:
    def __init__(self, dump: dict[str, dict[str, Any]], denied: set[str] | None = None) -> None:
        self.HKEY_LOCAL_MACHINE = HKEY_LOCAL_MACHINE
        self.HKEY_CURRENT_USER = HKEY_CURRENT_USER
        self.HKEY_USERS = HKEY_USERS
        self.KEY_READ = KEY_READ
        self.KEY_WOW64_64KEY = KEY_WOW64_64KEY
        self._values = {k.lower(): v for k, v in dump.items()}
        self._names = {k.lower(): k for k in dump}
        self._denied = {d.lower() for d in denied or set()}
        self.access: list[int] = []

    def _exists(self, path: str) -> bool:
        low = path.lower()
        return low in self._values or any(k.startswith(low + "\\") for k in self._values)

    def OpenKey(self, hive: str, sub: str, reserved: int, access: int) -> _Handle:
        path = f"{hive}\\{sub}"
        self.access.append(access)
        if path.lower() in self._denied:
            raise PermissionError(5, "Access is denied", path)
        if not self._exists(path):
            raise FileNotFoundError(2, "The system cannot find the file specified", path)
        return _Handle(path)

    def _items(self, handle: _Handle) -> list[tuple[str, Any]]:
        values = self._values.get(handle.path.lower(), {})
        out = []
        for name, value in values.items():
            if isinstance(value, dict) and "hex" in value:
                value = bytes.fromhex(value["hex"])
            out.append((name, value))
        return out

    @staticmethod
    def _kind(value: Any) -> int:
        if isinstance(value, int):
            return REG_DWORD
        if isinstance(value, list):
            return REG_MULTI_SZ
        if isinstance(value, bytes):
            return REG_BINARY
        return REG_SZ

    def EnumValue(self, handle: _Handle, index: int) -> tuple[str, Any, int]:
        items = self._items(handle)
        if index >= len(items):
            raise OSError(259, "No more data is available")
        name, value = items[index]
        return name, value, self._kind(value)

    def QueryValueEx(self, handle: _Handle, name: str) -> tuple[Any, int]:
        for key, value in self._items(handle):
            if key.lower() == name.lower():
                return value, self._kind(value)
        raise FileNotFoundError(2, "The system cannot find the file specified", name)

    def EnumKey(self, handle: _Handle, index: int) -> str:
        prefix = handle.path.lower() + "\\"
        children: dict[str, str] = {}
        for low in self._values:
            if low.startswith(prefix):
                original = self._names[low][len(prefix) :].split("\\", 1)[0]
                children.setdefault(original.lower(), original)
        names = sorted(children.values())
        if index >= len(names):
            raise OSError(259, "No more data is available")
        return names[index]
