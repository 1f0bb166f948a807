"""Settings shows this version and whether the desk names a newer one (real desk)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6.QtWidgets")

from tests.fixtures.desk import RunningDesk, unique_contract
from tests.ui.shell import tray_app
from vxassist import __version__
from vxassist.cases.enroll import enroll
from vxassist.paths import Paths
from vxassist.secrets import open_secret_store
from vxassist.ui.settings_window import SettingsWindow

pytestmark = [pytest.mark.timeout(120)]

URL = "https://downloads.example.com/vxassist/"


def test_settings_says_a_newer_version_is_available(
    qapp: Any, qtbot: Any, paths: Paths, tmp_path: Path
) -> None:
    config = tmp_path / "desk.toml"
    config.write_text(
        f'[updates]\nlatest_version = "9.9.0"\ndownload_url = "{URL}"\n', encoding="utf-8"
    )
    with RunningDesk(tmp_path / "desk", config) as desk:
        code = desk.enrollment_code(unique_contract(desk)["contract_id"])
        enroll(paths, open_secret_store(paths, "keyring"), desk.url, code)
        with tray_app() as app:
            window = app.open_window("settings")
            assert isinstance(window, SettingsWindow)
            expected = (
                f"vxassist {__version__}: a newer version 9.9.0 is available from {URL}; "
                "your administrator installs it."
            )
            qtbot.waitUntil(lambda: window.version_label.text() == expected, timeout=30000)
            assert window.version_label.accessibleName()

            # the desk's notice changes to this very version: the window says up to date
            config.write_text(f'[updates]\nlatest_version = "{__version__}"\n', encoding="utf-8")
            desk.restart()
            window.reload()
            qtbot.waitUntil(
                lambda: (
                    window.version_label.text()
                    == f"vxassist {__version__}: up to date: the desk's latest version is "
                    f"{__version__}."
                ),
                timeout=30000,
            )


def test_settings_without_a_desk_still_shows_the_version(qapp: Any, qtbot: Any) -> None:
    with tray_app() as app:
        window = app.open_window("settings")
        assert isinstance(window, SettingsWindow)
        qtbot.waitUntil(lambda: "not enrolled" in window.version_label.text(), timeout=30000)
        assert window.version_label.text().startswith(f"vxassist {__version__}: ")
