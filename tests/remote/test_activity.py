"""The activity feed's wording: one plain sentence per session event."""

from __future__ import annotations

from datetime import datetime

import pytest

from vxassist.remote.activity import (
    audit_rows,
    describe_activity,
    describe_audit,
    describe_scope,
    file_name,
    filter_rows,
    human_size,
)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (999, "999 bytes"),
        (1000, "1 KB"),
        (2_100_000, "2.1 MB"),
        (340_000, "340 KB"),
        (12_540_000, "12.5 MB"),
        (999_999, "1 MB"),
        (5 * 10**12, "5 TB"),
    ],
)
def test_sizes_read_like_a_file_manager(size: int, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize(
    ("event", "text"),
    [
        ({"event": "channel", "kind": "shell", "pty": True}, "opened a shell"),
        (
            {
                "event": "file",
                "op": "download",
                "path": "/srv/vx/logs/callacct.log",
                "size": 2_100_000,
            },
            "downloaded callacct.log, 2.1 MB",
        ),
        (
            {"event": "file", "op": "upload", "path": "C:\\VX\\patch.zip", "size": 512},
            "uploaded patch.zip, 512 bytes",
        ),
        (
            {
                "event": "file",
                "op": "download",
                "path": "/a/big.bin",
                "size": 3000,
                "interrupted": True,
            },
            "download of big.bin cut short at 3 KB",
        ),
        ({"event": "file", "op": "remove", "path": "/a/old.tmp"}, "deleted old.tmp"),
        ({"event": "file", "op": "rename", "path": "/a/x", "to": "/a/y"}, "renamed x to y"),
        (
            {"event": "forward_refused", "target": "127.0.0.1:22", "reason": "not granted"},
            "a forward to 127.0.0.1:22 was refused",
        ),
        ({"event": "forward", "target": "127.0.0.1:3389"}, "opened a forward to 127.0.0.1:3389"),
        ({"event": "channel", "kind": "exec", "command": "uptime"}, "ran a command: uptime"),
        ({"event": "channel", "kind": "sftp"}, "opened a file transfer"),
        ({"event": "channel_refused", "kind": "reverse-forward"}, "a reverse forward was refused"),
        (
            {"event": "file_refused", "path": "/etc/shadow", "reason": "outside the folders"},
            "access to shadow was refused: outside the folders",
        ),
        ({"event": "login", "engineer": "alice"}, "alice connected"),
        ({"event": "disconnect", "reason": "closed"}, "the engineer disconnected"),
        (
            {"event": "extension_request", "engineer": "alice", "minutes": 15, "reason": "rerun"},
            "alice asked for 15 more minutes: rerun",
        ),
        (
            {"event": "extension_decision", "approved": False, "note": "refused"},
            "no more time was given: refused",
        ),
        ({"event": "extension_withdrawn"}, "the request for more time was withdrawn"),
        (
            {"event": "teardown", "reason": "ended by the customer"},
            "the session ended: ended by the customer",
        ),
    ],
)
def test_events_in_plain_words(event: dict[str, object], text: str) -> None:
    assert describe_activity(event) == text


@pytest.mark.parametrize(
    "event",
    [
        {"event": "recording", "file": "x.cast", "sha256": "ab"},
        {"event": "process", "command": "/bin/sh"},
        {"event": "terminal_output", "data": b"x"},
        {"event": "tunnel_up", "listen_port": 1},
        {"event": "time_left", "left": "4 min"},
        {"event": "extension_decision", "approved": True, "minutes": 5},
    ],
)
def test_bookkeeping_is_not_shown(event: dict[str, object]) -> None:
    assert describe_activity(event) is None


def test_file_names_from_either_kind_of_host() -> None:
    assert file_name("/var/log/a.log") == "a.log"
    assert file_name("D:\\logs\\b.log") == "b.log"
    assert file_name("") == ""


@pytest.mark.parametrize(
    ("scope", "text"),
    [
        ("shell", "Run commands in a terminal"),
        ("files", "Read and copy files"),
        ("forward:127.0.0.1:3389", "Connect to the local service Remote Desktop at 127.0.0.1:3389"),
        ("forward:127.0.0.1:8443", "Connect to the local service 127.0.0.1:8443"),
    ],
)
def test_scopes_in_plain_words(scope: str, text: str) -> None:
    assert describe_scope(scope) == text


def test_audit_rows_carry_the_sessions_case_and_filter() -> None:
    records = [
        {
            "seq": 1,
            "ts": "t1",
            "event": "request",
            "session_id": "a",
            "case_number": 7,
            "engineer": "alice",
            "scopes": ["shell"],
            "minutes": 30,
        },
        {"seq": 2, "ts": "t2", "event": "login", "session_id": "a", "engineer": "alice"},
        {
            "seq": 3,
            "ts": "t3",
            "event": "file",
            "session_id": "b",
            "op": "download",
            "path": "/x/y.log",
            "size": 5,
        },
        {"seq": 4, "ts": "t4", "event": "tunnel_lost", "listen_port": 4022},
    ]
    rows = audit_rows(records)
    assert [r.case_number for r in rows] == [7, 7, None, None]
    assert rows[0].text == "alice asked for shell for 30 minutes"
    assert rows[1].text == "alice connected"
    assert rows[2].text == "downloaded y.log, 5 bytes"
    assert [r.seq for r in filter_rows(rows, case_number=7)] == [1, 2]
    assert [r.seq for r in filter_rows(rows, session_id="b")] == [3]
    assert [r.seq for r in filter_rows(rows, kind="login", case_number=7)] == [2]
    assert filter_rows(rows, kind="login", session_id="b") == []


@pytest.mark.parametrize(
    ("record", "text"),
    [
        (
            {
                "event": "request",
                "engineer": "alice",
                "scopes": ["shell", "files"],
                "minutes": 30,
                "reason": "look at the import",
            },
            "alice asked for shell, files for 30 minutes: look at the import",
        ),
        ({"event": "prompt", "timeout_s": 120.0}, "the customer was asked (answer within 120 s)"),
        (
            {"event": "decision", "approved": True, "by": "customer", "scopes": ["shell"]},
            "approved by the customer: shell",
        ),
        (
            {
                "event": "decision",
                "approved": False,
                "by": "customer",
                "note": "denied in the tray",
            },
            "denied by the customer: denied in the tray",
        ),
        (
            {"event": "decision", "approved": False, "by": "agent", "reason": "case 9 is not ours"},
            "refused by this agent: case 9 is not ours",
        ),
        ({"event": "tunnel_up", "listen_port": 4022}, "connected to the relay (port 4022)"),
        ({"event": "process_exit", "command": "uptime", "status": 0}, "uptime ended (status 0)"),
        ({"event": "login", "engineer": "alice"}, "alice connected"),
        ({"event": "something_new", "size": 3, "ok": True}, "size: 3; ok: True"),
        (
            {"event": "prompt", "extension": 1, "minutes": 5, "timeout_s": 120.0},
            "the customer was asked about more time (answer within 120 s)",
        ),
        (
            {
                "event": "extension_requested",
                "engineer": "alice",
                "minutes": 5,
                "number": 1,
                "reason": "the import test",
            },
            "alice asked for 5 more minutes: the import test",
        ),
        (
            {
                "event": "extension_decision",
                "approved": True,
                "by": "customer",
                "minutes": 5,
                "number": 1,
                "not_after": "2026-12-04T01:24:52+00:00",
            },
            "5 more minutes approved by the customer, until "
            + datetime.fromisoformat("2026-12-04T01:24:52+00:00").astimezone().strftime("%H:%M"),
        ),
    ],
)
def test_audit_lines_in_words(record: dict[str, object], text: str) -> None:
    assert describe_audit(record) == text


def test_extension_times_in_local_time() -> None:
    from datetime import UTC, datetime

    end = datetime(2026, 12, 3, 14, 35, tzinfo=UTC)
    local = end.astimezone().strftime("%H:%M")
    extended = {"event": "session_extended", "minutes": 5, "not_after": end.isoformat()}
    assert describe_activity(extended) == f"the session was extended by 5 minutes, until {local}"
    undone = {
        "event": "extension_undone",
        "reason": "the desk said no",
        "not_after": end.isoformat(),
    }
    assert describe_activity(undone) == (
        f"the extension was taken back (the desk said no); the session ends at {local}"
    )
