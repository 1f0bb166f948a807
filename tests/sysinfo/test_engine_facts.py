"""Facts about database servers that were wrong: a port is not an engine, a version
comes from the engine itself, one server is one entry."""

from __future__ import annotations

from typing import Any

from tests.fakes.probe_recorded import RecordedProbe
from tests.sysinfo.conftest import DEBIAN
from vxassist.sysinfo.model import Report
from vxassist.sysinfo.render import summary
from vxassist.sysinfo.report import case_prefill, collect_report


def _debian(**changes: Any) -> dict[str, Any]:
    return {**RecordedProbe(DEBIAN).data, **changes}


def _without_mariadb() -> dict[str, Any]:
    data = _debian()
    return {
        "processes": [p for p in data["processes"] if p["name"] != "mariadbd"],
        "sockets": [s for s in data["sockets"] if s["pid"] != 801],
        "services": [s for s in data["services"] if s["name"] != "mariadb"],
    }


def _listen(port: int, pid: int | None, address: str = "0.0.0.0") -> dict[str, Any]:
    return {
        "proto": "tcp",
        "laddr": address,
        "lport": port,
        "raddr": "",
        "rport": 0,
        "status": "LISTEN",
        "pid": pid,
    }


def _engines(report: Report, engine: str) -> list[dict[str, Any]]:
    return [s for s in report.data("databases")["servers"] if s["engine"] == engine]


def test_a_port_with_an_unknown_owner_is_not_an_engine() -> None:
    base = _debian()
    probe = RecordedProbe(DEBIAN, overrides={"sockets": [*base["sockets"], _listen(1433, None)]})
    report = collect_report(probe=probe)
    assert _engines(report, "sqlserver") == []
    assert "Microsoft SQL Server" not in case_prefill(report)["database_type"]
    ports = report.data("databases")["ports_without_server"]
    assert ports == [
        {"port": 1433, "address": "0.0.0.0", "owner": "", "note": "port 1433 open, owner unknown"}
    ]
    assert "port 1433 open, owner unknown" in summary(report)


def test_a_version_never_comes_from_the_program_that_holds_the_port() -> None:
    bare = _without_mariadb()
    python = {
        "pid": 3100,
        "ppid": 1,
        "name": "python3",
        "exe": "/usr/bin/python3.11",
        "cmdline": ["python3", "-m", "http.server", "3306"],
        "username": "operator1",
    }
    commands = {
        **_debian()["commands"],
        "/usr/bin/python3.11 --version": {"returncode": 0, "stdout": "Python 3.11.2\n"},
    }
    probe = RecordedProbe(
        DEBIAN,
        overrides={
            "processes": [*bare["processes"], python],
            "sockets": [*bare["sockets"], _listen(3306, 3100)],
            "services": bare["services"],
            "commands": commands,
            "banners": {},
        },
    )
    report = collect_report(probe=probe)
    assert _engines(report, "mysql") == []
    assert not [c for c in probe.calls if "python3" in c and "--version" in c]
    assert "3.11.2" not in str(report.data("databases"))
    ports = report.data("databases")["ports_without_server"]
    assert ports == [
        {
            "port": 3306,
            "address": "0.0.0.0",
            "owner": "python3",
            "note": "port 3306 open, owned by python3, which is not a MySQL/MariaDB server",
        }
    ]


def test_a_server_that_answers_on_its_port_is_known_by_its_own_greeting() -> None:
    bare = _without_mariadb()
    probe = RecordedProbe(
        DEBIAN,
        overrides={
            "processes": bare["processes"],
            "sockets": [*bare["sockets"], _listen(3306, None, "127.0.0.1")],
            "services": bare["services"],
        },
    )
    report = collect_report(probe=probe)
    [maria] = _engines(report, "mysql")
    assert maria["product"] == "MariaDB"
    assert (maria["version"], maria["version_source"]) == (
        "10.11.6-MariaDB-0+deb12u1",
        "handshake on port 3306",
    )
    assert maria["found_by"] == ["banner", "port"]
    assert report.data("databases")["ports_without_server"] == []


def test_unit_aliases_of_one_server_are_one_entry() -> None:
    base = _debian()
    aliases = [
        {"name": "mysql", "display_name": "", "state": "running", "start_type": ""},
        {"name": "mysqld", "display_name": "", "state": "unknown", "start_type": ""},
    ]
    report = collect_report(
        probe=RecordedProbe(DEBIAN, overrides={"services": [*base["services"], *aliases]})
    )
    [maria] = _engines(report, "mysql")
    assert maria["service"]["name"] == "mariadb"
    assert maria["pids"] == [801]
    assert "service mysql: running (another name of this server)" in maria["notes"]


