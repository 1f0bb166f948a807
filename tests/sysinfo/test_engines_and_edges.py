"""Engines and paths the two recorded hosts do not exercise by default."""

from __future__ import annotations

import json

import pytest

from tests.fakes.probe_recorded import RecordedProbe
from tests.sysinfo.conftest import DEBIAN, WINDOWS
from vxassist.paths import Paths
from vxassist.sysinfo.collectors.databases import parse_mysql_handshake
from vxassist.sysinfo.probe import Unsupported
from vxassist.sysinfo.report import collect_report


def _machine(name: str) -> dict:
    return RecordedProbe(name).data


def test_odbc_passwords_are_never_asked_for() -> None:
    probe = RecordedProbe(WINDOWS)
    collect_report(probe=probe)
    dsn_reads = [c for c in probe.calls if c.startswith("reg:HKLM\\SOFTWARE\\ODBC\\ODBC.INI\\VX")]
    assert dsn_reads, probe.calls
    for call in dsn_reads:
        names = call.rsplit(":", 1)[1].split(",")
        assert "PWD" not in names and "Driver" in names


def test_firebird_and_oracle_by_process_service_and_port() -> None:
    data = _machine(WINDOWS)
    procs = [
        *data["processes"],
        {
            "pid": 5100,
            "ppid": 612,
            "name": "fbserver.exe",
            "username": "NT AUTHORITY\\SYSTEM",
            "exe": "C:\\Program Files\\Firebird\\Firebird_2_5\\bin\\fbserver.exe",
            "cmdline": [],
        },
        {
            "pid": 5200,
            "ppid": 612,
            "name": "TNSLSNR.EXE",
            "username": "NT AUTHORITY\\SYSTEM",
            "exe": "C:\\app\\oracle\\product\\19.0.0\\dbhome_1\\bin\\TNSLSNR.EXE",
            "cmdline": [],
        },
    ]
    sockets = [
        *data["sockets"],
        {
            "proto": "tcp",
            "laddr": "0.0.0.0",
            "lport": 3050,
            "raddr": "",
            "rport": 0,
            "status": "LISTEN",
            "pid": 5100,
        },
        {
            "proto": "tcp",
            "laddr": "0.0.0.0",
            "lport": 1521,
            "raddr": "",
            "rport": 0,
            "status": "LISTEN",
            "pid": 5200,
        },
    ]
    services = [
        *data["services"],
        {
            "name": "FirebirdServerDefaultInstance",
            "display_name": "Firebird Server",
            "state": "running",
            "start_type": "automatic",
            "binpath": "",
            "pid": 5100,
        },
        {
            "name": "OracleServiceORCL",
            "display_name": "OracleServiceORCL",
            "state": "stopped",
            "start_type": "manual",
            "binpath": "",
            "pid": None,
        },
    ]
    registry = {
        **data["registry"],
        "HKLM\\SOFTWARE\\ORACLE\\KEY_OraDB19Home1": {
            "ORACLE_HOME": "C:\\app\\oracle\\product\\19.0.0\\dbhome_1",
            "ORACLE_SID": "ORCL",
        },
    }
    commands = {
        **data["commands"],
        "C:\\Program Files\\Firebird\\Firebird_2_5\\bin\\fbserver.exe -z": {
            "returncode": 0,
            "stdout": "Firebird remote server version WI-V2.5.9.27139\n",
        },
    }
    probe = RecordedProbe(
        WINDOWS,
        overrides={
            "processes": procs,
            "sockets": sockets,
            "services": services,
            "registry": registry,
            "commands": commands,
        },
    )
    servers = collect_report(probe=probe).data("databases")["servers"]
    fb = [s for s in servers if s["engine"] == "firebird"]
    assert len(fb) == 1
    assert fb[0]["version"] == "2.5.9.27139"
    assert fb[0]["service"]["name"] == "FirebirdServerDefaultInstance"
    assert "0.0.0.0:3050" in fb[0]["listening"]
    ora = [s for s in servers if s["engine"] == "oracle"]
    assert ora and ora[0]["instance"] == "ORCL"
    assert "0.0.0.0:1521" in ora[0]["listening"]
    assert "registry" in ora[0]["found_by"]
    assert (ora[0]["version"], ora[0]["version_source"]) == ("19.0.0", "ORACLE_HOME path")


