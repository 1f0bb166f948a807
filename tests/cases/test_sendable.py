"""What will be sent: parts with their redacted text, and a payload from the ticked ones only."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fakes.probe_recorded import RecordedProbe
from vxassist.cases.levels import deadline_texts, priority_levels
from vxassist.cases.sendable import (
    FIELDS_PART,
    MANIFEST_PART,
    PartKind,
    SpanKind,
    parts,
    report_payload,
    section_part_id,
)
from vxassist.redact import MASK
from vxassist.sysinfo.model import Report
from vxassist.sysinfo.report import collect_report

PLANTED = ["Db$ecret2024", "Sa-Pa55word!", "LogPass55", "VX-7788-SECRET-KEY"]


@pytest.fixture(scope="module")
def report() -> Report:
    return collect_report(probe=RecordedProbe("win-vxtracker-sqlserver-avaya"))


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_parts_cover_fields_sections_files_and_the_contents_list(report: Report) -> None:
    got = parts({"brief": "No calls", "priority": "2"}, report)
    ids = [p.id for p in got]
    assert ids[0] == FIELDS_PART and not got[0].optional
    assert "Priority level: 2 (Severe)" in got[0].text
    assert [p.id for p in got if p.kind is PartKind.SECTION] == [
        section_part_id(n) for n in report.sections
    ]
    files = [p for p in got if p.kind is PartKind.FILE]
    assert {p.id for p in files} == {f"file:{f.name}" for f in report.files}
    assert ids[-1] == MANIFEST_PART
    for part in got:
        for secret in PLANTED:
            assert secret not in part.text
    ini = next(p for p in files if p.id.endswith("VXTracker.ini"))
    assert ini.secrets_replaced >= 1
    for span in ini.spans:
        assert ini.text[span.start : span.end] == MASK and span.kind is SpanKind.SECRET


def test_every_text_of_the_payload_is_shown_in_a_part(report: Report) -> None:
    shown = "\n".join(p.text for p in parts({}, report))
    payload = report_payload(report, ())
    assert payload is not None
    missing = [
        s
        for s in _strings(payload)
        if s and s not in shown and json.dumps(s, ensure_ascii=False)[1:-1] not in shown
    ]
    assert missing == []


def test_unticked_parts_do_not_leave_the_machine(report: Report) -> None:
    log = next(f for f in report.files if "/logs/" in f.name)
    ini = next(f for f in report.files if f.name.endswith("VXTracker.ini"))
    unticked = {"section:software", f"file:{log.name}", f"file:{ini.name}"}
    payload = report_payload(report, unticked)
    assert payload is not None
    text = json.dumps(payload)
    assert "software" not in payload["sections"]
    assert "SAP Crystal Reports" not in text
    assert all(f["name"] != log.name for f in payload["files"])
    assert log.text.strip().splitlines()[-1] not in text
    assert ini.text.strip().splitlines()[0] not in text
    left = [m for m in payload["manifest"] if m.get("reason") == "left out by the customer"]
    assert {m["item"] for m in left} == {"software", log.name, ini.name}
    other = next(f for f in report.files if f.name.endswith(".exe.config"))
    assert other.text.strip().splitlines()[1] in text  # a ticked config still goes


def test_a_config_file_goes_alone_when_its_section_is_left_out(report: Report) -> None:
    ini = next(f for f in report.files if f.name.endswith("VXTracker.ini"))
    payload = report_payload(report, {"section:vxtracker"})
    assert payload is not None
    assert "vxtracker" not in payload["sections"]
    assert any(f["name"] == ini.name and f["text"] == ini.text for f in payload["files"])


def test_nothing_ticked_is_no_report(report: Report) -> None:
    everything = {p.id for p in parts({}, report) if p.optional}
    assert report_payload(report, everything) is None
    assert report_payload(None, ()) is None


def test_priority_levels_say_meaning_and_response_time() -> None:
    levels = priority_levels()
    assert [lv.level for lv in levels] == [1, 2, 3, 4]
    assert levels[0].label == "System Down"
    assert "1 business hour" in levels[0].response and "4 hours at any time" in levels[0].response
    assert "8 business hours" in levels[3].response and "06:30-17:30" in levels[3].response


def test_deadline_in_local_and_pacific_time() -> None:
    from zoneinfo import ZoneInfo

    got = deadline_texts("2026-11-24T20:00:00Z", local_tz=ZoneInfo("Europe/Berlin"))
    assert got is not None
    assert got.local == "Tue 24 Nov 2026, 21:00 CET"
    assert got.pacific == "Tue 24 Nov 2026, 12:00 PST"
    assert deadline_texts("not a time") is None


def test_an_anonymized_report_highlights_the_aliases_too() -> None:
    report = collect_report(probe=RecordedProbe("win-vxtracker-sqlserver-avaya"), anonymize=True)
    os_part = next(p for p in parts({}, report) if p.id == "section:os")
    aliases = [os_part.text[s.start : s.end] for s in os_part.spans if s.kind is SpanKind.ALIAS]
    assert aliases and all(a.startswith(("host-", "ip-", "mac-", "user-")) for a in aliases)
    assert "CALLACCT01" not in os_part.text
