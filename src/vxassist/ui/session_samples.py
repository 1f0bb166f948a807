"""The session windows filled with realistic data, for screenshots and a look by eye.

Each ``sample_*`` function builds one window as a customer would see it in the
middle of a support session (``scripts/screenshots.py`` renders them to PNG).
:func:`render_all` saves every one of them into a folder. Nothing here talks to
a desk or a relay: the windows are fed the same events the runtime emits.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vxassist.remote.audit import AuditLog
from vxassist.remote.grants import Grant, SessionRequest, parse_scopes
from vxassist.remote.recording import AsciicastRecorder
from vxassist.ui.audit_window import AuditWindow
from vxassist.ui.consent import ConsentDialog, ExtensionPrompt
from vxassist.ui.qt import QtCore, QtWidgets
from vxassist.ui.session_window import LiveSessionWindow
from vxassist.ui.terminal_view import TerminalView

SESSION = "s-7f3a"
ENGINEER = "alice.wong"
CASE = 1001
BRIEF = "Call records stopped importing after the PBX upgrade"
SCOPES = ["shell", "files", "forward:127.0.0.1:3389"]

SCREEN = (
    b"alice@vxhost:~$ tail -n 3 /srv/vxtracker/logs/import.log\r\n"
    b"2026-12-03 13:58:02 INFO  SMDR link up on COM3 (9600 8N1)\r\n"
    b"2026-12-03 13:58:40 WARN  record 88213: unknown trunk group 14\r\n"
    b"2026-12-03 13:59:11 ERROR import stopped: duplicate key in CALLS\r\n"
    b"alice@vxhost:~$ systemctl status vxtracker-import --no-pager | head -3\r\n"
    b"\x1b[1;32m\xe2\x97\x8f\x1b[0m vxtracker-import.service - VXTracker call import\r\n"
    b"     Loaded: loaded (/etc/systemd/system/vxtracker-import.service)\r\n"
    b"     Active: \x1b[1;31mfailed\x1b[0m since Thu 2026-12-03 13:59:11 UTC\r\n"
    b"alice@vxhost:~$ "
)


def sample_request(minutes: int = 30) -> SessionRequest:
    return SessionRequest(
        session_id=SESSION,
        engineer=ENGINEER,
        case_number=CASE,
        case_brief=BRIEF,
        scopes=parse_scopes(SCOPES),
        minutes=minutes,
        reason="look at the call record import and the SMDR link",
        verification_code="482-193",
        key_fingerprint="SHA256:Zx1kVt2b6o1m7Qm3sJq1m1m8jvR0hY0Kq9yWl3c1fO4",
        received_at=datetime.now(UTC),
    )


def sample_consent_dialog() -> ConsentDialog:
    """The prompt for a session request, as it appears (Allow armed, for the picture)."""
    dialog = ConsentDialog(sample_request(), 120, allow_delay_ms=0)
    dialog.adjustSize()
    return dialog


def _feed(window: LiveSessionWindow, start: datetime) -> None:
    def event(name: str, after_s: float, **fields: Any) -> None:
        stamp = (start + timedelta(seconds=after_s)).isoformat()
        window.handle_event({"event": name, "session_id": SESSION, "ts": stamp, **fields})

    event(
        "session_start",
        0,
        engineer=ENGINEER,
        case_number=CASE,
        scopes=SCOPES,
        not_before=start.isoformat(),
        not_after=(start + timedelta(minutes=30)).isoformat(),
    )
    event("login", 40, engineer=ENGINEER)
    event("channel", 41, kind="shell", pty=True)
    event("file", 200, op="download", path="/srv/vxtracker/logs/callacct.log", size=2_100_000)
    event(
        "forward_refused",
        260,
        target="127.0.0.1:22",
        reason="a forward to 127.0.0.1:22 was not granted",
    )
    window.handle_event(
        {
            "event": "terminal_output",
            "session_id": SESSION,
            "channel": f"{SESSION}-20261203T140041-1.cast",
            "data": SCREEN,
            "width": 80,
            "height": 16,
        }
    )
    panel = window.panel(SESSION)
    if panel is not None:
        for view in panel.terminals.values():
            view.drain()


def sample_live_session_window(*, strip: bool = False) -> LiveSessionWindow:
    """An engineer 7 minutes into a 30-minute session; ``strip``: shrunk to the strip."""
    start = datetime.now(UTC).replace(microsecond=0)
    window = LiveSessionWindow(clock=lambda: start + timedelta(minutes=7, seconds=12))
    _feed(window, start)
    window.resize(1000, 560)
    if strip:
        window.set_compact(True)
    return window


def sample_extension_window() -> LiveSessionWindow:
    """The live-session window while the engineer asks for 15 more minutes."""
    window = sample_live_session_window()
    now = datetime.now(UTC)
    grant = Grant(
        SESSION,
        ENGINEER,
        CASE,
        parse_scopes(SCOPES),
        now,
        now + timedelta(minutes=30),
        f"{ENGINEER}/case-{CASE}/session-{SESSION}",
    )
    prompt = ExtensionPrompt(
        grant, 15, "the import needs a rerun after the fix", 120, allow_delay_ms=0
    )
    window.add_extension(prompt)
    window.resize(1000, 640)
    return window


def sample_terminal_view() -> TerminalView:
    view = TerminalView(80, 12)
    view.feed(SCREEN)
    view.drain()
    view.resize(view.sizeHint())
    return view


def write_sample_trail(folder: Path) -> AuditLog:
    """A realistic audit trail and one recording under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    recordings = folder / "recordings"
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    steps = iter((0, 25, 31, 32, 34, 74, 75, 75, 234, 294, 1510, 2120, 5400, 5440))

    def clock() -> datetime:
        return start + timedelta(seconds=next(steps, 5500))

    audit = AuditLog(folder / "audit.jsonl", recordings, clock)
    scopes = SCOPES
    audit.append(
        "request", session_id=SESSION, engineer=ENGINEER, case_number=CASE, scopes=scopes,
        minutes=30, reason="look at the call record import", verification_code="482-193",
    )  # fmt: skip
    audit.append("prompt", session_id=SESSION, scopes=scopes, minutes=30, timeout_s=120)
    audit.append(
        "decision", session_id=SESSION, approved=True, by="customer",
        scopes=["shell", "files"], note="approved in the tray prompt",
    )  # fmt: skip
    audit.append(
        "session_start", session_id=SESSION, engineer=ENGINEER, case_number=CASE,
        scopes=["shell", "files"], not_after=(start + timedelta(minutes=30)).isoformat(),
    )  # fmt: skip
    audit.append("tunnel_up", listen_port=42017, sessions=[SESSION])
    audit.append("login", session_id=SESSION, engineer=ENGINEER, key_fingerprint="SHA256:Zx1k")
    audit.append("channel", session_id=SESSION, kind="shell", pty=True)
    audit.append("process", session_id=SESSION, command="/bin/bash", pty=True)
    audit.append(
        "file", session_id=SESSION, op="download", path="/srv/vxtracker/logs/callacct.log",
        size=2_100_000,
    )  # fmt: skip
    audit.append("forward_refused", session_id=SESSION, target="127.0.0.1:22", reason="not granted")
    audit.append("session_extended", session_id=SESSION, engineer=ENGINEER, case_number=CASE,
                 not_after=(start + timedelta(minutes=45)).isoformat())  # fmt: skip
    audit.append("teardown", session_id=SESSION, reason="ended by the customer")
    audit.append(
        "request", session_id="s-91c2", engineer="raj.patel", case_number=1004,
        scopes=["files"], minutes=15, reason="collect the database logs",
    )  # fmt: skip
    audit.append(
        "decision", session_id="s-91c2", approved=False, by="customer",
        note="denied in the tray prompt",
    )  # fmt: skip
    ticks = [0.0]

    def monotonic() -> float:
        return ticks[0]

    rec = AsciicastRecorder(
        recordings / f"{SESSION}-20261203T140041-1.cast", 80, 16, start,
        title=f"{ENGINEER} case {CASE} session {SESSION}", term="xterm-256color",
        monotonic=monotonic,
    )  # fmt: skip
    lines = SCREEN.split(b"\r\n")
    for n, line in enumerate(lines, start=1):
        ticks[0] += 0.8
        rec.output(line + (b"\r\n" if n < len(lines) else b""))
    rec.close()
    return audit


