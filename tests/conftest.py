"""Shared test set-up: no display, an isolated VXASSIST_HOME, an in-memory keyring."""

from __future__ import annotations

import os
import tempfile

# Qt aborts the whole process without a display (PITFALLS.md); set before any import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("DBUS_SESSION_BUS_ADDRESS", "disabled:")

# Sessions' login shells run as the test's own account with its HOME: give the run a
# home of its own, so they read only what a test planted, never this machine's
# dotfiles (a shell-startup lock left by a shell a test killed made every later
# session shell on the machine wait 60 s before its first prompt).
os.environ["HOME"] = tempfile.mkdtemp(prefix="vxassist-test-home-")

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest

from tests.fakes.memory_keyring import MemoryKeyring
from vxassist.paths import Paths


@pytest.fixture(autouse=True)
def vx_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own VXASSIST_HOME and machine policy path."""
    home = tmp_path / "vxhome"
    home.mkdir()
    monkeypatch.setenv("VXASSIST_HOME", str(home))
    monkeypatch.setenv("VXASSIST_POLICY", str(home / "policy.toml"))
    return home


@pytest.fixture(autouse=True)
def windows_test_policy_acl(vx_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows: the test's own policy file counts as written by an administrator.

    On Linux the tests run as root, so a policy they write is root's. A Windows
    runner's temporary files are its user's: the access-list decision has tests of
    its own (tests/core/test_winacl.py), and the CI checks the installed policy's
    real access list. Files outside the test's home get the real check.
    """
    if os.name != "nt":
        return
    from vxassist import winacl

    real = winacl.only_administrators_can_change

    def trusted_in_test_home(path: Path) -> tuple[bool, str]:
        if Path(path).resolve().is_relative_to(vx_home.resolve()):
            return True, ""
        return real(path)

    monkeypatch.setattr(winacl, "only_administrators_can_change", trusted_in_test_home)


@pytest.fixture
def paths(vx_home: Path) -> Paths:
    return Paths.from_env().ensure()


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(previous)
