"""Lines cut off the end of the audit log show: without the head file, and against
the copy of the last line the desk keeps (``verify_against``)."""

from __future__ import annotations

import json

import pytest

from vxassist.cli import main
from vxassist.paths import Paths
from vxassist.remote.audit import GENESIS, AuditLog


@pytest.fixture
def log(paths: Paths) -> AuditLog:
    audit = AuditLog.for_paths(paths)
    for n in range(6):
        audit.append("process", session_id="s1", command=f"step {n}")
    return audit


def _cut(log: AuditLog, keep: int) -> None:
    lines = log.path.read_bytes().splitlines(keepends=True)
    log.path.write_bytes(b"".join(lines[:keep]))


def test_lines_without_their_head_file_fail(
    log: AuditLog, capsys: pytest.CaptureFixture[str]
) -> None:
    log.head_path.unlink()
    ok, bad, why = log.verify()
    assert not ok and bad == 7 and "head file" in why
    assert main(["audit", "verify"]) == 1
    assert "head file" in capsys.readouterr().out


def test_lines_cut_with_the_head_file_deleted_fail(log: AuditLog) -> None:
    _cut(log, 4)
    log.head_path.unlink()
    assert not log.verify()[0]


def test_a_cut_with_a_matching_head_shows_against_the_outside_copy(log: AuditLog) -> None:
    reported = log.last()
    records = list(log.records())
    assert reported == {"seq": 6, "hash": records[-1]["hash"]}
    # cut two lines and rewrite the head to match: the log alone looks whole
    _cut(log, 4)
    log.head_path.write_text(json.dumps({"seq": 4, "hash": records[3]["hash"]}))
    assert log.verify()[0]
    ok, bad, why = log.verify_against(reported["seq"], reported["hash"])
    assert (ok, bad) == (False, 6) and "no longer in the log" in why
    # a changed line at the reported position shows too
    assert not log.verify_against(4, "0" * 64)[0]
    assert log.verify_against(4, records[3]["hash"])[0]


def test_last_of_an_empty_log(paths: Paths) -> None:
    assert AuditLog.for_paths(paths).last() == {"seq": 0, "hash": GENESIS}
    assert AuditLog.for_paths(paths).verify()[0]
