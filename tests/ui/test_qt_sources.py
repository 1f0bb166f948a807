"""PySide6's import hook looks at each new module's source; the UI does not keep those sources."""

from __future__ import annotations

import importlib
import linecache
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6.QtWidgets")

import vxassist.ui.qt  # noqa: F401  (the door to Qt installs the hook's wrapper)


def test_a_module_imported_after_qt_leaves_no_source_in_linecache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "vx_after_qt_sample.py"
    source.write_text("VALUE = 1\n" + "# padding line\n" * 200)
    monkeypatch.syspath_prepend(str(tmp_path))
    linecache.cache.pop(str(source), None)
    feature = sys.modules.get("PySide6.support.feature")
    if feature is None or not hasattr(feature, "_mod_uses_pyside"):
        pytest.skip("this PySide6 has no __feature__ import hook")
    try:
        module = importlib.import_module("vx_after_qt_sample")
        assert module.VALUE == 1
        assert str(source) not in linecache.cache
        # a traceback still gets the lines: they are read again on demand
        assert linecache.getline(str(source), 1) == "VALUE = 1\n"
    finally:
        sys.modules.pop("vx_after_qt_sample", None)
        linecache.cache.pop(str(source), None)
