"""The machine policy the agent reads is the one the Debian package installs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from vxassist.paths import LINUX_POLICY_FILE, Paths, machine_policy_file

PACKAGE_POLICY = Path(__file__).parents[2] / "installer" / "debian" / "etc" / "policy.toml"


def test_linux_reads_the_policy_where_the_package_puts_it() -> None:
    assert machine_policy_file("linux") == Path("/etc/xdg/vxassist/policy.toml")
    assert machine_policy_file("freebsd14") == LINUX_POLICY_FILE


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux policy path")
def test_the_session_cannot_move_the_linux_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    # a desktop session's XDG_CONFIG_DIRS (Ubuntu sets /etc/xdg/xdg-ubuntu first)
    # moved the policy to a folder nobody installs it in
    monkeypatch.setenv("XDG_CONFIG_DIRS", "/tmp/elsewhere:/etc/xdg")
    assert Paths.from_env({"HOME": "/home/someone"}).policy_file == LINUX_POLICY_FILE


def test_the_package_ships_the_policy_file_the_agent_reads() -> None:
    build = (Path(__file__).parents[2] / "scripts" / "build-deb.sh").read_text()
    assert "etc/xdg/vxassist/policy.toml" in build
    assert PACKAGE_POLICY.is_file()
