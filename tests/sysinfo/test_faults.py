"""Bad input: hanging and failing probes, inapplicable collectors, odd encodings."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from tests.fakes.probe_faults import FaultyProbe
from tests.fakes.probe_recorded import RecordedProbe
from tests.sysinfo.conftest import DEBIAN, WINDOWS, everything, planted_policy
from vxassist.paths import Paths
from vxassist.sysinfo.collectors import ALL_COLLECTORS, CollectContext, Collector
from vxassist.sysinfo.model import Collected, Status
from vxassist.sysinfo.probe import ProbeError
from vxassist.sysinfo.report import collect_report
from vxassist.sysinfo.textfiles import decode


@pytest.fixture
def hanging() -> Iterator[FaultyProbe]:
    probe = FaultyProbe(RecordedProbe(WINDOWS), hang={"services"})
    yield probe
    probe.release()


def test_a_hanging_probe_times_out_its_sections_and_the_report_completes(
    hanging: FaultyProbe,
) -> None:
    report = collect_report(probe=hanging, budget_scale=0.1)
    status = {n: s.status for n, s in report.sections.items()}
    # everything that asks the service manager waits on it; the rest is unaffected
    assert status["databases"] is Status.TIMEOUT
    assert status["vxtracker"] is Status.TIMEOUT
    assert status["os"] is Status.OK and status["disks"] is Status.OK
    assert status["software"] is Status.OK
    assert "budget" in report.section("databases").reason
    assert "services" in hanging.hung
    timed_out = [m for m in report.manifest if m.reason == "timed out"]
    assert {m.section for m in timed_out} >= {"databases", "vxtracker"}


def test_a_failing_probe_fails_one_section_with_its_reason() -> None:
    probe = FaultyProbe(
        RecordedProbe(DEBIAN),
        fail={"disks": PermissionError(13, "Permission denied", "/proc/mounts")},
    )
    report = collect_report(probe=probe)
    disks = report.section("disks")
    assert disks.status is Status.FAILED
    assert disks.reason == "permission denied: /proc/mounts"
    assert report.section("hardware").status is Status.OK
    assert any(m.section == "disks" and m.action == "failed" for m in report.manifest)


class _Broken(Collector):
    section = "os"
    description = "raises an unexpected error"

    def collect(self, ctx: CollectContext) -> Collected:
        raise KeyError("boom")


class _Elsewhere(Collector):
    section = "pbx"
    description = "applies only to macOS"
    platforms = frozenset({"darwin"})

    def collect(self, ctx: CollectContext) -> Collected:
        raise AssertionError("must not run")


def test_unexpected_error_and_inapplicable_collector_print_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    out, err = io.StringIO(), io.StringIO()
    with (
        redirect_stdout(out),
        redirect_stderr(err),
        caplog.at_level(logging.DEBUG, logger="vxassist"),
    ):
        report = collect_report(
            probe=RecordedProbe(DEBIAN),
            collectors=[_Broken(), _Elsewhere(), ALL_COLLECTORS[2]()],
        )
    assert out.getvalue() == err.getvalue() == ""
    assert report.section("os").status is Status.FAILED
    assert report.section("os").reason == "KeyError: 'boom'"
    assert report.section("pbx").status is Status.SKIPPED
    assert report.section("pbx").reason == "does not apply to linux"
    assert report.section("disks").status is Status.OK
    # the traceback goes to the debug log only
    assert any(r.exc_info for r in caplog.records if "collector os failed" in r.getMessage())


def test_registry_questions_on_linux_are_a_reason() -> None:
    probe = FaultyProbe(RecordedProbe(DEBIAN), fail={"services": ProbeError("systemctl hung")})
    report = collect_report(probe=probe)
    assert report.section("databases").status is Status.OK
    notes = [m for m in report.manifest if m.item == "services"]
    assert notes and notes[0].reason == "systemctl hung"


@pytest.mark.parametrize(
    ("raw", "text", "encoding"),
    [
        ("\ufeffName=Zürich".encode("utf-8"), "Name=Zürich", "utf-8-sig"),
        (b"\xff\xfe" + "Name=Zürich".encode("utf-16-le"), "Name=Zürich", "utf-16-le"),
        (b"\xfe\xff" + "Name=Zürich".encode("utf-16-be"), "Name=Zürich", "utf-16-be"),
        ("Name=Zürich".encode("utf-16-le"), "Name=Zürich", "utf-16-le"),
        ("Société".encode("cp1252"), "Société", "cp1252"),
        (b"ok \x81 odd", "ok \ufffd odd", "cp1252"),
        ("Zürich".encode(), "Zürich", "utf-8"),
        (b"", "", "utf-8"),
    ],
)
def test_decode_never_raises(raw: bytes, text: str, encoding: str) -> None:
    assert decode(raw) == (text, encoding)


def test_decode_odd_utf16_length_and_cut_utf8() -> None:
    assert decode(b"\xff\xfeA\x00B")[0] == "A"
    # a tail cut in the middle of "ü" keeps the rest as UTF-8
    cut = "ü line".encode()[1:]
    assert decode(cut, from_tail=True) == (" line", "utf-8")


class _Leaky(Collector):
    section = "os"
    description = "fails with a secret in its message"

    def collect(self, ctx: CollectContext) -> Collected:
        raise ValueError("connect failed: password=Leaky-Secret-31")


def test_a_failure_reason_is_cleaned_too() -> None:
    report = collect_report(probe=RecordedProbe(DEBIAN), collectors=[_Leaky()])
    assert report.section("os").status is Status.FAILED
    assert "Leaky-Secret-31" not in report.section("os").reason
    assert all("Leaky-Secret-31" not in m.reason for m in report.manifest)


def test_live_probe_refuses_pipes_and_reports_them(paths: Paths, tmp_path: Path) -> None:
    """A config glob that matches a FIFO must not hang the report (opening it would)."""
    import os

    from vxassist.settings import load_settings

    install = tmp_path / "vx"
    install.mkdir()
    os.mkfifo(install / "pipe.conf")
    (install / "good.ini").write_bytes("PBXManufacturer=NEC\r\n".encode("cp1252"))
    paths.policy_file.write_text(planted_policy(install))
    os.chmod(paths.policy_file, 0o644)
    report = collect_report(load_settings(paths))
    assert report.section("vxtracker").status is Status.OK
    assert report.data("pbx")["manufacturer"] == "NEC"
    refused = [m for m in report.manifest if m.item.endswith("pipe.conf")]
    assert refused and "not a regular file" in refused[0].reason


def test_live_probe_does_not_follow_symlinks_out_of_the_install(
    paths: Paths, tmp_path: Path
) -> None:
    import os

    from vxassist.settings import load_settings

    outside = tmp_path / "shadow"
    outside.write_text("root:$6$Outside-Hash-777:19000:0:99999:7:::\n")
    install = tmp_path / "vx"
    (install / "etc").mkdir(parents=True)
    (install / "server.conf").symlink_to(outside)
    (install / "etc" / "server.conf").write_text("pbx_model = SV9100\n")
    (install / "logs").mkdir()
    (install / "logs" / "server.conf").write_text("not a config\n")
    paths.policy_file.write_text(
        planted_policy(install, config_globs=["*.conf", "etc/*.conf", "logs/*.conf"], log_globs=[])
    )
    os.chmod(paths.policy_file, 0o644)
    report = collect_report(load_settings(paths))
    assert "Outside-Hash-777" not in everything(report)
    refused = [m for m in report.manifest if m.item == str(install / "server.conf")]
    assert refused and "symbolic link" in refused[0].reason
    assert report.data("pbx")["model"] == "SV9100"
    # same-named files from two folders both reach the bundle under distinct names
    names = sorted(f.name for f in report.files)
    assert names == ["vxtracker/config/server.conf", "vxtracker/config/server.conf.2"]


def test_a_hanging_process_snapshot_does_not_hang_the_report() -> None:
    probe = FaultyProbe(RecordedProbe(DEBIAN), hang={"snapshot"})
    try:
        report = collect_report(probe=probe, budget_scale=0.1, anonymize=True)
    finally:
        probe.release()
    status = {n: s.status for n, s in report.sections.items()}
    for name in ("ports", "databases", "vxtracker", "pbx", "time"):
        assert status[name] is Status.TIMEOUT, name
    for name in ("os", "hardware", "disks", "network", "software"):
        assert status[name] is Status.OK, name


def test_utf16_log_tail_cut_at_an_odd_size(paths: Paths) -> None:
    """VXTracker on Windows may write its log in UTF-16; a tail must stay readable."""
    import base64
    import os

    from vxassist.settings import load_settings

    lines = "".join(f"14:{m:02d} Empfang von Nebenstelle {m} – OK\r\n" for m in range(60))
    raw = b"\xff\xfe" + lines.encode("utf-16-le")
    probe = RecordedProbe(WINDOWS)
    log_path = r"C:\Program Files (x86)\Communicado\VXTracker\Logs\VXTracker.log"
    files = dict(probe.data["files"])
    files[log_path] = {"b64": base64.b64encode(raw).decode(), "mtime": 1795186560}
    probe.data["files"] = files
    paths.policy_file.write_text("[sysinfo.vxtracker]\nlog_tail_bytes = 301\n")
    os.chmod(paths.policy_file, 0o644)
    report = collect_report(load_settings(paths), probe=probe)
    log = next(f for f in report.files if f.name.endswith("VXTracker.log"))
    assert log.encoding == "utf-16-le" and log.truncated
    assert "\ufffd" not in log.text
    assert log.text.rstrip().endswith("14:59 Empfang von Nebenstelle 59 – OK")
    assert log.text.startswith("14:")


def test_terminal_escapes_from_the_machine_do_not_reach_the_screen() -> None:
    from vxassist.sysinfo.render import summary

    probe = RecordedProbe(DEBIAN)
    procs = [dict(p) for p in probe.data["processes"]]
    for p in procs:
        if p["name"] == "sshd":
            p["name"] = "sshd\x1b]0;owned\x07\x9b2J"
    probe.data["processes"] = procs
    text = summary(collect_report(probe=probe))
    assert "sshd?]0;owned??2J" in text
    assert not any(c in text for c in "\x1b\x07\x9b")
