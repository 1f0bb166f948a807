"""The desk's admin commands, through ``vxassist.cli.main`` and as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from vxassist import cli

CONTRACT = [
    "desk",
    "contract",
    "add",
    "--company",
    "Acme Telecom",
    "--contract-id",
    "C-7",
    "--expires",
    "2099-12-31",
    "--contact-name",
    "Ann Example",
    "--contact-phone",
    "555 0100",
    "--contact-email",
    "ann@acme.example",
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    data = json.loads(out.out) if "--json" in argv and code == 0 else out.out
    return code, data, out.err


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'admin.sqlite3'}"


def test_contracts_add_list_expire(capsys: pytest.CaptureFixture[str], db: str) -> None:
    code, added, _ = run(capsys, *CONTRACT, "--db", db, "--json")
    assert code == 0
    assert added["contract_id"] == "C-7" and added["active"] is True
    code, listed, _ = run(capsys, "desk", "contract", "list", "--db", db, "--json")
    assert [c["contract_id"] for c in listed["contracts"]] == ["C-7"]
    code, expired, _ = run(capsys, "desk", "contract", "expire", "C-7", "--db", db, "--json")
    assert code == 0 and expired["active"] is False
    code, text, _ = run(capsys, "desk", "contract", "list", "--db", db)
    assert "EXPIRED" in text


def test_enroll_code_is_printed_once_usable(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run(capsys, *CONTRACT, "--db", db)
    code, data, _ = run(capsys, "desk", "enroll-code", "C-7", "--db", db, "--json")
    assert code == 0
    assert set(data) == {"code", "contract_id", "expires_at"}
    assert data["contract_id"] == "C-7"
    code, text, _ = run(capsys, "desk", "enroll-code", "C-7", "--db", db)
    assert code == 0 and text.split()[0] != data["code"]


def test_engineer_token_shown_once(capsys: pytest.CaptureFixture[str], db: str) -> None:
    code, data, _ = run(capsys, "desk", "engineer", "add", "jdoe", "--db", db, "--json")
    assert code == 0 and data["name"] == "jdoe" and data["token"].startswith("vxe_")
    code, listed, _ = run(capsys, "desk", "engineer", "list", "--db", db, "--json")
    assert [e["name"] for e in listed["engineers"]] == ["jdoe"]
    assert data["token"] not in json.dumps(listed)


@pytest.mark.parametrize(
    ("argv", "sentence"),
    [
        (["desk", "enroll-code", "NOPE"], "There is no contract NOPE"),
        (["desk", "contract", "expire", "NOPE"], "There is no contract NOPE"),
        ([*CONTRACT[:8], "30/06/2027", *CONTRACT[9:]], "--expires must be a date"),
        (["desk", "engineer", "add", "two words"], "one word"),
    ],
)
def test_mistakes_get_a_sentence_and_nonzero_exit(
    capsys: pytest.CaptureFixture[str], db: str, argv: list[str], sentence: str
) -> None:
    code, _, err = run(capsys, *argv, "--db", db)
    assert code != 0
    assert sentence in err
    assert "Traceback" not in err


def test_duplicates_are_refused(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run(capsys, *CONTRACT, "--db", db)
    code, _, err = run(capsys, *CONTRACT, "--db", db)
    assert code == 1 and "already exists" in err
    run(capsys, "desk", "engineer", "add", "jdoe", "--db", db)
    code, _, err = run(capsys, "desk", "engineer", "add", "jdoe", "--db", db)
    assert code == 1 and "already exists" in err


def test_unreachable_database_is_a_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    code, _, err = run(capsys, "desk", "migrate", "--db", url)
    assert code == 1 and "cannot reach its database" in err


def test_default_database_is_the_embedded_file(
    capsys: pytest.CaptureFixture[str], vx_home: Path
) -> None:
    code, data, _ = run(capsys, "desk", "migrate", "--json")
    assert code == 0
    assert (vx_home / "data" / "desk.sqlite3").exists()
    assert data["database"].endswith("desk.sqlite3")


def test_bad_config_file_is_a_sentence(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "desk.toml"
    bad.write_text('[calendar]\nopens = "half past six"\n', encoding="utf-8")
    code, _, err = run(capsys, "desk", "contract", "list", "--config", str(bad))
    assert code == 1 and "calendar.opens" in err


def test_serve_prints_its_url_and_answers(tmp_path: Path, vx_home: Path) -> None:
    config = tmp_path / "desk.toml"
    config.write_text("[response_minutes]\n3 = 30\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'served.sqlite3'}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vxassist",
            "desk",
            "serve",
            "--db",
            db,
            "--port",
            "0",
            "--config",
            str(config),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "VXASSIST_HOME": str(vx_home)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # bounded by the test timeout
        assert line.startswith("vxassist desk listening on http://127.0.0.1:"), line
        url = line.split()[-1]
        assert httpx.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}
        openapi = httpx.get(f"{url}/openapi.json", timeout=10).json()
        assert "/api/v1/cases" in openapi["paths"]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
