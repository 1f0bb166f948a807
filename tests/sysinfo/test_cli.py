"""``vxassist sysinfo`` through the command line entry point, in process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes.probe_recorded import RecordedProbe
from tests.sysinfo.conftest import DEBIAN
from vxassist.cli import main
from vxassist.sysinfo.report import SysinfoError, collect_report, write_bundle


def test_summary_and_json_on_this_machine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sysinfo"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("System report for ")
    for name in ("os", "disks", "databases", "vxtracker", "time"):
        assert f"] {name}" in text
    assert main(["sysinfo", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == 1
    assert data["sections"]["os"]["status"] == "ok"


def test_bundle_to_a_place_that_cannot_be_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["sysinfo", "--out", str(blocker / "case.zip")]) == 1
    err = capsys.readouterr().err
    assert "choose a folder you can write to" in err
    assert "Traceback" not in err


def test_write_bundle_error_is_user_worded(tmp_path: Path) -> None:
    report = collect_report(probe=RecordedProbe(DEBIAN))
    (tmp_path / "x").write_text("")
    with pytest.raises(SysinfoError) as err:
        write_bundle(report, tmp_path / "x" / "y.zip")
    assert err.value.message.endswith("choose a folder you can write to.")


def test_case_intake_gets_the_report_and_its_fields() -> None:
    from vxassist.cases.prefill import system_prefill
    from vxassist.settings import Settings

    filled = system_prefill(Settings())
    assert filled.reason == ""
    assert filled.report is not None
    assert set(filled.report["sections"]) >= {"os", "databases", "vxtracker", "pbx"}


def test_report_reads_as_its_json_document() -> None:
    report = collect_report(probe=RecordedProbe(DEBIAN))
    assert dict(report) == report.to_dict()
    assert report["host"] == "vxhost"
    assert json.loads(json.dumps(dict(report)))["schema"] == 1


def test_prefill_is_empty_when_the_machine_cannot_tell() -> None:
    from vxassist.sysinfo.report import case_prefill

    bare = RecordedProbe(
        DEBIAN, overrides={"processes": [], "sockets": [], "services": [], "files": {}, "dirs": []}
    )
    report = collect_report(probe=bare)
    assert report.data("vxtracker")["installed"] is False
    assert report.data("databases")["servers"] == []
    assert case_prefill(report) == {}
