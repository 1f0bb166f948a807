"""Recognition rules: shipped defaults, overridden by the machine policy."""

from __future__ import annotations

import os

from tests.fakes.probe_recorded import RecordedProbe
from tests.sysinfo.conftest import DEBIAN
from vxassist.paths import Paths
from vxassist.settings import load_settings
from vxassist.sysinfo.report import collect_report
from vxassist.sysinfo.rules import load_rules, matches


def test_shipped_rules_name_vxtracker_and_every_engine() -> None:
    rules = load_rules()
    assert rules.problems == ()
    assert matches("VXTrackerService.exe", rules.vxtracker.process_names)
    assert {e.key for e in rules.engines} == {
        "sqlserver",
        "mysql",
        "postgresql",
        "oracle",
        "firebird",
    }
    assert next(e for e in rules.engines if e.key == "mysql").ports == (3306,)


def _policy(paths: Paths, text: str) -> None:
    paths.policy_file.write_text(text)
    os.chmod(paths.policy_file, 0o644)


def test_policy_replaces_a_rule_and_the_report_follows(paths: Paths) -> None:
    _policy(
        paths,
        '[sysinfo.vxtracker]\nprocess_names = ["mariadbd"]\nservice_names = []\n'
        "install_paths = []\n",
    )
    settings = load_settings(paths)
    rules = load_rules(settings.policy_extra)
    assert rules.vxtracker.process_names == ("mariadbd",)
    # the other keys keep their defaults
    assert rules.vxtracker.log_tail_bytes == 16384
    report = collect_report(settings, probe=RecordedProbe(DEBIAN))
    vx = report.data("vxtracker")
    assert [p["name"] for p in vx["processes"]] == ["mariadbd"]
    assert vx["install_dirs"] == ["/usr/sbin"]


def test_policy_can_add_an_engine(paths: Paths) -> None:
    _policy(
        paths,
        '[sysinfo.databases.callstore]\nlabel = "CallStore DB"\n'
        'process_names = ["vxtrackerd"]\nports = [1752]\n',
    )
    report = collect_report(load_settings(paths), probe=RecordedProbe(DEBIAN))
    engines = report.data("databases")["engines_found"]
    assert "callstore" in engines


def test_bad_policy_values_are_ignored_with_a_reason(paths: Paths) -> None:
    _policy(
        paths,
        '[sysinfo.vxtracker]\nprocess_names = "vxtrackerd"\nlog_tail_bytes = -5\n'
        "colour = 3\n[sysinfo.databases]\nbroken = 1\n",
    )
    settings = load_settings(paths)
    report = collect_report(settings, probe=RecordedProbe(DEBIAN))
    reasons = [m.reason for m in report.manifest if m.section == "report"]
    assert any("process_names ignored (process_names must be a list)" in r for r in reasons)
    assert any("log_tail_bytes ignored" in r for r in reasons)
    assert any("unknown key 'colour' ignored" in r for r in reasons)
    assert any("[sysinfo.databases.broken] is not a table" in r for r in reasons)
    # defaults still find VXTracker
    assert report.data("vxtracker")["installed"] is True