def test_a_stopped_server_known_only_by_its_service() -> None:
    data = _machine(DEBIAN)
    services = [s for s in data["services"] if s["name"] != "mariadb"]
    services.append(
        {
            "name": "mysql",
            "display_name": "MySQL Community Server",
            "state": "stopped",
            "start_type": "",
        }
    )
    procs = [p for p in data["processes"] if p["name"] != "mariadbd"]
    sockets = [s for s in data["sockets"] if s["lport"] != 3306]
    probe = RecordedProbe(
        DEBIAN, overrides={"services": services, "processes": procs, "sockets": sockets}
    )
    servers = collect_report(probe=probe).data("databases")["servers"]
    mysql = [s for s in servers if s["engine"] == "mysql"]
    assert mysql == [
        {
            "engine": "mysql",
            "product": "MySQL/MariaDB",
            "instance": "",
            "version": "",
            "version_source": "",
            "found_by": ["service"],
            "listening": [],
            "pids": [],
            "service": {"name": "mysql", "state": "stopped", "start_type": ""},
            "notes": ["version not available without credentials"],
        }
    ]


def test_rpm_when_there_is_no_dpkg() -> None:
    data = _machine(DEBIAN)
    files = {k: v for k, v in data["files"].items() if k != "/var/lib/dpkg/status"}
    commands = {
        **data["commands"],
        "rpm -qa --qf %{NAME}\t%{VERSION}-%{RELEASE}\n": {
            "returncode": 0,
            "stdout": "mariadb-server\t10.5.22-1.el9\nbash\t5.1.8-9.el9\n",
        },
    }
    software = collect_report(
        probe=RecordedProbe(DEBIAN, overrides={"files": files, "commands": commands})
    ).data("software")
    assert software["source"] == "rpm"
    assert software["packages"] == [
        {"name": "bash", "version": "5.1.8-9.el9"},
        {"name": "mariadb-server", "version": "10.5.22-1.el9"},
    ]


def test_log_tails_are_size_capped_and_start_on_a_whole_line(paths) -> None:
    import os

    from vxassist.settings import load_settings

    paths.policy_file.write_text("[sysinfo.vxtracker]\nlog_tail_bytes = 300\n")
    os.chmod(paths.policy_file, 0o644)
    report = collect_report(load_settings(paths), probe=RecordedProbe(DEBIAN))
    log = next(f for f in report.files if f.name.endswith("vxtracker.log"))
    assert log.truncated
    assert len(log.text.encode()) <= 300
    assert log.text.startswith("2026-11-20T10:")
    assert log.text.rstrip().endswith("réception terminée")
    entry = next(m for m in report.manifest if m.item == log.name and m.action == "collected")
    assert "tail only" in entry.reason
    info = report.data("vxtracker")["log_files"][0]
    assert info["truncated"] is True and info["sha256"] == entry.sha256


def test_mysql_handshake_parsing() -> None:
    payload = bytes([10]) + b"8.0.36\0" + b"\x01\x00\x00\x00abcdefgh\0"
    packet = len(payload).to_bytes(3, "little") + b"\0" + payload
    assert parse_mysql_handshake(packet) == "8.0.36"
    error = b"\x17\x00\x00\x00\xffj\x04Host '10.0.0.9' is not allowed"
    assert parse_mysql_handshake(error) is None
    assert parse_mysql_handshake(b"SSH-2.0-OpenSSH_9.2\r\n") is None
    assert parse_mysql_handshake(b"") is None


def test_the_registry_module_refuses_off_windows() -> None:
    import sys

    from vxassist.sysinfo import windows

    if sys.platform == "win32":
        pytest.skip("this checks the non-Windows path")
    with pytest.raises(Unsupported):
        windows.reg_values(r"HKLM\SOFTWARE")
    with pytest.raises(Unsupported):
        windows.reg_subkeys(r"HKLM\SOFTWARE")


