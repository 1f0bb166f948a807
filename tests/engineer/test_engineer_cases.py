"""The engineer's login and case commands against a real desk."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.memory_keyring import MemoryKeyring
from tests.fixtures.desk import RunningDesk, unique_contract
from vxassist.cli import main
from vxassist.deskclient import DeskClient
from vxassist.engineer.account import config_file, load_config
from vxassist.paths import Paths
from vxassist.secrets import SERVICE

CASE = {
    "company": "Acme Hotels",
    "install_type": "single server",
    "location": "Reno, NV",
    "database_type": "SQL Server 2019",
    "vxtracker_server": "vxsrv01 7.4.2",
    "pbx_manufacturer": "Avaya",
    "pbx_model": "IP Office 500 V2",
    "contact_name": "Bob Jones",
    "contact_phone": "+1 775 555 0100",
    "contact_email": "bob@acme.example.com",
    "brief": "Calls are not recorded",
    "details": "Since Monday.",
    "steps_taken": "Restarted.",
    "priority": 3,
    "continues_case": None,
    "third_party_app": None,
    "third_party_version": None,
    "system_report": None,
    "also": [],
}


def vx(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main([*args, "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def a_case(desk: RunningDesk) -> dict[str, Any]:
    """A case opened by a freshly enrolled host (over the API, as an agent would)."""
    contract = unique_contract(desk)
    token = DeskClient(desk.url).enroll(
        desk.enrollment_code(contract["contract_id"]), "vxsrv01", None
    )["token"]
    return DeskClient(desk.url, token).create_case(CASE, str(uuid.uuid4()))


@pytest.fixture
def engineer(shared_desk: RunningDesk) -> str:
    return shared_desk.add_engineer(f"eng{uuid.uuid4().hex[:8]}")


def test_login_checks_the_token_and_keeps_it_secret(
    shared_desk: RunningDesk,
    engineer: str,
    paths: Paths,
    memory_keyring: MemoryKeyring,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(engineer + "\n"))
    code, who, err = vx(capsys, "engineer", "login", "--desk", shared_desk.url)
    assert code == 0, err
    assert who["kind"] == "engineer" and who["name"].startswith("eng")
    assert memory_keyring.store[(SERVICE, "engineer-token")] == engineer
    assert load_config(paths).desk_url == shared_desk.url
    assert engineer not in config_file(paths).read_text()


def test_a_bad_or_agent_token_is_not_kept(
    shared_desk: RunningDesk,
    paths: Paths,
    memory_keyring: MemoryKeyring,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = vx(
        capsys, "engineer", "login", "--desk", shared_desk.url, "--token", "vxe_not-a-real-token"
    )
    assert code == 1 and err.startswith("vxassist: ")
    contract = unique_contract(shared_desk)
    agent_token = DeskClient(shared_desk.url).enroll(
        shared_desk.enrollment_code(contract["contract_id"]), "vxsrv01", None
    )["token"]
    code, _, err = vx(
        capsys, "engineer", "login", "--desk", shared_desk.url, "--token", agent_token
    )
    assert code == 1 and "belongs to a host" in err
    assert memory_keyring.store == {}
    assert not config_file(paths).exists()


def test_cases_and_status_changes(
    shared_desk: RunningDesk, engineer: str, capsys: pytest.CaptureFixture[str]
) -> None:
    opened = a_case(shared_desk)
    number = opened["case_number"]
    assert vx(capsys, "engineer", "login", "--desk", shared_desk.url, "--token", engineer)[0] == 0

    code, listed, err = vx(capsys, "engineer", "cases", "--status", "open")
    assert code == 0, err
    assert number in [c["case_number"] for c in listed["cases"]]

    code, changed, err = vx(
        capsys,
        "engineer",
        "case",
        "status",
        str(number),
        "in_progress",
        "--note",
        "Called Bob, looking at the SMDR link",
    )
    assert code == 0, err
    assert changed["status"] == "in_progress"

    code, shown, err = vx(capsys, "engineer", "case", "show", str(number))
    assert code == 0, err
    assert shown["status"] == "in_progress"
    assert any("SMDR link" in str(e.get("text")) for e in shown["events"])
    code, listed, _ = vx(capsys, "engineer", "cases", "--status", "open")
    assert number not in [c["case_number"] for c in listed["cases"]]

    assert main(["engineer", "cases", "--status", "in_progress"]) == 0
    assert "Calls are not recorded" in capsys.readouterr().out


def test_bad_input_and_unknown_cases(
    shared_desk: RunningDesk, engineer: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = vx(capsys, "engineer", "cases")
    assert code == 1 and "engineer login" in err
    assert vx(capsys, "engineer", "login", "--desk", shared_desk.url, "--token", engineer)[0] == 0
    code, _, err = vx(capsys, "engineer", "case", "show", "99999999")
    assert code == 1 and err.startswith("vxassist: ")
    code, _, err = vx(capsys, "engineer", "case", "escalate", "12", "--to", "manager")
    assert code == 2 and "--reason" in err
    with pytest.raises(SystemExit):
        main(["engineer", "case", "status", "12", "done"])
    capsys.readouterr()


def test_the_token_never_lands_in_the_log(
    shared_desk: RunningDesk,
    engineer: str,
    paths: Paths,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert main(["-v", "engineer", "login", "--desk", shared_desk.url, "--token", engineer]) == 0
    capsys.readouterr()
    assert engineer not in paths.log_file.read_text(encoding="utf-8")
