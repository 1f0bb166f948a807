"""The real ``winreg`` code path of the live probe, on a recorded registry dump."""

from __future__ import annotations

import pytest

from tests.fakes.probe_recorded import RecordedProbe
from tests.fakes.probe_winreg import FakeWinreg
from tests.sysinfo.conftest import WINDOWS
from vxassist.sysinfo import windows
from vxassist.sysinfo.probe import ProbeError, RegValue
from vxassist.sysinfo.report import collect_report


@pytest.fixture
def fake_winreg(monkeypatch: pytest.MonkeyPatch) -> FakeWinreg:
    dump = RecordedProbe(WINDOWS).data["registry"]
    fake = FakeWinreg(dump, denied={r"HKLM\SOFTWARE\Secrets"})
    monkeypatch.setattr(windows, "_winreg", lambda: fake)
    return fake


class _ThroughWinreg(RecordedProbe):
    """The recorded host, but every registry question goes through ``windows.py``."""

    def reg_values(self, key: str, names: tuple[str, ...] | None = None) -> dict[str, RegValue]:
        return windows.reg_values(key, names)

    def reg_subkeys(self, key: str) -> list[str]:
        return windows.reg_subkeys(key)


def test_values_subkeys_and_missing_keys(fake_winreg: FakeWinreg) -> None:
    values = windows.reg_values(r"HKLM\SOFTWARE\Microsoft\Microsoft SQL Server\Instance Names\SQL")
    assert values == {"VXTRACKER": "MSSQL15.VXTRACKER"}
    assert windows.reg_values(r"HKLM\SOFTWARE\Nothing\Here") == {}
    assert windows.reg_subkeys(r"HKLM\SOFTWARE\Nothing\Here") == []
    subkeys = windows.reg_subkeys(r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall")
    assert subkeys == ["Google Chrome", "{SQL2019-EXPRESS}", "{SQL2019-HIDDEN}"]
    # the 64-bit view is asked for explicitly; WOW6432Node is named by the rules
    assert all(a & fake_winreg.KEY_WOW64_64KEY for a in fake_winreg.access)


def test_named_values_only(fake_winreg: FakeWinreg) -> None:
    key = r"HKLM\SOFTWARE\ODBC\ODBC.INI\VXTracker"
    assert windows.reg_values(key, ("Driver", "Server", "Missing")) == {
        "Driver": r"C:\Windows\system32\SQLSRV32.dll",
        "Server": r"CALLACCT01\VXTRACKER",
    }


def test_denied_key_and_unknown_hive(fake_winreg: FakeWinreg) -> None:
    with pytest.raises(ProbeError, match="not readable"):
        windows.reg_values(r"HKLM\SOFTWARE\Secrets")
    with pytest.raises(ProbeError, match="unknown registry hive"):
        windows.reg_values(r"HKXX\SOFTWARE")


def test_full_windows_report_through_winreg(fake_winreg: FakeWinreg) -> None:
    through = collect_report(probe=_ThroughWinreg(WINDOWS)).to_dict()
    recorded = collect_report(probe=RecordedProbe(WINDOWS)).to_dict()
    for name in ("databases", "vxtracker", "pbx", "software", "time"):
        assert through["sections"][name]["data"] == recorded["sections"][name]["data"], name
    sql = through["sections"]["databases"]["data"]["servers"][0]
    assert (sql["instance"], sql["version"]) == ("VXTRACKER", "15.0.4355.3")
