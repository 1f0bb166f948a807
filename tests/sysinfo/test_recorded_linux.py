"""The report of a recorded Debian host: MariaDB, PostgreSQL, VXTracker under /opt."""

from __future__ import annotations

from tests.fakes.probe_recorded import RecordedProbe
from tests.sysinfo.conftest import DEBIAN, PLANTED_SECRETS, everything
from vxassist.sysinfo.model import Report
from vxassist.sysinfo.report import case_prefill, collect_report


def _server(report: Report, engine: str) -> dict:
    found = [s for s in report.data("databases")["servers"] if s["engine"] == engine]
    assert len(found) == 1, found
    return found[0]


def test_mariadb_version_from_the_handshake(debian_report: Report) -> None:
    maria = _server(debian_report, "mysql")
    assert maria["product"] == "MariaDB"
    assert maria["version"] == "10.11.6-MariaDB-0+deb12u1"
    assert maria["version_source"] == "handshake on port 3306"
    assert maria["service"]["name"] == "mariadb"


def test_postgres_cluster_is_one_server_with_its_version(debian_report: Report) -> None:
    pg = _server(debian_report, "postgresql")
    assert pg["version"] == "15.14"
    assert pg["data_dir"] == "/var/lib/postgresql/15/main"
    assert pg["pids"] == [900, 905, 906]
    assert pg["listening"] == ["127.0.0.1:5432", "[::1]:5432"]
    assert pg["service"]["name"] == "postgresql@15-main"
    assert "service postgresql: exited" in pg["notes"]


def test_postgres_version_from_pg_version_when_the_binary_cannot_run() -> None:
    probe = RecordedProbe(DEBIAN, overrides={"commands": {}})
    report = collect_report(probe=probe)
    pg = _server(report, "postgresql")
    assert (pg["version"], pg["version_source"]) == ("15", "PG_VERSION")
    failed = [m for m in report.manifest if m.action == "failed" and "postgres" in m.item]
    assert failed and "could not be run" in failed[0].reason


def test_mysql_without_banner_falls_back_to_a_reason() -> None:
    probe = RecordedProbe(DEBIAN, overrides={"banners": {}})
    maria = _server(collect_report(probe=probe), "mysql")
    assert maria["version"] == ""
    assert "version not available without credentials" in maria["notes"]


def test_vxtracker_under_opt(debian_report: Report) -> None:
    vx = debian_report.data("vxtracker")
    assert vx["install_dirs"] == ["/opt/vxtracker"]
    assert (vx["version"], vx["version_source"]) == ("6.9.1", "/opt/vxtracker/VERSION")
    assert [s["name"] for s in vx["services"]] == ["vxtracker"]
    paths = sorted(c["path"] for c in vx["config_files"])
    assert paths == ["/opt/vxtracker/etc/tls.conf", "/opt/vxtracker/etc/vxtracker.conf"]
    denied = [m for m in debian_report.manifest if m.item == "/opt/vxtracker/etc/secret.conf"]
    assert denied and "not readable" in denied[0].reason


def test_pbx_and_cdr_link(debian_report: Report) -> None:
    pbx = debian_report.data("pbx")
    assert (pbx["manufacturer"], pbx["model"]) == ("Mitel", "MiVoice Business 3300")
    assert [p["peer"] for p in pbx["tcp_peers"]] == ["192.168.10.5"]
    assert pbx["serial_ports"] == [{"name": "/dev/ttyUSB0", "device": "ftdi_sio"}]
    assert pbx["last_record"]["age_s"] == 45 * 60


def test_dpkg_status_parsed_directly(debian_report: Report) -> None:
    software = debian_report.data("software")
    assert software["source"] == "dpkg"
    names = {p["name"]: p["version"] for p in software["packages"]}
    assert names == {
        "adduser": "3.134",
        "mariadb-server": "1:10.11.6-0+deb12u1",
        "openssh-server": "1:9.2p1-2+deb12u3",
        "postgresql-15": "15.14-0+deb12u1",
    }


def test_machine_maker_and_model(debian_report: Report) -> None:
    hw = debian_report.data("hardware")
    assert (hw["manufacturer"], hw["model"]) == ("Dell Inc.", "OptiPlex 3070")
    assert hw["cpu_logical"] == 2 and hw["memory_total"] == 4294967296


def test_time_and_sync_daemon(debian_report: Report) -> None:
    t = debian_report.data("time")
    assert t["timezone"] == "Europe/Berlin"
    assert t["synchronized"] is True
    assert t["sync_daemons"] == ["chronyd"]


def test_case_prefill_names_both_engines(debian_report: Report) -> None:
    fields = case_prefill(debian_report)
    assert fields["database_type"] == "MariaDB 10.11.6-MariaDB-0+deb12u1; PostgreSQL 15.14"
    assert fields["vxtracker_server"] == "vxhost, VXTracker 6.9.1 (vxtracker running)"
    assert fields["pbx_manufacturer"] == "Mitel"


def test_no_planted_secret_and_anonymized_identities() -> None:
    for anonymize in (False, True):
        report = collect_report(probe=RecordedProbe(DEBIAN), anonymize=anonymize)
        text = everything(report)
        for secret in PLANTED_SECRETS[DEBIAN]:
            assert secret not in text, (anonymize, secret)
    identities = ("vxhost", "192.168.10.5", "192.168.10.20", "operator1", "example.lan")
    for identity in (*identities, "08:00:27:4e:66:a1"):
        assert identity not in text.lower(), identity
    assert report.data("network")["interfaces"][1]["mac"].startswith("mac-")
    assert "PRIVATE KEY REMOVED" in text
