"""Settings: enrollment state, notifications, start at login, the policy read-only."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6.QtWidgets")

from tests.ui.shell import tray_app
from vxassist.paths import Paths
from vxassist.ui.platform.autostart_linux import XdgAutostart, desktop_entry, exec_line
from vxassist.ui.qt import Qt, QtWidgets
from vxassist.ui.settings_window import SettingsWindow, UiPrefs, ui_prefs

pytestmark = [pytest.mark.timeout(120)]


def _policy_values(window: SettingsWindow) -> dict[str, str]:
    form = window.policy_form
    values = {}
    for row in range(form.rowCount()):
        label = form.itemAt(row, QtWidgets.QFormLayout.ItemRole.LabelRole).widget()
        field = form.itemAt(row, QtWidgets.QFormLayout.ItemRole.FieldRole).widget()
        values[label.text().rstrip(":")] = field.text()
    return values


def _open_settings(app: Any, qtbot: Any) -> SettingsWindow:
    window = app.open_window("settings")
    assert isinstance(window, SettingsWindow)
    qtbot.waitUntil(lambda: window.view is not None, timeout=30000)
    return window


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root to own")
def test_policy_is_shown_read_only_with_why(
    qapp: Any, qtbot: Any, paths: Paths, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    paths.policy_file.write_text(
        '[remote]\nscopes = ["shell"]\nmax_minutes = 30\nconsent_timeout_s = 60\n'
    )
    paths.policy_file.chmod(0o644)
    with tray_app() as app:
        window = _open_settings(app, qtbot)
        values = _policy_values(window)
        assert values["Engineers may use"] == "a shell"
        assert values["Longest session"] == "30 minutes"
        assert values["Unattended access"] == "never"
        assert window.policy_why.text().startswith("Set by this computer's administrator in")
        # read-only: nothing in the policy box takes input
        for label in window.findChildren(QtWidgets.QLabel):
            assert not isinstance(label, QtWidgets.QLineEdit)
        assert "Not enrolled yet" in window.desk_label.text()
        window.close()

        # a policy file anyone could have written is not trusted: remote access is off
        paths.policy_file.chmod(0o666)
        window = _open_settings(app, qtbot)
        window.reload()
        qtbot.waitUntil(lambda: "Remote access is off" in window.policy_why.text(), timeout=30000)
        assert _policy_values(window)["Remote sessions"] == "switched off"


def test_notifications_and_start_at_login_are_saved(
    qapp: Any, qtbot: Any, paths: Paths, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    entry = tmp_path / "xdg" / "autostart" / "vxassist.desktop"
    with tray_app() as app:
        window = _open_settings(app, qtbot)
        assert window.notifications.isChecked() and window.notifications.isEnabled()
        assert "No machine policy is installed" in window.policy_why.text()
        window.notifications.click()
        # saved on a worker thread; the app takes the new value when the save is done
        qtbot.waitUntil(
            lambda: (
                ui_prefs(paths) == UiPrefs(notifications=False) and app.prefs.notifications is False
            ),
            timeout=30000,
        )
        with paths.settings_file.open("rb") as fh:
            assert tomllib.load(fh)["ui"] == {"notifications": False}

        if not window.autostart.isEnabled():
            pytest.skip("start at login is not offered on this platform")
        assert not window.autostart.isChecked()
        window.autostart.click()
        qtbot.waitUntil(lambda: entry.exists() and window.autostart.isEnabled(), timeout=30000)
        assert window.autostart.isChecked()
        assert "Exec=" in entry.read_text() and "vxassist" in entry.read_text()
        window.autostart.click()
        qtbot.waitUntil(lambda: not entry.exists() and window.autostart.isEnabled(), timeout=30000)
        assert not window.autostart.isChecked()


def test_xdg_entry_round_trip(tmp_path: Path) -> None:
    login = XdgAutostart(tmp_path, ["/opt/vx env/bin/python", "-m", "vxassist"])
    assert not login.enabled()
    login.set_enabled(True)
    assert login.enabled()
    text = login.path.read_text()
    assert text == desktop_entry(["/opt/vx env/bin/python", "-m", "vxassist"])
    assert 'Exec="/opt/vx env/bin/python" -m vxassist' in text
    login.set_enabled(False)
    assert not login.enabled()
    login.set_enabled(False)  # twice is fine
    assert exec_line(["a$b", 'say "hi"', "50%"]) == r'"a\\$b" "say \\"hi\\"" 50%%'


def test_every_control_is_named_for_assistive_technology(qapp: Any, qtbot: Any) -> None:
    with tray_app() as app:
        settings = _open_settings(app, qtbot)
        enroll = app.open_window("enroll")
        assert enroll is not None
        for window in (settings, enroll):
            controls = window.findChildren(QtWidgets.QAbstractButton) + window.findChildren(
                QtWidgets.QLineEdit
            )
            assert controls
            for control in controls:
                assert control.accessibleName(), (window.objectName(), control.text())
                # reachable by keyboard
                assert control.focusPolicy() != Qt.FocusPolicy.NoFocus, control.accessibleName()


def test_windows_run_key_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from tests.fakes.winreg_keys import FakeWinreg
    from vxassist.ui.platform.autostart_windows import RUN_KEY, RunKeyAutostart

    fake = FakeWinreg()
    monkeypatch.setitem(sys.modules, "winreg", fake)
    monkeypatch.setattr(sys, "platform", "win32")
    login = RunKeyAutostart([r"C:\Program Files\vxassist\python.exe", "-m", "vxassist"])
    assert not login.enabled()
    login.set_enabled(True)
    assert login.enabled()
    assert fake.values[f"HKCU|{RUN_KEY}"]["vxassist"] == (
        r'"C:\Program Files\vxassist\python.exe" -m vxassist'
    )
    login.set_enabled(False)
    assert not login.enabled()
    login.set_enabled(False)  # twice is fine
