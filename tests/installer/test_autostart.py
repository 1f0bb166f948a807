"""Start at login where the package starts the tray for every user (/etc/xdg/autostart)."""

from __future__ import annotations

from pathlib import Path

from vxassist.ui.platform.autostart_linux import XdgAutostart, system_autostart_dirs

PACKAGE_ENTRY = Path(__file__).parents[2] / "installer" / "debian" / "vxassist-autostart.desktop"


def test_the_machines_entry_counts_and_a_user_can_switch_it_off(tmp_path: Path) -> None:
    machine = tmp_path / "etc" / "xdg" / "autostart"
    machine.mkdir(parents=True)
    (machine / "vxassist.desktop").write_text(PACKAGE_ENTRY.read_text())
    login = XdgAutostart(tmp_path / "user", ["/usr/bin/vxassist"], [machine])
    assert login.enabled()  # the package starts it for everyone

    login.set_enabled(False)
    # a user entry of the same name hides the machine's (XDG autostart spec)
    assert "Hidden=true" in login.path.read_text()
    assert not login.enabled()
    assert (machine / "vxassist.desktop").exists()

    login.set_enabled(True)
    assert login.enabled() and "Hidden=true" not in login.path.read_text()


def test_without_a_machine_entry_off_removes_the_users_own(tmp_path: Path) -> None:
    login = XdgAutostart(tmp_path / "user", ["/usr/bin/vxassist"], [tmp_path / "none"])
    assert not login.enabled()
    login.set_enabled(True)
    login.set_enabled(False)
    assert not login.path.exists() and not login.enabled()


def test_the_machines_folders_follow_xdg_config_dirs() -> None:
    assert system_autostart_dirs({}) == [Path("/etc/xdg/autostart")]
    assert system_autostart_dirs({"XDG_CONFIG_DIRS": "/a:/etc/xdg"}) == [
        Path("/a/autostart"),
        Path("/etc/xdg/autostart"),
    ]
