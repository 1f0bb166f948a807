"""One stuck process must not blank the report: it is left out, with the reason."""

from __future__ import annotations

import os
import subprocess
import threading
from typing import Any

import pytest

from vxassist.sysinfo import live
from vxassist.sysinfo.model import Status
from vxassist.sysinfo.probe import ProcessInfo
from vxassist.sysinfo.report import collect_report


@pytest.mark.skipif(os.name != "posix", reason="a sleeping child stands in for a stuck process")
def test_one_stuck_process_is_left_out_and_the_report_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()
    real = live._read_process
    child = subprocess.Popen(["sleep", "120"])
    after = subprocess.Popen(["sleep", "120"])  # read after the stuck one

    def read(pid: int, users: dict[int, str], detail: Any = None) -> ProcessInfo | None:
        if pid == child.pid:
            release.wait(60)  # as a read of /proc/PID on a hung mount would block
        return real(pid, users, detail)

    monkeypatch.setattr(live, "_read_process", read)
    probe = live.LiveProbe()
    try:
        report = collect_report(probe=probe)
        snapshot = probe.snapshot()
    finally:
        release.set()
        for proc in (child, after):
            proc.kill()
            proc.wait()
    for name in ("ports", "databases", "vxtracker", "pbx", "time"):
        section = report.section(name)
        assert section.status is Status.PARTIAL, (name, section.status, section.reason)
        assert f"process {child.pid} did not answer" in section.reason, name
    pids = {p.pid for p in snapshot.processes}
    assert child.pid not in pids
    assert after.pid in pids and os.getpid() in pids
