"""Render each window of the tray app into PNG files (docs/screenshots/), as a customer sees it.

Run through ``scripts/screenshots.sh``, which starts Xvfb with ``trayer`` as the
tray. The shell's windows run over the real agent runtime and a real desk on
loopback (enrollment, settings); the tray's icon and menu sit in the real tray.
Other windows come from builders: every function named ``*_window`` in a
``vxassist.ui.demo*`` module (realistic data, no network) is one picture, named
after the function; the session windows come from
``vxassist.ui.session_samples.render_all`` (builders here stand in where it is missing).

    scripts/screenshots.sh [--only NAME ...] [--out DIR]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import pkgutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.fixtures: the desk the tests run

Builder = Callable[[], Any]


def settle(rounds: int = 30, pause_s: float = 0.01) -> None:
    from vxassist.ui.qt import QtWidgets

    app = QtWidgets.QApplication.instance()
    for _ in range(rounds):
        if app is not None:
            app.processEvents()
        time.sleep(pause_s)


def wait_until(check: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        settle(2)
    raise TimeoutError("the window did not reach the state to picture")


# --- the shell's own windows -----------------------------------------------------------


class Recorded:
    """The tray's actions, written down (the tray pictures need no agent)."""

    def open_window(self, name: str, **kwargs: Any) -> None:
        return None

    def end_session(self, session_id: str) -> None:
        return None

    def quit_asked(self) -> None:
        return None


NOW = datetime.now(UTC)


def busy_state() -> Any:
    from vxassist.ui.tray import ShellState

    state = ShellState(enrolled=True)
    state.set_cases(
        [
            {"case_number": 1042, "status": "waiting_customer", "brief": "No call records"},
            {"case_number": 1038, "status": "in_progress", "brief": "Report export slow"},
        ]
    )
    state.apply(
        {
            "event": "session_open",
            "session_id": "7f3k9q",
            "engineer": "jdoe",
            "case_number": 1042,
            "not_after": (NOW + timedelta(minutes=25, seconds=20)).isoformat(),
        }
    )
    return state


def tray_menu_shot(out: Path) -> list[Path]:
    """The icon in the tray with its menu open, and the four icon states side by side."""
    from vxassist.ui.qt import QtCore, QtGui, QtWidgets
    from vxassist.ui.tray import Glance, TrayIcon, state_pixmap

    saved = []
    if QtWidgets.QSystemTrayIcon.isSystemTrayAvailable():
        tray = TrayIcon(busy_state(), Recorded(), lambda: NOW)
        tray.show()
        wait_until(lambda: tray.icon.geometry().width() > 0)
        settle()
        geometry = tray.icon.geometry()
        tray.menu.popup(geometry.bottomLeft() + QtCore.QPoint(-260, 4))
        wait_until(lambda: tray.menu.isVisible())
        settle()
        menu = tray.menu.geometry()
        # the live session's submenu open too: its End now
        session = next(a for a in tray.menu.actions() if a.menu() is not None)
        tray.menu.setActiveAction(session)
        row = tray.menu.actionGeometry(session)
        sub = session.menu()
        sub.popup(QtCore.QPoint(menu.left() - sub.sizeHint().width() + 4, menu.top() + row.top()))
        wait_until(lambda: sub.isVisible())
        settle()
        menu = menu.united(sub.geometry())
        screen = QtGui.QGuiApplication.primaryScreen()
        left = min(menu.left(), geometry.left()) - 12
        right = max(menu.right(), geometry.right()) + 12
        shot = screen.grabWindow(0, left, 0, right - left, menu.bottom() + 12)
        path = out / "tray-menu.png"
        shot.save(str(path))
        saved.append(path)
        sub.hide()
        tray.menu.hide()
        tray.hide()
    else:
        print("screenshots: no tray on this display (is trayer running?)", file=sys.stderr)

    # the four states, with the tooltip each gives
    from vxassist.ui.tray import ShellState

    states = {
        Glance.IDLE: ShellState(enrolled=True),
        Glance.CASE_WAITING: ShellState(enrolled=True),
        Glance.REQUEST: ShellState(enrolled=True),
        Glance.LIVE: busy_state(),
    }
    states[Glance.CASE_WAITING].apply(
        {"event": "case_changed", "case_number": 1042, "status": "waiting_customer"}
    )
    states[Glance.REQUEST].apply({"event": "request", "session_id": "a", "engineer": "jdoe"})
    panel = QtWidgets.QWidget()
    panel.setObjectName("tray-icons")
    panel.setWindowTitle("vxassist tray icons")
    grid = QtWidgets.QGridLayout(panel)
    for row, (glance, state) in enumerate(states.items()):
        for col, size in enumerate((16, 24, 48)):
            icon = QtWidgets.QLabel()
            icon.setPixmap(state_pixmap(glance, size))
            grid.addWidget(icon, row, col, QtCore.Qt.AlignmentFlag.AlignCenter)
        grid.addWidget(QtWidgets.QLabel("vxassist: " + state.summary(NOW)), row, 3)
    panel.show()
    settle()
    path = out / "tray-icons.png"
    panel.grab().save(str(path))
    panel.close()
    saved.append(path)
    return saved


