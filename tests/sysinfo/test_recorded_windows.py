"""The report of a recorded Windows host: SQL Server, VXTracker, an Avaya PBX on SMDR/TCP."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.fakes.probe_recorded import RecordedProbe
from tests.sysinfo.conftest import PLANTED_SECRETS, WINDOWS, everything
from vxassist.sysinfo.model import SECTIONS, Report
from vxassist.sysinfo.report import case_prefill, collect_report, write_bundle


def test_every_section_is_there_with_a_status(windows_report: Report) -> None:
    data = windows_report.to_dict()
    assert list(data["sections"]) == list(SECTIONS)
    statuses = {name: s["status"] for name, s in data["sections"].items()}
    # its Audit.log is recorded as unreadable: VXTracker's section saw less
    assert statuses == dict.fromkeys(SECTIONS, "ok") | {"vxtracker": "partial"}


def test_windows_edition_and_build_from_the_registry(windows_report: Report) -> None:
    os_data = windows_report.data("os")
    assert os_data["distribution"] == "Windows Server 2019 Standard"
    assert os_data["build"] == "17763.5696"
    assert os_data["uptime_s"] == 370680


def test_sql_server_instance_from_registry_service_process_and_port(
    windows_report: Report,
) -> None:
    servers = windows_report.data("databases")["servers"]
    sql = [s for s in servers if s["engine"] == "sqlserver"]
    assert len(sql) == 1
    assert sql[0]["instance"] == "VXTRACKER"
    assert sql[0]["version"] == "15.0.4355.3"
    assert sql[0]["edition"] == "Express Edition (64-bit)"
    assert set(sql[0]["found_by"]) == {"registry", "service", "process", "port"}
    assert "0.0.0.0:1433" in sql[0]["listening"]
    assert sql[0]["service"] == {
        "name": "MSSQL$VXTRACKER",
        "state": "running",
        "start_type": "automatic",
    }


def test_odbc_sources_and_access_file_without_passwords(windows_report: Report) -> None:
    db = windows_report.data("databases")
    names = {o["name"]: o for o in db["odbc_sources"]}
    assert names["VXTracker"]["Server"] == "CALLACCT01\\VXTRACKER"
    assert all("PWD" not in o for o in db["odbc_sources"])
    access = [s for s in db["servers"] if s["engine"] == "access"]
    assert access and access[0]["instance"] == "C:\\VXData\\archive.mdb"


def test_vxtracker_install_version_services_processes(windows_report: Report) -> None:
    vx = windows_report.data("vxtracker")
    assert vx["installed"] is True
    assert vx["install_dirs"] == ["C:\\Program Files (x86)\\Communicado\\VXTracker"]
    assert vx["version"] == "7.4.2.118"
    assert {(s["name"], s["state"]) for s in vx["services"]} == {
        ("VXTrackerService", "running"),
        ("VXTrackerWeb", "stopped"),
    }
    assert {p["pid"] for p in vx["processes"]} == {3312, 4410}


def test_config_files_in_utf16_and_cp1252_are_decoded(windows_report: Report) -> None:
    vx = windows_report.data("vxtracker")
    by_name = {Path(c["path"].replace("\\", "/")).name: c for c in vx["config_files"]}
    ini = by_name["VXTracker.ini"]
    assert ini["encoding"] == "utf-16-le"
    assert "Site=Büro Zürich" in ini["text"]
    config = by_name["VXTrackerService.exe.config"]
    assert config["encoding"] == "cp1252"
    assert "Société Générale Téléphonie" in config["text"]
    reasons = [m.reason for m in windows_report.manifest if m.item.endswith(".exe.config")]
    assert any("undecodable bytes replaced" in r for r in reasons)


def test_unreadable_log_is_a_reason_not_a_crash(windows_report: Report) -> None:
    failed = [m for m in windows_report.manifest if m.item.endswith("Audit.log")]
    assert failed and failed[0].action == "failed"
    assert "not readable" in failed[0].reason
    vx = windows_report.section("vxtracker")
    assert vx.status == "partial" and "Audit.log: not readable" in vx.reason
    assert [
        f["path"].rsplit("\\", 1)[1] for f in windows_report.data("vxtracker")["log_files"]
    ] == ["VXTracker.log"]


def test_pbx_make_model_and_smdr_link(windows_report: Report) -> None:
    pbx = windows_report.data("pbx")
    assert (pbx["manufacturer"], pbx["model"]) == ("Avaya", "IP Office 500 V2")
    assert [p["name"] for p in pbx["serial_ports"]] == ["COM1", "COM3"]
    # the PBX's TCP connection counts; the collector's own database connection does not
    assert pbx["tcp_peers"] == [
        {"local_port": 9100, "peer": "10.20.30.40", "peer_port": 49733, "pid": 3312}
    ]
    assert pbx["link_config"]["SMDRPort"] == "9100"
    assert pbx["last_record"]["path"].endswith("cdr_20261120.txt")
    assert pbx["last_record"]["age_s"] == 178


def test_software_from_both_uninstall_views(windows_report: Report) -> None:
    software = windows_report.data("software")
    names = {p["name"]: p["version"] for p in software["packages"]}
    assert names["VXTracker"] == "7.4.2.118"
    assert names["Microsoft SQL Server 2019 (64-bit)"] == "15.0.4355.3"
    assert "SAP Crystal Reports runtime engine for .NET Framework (32-bit)" in names
    # system components and updates of other entries are not "installed software"
    assert "SQL Server 2019 Database Engine Shared" not in names
    assert "Update for VXTracker" not in names


def test_time_zone_and_sync_from_registry_and_w32tm(windows_report: Report) -> None:
    t = windows_report.data("time")
    assert t["timezone"] == "Pacific Standard Time"
    assert t["synchronized"] is True
    assert t["sync_source"] == "DC01.acme.local"
    assert t["w32time_running"] is True


def test_machine_maker_and_model_from_the_bios_key(windows_report: Report) -> None:
    hw = windows_report.data("hardware")
    assert (hw["manufacturer"], hw["model"]) == ("VMware, Inc.", "VMware7,1")


def test_low_disk_is_flagged(windows_report: Report) -> None:
    disks = windows_report.data("disks")
    assert disks["low_space"] == ["C:\\"]


def test_case_prefill(windows_report: Report) -> None:
    assert case_prefill(windows_report) == {
        "database_type": "Microsoft SQL Server 2019 Express Edition (64-bit) 15.0.4355.3 "
        "(instance VXTRACKER)",
        "vxtracker_server": "CALLACCT01, VXTracker 7.4.2.118 "
        "(VXTrackerService running, VXTrackerWeb stopped)",
        "pbx_manufacturer": "Avaya",
        "pbx_model": "IP Office 500 V2",
    }


@pytest.mark.parametrize("anonymize", [False, True])
def test_no_planted_secret_in_any_output(anonymize: bool, tmp_path: Path) -> None:
    report = collect_report(probe=RecordedProbe(WINDOWS), anonymize=anonymize)
    bundle = write_bundle(report, tmp_path / "case.zip")
    with zipfile.ZipFile(bundle) as zf:
        zipped = "\n".join(zf.read(n).decode("utf-8") for n in zf.namelist())
    text = everything(report) + zipped
    for secret in PLANTED_SECRETS[WINDOWS]:
        assert secret not in text, secret
    # but the redaction is visible, and said where
    assert "********" in text
    redacted = {m.item for m in report.manifest if m.action == "redacted"}
    assert "vxtracker.processes[0].environment" in redacted
    assert "vxtracker/config/VXTracker.ini" in redacted


def test_anonymized_report_keeps_aliases_consistent() -> None:
    report = collect_report(probe=RecordedProbe(WINDOWS), anonymize=True)
    text = everything(report)
    for identity in (
        "CALLACCT01",
        "10.20.30.40",
        "10.20.30.15",
        "jsmith",
        "acme.local",
        "00-50-56-A1-B2-C3",
    ):
        assert identity.lower() not in text.lower(), identity
    peer = report.data("pbx")["tcp_peers"][0]["peer"]
    assert peer.startswith("ip-")
    # the same PBX address gets the same alias in the config file and the log tail
    ini = next(f for f in report.files if f.name.endswith("VXTracker.ini"))
    log = next(f for f in report.files if f.name.endswith("VXTracker.log"))
    assert f"SMDRHost={peer}" in ini.text
    assert f"from {peer} ext" in log.text
    assert report.host == report.data("os")["hostname"] != "CALLACCT01"
    # versions that look like addresses stay versions
    assert report.data("vxtracker")["version"] == "7.4.2.118"
    assert any(m.action == "anonymized" for m in report.manifest)


def test_bundle_holds_report_manifest_and_files_with_hashes(
    windows_report: Report, tmp_path: Path
) -> None:
    import hashlib

    bundle = write_bundle(windows_report, tmp_path / "out" / "case.zip")
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        assert {"report.json", "summary.txt", "manifest.json"} <= names
        assert "files/vxtracker/logs/VXTracker.log" in names
        manifest = json.loads(zf.read("manifest.json"))
        for member in manifest["members"]:
            assert hashlib.sha256(zf.read(member["name"])).hexdigest() == member["sha256"]
        report = json.loads(zf.read("report.json"))
    assert report["sections"]["pbx"]["data"]["manufacturer"] == "Avaya"
    shas = {m["item"]: m.get("sha256") for m in manifest["items"] if m["action"] == "collected"}
    log_body = zipfile.ZipFile(bundle).read("files/vxtracker/logs/VXTracker.log")
    assert shas["vxtracker/logs/VXTracker.log"] == hashlib.sha256(log_body).hexdigest()
    assert not (tmp_path / "out" / "case.zip.partial").exists()
    assert bundle.stat().st_mode & 0o077 == 0
