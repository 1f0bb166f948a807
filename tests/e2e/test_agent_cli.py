"""``vxassist agent``: what it says without an enrollment, and the lines it prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vxassist.agent_main import describe


def test_an_unenrolled_host_is_told_to_enroll(vx_home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vxassist", "agent", "--consent", "deny"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1
    assert "vxassist enroll" in done.stderr
    assert "Traceback" not in done.stderr


def test_each_event_is_one_readable_line() -> None:
    sid = "abc123"
    events = [
        {
            "event": "request",
            "session_id": sid,
            "engineer": "jdoe",
            "case_number": 7,
            "scopes": ["shell", "files"],
            "minutes": 2,
            "reason": "look at logs",
        },
        {
            "event": "decision",
            "session_id": sid,
            "approved": True,
            "scopes": ["shell"],
            "not_after": "2026-11-26T10:00:00+00:00",
        },
        {
            "event": "decision",
            "session_id": sid,
            "approved": False,
            "note": "denied at the terminal",
        },
        {
            "event": "session_open",
            "session_id": sid,
            "engineer": "jdoe",
            "case_number": 7,
            "scopes": ["shell"],
            "not_after": "2026-11-26T10:00:00+00:00",
        },
        {"event": "time_left", "session_id": sid, "left": "1:30"},
        {"event": "process", "session_id": sid, "command": "uptime", "hash": "x" * 64},
        {
            "event": "teardown",
            "session_id": sid,
            "reason": "the grant's time is up",
            "summary": {"commands": ["uptime"]},
        },
        {"event": "session_end", "session_id": sid, "reason": "the grant's time is up"},
        {"event": "refused", "session_id": sid, "reason": "case 9 was not opened from this host"},
        {"event": "something_new", "session_id": sid, "hash": "h", "prev": "p", "detail": "d"},
    ]
    lines = [describe(e) for e in events]
    assert all("\n" not in line and sid in line for line in lines)
    assert "jdoe asks for shell, files on case 7 for 2 min: look at logs" in lines[0]
    assert lines[1].startswith("approved") and lines[2].startswith("denied")
    assert "1:30 remaining" in lines[4]
    assert "runs uptime" in lines[5] and "x" * 64 not in lines[5]
    assert "{" not in lines[6]  # no summary dump
    assert lines[7].startswith("ended") and "time is up" in lines[7]
    assert "not opened from this host" in lines[8]
    assert "detail=d" in lines[9] and "hash" not in lines[9]
    # a case's status in the words the console and the tray use
    changed = {"event": "case_changed", "case_number": 7, "status": "open", "brief": "No CDR"}
    assert describe(changed) == "case     7: New - No CDR"


def test_demo_names_the_vxassist_another_terminal_can_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from vxassist import demo

    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # a fresh terminal without the venv
    command = demo._vxassist_command()
    assert Path(command).is_absolute() and os.access(command, os.X_OK)
