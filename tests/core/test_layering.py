"""DESIGN.md's layering, checked on the source: each library enters through one door."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "vxassist"

# library -> where it may be imported (paths relative to src/vxassist, prefixes)
DOORS = {
    "PySide6": ("ui/", "app.py"),
    "keyring": ("secrets.py",),
    "requests": ("deskclient.py",),
    "asyncssh": ("remote/", "desk/ca.py", "devrelay.py", "engineer/"),
    "fastapi": ("desk/",),
    "sqlalchemy": ("desk/",),
    "psutil": ("sysinfo/",),
    "uvloop": ("eventloop.py",),
    "filelock": ("control.py",),
    "markdown_it": ("desk/markdown.py",),
    "nh3": ("desk/markdown.py",),
    "aiosmtpd": ("desk/mailsink.py",),
}


def _imports(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    found = set(re.findall(r"^\s*import ([A-Za-z_][\w]*)", text, re.M))
    found |= set(re.findall(r"^\s*from ([A-Za-z_][\w]*)[\w.]* import", text, re.M))
    return found


@pytest.mark.parametrize("library", sorted(DOORS))
def test_library_enters_through_its_door(library: str) -> None:
    strays = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if library in _imports(path) and not rel.startswith(DOORS[library]):
            strays.append(rel)
    assert strays == [], f"{library} imported outside {DOORS[library]}: {strays}"