def test_recorded_machines_are_valid_json_with_every_probe_answer() -> None:
    for name in (WINDOWS, DEBIAN):
        data = _machine(name)
        for key in (
            "platform",
            "now",
            "cpu",
            "memory",
            "disks",
            "interfaces",
            "processes",
            "sockets",
            "services",
            "files",
            "timezone",
        ):
            assert key in data, (name, key)
        json.dumps(data)


def test_version_is_asked_of_the_listening_server_not_its_wrapper() -> None:
    data = _machine(DEBIAN)
    procs = [p for p in data["processes"] if p["name"] != "mariadbd"]
    procs += [
        {
            "pid": 790,
            "ppid": 1,
            "name": "mysqld_safe",
            "exe": "/usr/bin/dash",
            "cmdline": ["/bin/sh", "/usr/bin/mysqld_safe"],
            "username": "root",
        },
        {
            "pid": 801,
            "ppid": 790,
            "name": "mysqld",
            "exe": "/usr/sbin/mysqld",
            "cmdline": ["/usr/sbin/mysqld"],
            "username": "mysql",
        },
    ]
    commands = {
        **data["commands"],
        "/usr/sbin/mysqld --version": {
            "returncode": 0,
            "stdout": "/usr/sbin/mysqld  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server)\n",
        },
    }
    probe = RecordedProbe(
        DEBIAN, overrides={"processes": procs, "banners": {}, "commands": commands}
    )
    report = collect_report(probe=probe)
    mysql = [s for s in report.data("databases")["servers"] if s["engine"] == "mysql"]
    assert len(mysql) == 1
    assert (mysql[0]["version"], mysql[0]["exe"]) == ("8.0.36", "/usr/sbin/mysqld")
    assert mysql[0]["pids"] == [790, 801]
    assert "run:/usr/bin/dash --version" not in probe.calls


VX = r"C:\Program Files (x86)\Communicado\VXTracker"


def test_unquoted_service_binpath_and_secret_rule_keys(paths: Paths) -> None:
    import os

    from vxassist.settings import load_settings

    data = _machine(WINDOWS)
    services = [
        {
            **s,
            "binpath": VX + r"\VXTrackerService.exe /service",
        }
        if s["name"] == "VXTrackerService"
        else s
        for s in data["services"]
    ]
    # an administrator's rule that names a secret key must not pull the secret out
    paths.policy_file.write_text('[sysinfo.vxtracker]\npbx_model_keys = ["AdminPassword"]\n')
    os.chmod(paths.policy_file, 0o644)
    probe = RecordedProbe(WINDOWS, overrides={"services": services})
    report = collect_report(load_settings(paths), probe=probe)
    vx = report.data("vxtracker")
    assert vx["install_dirs"] == ["C:\\Program Files (x86)\\Communicado\\VXTracker"]
    assert report.data("pbx")["model"] == ""
    assert "correct horse" not in str(report.to_dict())


def test_version_probes_share_one_allowance(monkeypatch: pytest.MonkeyPatch) -> None:
    from vxassist.sysinfo.collectors import databases

    monkeypatch.setattr(databases, "_VERSION_ALLOWANCE_S", 0.0)
    report = collect_report(probe=RecordedProbe(DEBIAN))
    for server in report.data("databases")["servers"]:
        assert server["version"] == ""
        assert "the time allowed for version probes ran out" in server["notes"][-1]
    assert report.section("databases").status == "ok"


def test_total_file_text_is_capped(paths: Paths) -> None:
    import os

    from vxassist.settings import load_settings

    paths.policy_file.write_text("[sysinfo.vxtracker]\nmax_total_bytes = 500\n")
    os.chmod(paths.policy_file, 0o644)
    report = collect_report(load_settings(paths), probe=RecordedProbe(DEBIAN))
    assert sum(len(f.text) for f in report.files) <= 500
    skipped = [
        m for m in report.manifest if m.action == "skipped" and "as much file text" in m.reason
    ]
    assert skipped
    # a cap the policy set is no shortfall (the section is partial for its unreadable file)
    assert "file text" not in report.section("vxtracker").reason
    assert report.section("vxtracker").reason == (
        "/opt/vxtracker/etc/secret.conf: not readable: recorded permission error"
    )
