"""The report collects less: environments only of the processes it is about, and
only values that hold no secret; other processes by name and owner only."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest

from tests.fakes.probe_recorded import RecordedProbe
from tests.sysinfo.secret_corpus import ENVIRONMENT, OTHER_PROCESS, corpus_probe
from vxassist.redact import MASK
from vxassist.sysinfo import live
from vxassist.sysinfo.collectors import CollectContext
from vxassist.sysinfo.collectors.system import PortsCollector
from vxassist.sysinfo.collectors.vxtracker import VxTrackerCollector
from vxassist.sysinfo.report import collect_report
from vxassist.sysinfo.rules import load_rules

#: the VXTracker processes of the corpus host (vxtrackerd and its helpers)
VXTRACKER_PIDS = {1200, 1300, 1301, 1302, 1303}


class EnvironSpy:
    """The corpus host, noting whose environment was asked for."""

    def __init__(self) -> None:
        self.probe = corpus_probe()
        self.asked: list[int] = []

    def environ(self, pid: int) -> dict[str, str]:
        self.asked.append(pid)
        return self.probe.environ(pid)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.probe, name)


def _context(probe: Any) -> CollectContext:
    return CollectContext(probe, load_rules(), probe.platform())


def test_secret_values_of_an_environment_are_never_collected() -> None:
    data = VxTrackerCollector().collect(_context(corpus_probe())).data
    env = next(p for p in data["processes"] if p["pid"] == 1300)["environment"]
    assert env["PWD"] == "/opt/vxtracker"
    assert env["OLDPWD"] == "/home/vxtracker"
    assert env["LANG"] == "C.UTF-8"
    # the rest names a secret or holds one (a connection string, a URL with a
    # password, a token): present by name, its value not even read into the report
    withheld = set(ENVIRONMENT) - {"PWD", "OLDPWD", "LANG"}
    assert {name: env[name] for name in withheld} == dict.fromkeys(withheld, MASK)


def test_environments_only_of_the_processes_the_report_is_about() -> None:
    spy = EnvironSpy()
    collect_report(probe=spy)  # type: ignore[arg-type]
    assert spy.asked and set(spy.asked) <= VXTRACKER_PIDS


def test_other_processes_by_name_and_owner_only() -> None:
    listening = PortsCollector().collect(_context(corpus_probe())).data["listening"]
    other = [p for p in listening if p["pid"] == OTHER_PROCESS["pid"]]
    assert other == [
        {
            "proto": "tcp",
            "address": "0.0.0.0",
            "port": 8080,
            "pid": OTHER_PROCESS["pid"],
            "process": "node",
            "user": "operator1",
        }
    ]
    # the processes the report is about keep their program and command line
    maria = next(p for p in listening if p["process"] == "mariadbd")
    assert maria["exe"] == "/usr/sbin/mariadbd" and maria["cmdline"] == ["/usr/sbin/mariadbd"]
    collector = next(p for p in listening if p["pid"] == 1300)
    assert collector["cmdline"][0] == "/opt/vxtracker/bin/vxcollector"


def test_the_recorded_hosts_keep_their_database_and_vxtracker_listeners() -> None:
    report = collect_report(probe=RecordedProbe("debian-vxtracker-mariadb-postgres"))
    by_process = {p["process"]: p for p in report.data("ports")["listening"]}
    assert by_process["postgres"]["cmdline"][0] == "/usr/lib/postgresql/15/bin/postgres"
    assert "cmdline" not in by_process["sshd"] and by_process["sshd"]["user"] == "root"


@pytest.mark.skipif(os.name != "posix", reason="a sleeping child stands in for another program")
def test_the_live_probe_reads_other_processes_by_name_and_owner_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = subprocess.Popen(["sleep", "120", "--api-token", "Live-Other-Secret-1"])
    try:
        snapshot = live.LiveProbe(detail=lambda name: name == "python3").snapshot()
    finally:
        other.kill()
        other.wait()
    seen = {p.pid: p for p in snapshot.processes}
    assert seen[other.pid].name == "sleep" and seen[other.pid].username
    assert seen[other.pid].cmdline == () and seen[other.pid].exe == ""
    assert "Live-Other-Secret-1" not in repr(snapshot)
    # the report's own live probe reads in full only what the report is about
    made: list[Any] = []
    real = live.LiveProbe

    def spy(detail: Any = None) -> Any:
        made.append(detail)
        return real(detail=detail)

    monkeypatch.setattr(live, "LiveProbe", spy)
    collect_report()
    [detail] = made
    assert detail("mariadbd") and detail("VXTrackerService.exe") and not detail("sleep")