def home_window_shot(out: Path) -> list[Path]:
    from vxassist.ui.home_window import HomeWindow

    home = HomeWindow(busy_state(), Recorded(), lambda: NOW)
    home.resize(460, 10)
    home.show()
    settle()
    path = out / "home-window.png"
    home.grab().save(str(path))
    home.hide()
    home.deleteLater()
    return [path]


@contextmanager
def running_desk(folder: Path) -> Iterator[Any]:
    from tests.fixtures.desk import RunningDesk

    with RunningDesk(folder) as desk:
        desk.add_contract("C-1001", "Acme Hotels")
        yield desk


def shell_shots(out: Path, work: Path) -> list[Path]:
    """Enrollment (a failure, then done), settings and the Quit question, on a real agent."""
    from tests.ui.shell import tray_app

    from vxassist.ui.qt import QtWidgets

    saved = []
    with running_desk(work / "desk") as desk:
        policy = Path(os.environ["VXASSIST_POLICY"])
        policy.parent.mkdir(parents=True, exist_ok=True)
        policy.write_text(
            '[remote]\nscopes = ["shell", "files"]\nmax_minutes = 60\n'
            'file_roots = ["C:\\\\ProgramData\\\\Communicado\\\\VXTracker"]\n'
        )
        policy.chmod(0o644)
        with tray_app(use_tray=False) as app:
            window = wait_until(lambda: app.windows.window("enroll"))
            window.desk.setText(desk.url)
            window.code.setText("K7Q-2MX-9TR")
            window.submit()
            wait_until(lambda: not window._busy and window.status.text())
            settle()
            saved.append(out / "enroll-wrong-code.png")
            window.grab().save(str(saved[-1]))

            window.code.setText(desk.enrollment_code("C-1001"))
            window.submit()
            wait_until(lambda: not window._busy and app.state.enrolled)
            settle()
            saved.append(out / "enroll-done.png")
            window.grab().save(str(saved[-1]))
            window.close()

            settings = app.open_window("settings")
            wait_until(lambda: settings.view is not None)
            settle()
            settings.adjustSize()
            settle()
            saved.append(out / "settings.png")
            settings.grab().save(str(saved[-1]))
            settings.close()

            app.on_event(
                {
                    "event": "session_open",
                    "session_id": "7f3k9q",
                    "engineer": "jdoe",
                    "case_number": 1042,
                    "scopes": ["shell"],
                    "not_after": (datetime.now(UTC) + timedelta(minutes=25)).isoformat(),
                }
            )
            box = app.quit_asked()
            settle()
            saved.append(out / "quit-question.png")
            box.grab().save(str(saved[-1]))
            keep = next(b for b in box.buttons() if b.text() == "Keep running")
            keep.click()
            assert isinstance(box, QtWidgets.QMessageBox)
            if app.session_window is not None:
                app.on_event({"event": "session_end", "session_id": "7f3k9q", "reason": "done"})
                app.session_window.close()
    return saved


# --- other windows, built here where no demo module builds them ---------------------------


def consent_prompt_window() -> Any:
    from vxassist.remote.grants import Scope, SessionRequest
    from vxassist.ui.consent import ConsentDialog

    request = SessionRequest(
        session_id="7f3k9q",
        engineer="jdoe",
        case_number=1042,
        case_brief="Calls from the front desk are not recorded",
        scopes=(Scope("shell"), Scope("files"), Scope("forward", "127.0.0.1", 3389)),
        minutes=30,
        reason="Look at the SMDR log and the collector's settings",
        verification_code="482 913",
        key_fingerprint="SHA256:q3v0pV0wz5kqYQ3f0r9Jm3bYgJrZb8Yk2m7n1x0c9aE",
        received_at=datetime.now(UTC),
    )
    dialog = ConsentDialog(request, 118.0, allow_delay_ms=0)
    dialog.show()
    settle(60)
    return dialog


