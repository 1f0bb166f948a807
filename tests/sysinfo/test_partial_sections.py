"""A section that saw less than it should says so in itself: ``partial`` with the reason."""

from __future__ import annotations

from typing import Any

from tests.fakes.probe_recorded import RecordedProbe
from tests.sysinfo.conftest import DEBIAN
from vxassist.sysinfo.live import hidden_processes_reason
from vxassist.sysinfo.model import Status
from vxassist.sysinfo.probe import ProcessInfo
from vxassist.sysinfo.render import summary
from vxassist.sysinfo.report import case_prefill, collect_report


def _debian(**overrides: Any) -> RecordedProbe:
    return RecordedProbe(DEBIAN, overrides=overrides)


def test_sockets_without_an_owner_make_the_ports_partial() -> None:
    base = RecordedProbe(DEBIAN).data
    hidden = {
        "proto": "tcp",
        "laddr": "0.0.0.0",
        "lport": 8443,
        "raddr": "",
        "rport": 0,
        "status": "LISTEN",
        "pid": None,
    }
    report = collect_report(probe=_debian(sockets=[*base["sockets"], hidden]))
    ports = report.section("ports")
    assert ports.status is Status.PARTIAL
    assert "1 listening socket shows no owning process" in ports.reason
    assert "administrator" in ports.reason
    # what it saw is still there, and said on screen
    assert any(p["port"] == 8443 for p in ports.data["listening"])
    assert "[partial] ports: 1 listening socket" in summary(report)
    assert report.to_dict()["sections"]["ports"]["status"] == "partial"


def test_sockets_that_could_not_be_listed() -> None:
    why = "sockets could not be listed ([Errno 2] No such file or directory: '/proc/net/tcp6')"
    report = collect_report(probe=_debian(snapshot_errors={"sockets": why}))
    for name in ("ports", "databases", "pbx"):
        section = report.section(name)
        assert section.status is Status.PARTIAL, name
        assert "/proc/net/tcp6" in section.reason, name
    assert report.section("os").status is Status.OK


def test_hidden_processes_make_the_process_sections_partial() -> None:
    why = "other accounts' processes are hidden (/proc is mounted with hidepid)"
    report = collect_report(probe=_debian(snapshot_errors={"processes": why}))
    for name in ("ports", "databases", "vxtracker", "pbx", "time"):
        assert report.section(name).status is Status.PARTIAL, name
        assert "hidepid" in report.section(name).reason
    # a partial section still fills the case
    assert case_prefill(report)["database_type"].startswith("MariaDB")


def test_the_live_probe_notices_hidepid() -> None:
    mine = [ProcessInfo(4242, 4000, "vxassist", "", (), "operator1")]
    assert hidden_processes_reason(mine, euid=1000, proc_mounted=True)
    assert "hidepid" in str(hidden_processes_reason(mine, euid=1000, proc_mounted=True))
    init = ProcessInfo(1, 0, "systemd", "", (), "root")
    assert hidden_processes_reason([init, *mine], euid=1000, proc_mounted=True) is None
    assert hidden_processes_reason(mine, euid=0, proc_mounted=True) is None


def test_unreadable_files_and_environments_make_vxtracker_partial() -> None:
    report = collect_report(probe=_debian(environ={}))
    vx = report.section("vxtracker")
    assert vx.status is Status.PARTIAL
    assert "/opt/vxtracker/etc/secret.conf" in vx.reason  # recorded as permission denied
    assert "environment of process 1200" in vx.reason


def test_a_machine_without_dmi_says_why_maker_and_model_are_empty() -> None:
    base = RecordedProbe(DEBIAN).data
    files = {k: v for k, v in base["files"].items() if not k.startswith("/sys/class/dmi/")}
    report = collect_report(probe=_debian(files=files))
    hardware = report.section("hardware")
    assert hardware.status is Status.PARTIAL
    assert hardware.data["manufacturer"] == "" and hardware.data["model"] == ""
    assert "maker and model" in hardware.reason and "DMI" in hardware.reason


def test_the_recorded_hosts_see_everything_else() -> None:
    report = collect_report(probe=RecordedProbe(DEBIAN))
    partial = {n for n, s in report.sections.items() if s.status is Status.PARTIAL}
    assert partial == {"vxtracker"}  # its secret.conf is recorded as unreadable


def test_the_hypervisor_is_named() -> None:
    base = RecordedProbe(DEBIAN).data
    files = {k: v for k, v in base["files"].items() if not k.startswith("/sys/class/dmi/")}
    commands = {
        **base["commands"],
        "systemd-detect-virt --vm": {"returncode": 0, "stdout": "kvm\n"},
    }
    report = collect_report(probe=_debian(files=files, commands=commands))
    hardware = report.section("hardware")
    assert hardware.data["hypervisor"] == "kvm"
    assert hardware.reason.endswith("the machine is a virtual one under kvm")
    assert "(virtual, kvm)" in summary(report)
    # named by the firmware, too
    vmware = {
        **base["files"],
        "/sys/class/dmi/id/sys_vendor": {"text": "VMware, Inc.\n"},
        "/sys/class/dmi/id/product_name": {"text": "VMware Virtual Platform\n"},
    }
    report = collect_report(probe=_debian(files=vmware))
    assert report.data("hardware")["hypervisor"] == "VMware"
    assert report.section("hardware").status is Status.OK
    # bare metal, and no systemd-detect-virt to ask: none
    assert collect_report(probe=_debian()).data("hardware")["hypervisor"] == ""
