"""As a new user would, with ``vxassist`` subprocesses only: desk, contract, host, cases."""

from __future__ import annotations

import json
import signal
import time

from tests.cases.conftest import CASE_FLAGS, AgentProcess
from tests.fixtures.desk import DelayingProxy, RunningDesk


def with_brief(brief: str) -> list[str]:
    flags = list(CASE_FLAGS)
    flags[flags.index("--brief") + 1] = brief
    return flags


def test_a_new_user_files_cases_online_offline_and_without_contract(
    desk: RunningDesk, agent_process: AgentProcess
) -> None:
    admin = AgentProcess(desk.folder / "home")  # the desk operator's own shell
    db = ("--db", desk.db_url)
    admin.json(
        "desk",
        "contract",
        "add",
        *db,
        "--company",
        "Acme Hotels",
        "--contract-id",
        "C-1001",
        "--expires",
        "2099-12-31",
        "--contact-name",
        "Bob Jones",
        "--contact-phone",
        "+1 775 555 0100",
        "--contact-email",
        "bob@acme.example.com",
    )
    code = admin.json("desk", "enroll-code", *db, "C-1001")["code"]
    engineer_token = desk.add_engineer("jdoe")  # only to count the cases at the desk

    host = agent_process
    enrolled = host.run("enroll", "--desk", desk.url, "--code", code)
    assert enrolled.returncode == 0, enrolled.stderr
    assert "enrolled" in enrolled.stdout and "C-1001" in enrolled.stdout

    # 1. online: a number and a response deadline, in local and Pacific time
    online = host.run("case", "new", *with_brief("Online request"))
    assert online.returncode == 0, online.stderr
    assert "opened: Online request" in online.stdout
    assert "Response due:" in online.stdout and "(Pacific time)" in online.stdout
    number = int(online.stdout.split("Case ", 1)[1].split(" ", 1)[0])

    # 2. the desk is down: queued with an estimate, delivered once when it is back
    desk.stop()
    offline = host.run("case", "new", *with_brief("Offline request"), "--json")
    assert offline.returncode == 3, offline.stderr  # queued
    queued = json.loads(offline.stdout)
    assert queued["queued"] is True and queued["response_due_estimate"]
    human = host.run("outbox")
    assert "Offline request" in human.stdout and "pending" in human.stdout
    assert "cannot be reached" in human.stdout
    assert "next try" in human.stdout and "+00:00" not in human.stdout  # local time, its zone
    assert "Error(" not in human.stdout + offline.stdout  # causes go to the log, not the user
    desk.start()
    flushed = host.run("outbox", "--flush", "--json")
    assert flushed.returncode == 0, flushed.stderr
    [item] = json.loads(flushed.stdout)["items"]
    assert item["id"] == queued["outbox_id"] and item["state"] == "delivered"
    assert isinstance(item["case_number"], int) and item["case_number"] != number
    again = host.run("outbox", "--flush", "--json")
    assert json.loads(again.stdout)["items"] == []
    briefs = [c["brief"] for c in desk.engineer_cases(engineer_token)]
    assert sorted(briefs) == ["Offline request", "Online request"]

    # 3. the contract has expired: no number, and why
    admin.json("desk", "contract", "expire", *db, "C-1001")
    expired = host.run("case", "new", *with_brief("After expiry"))
    assert expired.returncode == 0, expired.stderr
    assert "No case number" in expired.stdout
    assert "contract" in expired.stdout.lower()
    listed = host.run("case", "list", "--json")
    statuses = {c["brief"]: c["status"] for c in json.loads(listed.stdout)["cases"]}
    assert statuses["After expiry"] == "no_contract"


def test_agent_killed_mid_request_makes_exactly_one_case(
    desk: RunningDesk, agent_process: AgentProcess
) -> None:
    desk.add_contract()
    engineer = desk.add_engineer()
    proxy = DelayingProxy(desk.port)
    try:
        host = agent_process
        enrolled = host.run("enroll", "--desk", proxy.url, "--code", desk.enrollment_code())
        assert enrolled.returncode == 0, enrolled.stderr

        proxy.delay_s = 60  # the desk acts at once; its answer is held back
        in_flight = host.popen("case", "new", *with_brief("Killed in flight"), "--json")
        deadline = time.monotonic() + 60
        while not desk.engineer_cases(engineer) and time.monotonic() < deadline:
            assert in_flight.poll() is None, in_flight.communicate()
            time.sleep(0.2)
        [at_desk] = desk.engineer_cases(engineer)
        in_flight.send_signal(signal.SIGKILL)
        in_flight.communicate(timeout=10)
        assert in_flight.returncode == -signal.SIGKILL

        waiting = host.run("outbox", "--json")
        [item] = json.loads(waiting.stdout)["items"]
        assert item["state"] == "pending"

        proxy.delay_s = 0
        flushed = host.run("outbox", "--flush", "--json")
        assert flushed.returncode == 0, flushed.stderr
        [sent] = json.loads(flushed.stdout)["items"]
        assert sent["state"] == "delivered"
        assert sent["case_number"] == at_desk["case_number"]
        assert len(desk.engineer_cases(engineer)) == 1
    finally:
        proxy.close()
