"""``vxassist version``: this version and whether the desk names a newer one.

The desk is real (tests/fixtures/desk.py) with an ``[updates]`` table in its
desk.toml; one enrolled host, the desk restarted with another table per case.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.desk import RunningDesk, unique_contract
from vxassist import __version__, cli
from vxassist.cases.enroll import enroll, read_enrollment
from vxassist.desk.config import config_from_mapping
from vxassist.deskclient import DeskClient
from vxassist.errors import ConfigError
from vxassist.paths import Paths
from vxassist.secrets import open_secret_store
from vxassist.settings import load_settings
from vxassist.version import (
    UpdateNotice,
    UpdateState,
    ask_desk,
    report_for,
    version_key,
)

URL = "https://downloads.example.com/vxassist/"


# -- the pure decision ------------------------------------------------------------


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("0.1.0", "0.2.0"),
        ("0.1.0", "0.1.1"),
        ("0.9", "0.10"),
        ("1.2rc1", "1.2"),
        ("1.2a2", "1.2b1"),
        ("1.2.dev3", "1.2a1"),
        ("1.2", "1.2.post1"),
        ("1.2", "v1.3"),
        ("1.2.post1.dev1", "1.2.post1"),
    ],
)
def test_version_order(older: str, newer: str) -> None:
    low, high = version_key(older), version_key(newer)
    assert low is not None and high is not None
    assert low < high


def test_trailing_zeros_and_local_labels_do_not_make_a_version_newer() -> None:
    assert version_key("1.2") == version_key("1.2.0") == version_key("1.2.0+build7")


def test_a_newer_version_names_where_it_comes_from_and_who_installs_it() -> None:
    report = report_for("0.1.0", UpdateNotice("0.2.0", URL, "notes"))
    assert report.state is UpdateState.NEWER
    assert report.sentence == (
        f"a newer version 0.2.0 is available from {URL}; your administrator installs it."
    )


@pytest.mark.parametrize("latest", ["0.1.0", "0.1", "0.0.9", "0.1.0rc1"])
def test_the_same_or_an_older_version_is_up_to_date(latest: str) -> None:
    report = report_for("0.1.0", UpdateNotice(latest))
    assert report.state is UpdateState.CURRENT
    assert report.sentence == f"up to date: the desk's latest version is {latest}."


def test_a_version_that_cannot_be_compared_is_said_so_not_guessed() -> None:
    report = report_for("0.1.0", UpdateNotice("spring release"))
    assert report.state is UpdateState.UNKNOWN
    assert "cannot be compared" in report.sentence


def test_the_notice_is_read_from_a_desk_answer() -> None:
    assert UpdateNotice.from_answer({"kind": "agent"}) is None
    assert UpdateNotice.from_answer({"updates": None}) is None
    assert UpdateNotice.from_answer({"updates": {"latest_version": ""}}) is None
    notice = UpdateNotice.from_answer(
        {"updates": {"latest_version": " 0.3 ", "download_url": URL, "notes": "n"}}
    )
    assert notice == UpdateNotice("0.3", URL, "n")


# -- the desk's configuration -----------------------------------------------------


def test_desk_config_reads_the_updates_table(tmp_path: Path) -> None:
    config = config_from_mapping(
        {"updates": {"latest_version": "0.2.0", "download_url": URL, "notes": "x"}},
        tmp_path / "desk.toml",
    )
    assert config.updates.answer() == {
        "latest_version": "0.2.0",
        "download_url": URL,
        "notes": "x",
    }
    assert config_from_mapping({}, tmp_path / "desk.toml").updates.answer() is None


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"latest": "0.2.0"}, "unknown keys latest"),
        ({"latest_version": "0.2.0", "download_url": "ftp://x"}, "http(s) address"),
        ("0.2.0", "must be a table"),
    ],
)
def test_a_bad_updates_table_is_a_sentence(tmp_path: Path, table: object, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_mapping({"updates": table}, tmp_path / "desk.toml")
    assert words in caught.value.message


# -- against a real desk ----------------------------------------------------------


def _write_updates(desk: RunningDesk, latest: str | None) -> None:
    assert desk.config_file is not None
    table = (
        ""
        if latest is None
        else f'[updates]\nlatest_version = "{latest}"\ndownload_url = "{URL}"\n'
        'notes = "Faster start."\n'
    )
    desk.config_file.write_text(table, encoding="utf-8")


@pytest.fixture
def newer_desk(tmp_path: Path) -> Iterator[RunningDesk]:
    """A desk that names 9.9.0 as the latest agent version."""
    config = tmp_path / "desk.toml"
    desk = RunningDesk(tmp_path / "desk", config)
    _write_updates(desk, "9.9.0")
    with desk:
        yield desk


@pytest.fixture
def enrolled(newer_desk: RunningDesk, paths: Paths) -> dict[str, object]:
    contract = unique_contract(newer_desk)
    code = newer_desk.enrollment_code(contract["contract_id"])
    secrets = open_secret_store(paths, "keyring")
    return enroll(paths, secrets, newer_desk.url, code).facts


def test_enrollment_and_whoami_carry_the_desk_s_notice(
    newer_desk: RunningDesk, enrolled: dict[str, object], paths: Paths
) -> None:
    expected = {"latest_version": "9.9.0", "download_url": URL, "notes": "Faster start."}
    assert enrolled["updates"] == expected
    assert read_enrollment(paths)["updates"] == expected
    token = open_secret_store(paths, "keyring").get("desk-token")
    with DeskClient(newer_desk.url, token, timeout=10) as client:
        assert client.whoami()["updates"] == expected


def test_the_cli_says_a_newer_version_is_available(
    newer_desk: RunningDesk, enrolled: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["version"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"vxassist {__version__}",
        f"a newer version 9.9.0 is available from {URL}; your administrator installs it.",
    ]
    assert cli.main(["version", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["state"] == "newer" and answer["latest_version"] == "9.9.0"
    assert answer["download_url"] == URL and answer["notes"] == "Faster start."
    assert answer["version"] == __version__


@pytest.mark.parametrize("latest", [__version__, "0.0.1"])
def test_the_same_or_an_older_version_at_the_desk_is_up_to_date(
    newer_desk: RunningDesk,
    enrolled: dict[str, object],
    latest: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _write_updates(newer_desk, latest)
    newer_desk.restart()
    assert cli.main(["version"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1] == f"up to date: the desk's latest version is {latest}."
    assert "newer version" not in out


def test_a_desk_without_a_notice_sends_none_and_the_agent_says_up_to_date(
    newer_desk: RunningDesk, enrolled: dict[str, object], paths: Paths
) -> None:
    _write_updates(newer_desk, None)
    newer_desk.restart()
    report = ask_desk(paths, load_settings(paths))
    assert report.state is UpdateState.NO_NOTICE
    assert report.sentence == "up to date: the desk names no newer version."


def test_a_desk_that_is_down_leaves_the_version_and_a_reason(
    newer_desk: RunningDesk, enrolled: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    newer_desk.stop()
    assert cli.main(["version"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"vxassist {__version__}"
    assert lines[1].startswith("whether a newer version exists is not known: The desk at")
    assert "cannot be reached" in lines[1]


def test_not_enrolled_prints_the_version_and_says_there_is_no_desk(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.splitlines() == [
        f"vxassist {__version__}",
        "not enrolled: there is no desk to ask about newer versions.",
    ]


def test_version_flag_in_a_child_and_the_self_test_line(
    newer_desk: RunningDesk, vx_home: Path
) -> None:
    # a child cannot use the tests' in-memory keyring: the documented file store
    (vx_home / "config").mkdir(parents=True, exist_ok=True)
    (vx_home / "config" / "settings.toml").write_text(
        'secrets_backend = "file"\n', encoding="utf-8"
    )
    contract = unique_contract(newer_desk)

    def vxassist(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vxassist", *args],
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )

    code = newer_desk.enrollment_code(contract["contract_id"])
    assert vxassist("enroll", "--desk", newer_desk.url, "--code", code).returncode == 0
    done = vxassist("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"vxassist {__version__}",
        f"a newer version 9.9.0 is available from {URL}; your administrator installs it.",
    ]
    done = vxassist("self-test", "--json")
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    # information, not a failure
    assert checks["version"]["status"] == "ok"
    assert checks["version"]["sentence"] == (
        f"vxassist {__version__}; a newer version 9.9.0 is available from {URL}; "
        "your administrator installs it."
    )
