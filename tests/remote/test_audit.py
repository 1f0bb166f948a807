"""The hash-chained audit log: any change shows, and the commands tell where."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from vxassist.cli import main
from vxassist.paths import Paths
from vxassist.remote.audit import AuditLog
from vxassist.remote.errors import AuditError


@pytest.fixture
def log(paths: Paths) -> AuditLog:
    audit = AuditLog.for_paths(paths)
    audit.append("request", session_id="s1", engineer="alice", case_number=42)
    audit.append("decision", session_id="s1", approved=True, scopes=["shell"])
    audit.append("login", session_id="s1", key_fingerprint="SHA256:xyz", note="ünïcode")
    audit.append("request", session_id="s2", engineer="bob", case_number=43)
    return audit


def test_chain_verifies(log: AuditLog) -> None:
    assert log.verify() == (True, None, "4 lines, chain intact")
    records = list(log.records())
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    assert records[1]["prev"] == records[0]["hash"]
    assert log.path.stat().st_mode & 0o777 == 0o600


def test_every_single_byte_change_is_detected(log: AuditLog) -> None:
    original = log.path.read_bytes()
    lines = original.split(b"\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    for pos in range(len(original)):
        changed = bytearray(original)
        changed[pos] = (changed[pos] + 1) % 256
        log.path.write_bytes(bytes(changed))
        ok, bad, why = log.verify()
        assert not ok, f"change at byte {pos} went unnoticed"
        expected_line = max(i for i, start in enumerate(offsets) if start <= pos) + 1
        assert bad is not None and bad <= expected_line + 1, (pos, bad, why)


def test_deleted_and_reordered_lines_are_detected(log: AuditLog) -> None:
    lines = log.path.read_bytes().splitlines(keepends=True)
    log.path.write_bytes(lines[0] + lines[2] + lines[3])
    assert log.verify()[:2] == (False, 2)
    log.path.write_bytes(lines[1] + lines[0] + lines[2] + lines[3])
    assert log.verify()[:2] == (False, 1)


def test_append_after_damage_refuses(log: AuditLog) -> None:
    log.path.write_bytes(log.path.read_bytes()[:-5])
    with pytest.raises(AuditError, match="damaged"):
        log.append("x")


def test_reserved_fields_refused(log: AuditLog) -> None:
    with pytest.raises(AuditError):
        log.append("x", hash="forged")


def test_export_carries_log_recordings_and_head(
    log: AuditLog, paths: Paths, tmp_path: Path
) -> None:
    paths.recordings_dir.mkdir(parents=True, exist_ok=True)
    (paths.recordings_dir / "s1-1.cast").write_text('{"version": 2}\n')
    dest = log.export(tmp_path / "out" / "audit.zip")
    with zipfile.ZipFile(dest) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        assert zf.read("audit.jsonl") == log.path.read_bytes()
    assert names == {
        "audit.jsonl",
        "audit.jsonl.head",
        "recordings/s1-1.cast",
        "manifest.json",
    }
    assert manifest["head"] == log.head()
    assert manifest["verified"] is True
    assert manifest["recordings"][0]["file"] == "s1-1.cast"


def test_cli_show_verify_export(
    log: AuditLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "show", "--json", "--session", "s2"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [r["engineer"] for r in shown] == ["bob"]

    assert main(["audit", "show"]) == 0
    assert "login s1" in capsys.readouterr().out

    assert main(["audit", "verify"]) == 0
    assert "intact" in capsys.readouterr().out

    data = bytearray(log.path.read_bytes())
    data[data.index(b"alice") + 1] = ord("X")
    log.path.write_bytes(bytes(data))
    assert main(["audit", "verify", "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is False and result["first_bad_line"] == 1
    assert main(["audit", "verify"]) == 1
    assert "line 1" in capsys.readouterr().out

    dest = tmp_path / "export.zip"
    assert main(["audit", "export", str(dest)]) == 0
    with zipfile.ZipFile(dest) as zf:
        assert json.loads(zf.read("manifest.json"))["verified"] is False


def test_lines_cut_off_the_end_are_detected(log: AuditLog) -> None:
    lines = log.path.read_bytes().splitlines(keepends=True)
    log.path.write_bytes(b"".join(lines[:-1]))
    ok, bad, why = log.verify()
    assert not ok and bad == 4 and "removed" in why
    log.path.write_bytes(b"")
    assert log.verify()[:2] == (False, 1)
    log.path.unlink()
    assert log.verify() == (False, 1, "the audit log was removed")
