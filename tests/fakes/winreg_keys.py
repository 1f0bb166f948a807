"""winreg's key and value calls over dicts, for code that writes the Windows registry."""

from __future__ import annotations


class FakeWinreg:
    """The slice of winreg the Run key uses: keys as dicts (the thin edge on Linux)."""

    HKEY_CURRENT_USER = "HKCU"
    HKEY_LOCAL_MACHINE = "HKLM"
    REG_SZ = 1
    KEY_READ = 0x20019
    KEY_WOW64_64KEY = 0x0100

    def __init__(self) -> None:
        self.values: dict[str, dict[str, object]] = {}

    class _Key:
        def __init__(self, store: dict[str, object]) -> None:
            self.store = store

        def __enter__(self) -> FakeWinreg._Key:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    def OpenKey(
        self, root: str, path: str, _reserved: int = 0, _access: int = 0
    ) -> FakeWinreg._Key:
        if f"{root}|{path}" not in self.values:
            raise FileNotFoundError(path)
        return self._Key(self.values[f"{root}|{path}"])

    def CreateKey(self, root: str, path: str) -> FakeWinreg._Key:
        return self._Key(self.values.setdefault(f"{root}|{path}", {}))

    def QueryValueEx(self, key: FakeWinreg._Key, name: str) -> tuple[object, int]:
        if name not in key.store:
            raise FileNotFoundError(name)
        return key.store[name], self.REG_SZ

    def SetValueEx(
        self, key: FakeWinreg._Key, name: str, _reserved: int, kind: int, value: str
    ) -> None:
        assert kind == self.REG_SZ
        key.store[name] = value

    def DeleteValue(self, key: FakeWinreg._Key, name: str) -> None:
        if name not in key.store:
            raise FileNotFoundError(name)
        del key.store[name]
