"""Shared test set-up: no display, an isolated VXASSIST_HOME, an in-memory keyring."""

from __future__ import annotations

import os

# Qt aborts the whole process without a display (PITFALLS.md); set before any import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("DBUS_SESSION_BUS_ADDRESS", "disabled:")

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
