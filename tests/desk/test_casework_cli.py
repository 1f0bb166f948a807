"""Both sides of a case's conversation through the command line, against a real desk:
the engineer answers with `vxassist engineer case ...`, the host reads it with
`vxassist case show`, and never an internal note."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.cases.conftest import CASE_FLAGS
from tests.engineer.test_engineer_cases import CASE
from tests.fixtures.desk import RunningDesk, shared_desk, unique_contract  # noqa: F401
from vxassist.cli import main
from vxassist.deskclient import DeskClient


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
    tmp_path: Path,
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
    # the status in the console's word (one word for one state: tray, CLI, console)
    assert "  Status: Waiting on customer, priority" in host_text
    [row] = [r for r in text_of(capsys, "case", "list").splitlines() if r.split()[0] == number]
    assert "Waiting on customer" in row and "waiting_customer" not in row
    code, host_json, err = vx(capsys, "case", "show", number)
    assert code == 0, err
    assert secret_note not in json.dumps(host_json)
    assert host_json["status"] == "waiting_customer"
    # the host's answer, with the log asked for, puts the case back in the queue
    log = tmp_path / "collector.log"
    log.write_text("09:00 started\nsmtp_password = Hunter2!x\n09:01 SMDR idle\n")
    code, updated, err = vx(
        capsys, "case", "update", number, "--text", "Log attached.", "--attach-log", str(log)
    )
    assert code == 0, err
    assert updated["status"] == "open"
    code, seen, err = vx(capsys, "engineer", "case", "show", number)
    assert code == 0, err
    [attached] = [f for e in seen["events"] for f in e.get("attachments") or []]
    assert attached["filename"] == "collector.log"
    kept = DeskClient(shared_desk.url, token).engineer_attachment(int(number), attached["id"])
    assert b"09:01 SMDR idle" in kept and b"Hunter2" not in kept
    code, _, err = vx(capsys, "case", "update", number, "--text", "x", "--attach-log", "nope.log")
    assert code == 2 and "nope.log cannot be read" in err


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


def test_an_engineer_saves_the_scrubbed_log_a_host_attached(
    shared_desk: RunningDesk,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    contract = unique_contract(shared_desk)
    token = DeskClient(shared_desk.url).enroll(
        shared_desk.enrollment_code(contract["contract_id"]), "vxsrv01", None
    )["token"]
    host = DeskClient(shared_desk.url, token)
    number = host.create_case(CASE, str(uuid.uuid4()))["case_number"]
    log = b"12:00 start\nDB_PASSWORD=Sup3rS3cret!\n12:01 SMDR idle\n"
    host.request(
        "POST",
        f"/api/v1/cases/{number}/updates",
        json={
            "text": "Collector log",
            "attachments": [
                {"filename": "collector.log", "content_base64": base64.b64encode(log).decode()}
            ],
        },
    )
    engineer = shared_desk.add_engineer(f"eng{uuid.uuid4().hex[:8]}")
    assert vx(capsys, "engineer", "login", "--desk", shared_desk.url, "--token", engineer)[0] == 0
    shown = text_of(capsys, "engineer", "case", "show", str(number))
    [line] = [line for line in shown.splitlines() if line.strip().startswith("attachment ")]
    assert "collector.log" in line
    attachment_id = line.strip().split()[1].rstrip(":")
    target = tmp_path / "collector.log"
    code, saved, err = vx(
        capsys, "engineer", "case", "attachment", str(number), attachment_id, "-o", str(target)
    )
    assert code == 0, err
    assert saved["size"] == target.stat().st_size
    kept = target.read_bytes()
    assert b"12:01 SMDR idle" in kept and b"Sup3rS3cret" not in kept
    code, _, err = vx(
        capsys, "engineer", "case", "attachment", str(number), "999999", "-o", str(tmp_path / "x")
    )
    assert code == 1 and "no attachment 999999" in err
    assert not (tmp_path / "x").exists()
