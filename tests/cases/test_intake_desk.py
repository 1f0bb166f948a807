"""Enrollment, case intake and the outbox against a real desk on loopback."""

from __future__ import annotations

import errno
import json
import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cases.conftest import CASE_FLAGS, Mailbox, free_port, write_settings
from tests.fakes.memory_keyring import MemoryKeyring
from tests.fixtures.desk import RunningDesk, unique_contract
from vxassist.cases.intake import make_sender, open_store
from vxassist.cases.outbox import State
from vxassist.cli import main
from vxassist.paths import Paths
from vxassist.secrets import SERVICE
from vxassist.settings import load_settings


def vx(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    """Run ``vxassist ARGS --json`` in-process: exit code, parsed stdout, stderr."""
    code = main([*args, "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def enroll_with(
    desk: RunningDesk, capsys: pytest.CaptureFixture[str], expires: date | None = None
) -> dict[str, Any]:
    contract = unique_contract(desk, expires)
    code, _, err = vx(
        capsys,
        "enroll",
        "--desk",
        desk.url,
        "--code",
        desk.enrollment_code(contract["contract_id"]),
    )
    assert code == 0, err
    return contract


@pytest.fixture
def enrolled(
    shared_desk: RunningDesk, vx_home: Path, capsys: pytest.CaptureFixture[str]
) -> RunningDesk:
    """This test's host, enrolled under its own contract at the module's desk."""
    shared_desk.contract = enroll_with(shared_desk, capsys)  # type: ignore[attr-defined]
    return shared_desk


def cases_of(desk: RunningDesk, engineer: str) -> list[dict[str, Any]]:
    """The cases under this test's contract, as an engineer sees them."""
    contract_id = desk.contract["contract_id"]  # type: ignore[attr-defined]
    return [c for c in desk.engineer_cases(engineer) if c.get("contract_id") == contract_id]


def test_enroll_keeps_token_secret_and_the_rest_verbatim(
    shared_desk: RunningDesk,
    paths: Paths,
    memory_keyring: MemoryKeyring,
    capsys: pytest.CaptureFixture[str],
) -> None:
    desk = shared_desk
    contract = unique_contract(desk)
    code, data, err = vx(
        capsys,
        "enroll",
        "--desk",
        desk.url + "/",
        "--code",
        desk.enrollment_code(contract["contract_id"]),
        "--hostname",
        "vxsrv01",
    )
    assert code == 0, err
    token = memory_keyring.store[(SERVICE, "desk-token")]
    assert token
    saved = json.loads((paths.data_dir / "enrollment.json").read_text())
    assert "token" not in saved
    assert saved["contract_id"] == contract["contract_id"]
    assert saved["company"] == contract["company"]
    assert saved["agent_id"]
    assert token not in (paths.data_dir / "enrollment.json").read_text()
    assert load_settings(paths).desk_url == desk.url
    assert data["agent_id"] == saved["agent_id"] and "token" not in data


def test_a_reused_enrollment_code_gives_the_desks_sentence(
    shared_desk: RunningDesk, capsys: pytest.CaptureFixture[str], paths: Paths
) -> None:
    desk = shared_desk
    one_time = desk.enrollment_code(unique_contract(desk)["contract_id"])
    assert vx(capsys, "enroll", "--desk", desk.url, "--code", one_time)[0] == 0
    (paths.data_dir / "enrollment.json").unlink()
    code, _, err = vx(capsys, "enroll", "--desk", desk.url, "--code", one_time)
    assert code == 1
    assert err.startswith("vxassist: ")
    assert "This enrollment code was already used; ask support for a new one." in err
    assert not (paths.data_dir / "enrollment.json").exists()


def test_an_unknown_code_is_refused(
    shared_desk: RunningDesk, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = vx(capsys, "enroll", "--desk", shared_desk.url, "--code", "NOPE-NOPE-NOPE")
    assert code == 1 and "This enrollment code is unknown" in err
    code, _, err = vx(capsys, "enroll", "--desk", "ftp://desk", "--code", "X")
    assert code == 1 and "is not a desk address" in err


def test_a_case_gets_its_number_and_deadline(
    enrolled: RunningDesk, capsys: pytest.CaptureFixture[str], paths: Paths
) -> None:
    code, data, err = vx(capsys, "case", "new", *CASE_FLAGS)
    assert code == 0, err
    assert isinstance(data["case_number"], int)
    assert data["status"] == "open"
    assert data["response_due"].startswith("20")
    assert data["queued"] is False and data["outbox_state"] == "delivered"
    [item] = open_store(paths).items()
    assert item.state is State.DELIVERED and item.case_number == data["case_number"]
    # the human output: number, local time and Pacific time
    assert main(["case", "new", *CASE_FLAGS]) == 0
    out = capsys.readouterr().out
    assert "opened:" in out and "(your time)" in out and "(Pacific time)" in out

    code, listed, _ = vx(capsys, "case", "list")
    assert [c["case_number"] for c in listed["cases"]].count(data["case_number"]) == 1
    assert listed["queued"] == []
    code, shown, _ = vx(capsys, "case", "show", str(data["case_number"]))
    assert code == 0 and shown["brief"] == "Calls from the front desk are not recorded"

    code, updated, err = vx(
        capsys,
        "case",
        "update",
        str(data["case_number"]),
        "--text",
        "It happened again at 9:00",
        "--priority",
        "1",
    )
    assert code == 0, err
    assert updated["priority"] == 1
    code, escalated, err = vx(
        capsys,
        "case",
        "escalate",
        str(data["case_number"]),
        "--to",
        "technical_support_manager",
        "--reason",
        "No answer",
    )
    assert code == 0, err
    assert escalated["escalation"]["to"] == "technical_support_manager"


def test_the_system_report_goes_with_the_case(
    enrolled: RunningDesk, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = [f for f in CASE_FLAGS if f != "--no-system-report"]
    code, data, err = vx(capsys, "case", "new", *flags, "--dry-run")
    assert code == 0, err
    if data["system_report"] is None:
        pytest.skip("the system report is not available in this build")
    assert isinstance(data["system_report"], dict)
    code, data, err = vx(capsys, "case", "new", *flags)
    assert code == 0, err


def test_desk_down_then_back_each_request_delivered_once(
    desk: RunningDesk, capsys: pytest.CaptureFixture[str], paths: Paths
) -> None:
    enrolled = desk
    enroll_with(desk, capsys)
    engineer = enrolled.add_engineer()
    enrolled.stop()
    queued = []
    for brief in ("First while down", "Second while down"):
        flags = list(CASE_FLAGS)
        flags[flags.index("--brief") + 1] = brief
        code, data, err = vx(capsys, "case", "new", *flags)
        assert code == 3, err  # queued
        assert data["queued"] is True and data["case_number"] is None
        assert data["status"] == "queued"
        assert data["response_due_estimate"]
        queued.append(data["outbox_id"])
    code, pending, _ = vx(capsys, "outbox")
    assert [i["id"] for i in pending["items"]] == queued
    assert main(["outbox", "--flush"]) == 3  # still down: said, kept
    capsys.readouterr()

    enrolled.start()
    code, flushed, err = vx(capsys, "outbox", "--flush")
    assert code == 0, err
    assert [i["state"] for i in flushed["items"]] == ["delivered", "delivered"]
    assert vx(capsys, "outbox", "--flush")[1] == {"items": []}
    at_desk = [c["brief"] for c in enrolled.engineer_cases(engineer)]
    assert sorted(at_desk) == ["First while down", "Second while down"]


def test_a_resend_after_a_lost_answer_makes_no_second_case(
    enrolled: RunningDesk, capsys: pytest.CaptureFixture[str], paths: Paths
) -> None:
    import uuid

    engineer = enrolled.add_engineer(f"eng{uuid.uuid4().hex[:6]}")
    code, data, _ = vx(capsys, "case", "new", *CASE_FLAGS)
    store = open_store(paths)
    # As if the agent died after the desk took it and before the outbox recorded it:
    with sqlite3.connect(store.file) as db:
        db.execute(
            "UPDATE items SET state = 'pending', answer = NULL WHERE id = ?", (data["outbox_id"],)
        )
    code, flushed, _ = vx(capsys, "outbox", "--flush")
    assert code == 0
    assert flushed["items"][0]["case_number"] == data["case_number"]
    assert len(cases_of(enrolled, engineer)) == 1


def test_expired_contract_no_number_and_the_reason(
    shared_desk: RunningDesk, capsys: pytest.CaptureFixture[str]
) -> None:
    enroll_with(shared_desk, capsys, expires=date.today() - timedelta(days=30))
    code, data, err = vx(capsys, "case", "new", *CASE_FLAGS)
    assert code == 0, err
    assert data["case_number"] is None
    assert data["status"] == "no_contract"
    assert data["reference"]
    assert "contract" in data["message"].lower()
    assert main(["case", "new", *CASE_FLAGS]) == 0
    out = capsys.readouterr().out
    assert "No case number" in out and data["message"].split(";")[0] in out


def test_bad_input_sends_nothing(
    enrolled: RunningDesk, capsys: pytest.CaptureFixture[str], paths: Paths
) -> None:
    flags = list(CASE_FLAGS)
    flags[flags.index("--contact-email") + 1] = "bob@"
    flags[flags.index("--priority") + 1] = "7"
    code, _, err = vx(capsys, "case", "new", *flags)
    assert code == 2
    assert "Technical contact e-mail: 'bob@' is not an e-mail address" in err
    assert "Priority level: '7' is not a level" in err
    code, _, err = vx(capsys, "case", "new", "--company", "Acme", "--no-system-report")
    assert code == 2 and "Brief description: missing" in err
    assert open_store(paths).items() == []


def test_a_case_from_a_toml_file(
    enrolled: RunningDesk, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    request = tmp_path / "request.toml"
    flags = dict(zip(CASE_FLAGS[:-1:2], CASE_FLAGS[1:-1:2], strict=True))
    lines = [f"{k[2:].replace('-', '_')} = {json.dumps(v)}" for k, v in flags.items()]
    lines[-1] = "priority = 3"
    lines += [
        "",
        "[[also]]",
        'brief = "Reports are slow"',
        'details = "5 minutes"',
        'steps_taken = "none"',
        "priority = 4",
    ]
    request.write_text("\n".join(lines) + "\n")
    code, data, err = vx(
        capsys,
        "case",
        "new",
        "--from",
        str(request),
        "--no-system-report",
        "--location",
        "Sparks, NV",
    )
    assert code == 0, err
    assert data["priority"] == 3 and data["location"] == "Sparks, NV"
    assert [r["brief"] for r in data["related"]] == ["Reports are slow"]
    assert data["related"][0]["case_number"] not in (None, data["case_number"])


def test_unknown_case_numbers(
    enrolled: RunningDesk, capsys: pytest.CaptureFixture[str], paths: Paths
) -> None:
    code, _, err = vx(capsys, "case", "show", "99999")
    assert code == 1 and "There is no case 99999" in err
    code, _, err = vx(capsys, "case", "update", "99999", "--text", "more")
    assert code == 1 and "kept in the outbox" in err
    [item] = open_store(paths).items()
    assert item.state is State.REJECTED and item.last_error
    code, _, err = vx(capsys, "case", "show", "last")
    assert code == 2 and "is not a case number" in err


def test_not_enrolled_is_explained(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = vx(capsys, "case", "list")
    assert code == 1 and "vxassist enroll" in err


def test_after_the_retry_window_it_is_emailed(
    enrolled: RunningDesk,
    capsys: pytest.CaptureFixture[str],
    paths: Paths,
    vx_home: Path,
    smtp_server: Mailbox,
) -> None:
    write_settings(
        vx_home,
        outbox_retry_window_s=3600,
        smtp={"host": smtp_server.host, "port": smtp_server.port, "timeout_s": 5},
        support={"email": "support@vendor.example"},
        desk_url=f"http://127.0.0.1:{free_port()}",
    )  # nobody listens there
    code, data, _ = vx(capsys, "case", "new", *CASE_FLAGS, "--continues-case", "1042")
    assert code == 3 and data["queued"] is True
    assert smtp_server.messages == []
    settings = load_settings(paths)
    from vxassist.secrets import open_secret_store

    secrets = open_secret_store(paths, settings.secrets_backend)
    created = open_store(paths).get(data["outbox_id"]).created_at
    later = make_sender(paths, settings, secrets, clock=lambda: created + timedelta(hours=2))
    [item] = later.flush(force=True)
    assert item.state is State.EMAILED
    [msg] = smtp_server.messages
    assert msg["Subject"] == "[Case 1042] Calls from the front desk are not recorded"
    assert msg["To"] == "support@vendor.example"


def test_desk_and_mail_down_it_is_saved_and_the_cli_says_where(
    enrolled: RunningDesk,
    capsys: pytest.CaptureFixture[str],
    paths: Paths,
    vx_home: Path,
) -> None:
    write_settings(
        vx_home,
        outbox_retry_window_s=0,
        smtp={"host": "127.0.0.1", "port": free_port(), "timeout_s": 5},
        desk_url=f"http://127.0.0.1:{free_port()}",
    )  # nobody listens there
    assert main(["case", "new", *CASE_FLAGS]) == 5  # saved to a file
    out = capsys.readouterr().out
    assert "It is saved as" in out
    saved = list((paths.data_dir / "unsent").glob("*.eml"))
    assert len(saved) == 1 and str(saved[0]) in out
    [item] = open_store(paths).items()
    assert item.state is State.SAVED


def test_a_full_disk_keeps_what_was_typed(
    enrolled: RunningDesk,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def full(*args: object, **kwargs: object) -> sqlite3.Connection:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sqlite3, "connect", full)
    code = main(["case", "new", *CASE_FLAGS])
    out, err = capsys.readouterr()
    assert code == 1
    assert "no space left on the disk" in err
    assert json.loads(out)["brief"] == "Calls from the front desk are not recorded"


def test_case_list_shows_what_still_waits(
    enrolled: RunningDesk, capsys: pytest.CaptureFixture[str], paths: Paths
) -> None:
    from datetime import UTC, datetime

    from tests.cases.test_model import good
    from vxassist.cases.model import build_request
    from vxassist.cases.outbox import Kind

    waiting = open_store(paths).add(
        Kind.CASE, "POST", "/api/v1/cases", build_request(good()).payload(), datetime.now(UTC)
    )
    code, listed, err = vx(capsys, "case", "list")
    assert code == 0, err
    assert listed["cases"] == []
    assert [q["id"] for q in listed["queued"]] == [waiting.id]
    assert main(["case", "list"]) == 0
    assert "Queued, not sent yet" in capsys.readouterr().out
