"""The one door through which vxassist's UI imports Qt.

Windows import Qt names from here (``from vxassist.ui.qt import QtWidgets, Signal``),
so the binding, its version check and the names we rely on live in one file.
"""

from __future__ import annotations

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


def tr(context: str, text: str) -> str:
    """``QCoreApplication.translate`` for code that is not a QObject method."""
    return QCoreApplication.translate(context, text)


def translate_noop(context: str, text: str) -> str:
    """Marks ``text`` for translation where it is defined; :func:`tr` translates it later."""
    del context
    return text