def sample_audit_window(folder: Path) -> AuditWindow:
    """The audit window on a sample trail; call ``reload()`` and wait for ``loaded``."""
    window = AuditWindow(write_sample_trail(folder))
    window.resize(1040, 600)
    return window


def _settle(app: QtWidgets.QApplication, until: Callable[[], bool] = lambda: True) -> None:
    deadline = QtCore.QDeadlineTimer(10000)
    while True:
        app.processEvents()
        if until() or deadline.hasExpired():
            break
        QtCore.QThread.msleep(20)
    for _ in range(5):
        app.processEvents()


def render_all(out_dir: Path, work_dir: Path) -> list[Path]:
    """Render every session window to ``out_dir`` (PNG); sample data goes to ``work_dir``."""
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    assert isinstance(app, QtWidgets.QApplication)
    out_dir.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []

    def save(widget: QtWidgets.QWidget, name: str) -> None:
        widget.show()
        _settle(app)
        path = out_dir / name
        widget.grab().save(str(path))
        saved.append(path)

    save(sample_consent_dialog(), "consent.png")
    live = sample_live_session_window()
    save(live, "live-session.png")
    live.set_compact(True)
    save(live, "live-session-strip.png")
    save(sample_extension_window(), "live-session-extension.png")
    audit = sample_audit_window(work_dir)
    loaded: list[bool] = []
    audit.loaded.connect(lambda: loaded.append(True))
    audit.show()
    _settle(app, lambda: bool(loaded))
    save(audit, "audit-trail.png")
    audit.tabs.setCurrentIndex(1)
    audit.recordings.setCurrentRow(0)
    _settle(app, lambda: audit.player.cast is not None)
    audit.player.seek(audit.player.duration)
    save(audit, "audit-recording.png")
    return saved
