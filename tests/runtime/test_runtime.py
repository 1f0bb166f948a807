"""The agent runtime in-process against a real desk: un-enrolled start, enroll, the broker.

A real desk process on SQLite (``tests/fixtures/desk.py``) with a relay named
in its config; the runtime runs on the test's loop with the deny prompter (the
headless agent's ``--consent deny``), so a session request is refused by the
agent itself, which proves the broker polls. The system report comes from a
recorded machine, so nothing of this machine is read.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from tests.fakes.probe_recorded import RecordedProbe
from tests.fixtures.desk import RunningDesk
from vxassist import control
from vxassist.cliutil import Context
from vxassist.deskclient import DeskClient
from vxassist.errors import VxError
from vxassist.remote.consent import DenyPrompter
from vxassist.runtime import AgentAlreadyRunning, AgentRuntime, SessionNotFound
from vxassist.settings import Settings
from vxassist.sysinfo.report import collect_report

pytestmark = [pytest.mark.timeout(180), pytest.mark.anyio, pytest.mark.slow]

CONTRACT = "C-RT"
COMPANY = "Runtime Hotels"
CASE = {
    "company": COMPANY,
    "install_type": "single server",
    "location": "Reno, NV",
    "database_type": "PostgreSQL 15",
    "vxtracker_server": "VXT01 9.1",
    "pbx_manufacturer": "Avaya",
    "pbx_model": "IP Office 500 V2",
    "contact_name": "Ann Example",
    "contact_phone": "+1 775 555 0100",
    "contact_email": "ann@example.com",
    "brief": "No call records since 9:00",
    "details": "The SMDR link shows no records.",
    "steps_taken": "Restarted the collector.",
    "priority": "3",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def running_desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDesk]:
    folder = tmp_path_factory.mktemp("runtime-desk")
    config = folder / "desk.toml"
    config.write_text(
        '[relay]\nhost = "127.0.0.1"\nport = 2222\nknown_hosts = "ssh-ed25519 '
        'AAAAC3NzaC1lZDI1NTE5AAAAIE9hmnhHf4aKOFfoqySJtsx2/UrscmNj8+YwxWmS8UpU"\n'
        "[sessions]\nrequest_timeout_s = 60\npoll_interval_s = 0.2\n"
    )
    with RunningDesk(folder, config) as desk:
        desk.add_contract(CONTRACT, COMPANY)
        yield desk


@dataclass
class Running:
    runtime: AgentRuntime
    events: list[dict[str, Any]] = field(default_factory=list)
    shown: list[bool] = field(default_factory=list)

    async def until(self, check: Callable[[], Any], timeout_s: float = 60) -> Any:
        """Wait (bounded, never timed) until ``check()`` is true; its value."""
        async with asyncio.timeout(timeout_s):
            while True:
                found = check()
                if found:
                    return found
                await asyncio.sleep(0.05)

    def event(self, kind: str, **match: Any) -> dict[str, Any] | None:
        for e in self.events:
            if e.get("event") == kind and all(e.get(k) == v for k, v in match.items()):
                return e
        return None

    def said(self, text: str) -> bool:
        return any(text in str(e.get("message", "")) for e in self.events)


def _recorded_report() -> Any:
    return collect_report(Settings(), probe=RecordedProbe("debian-vxtracker-mariadb-postgres"))


@pytest.fixture
async def running(vx_home: Path) -> AsyncIterator[Running]:
    (vx_home / "config").mkdir(exist_ok=True)
    holder: list[Running] = []

    def emit(event: dict[str, Any]) -> None:
        holder[0].events.append(event)

    runtime = AgentRuntime(
        Context.create(),
        DenyPrompter(),
        emit,
        on_show=lambda: holder[0].shown.append(True),
        case_check_every_s=0.5,
        collect_report=_recorded_report,
    )
    holder.append(Running(runtime))
    task = asyncio.ensure_future(runtime.run())
    await holder[0].until(lambda: control.control_file(runtime._ctx.paths).exists() or task.done())
    try:
        yield holder[0]
    finally:
        runtime.stop()
        assert await asyncio.wait_for(task, 60) == 0


async def _ask(paths: Any, command: str, **args: Any) -> Any:
    return await asyncio.to_thread(control.ask, paths, command, **args)


async def test_runs_unenrolled_then_enroll_starts_the_broker(
    running: Running, running_desk: RunningDesk
) -> None:
    runtime = running.runtime
    paths = runtime._ctx.paths
    await running.until(lambda: running.said("not enrolled"))
    assert runtime.enrolled is False and runtime.sessions_available is False
    assert runtime.live_sessions() == []
    pong = await _ask(paths, "ping")
    assert pong["enrolled"] is False and pong["face"] == "headless"
    assert await _ask(paths, "sessions") == []
    # nothing to search without a desk: the face links to the support site instead
    assert await runtime.kb_search("smdr") is None

    # a case filed before enrollment waits in the outbox (it is not lost)
    queued = await runtime.submit_case(CASE, None)
    assert queued.item.case_number is None

    # a wrong code is a sentence, and the runtime stays as it was
    with pytest.raises(VxError) as wrong:
        await runtime.enroll(running_desk.url, "NOT-A-CODE")
    assert wrong.value.message.endswith(".") and runtime.enrolled is False

    answer = await runtime.enroll(running_desk.url, running_desk.enrollment_code(CONTRACT))
    assert answer["agent_id"] and answer["relay"]["host"] == "127.0.0.1"
    assert runtime.enrolled is True and runtime.sessions_available is True
    assert running.event("enrolled", agent_id=answer["agent_id"])
    await running.until(lambda: running.said("running for"))
    pong = await _ask(paths, "ping")
    assert pong["enrolled"] is True and pong["sessions_available"] is True

    # a case filed now gets its number from the desk
    filed = await runtime.submit_case(CASE, {"schema": 1, "note": "report"})
    number = filed.item.case_number
    assert isinstance(number, int)
    assert number in {c["case_number"] for c in await runtime.list_cases()}
    assert (await runtime.get_case(number))["brief"] == CASE["brief"]

    # the broker polls: an engineer's request reaches the agent, which refuses it on its
    # own (deny prompter: nobody can answer here)
    token = running_desk.add_engineer("rt-engineer")
    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    with DeskClient(running_desk.url, token, timeout=30) as engineer:
        asked = await asyncio.to_thread(
            engineer.request,
            "POST",
            "/api/v1/engineer/sessions",
            {
                "case_number": number,
                "scopes": ["shell"],
                "minutes": 5,
                "reason": "look at the collector",
                "public_key": key,
            },
        )
        sid = str(asked["session_id"])
        refused = await running.until(lambda: running.event("refused", session_id=sid))
        assert "nobody can answer" in refused["reason"]

        # the periodic case check tells of a change the engineer made
        await running.until(lambda: runtime._cases_seen and number in runtime._cases_seen)
        await asyncio.to_thread(engineer.engineer_set_status, number, "waiting_customer", "call")
        changed = await running.until(
            lambda: running.event("case_changed", case_number=number, status="waiting_customer")
        )
        assert changed["brief"] == CASE["brief"]

    # the desk's knowledge base answers the tray's search, with links the face can open
    assert await runtime.kb_search("smdr") == []
    article = running_desk.add_kb_article(
        "No call records: check the SMDR link", "Restart the collector and check the cable."
    )
    found = await runtime.kb_search("call recording")
    assert [a["id"] for a in found] == [article["id"]]
    assert found[0]["title"] == "No call records: check the SMDR link"
    assert "collector" in found[0]["snippet"]
    assert found[0]["url"] == f"{running_desk.url}/kb/{article['id']}"  # the readable page

    with pytest.raises(SessionNotFound):
        await runtime.end_session("no-such-session")
    with pytest.raises(control.ControlError, match="No live session"):
        await _ask(paths, "end", session_id="no-such-session")


async def test_the_report_is_kept_fresh_in_the_background(running: Running) -> None:
    ready = await running.until(lambda: running.event("report_ready"))
    assert ready["prefill"]  # the system fields a case form fills from it
    json.dumps(ready)  # a plain event
    first = await running.runtime.report()
    assert first.generated_at == ready["generated_at"]
    assert await running.runtime.report(max_age_s=300) is first  # cached
    fresh = await running.runtime.report(max_age_s=0)
    assert fresh is not first
    assert len([e for e in running.events if e["event"] == "report_ready"]) >= 2


async def test_a_second_agent_refuses_to_start_and_show_reaches_the_first(
    running: Running,
) -> None:
    second = AgentRuntime(Context.create(), DenyPrompter(), lambda e: None)
    with pytest.raises(AgentAlreadyRunning, match="already running"):
        await second.run()
    assert await _ask(running.runtime._ctx.paths, "show") == {"face": "headless"}
    assert running.shown == [True]
    assert running.event("show_requested")


async def test_two_agents_started_in_the_same_instant_one_runs(vx_home: Path) -> None:
    # Both pass "does one answer on the control channel?" before either listens; the
    # lock lets only one through.
    first = AgentRuntime(Context.create(), DenyPrompter(), lambda e: None)
    second = AgentRuntime(Context.create(), DenyPrompter(), lambda e: None)
    runs = [asyncio.ensure_future(first.run()), asyncio.ensure_future(second.run())]
    done, _ = await asyncio.wait(runs, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    assert len(done) == 1
    loser = done.pop()
    with pytest.raises(AgentAlreadyRunning, match="already running"):
        loser.result()
    winner = runs[1] if loser is runs[0] else runs[0]
    (first if winner is runs[0] else second).stop()
    assert await asyncio.wait_for(winner, 60) == 0
    # the lock goes with the agent: the next one starts
    third = AgentRuntime(Context.create(), DenyPrompter(), lambda e: None)
    third.stop()
    assert await asyncio.wait_for(third.run(), 60) == 0


async def test_stop_before_run_returns_at_once(vx_home: Path) -> None:
    runtime = AgentRuntime(Context.create(), DenyPrompter(), lambda e: None)
    runtime.stop()
    assert await asyncio.wait_for(runtime.run(), 60) == 0
    assert not control.control_file(runtime._ctx.paths).exists()


async def test_an_enrollment_without_a_relay_still_files_cases(
    vx_home: Path, running_desk: RunningDesk
) -> None:
    """Cases need no relay: such a host is enrolled, only sessions cannot start (and it says so)."""
    from vxassist.cases.enroll import enroll, enrollment_file

    ctx = Context.create()
    enroll(ctx.paths, ctx.secrets(), running_desk.url, running_desk.enrollment_code(CONTRACT))
    facts = json.loads(enrollment_file(ctx.paths).read_text())
    facts.pop("relay")
    enrollment_file(ctx.paths).write_text(json.dumps(facts))

    events: list[dict[str, Any]] = []
    runtime = AgentRuntime(Context.create(), DenyPrompter(), events.append)
    run = Running(runtime, events)
    task = asyncio.ensure_future(runtime.run())
    try:
        await run.until(lambda: run.said("remote sessions cannot start") or task.done())
        assert runtime.enrolled is True and runtime.sessions_available is False
        assert any("enroll again" in str(e.get("message")) for e in events)
        filed = await runtime.submit_case(CASE, None)
        assert isinstance(filed.item.case_number, int)
    finally:
        runtime.stop()
        assert await asyncio.wait_for(task, 60) == 0


async def test_the_agent_runs_on_when_its_control_channel_cannot_start(vx_home: Path) -> None:
    ctx = Context.create()
    control.control_file(ctx.paths).mkdir(parents=True)  # the file's place is taken
    events: list[dict[str, Any]] = []
    runtime = AgentRuntime(ctx, DenyPrompter(), events.append, collect_report=_recorded_report)
    run = Running(runtime, events)
    task = asyncio.ensure_future(runtime.run())
    try:
        await run.until(lambda: run.said("control channel could not start") or task.done())
        await run.until(lambda: run.said("not enrolled") or task.done())
        assert not task.done()
    finally:
        runtime.stop()
        assert await asyncio.wait_for(task, 60) == 0


async def test_an_update_carries_a_fresh_report_and_a_refused_one_says_why(
    vx_home: Path, running_desk: RunningDesk
) -> None:
    from vxassist.cases import sendable
    from vxassist.cases.enroll import enroll
    from vxassist.cases.model import CaseError

    ctx = Context.create()
    enroll(ctx.paths, ctx.secrets(), running_desk.url, running_desk.enrollment_code(CONTRACT))
    events: list[dict[str, Any]] = []
    runtime = AgentRuntime(
        Context.create(), DenyPrompter(), events.append, collect_report=_recorded_report
    )
    run = Running(runtime, events)
    task = asyncio.ensure_future(runtime.run())
    try:
        await run.until(lambda: runtime.enrolled or task.done())
        number = (await runtime.submit_case(CASE, None)).item.case_number
        assert isinstance(number, int)
        payload = sendable.report_payload(await runtime.report(), ())
        assert payload is not None
        answer = await runtime.update_case(number, "Still no records.", payload)
        assert answer["report_attached"] is True and answer["outbox_state"] == "delivered"
        shown = await runtime.get_case(number)
        assert [e["kind"] for e in shown["events"]] == ["received", "update", "report"]
        assert shown["events"][2]["system_report"]["sections"].keys() == payload["sections"].keys()

        too_big = {"sections": {"os": {"blob": "x" * (4 * 1024 * 1024 + 10)}}}
        with pytest.raises(CaseError) as refused:
            await runtime.update_case(number, "With a huge log.", too_big)
        assert refused.value.message.startswith("The desk refused the update: The request is")
        assert "outbox item" in refused.value.message
        shown = await runtime.get_case(number)
        assert len(shown["events"]) == 3
    finally:
        runtime.stop()
        assert await asyncio.wait_for(task, 60) == 0
