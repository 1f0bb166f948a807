"""The one door through which vxassist's UI imports Qt.

Windows import Qt names from here (``from vxassist.ui.qt import QtWidgets, Signal``),
so the binding, its version check and the names we rely on live in one file.
"""

from __future__ import annotations

import linecache
import sys
from types import ModuleType
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import (
    QCoreApplication,
    QObject,
    Qt,
    QTimer,
    Signal,
    Slot,
)

__all__ = [
    "QCoreApplication",
    "QObject",
    "QTimer",
    "Qt",
    "QtCore",
    "QtGui",
    "QtWidgets",
    "Signal",
    "Slot",
    "tr",
    "translate_noop",
]


def _keep_no_sources() -> None:
    """Let PySide6's ``__feature__`` import hook look at sources without keeping them.

    Once PySide6 is imported, the hook reads the source of every module imported
    after it (``inspect.getsource``, to see whether the module names PySide6), and
    ``linecache`` keeps each source for the life of the process: about 11 MiB of
    the idle tray agent (the standard library, requests, urllib3, asyncssh and
    vxassist, all imported after Qt). Each source read for the hook is dropped
    once it answered; a traceback reads its lines again when it needs them.
    """
    feature = sys.modules.get("PySide6.support.feature")
    uses_pyside: Any = getattr(feature, "_mod_uses_pyside", None)
    if (
        feature is None
        or not callable(uses_pyside)
        or getattr(uses_pyside, "keeps_no_source", False)
    ):
        return  # another PySide6 release: nothing to do

    def look_and_forget(module: ModuleType) -> Any:
        before = set(linecache.cache)
        try:
            return uses_pyside(module)
        finally:
            for name in set(linecache.cache) - before:
                linecache.cache.pop(name, None)

    look_and_forget.keeps_no_source = True  # type: ignore[attr-defined]
    feature._mod_uses_pyside = look_and_forget  # type: ignore[attr-defined]


_keep_no_sources()


def tr(context: str, text: str) -> str:
    """``QCoreApplication.translate`` for code that is not a QObject method."""
    return QCoreApplication.translate(context, text)


def translate_noop(context: str, text: str) -> str:
    """Marks ``text`` for translation where it is defined; :func:`tr` translates it later."""
    del context
    return text