def test_unit_aliases_of_a_stopped_server_are_one_entry() -> None:
    bare = _without_mariadb()
    units = [
        {"name": name, "display_name": "", "state": "inactive", "start_type": ""}
        for name in ("mariadb", "mysql", "mysqld")
    ]
    probe = RecordedProbe(
        DEBIAN,
        overrides={
            "processes": bare["processes"],
            "sockets": bare["sockets"],
            "services": [*bare["services"], *units],
        },
    )
    [maria] = _engines(collect_report(probe=probe), "mysql")
    assert maria["service"]["name"] == "mariadb"
    assert maria["pids"] == []
    assert "service mysql: inactive (another name of this server)" in maria["notes"]
    assert "service mysqld: inactive (another name of this server)" in maria["notes"]


def test_a_server_from_another_data_folder_is_not_the_packaged_unit() -> None:
    bare = _without_mariadb()
    manual = {
        "pid": 3300,
        "ppid": 1,
        "name": "mariadbd",
        "exe": "/usr/sbin/mariadbd",
        "cmdline": ["/usr/sbin/mariadbd", "--datadir=/srv/vx-restore", "--port=3307"],
        "username": "operator1",
    }
    unit = {"name": "mariadb", "display_name": "", "state": "inactive", "start_type": ""}
    probe = RecordedProbe(
        DEBIAN,
        overrides={
            "processes": [*bare["processes"], manual],
            "sockets": [*bare["sockets"], _listen(3307, 3300, "127.0.0.1")],
            "services": [*bare["services"], unit],
        },
    )
    servers = _engines(collect_report(probe=probe), "mysql")
    running = [s for s in servers if s["pids"] == [3300]]
    assert len(running) == 1 and "service" not in running[0]
    assert running[0]["data_dir"] == "/srv/vx-restore"
    packaged = [s for s in servers if s.get("service", {}).get("name") == "mariadb"]
    assert len(packaged) == 1 and packaged[0]["pids"] == []


def test_a_version_answer_that_does_not_name_the_engine_is_no_version() -> None:
    base = _debian()
    processes = [
        {**p, "exe": "/opt/wrap/mariadbd"} if p["name"] == "mariadbd" else p
        for p in base["processes"]
    ]
    commands = {
        **base["commands"],
        "/opt/wrap/mariadbd --version": {"returncode": 0, "stdout": "Python 3.11.2\n"},
    }
    probe = RecordedProbe(
        DEBIAN, overrides={"processes": processes, "commands": commands, "banners": {}}
    )
    [maria] = _engines(collect_report(probe=probe), "mysql")
    assert maria["version"] == ""
    assert "mariadbd --version did not name the engine" in maria["notes"]


def test_sql_server_has_its_release_name_and_32_bit_instances() -> None:
    from tests.sysinfo.conftest import WINDOWS

    base = RecordedProbe(WINDOWS).data
    wow = r"HKLM\SOFTWARE\WOW6432Node\Microsoft\Microsoft SQL Server"
    registry = {
        **base["registry"],
        wow + r"\Instance Names\SQL": {"LEGACY32": "MSSQL11.LEGACY32"},
        wow + r"\MSSQL11.LEGACY32\Setup": {
            "Version": "11.0.2100.60",
            "PatchLevel": "11.3.6020.0",
            "Edition": "Express Edition",
        },
    }
    report = collect_report(probe=RecordedProbe(WINDOWS, overrides={"registry": registry}))
    servers = {s["instance"]: s for s in _engines(report, "sqlserver")}
    assert servers["VXTRACKER"]["release"] == "2019"
    assert (servers["LEGACY32"]["release"], servers["LEGACY32"]["version"]) == (
        "2012",
        "11.3.6020.0",
    )
    assert case_prefill(report)["database_type"].startswith(
        "Microsoft SQL Server 2019 Express Edition (64-bit) 15.0.4355.3 (instance VXTRACKER)"
    )


def test_sql_server_release_names() -> None:
    from vxassist.sysinfo.collectors.databases import sql_server_release

    assert sql_server_release("10.50.6000.34") == "2008 R2"
    assert sql_server_release("10.0.6000.29") == "2008"
    assert sql_server_release("16.0.1000.6") == "2022"
    assert sql_server_release("99.0") == "" and sql_server_release("") == ""


def test_sql_server_on_linux_has_its_version_from_its_package() -> None:
    base = _debian()
    sqlservr = {
        "pid": 4100,
        "ppid": 1,
        "name": "sqlservr",
        "exe": "/opt/mssql/bin/sqlservr",
        "cmdline": ["/opt/mssql/bin/sqlservr"],
        "username": "mssql",
    }
    status = (RecordedProbe(DEBIAN).root / "files" / "dpkg-status").read_text()
    status += "\nPackage: mssql-server\nStatus: install ok installed\nVersion: 16.0.4135.4-1\n"
    files = {**base["files"], "/var/lib/dpkg/status": {"text": status}}
    probe = RecordedProbe(
        DEBIAN,
        overrides={
            "processes": [*base["processes"], sqlservr],
            "sockets": [*base["sockets"], _listen(1433, 4100)],
            "files": files,
        },
    )
    [mssql] = _engines(collect_report(probe=probe), "sqlserver")
    assert (mssql["version"], mssql["release"]) == ("16.0.4135.4", "2022")
    assert mssql["version_source"] == "package mssql-server"
