"""Fixtures of the sysinfo tests: recorded machines and their reports."""

from __future__ import annotations

import json

import pytest

from tests.fakes.probe_recorded import RecordedProbe
from vxassist.sysinfo.model import Report
from vxassist.sysinfo.report import collect_report

WINDOWS = "win-vxtracker-sqlserver-avaya"
DEBIAN = "debian-vxtracker-mariadb-postgres"

#: secrets planted in the recorded machines; none may appear in any output
PLANTED_SECRETS = {
    WINDOWS: [
        "Svc-Secret-31",
        "tok_9f8e7d6c5b4a",
        "EnvSecret99",
        "Db$ecret2024",
        "correct horse battery",
        "horse battery",
        "MailPass77",
        "Sa-Pa55word!",
        "LogPass55",
        "RegSecret5",
        "VX-7788-SECRET-KEY",
        "OdbcPwd-NEVER-READ",
        "AccessPwd-NEVER-READ",
    ],
    DEBIAN: [
        "Cmd-Secret-77",
        "Env-Secret-88",
        "Env-PG-99",
        "Url-Secret-42",
        "p@ss word",
        "with spaces",
        "tok-LinuxToken-0042",
        "eyJhbGciOiJIUzI1NiJ9",
        "OdbcLinux-NEVER-READ",
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
    ],
}


@pytest.fixture
def windows_report() -> Report:
    return collect_report(probe=RecordedProbe(WINDOWS))


@pytest.fixture
def debian_report() -> Report:
    return collect_report(probe=RecordedProbe(DEBIAN))


def everything(report: Report) -> str:
    """Every text a report can put on screen or in a file."""
    from vxassist.sysinfo.render import summary

    parts = [json.dumps(report.to_dict(), ensure_ascii=False), summary(report)]
    parts += [f.text for f in report.files]
    return "\n".join(parts)


def planted_policy(install: object, **keys: object) -> str:
    """A machine policy whose VXTracker rules find only what a test planted under
    ``install``: no name of a real service or process, no system-wide folder, so
    another VXTracker on the machine running the tests changes nothing."""
    rules: dict[str, object] = {
        "install_paths": [str(install)],
        "service_names": ["vx-planted-by-a-test"],
        "process_names": ["vx-planted-by-a-test"],
        "registry_keys": [],
        "config_globs": ["*.ini", "*.conf", "*.config", "etc/*.conf"],
        "log_globs": ["*.log", "logs/*.log"],
        "cdr_globs": ["cdr/*"],
        **keys,
    }
    lines = [f"{key} = {json.dumps(value)}" for key, value in rules.items()]
    return "[sysinfo.vxtracker]\n" + "\n".join(lines) + "\n"
