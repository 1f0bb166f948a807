"""Both sides of a case's conversation through the command line, against a real desk:
the engineer answers with `vxassist engineer case ...`, the host reads it with
`vxassist case show`, and never an internal note."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.cases.conftest import CASE_FLAGS
from tests.fixtures.desk import RunningDesk, shared_desk, unique_contract  # noqa: F401
from vxassist.cli import main


def vx(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main([*args, "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def text_of(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_the_engineers_reply_reaches_the_host_and_the_note_does_not(
    shared_desk: RunningDesk,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    contract = unique_contract(shared_desk)
    code, _, err = vx(
        capsys,
        "enroll",
        "--desk",
        shared_desk.url,
        "--code",
        shared_desk.enrollment_code(contract["contract_id"]),
    )
    assert code == 0, err
    code, opened, err = vx(capsys, "case", "new", *CASE_FLAGS)
    assert code == 0, err
    number = str(opened["case_number"])

    name = f"eng{uuid.uuid4().hex[:8]}"
    token = shared_desk.add_engineer(name)
    assert vx(capsys, "engineer", "login", "--desk", shared_desk.url, "--token", token)[0] == 0
    reply = "Please restart the <b>SMDR</b> collector & send the log."
    code, case, err = vx(capsys, "engineer", "case", "reply", number, "--text", reply)
    assert code == 0, err
    assert case["first_response_by"] == name and case["deadline"]["state"] == "met"
    secret_note = "Their PBX firmware is two years old"
    code, _, err = vx(capsys, "engineer", "case", "note", number, "--text", secret_note)
    assert code == 0, err
    code, _, err = vx(capsys, "engineer", "case", "status", number, "waiting_customer")
    assert code == 0, err

    # the engineer sees everything, notes marked internal
    shown = text_of(capsys, "engineer", "case", "show", number)
    assert f"note (internal) {name}: {secret_note}" in shown
    assert ">> " in shown and reply in shown

    # the host: the reply stands out, the note is nowhere (text and JSON)
    host_text = text_of(capsys, "case", "show", number)
    [line] = [line for line in host_text.splitlines() if reply in line]
    assert line.lstrip().startswith(">>") and f"{name} (support)" in line
    assert secret_note not in host_text
    code, host_json, err = vx(capsys, "case", "show", number)
    assert code == 0, err
    assert secret_note not in json.dumps(host_json)
    assert host_json["status"] == "waiting_customer"
    # the host's answer puts the case back in the queue
    code, updated, err = vx(capsys, "case", "update", number, "--text", "Log attached.")
    assert code == 0, err
    assert updated["status"] == "open"


def test_engineer_case_commands_refuse_what_the_desk_refuses(
    shared_desk: RunningDesk,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = shared_desk.add_engineer(f"eng{uuid.uuid4().hex[:8]}")
    assert vx(capsys, "engineer", "login", "--desk", shared_desk.url, "--token", token)[0] == 0
    code, _, err = vx(capsys, "engineer", "case", "reply", "99999999", "--text", "hi")
    assert code == 1 and err.startswith("vxassist: ") and "99999999" in err
    with pytest.raises(SystemExit):
        main(["engineer", "case", "assign", "12", "--to", "x", "--nobody"])
    assert "not allowed with" in capsys.readouterr().err
    code, _, err = vx(capsys, "engineer", "case", "escalate", "12", "--close", "1", "--to", "sales")
    assert code == 2 and "--close" in err
    code, _, err = vx(capsys, "engineer", "case", "reply", "12", "--text", "   ")
    assert code == 2 and "empty" in err