def live_session_window() -> Any:
    from vxassist.ui.session_window import LiveSessionWindow

    window = LiveSessionWindow()
    start = datetime.now(UTC)
    sid = "7f3k9q"
    events: list[dict[str, Any]] = [
        {
            "event": "session_open",
            "session_id": sid,
            "engineer": "jdoe",
            "case_number": 1042,
            "scopes": ["shell", "files"],
            "not_after": (start + timedelta(minutes=25, seconds=40)).isoformat(),
        },
        {"event": "login", "session_id": sid, "engineer": "jdoe"},
        {"event": "channel", "session_id": sid, "kind": "shell"},
        {
            "event": "file",
            "session_id": sid,
            "op": "download",
            "path": "C:/ProgramData/Communicado/VXTracker/Logs/callacct.log",
            "size": 2_202_009,
        },
    ]
    text = (
        "jdoe@CALLACCT01:~$ tail -n 3 /var/log/vxtracker/smdr.log\r\n"
        "2026-12-03 09:14:40 WARN  SMDR record without extension field, skipped\r\n"
        "2026-12-03 09:14:41 WARN  SMDR record without extension field, skipped\r\n"
        "2026-12-03 09:20:37 INFO  database connection restored\r\n"
        "jdoe@CALLACCT01:~$ systemctl status vxtracker --no-pager | head -3\r\n"
        "\x1b[1;32m●\x1b[0m vxtracker.service - VXTracker call accounting\r\n"
        "     Loaded: loaded (/etc/systemd/system/vxtracker.service; enabled)\r\n"
        "     Active: \x1b[1;32mactive (running)\x1b[0m since Thu 2026-12-03 08:58:01\r\n"
        "jdoe@CALLACCT01:~$ "
    )
    events.append(
        {"event": "terminal_output", "session_id": sid, "channel": 1, "data": text.encode()}
    )
    for event in events:
        event.setdefault("at", start.isoformat())
        window.handle_event(event)
    window.resize(900, 620)
    window.show()
    settle(40)
    return window


BUILT_HERE: dict[str, Builder] = {
    "consent-prompt": consent_prompt_window,
    "live-session": live_session_window,
}


def demo_builders() -> dict[str, Builder]:
    """Every ``*_window`` function of the ``vxassist.ui.demo*`` modules, by picture name."""
    import vxassist.ui

    found: dict[str, Builder] = {}
    for module in pkgutil.iter_modules(vxassist.ui.__path__):
        if not module.name.startswith("demo"):
            continue
        mod = importlib.import_module(f"vxassist.ui.{module.name}")
        for attr in dir(mod):
            fn = getattr(mod, attr)
            ours = getattr(fn, "__module__", "") == mod.__name__
            if attr.endswith("_window") and callable(fn) and not attr.startswith("_") and ours:
                found[attr.removesuffix("_window").replace("_", "-")] = fn
    return found


def built_shot(name: str, build: Builder, out: Path) -> Path | None:
    try:
        window = build()
    except ImportError as exc:
        print(f"screenshots: {name}: not in this build ({exc})", file=sys.stderr)
        return None
    settle()
    path = out / f"{name}.png"
    window.grab().save(str(path))
    window.hide()
    window.deleteLater()
    settle(5)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--only", nargs="*", default=None, help="picture names to take")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    work = Path(tempfile.mkdtemp(prefix="vxassist-shots-"))
    os.environ["VXASSIST_HOME"] = str(work / "home")
    os.environ["VXASSIST_POLICY"] = str(work / "etc" / "vxassist" / "policy.toml")
    os.environ.setdefault("DBUS_SESSION_BUS_ADDRESS", "disabled:")
    import keyring
    from tests.fakes.memory_keyring import MemoryKeyring

    from vxassist.ui.qt import QtWidgets

    keyring.set_keyring(MemoryKeyring())  # no desktop keyring under Xvfb
    app = QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("vxassist")
    app.setQuitOnLastWindowClosed(False)

    def wanted(name: str) -> bool:
        return args.only is None or name in args.only

    saved: list[Path] = []
    if wanted("tray"):
        saved += tray_menu_shot(out)
    if wanted("home"):
        saved += home_window_shot(out)
    if wanted("shell"):
        saved += shell_shots(out, work)
    if importlib.util.find_spec("vxassist.ui.session_samples") is not None:
        # the session windows' own pictures (consent, live session, extension, audit)
        if wanted("session"):
            from vxassist.ui.session_samples import render_all

            saved += render_all(out, work / "samples")
        builders = demo_builders()
    else:
        builders = {**BUILT_HERE, **demo_builders()}
    for name, build in sorted(builders.items()):
        if wanted(name):
            path = built_shot(name, build, out)
            if path is not None:
                saved.append(path)
    for path in saved:
        print(f"screenshots: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
