"""Windows: the installer's per-machine login entry and the user's own switch do not fight.

The registry is the thin edge (tests/fakes/winreg_keys.py); the rule under test is
that with the machine's HKLM Run entry present the user's switch shows on, writes
no second entry (two would start two agents at login) and cannot be turned off.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from tests.fakes.winreg_keys import FakeWinreg
from vxassist.ui.platform.autostart_windows import (
    MACHINE_WIDE,
    RUN_KEY,
    VALUE_NAME,
    RunKeyAutostart,
)

PROGRAM = r"C:\Program Files\vxassist\vxassist.exe"


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> FakeWinreg:
    fake = FakeWinreg()
    monkeypatch.setitem(sys.modules, "winreg", fake)
    monkeypatch.setattr(sys, "platform", "win32")
    return fake


def _machine_entry(fake: FakeWinreg) -> None:
    # what installer/windows/vxassist.iss writes in [Registry]
    fake.values[f"HKLM|{RUN_KEY}"] = {VALUE_NAME: f'"{PROGRAM}"'}


def test_the_machine_entry_shows_as_on_and_cannot_be_turned_off_here(
    registry: FakeWinreg,
) -> None:
    _machine_entry(registry)
    login = RunKeyAutostart([PROGRAM])
    assert login.machine_wide() and login.enabled()
    with pytest.raises(OSError) as refused:
        login.set_enabled(False)
    assert str(refused.value) == MACHINE_WIDE
    assert registry.values[f"HKLM|{RUN_KEY}"] == {VALUE_NAME: f'"{PROGRAM}"'}


def test_turning_it_on_under_a_machine_entry_writes_no_second_one_and_drops_an_old_one(
    registry: FakeWinreg,
) -> None:
    login = RunKeyAutostart([PROGRAM])
    login.set_enabled(True)  # before the per-machine install: the user's own entry
    assert registry.values[f"HKCU|{RUN_KEY}"] == {VALUE_NAME: f'"{PROGRAM}"'}
    _machine_entry(registry)
    login.set_enabled(True)
    assert registry.values[f"HKCU|{RUN_KEY}"] == {}
    assert login.enabled()


def test_without_the_machine_entry_the_user_switch_works_as_before(registry: FakeWinreg) -> None:
    login = RunKeyAutostart([PROGRAM])
    assert not login.machine_wide() and not login.enabled()
    login.set_enabled(True)
    assert login.enabled()
    login.set_enabled(False)
    assert not login.enabled()


def test_settings_shows_the_machine_entry_as_on_and_locked(
    qapp: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("PySide6.QtWidgets")
    from tests.ui.shell import tray_app
    from vxassist.ui import platform as ui_platform
    from vxassist.ui.settings_window import SettingsWindow

    class WindowsLogin(RunKeyAutostart):
        """The registry reads are tested above; here the window's side of the rule."""

        supported = True

        def machine_wide(self) -> bool:
            return True

        def enabled(self) -> bool:
            return True

    monkeypatch.setattr(ui_platform, "autostart", lambda: WindowsLogin([PROGRAM]))
    with tray_app() as app:
        window = app.open_window("settings")
        assert isinstance(window, SettingsWindow)
        qtbot.waitUntil(lambda: window.view is not None, timeout=30000)
        assert window.view is not None and window.view.autostart_machine_wide
        assert window.autostart.isChecked()
        assert not window.autostart.isEnabled()
        assert "only the administrator can turn that off" in window.autostart.toolTip()
