"""Desktop notifications on Linux when there is no tray: ``notify-send``, started detached."""

from __future__ import annotations

import shutil

from vxassist.ui.qt import QtCore


class NotifySend:
    def __init__(self) -> None:
        self._program = shutil.which("notify-send")

    def notify(self, title: str, message: str) -> None:
        if self._program is None:
            return
        # detached: the GUI thread never waits on a child process
        QtCore.QProcess.startDetached(self._program, ["--app-name=vxassist", title, message])
