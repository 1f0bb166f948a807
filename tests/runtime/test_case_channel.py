"""The agent learns of changes to its cases by one cheap call, not by reading every case.

A real desk process (``tests/fixtures/desk.py``) behind a recording proxy: the
agent is enrolled at the proxy's address, so every request it makes is seen,
while the engineer talks to the desk directly. When the desk's long poll says
the case cursor moved, the agent asks ``GET /api/v1/cases/changes?since=N`` and
reads only the cases named there; a reply on one case raises ``case_changed``
for that case only. Without a long poll (a host whose sessions cannot start),
the timed check makes the same cheap call.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.probe_recorded import RecordedProbe
from tests.fixtures.desk import DelayingProxy, RunningDesk
from tests.runtime.test_runtime import CASE as RUNTIME_CASE
from vxassist import control
from vxassist.cliutil import Context
from vxassist.deskclient import DeskClient, DeskRejected
from vxassist.remote.consent import DenyPrompter
from vxassist.runtime import AgentRuntime
from vxassist.settings import Settings
from vxassist.sysinfo.report import collect_report

pytestmark = [pytest.mark.timeout(180), pytest.mark.anyio, pytest.mark.slow]

CONTRACT = "C-CH"
COMPANY = "Channel Hotels"
CASE = {**RUNTIME_CASE, "company": COMPANY}
RELAY_CONFIG = (
    '[relay]\nhost = "127.0.0.1"\nport = 2222\nknown_hosts = "ssh-ed25519 '
    'AAAAC3NzaC1lZDI1NTE5AAAAIE9hmnhHf4aKOFfoqySJtsx2/UrscmNj8+YwxWmS8UpU"\n'
    "[sessions]\nrequest_timeout_s = 60\npoll_interval_s = 0.2\n"
)
POLL = "/api/v1/agent/session-requests"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def polled_desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDesk]:
    """A desk with a relay: the agent's broker holds its long poll there."""
    folder = tmp_path_factory.mktemp("channel-desk")
    config = folder / "desk.toml"
    config.write_text(RELAY_CONFIG)
    with RunningDesk(folder, config) as desk:
        desk.add_contract(CONTRACT, COMPANY)
        yield desk


@dataclass
class Agent:
    runtime: AgentRuntime
    proxy: DelayingProxy
    desk: RunningDesk
    events: list[dict[str, Any]] = field(default_factory=list)

    async def until(self, check: Callable[[], Any], timeout_s: float = 60) -> Any:
        """Wait (bounded, never timed) until ``check()`` is true; its value."""
        async with asyncio.timeout(timeout_s):
            while True:
                found = check()
                if found:
                    return found
                await asyncio.sleep(0.05)

    def changed(self) -> list[tuple[Any, Any]]:
        return [
            (e.get("case_number"), e.get("status"))
            for e in self.events
            if e.get("event") == "case_changed"
        ]

    def case_requests(self, since: int = 0) -> list[str]:
        """What the agent asked of the desk about cases (its long polls left out)."""
        return [r for r in self.proxy.requests[since:] if not r.startswith(f"GET {POLL}")]


@contextlib.asynccontextmanager
async def _run_agent(
    desk: RunningDesk, proxy: DelayingProxy | None = None, enroll: bool = True, **kw: Any
) -> AsyncIterator[Agent]:
    """An agent run behind a recording proxy (a new one, or ``proxy``, which is then
    the caller's to close); enrolled at it unless ``enroll`` is false (started again)."""
    owned = proxy is None
    proxy = proxy or DelayingProxy(desk.port)
    holder: list[Agent] = []
    runtime = AgentRuntime(
        Context.create(),
        DenyPrompter(),
        lambda event: holder[0].events.append(event),
        collect_report=lambda: collect_report(
            Settings(), probe=RecordedProbe("debian-vxtracker-mariadb-postgres")
        ),
        **kw,
    )
    agent = Agent(runtime, proxy, desk)
    holder.append(agent)
    task = asyncio.ensure_future(runtime.run())
    try:
        await agent.until(lambda: control.control_file(runtime._ctx.paths).exists() or task.done())
        if enroll:
            await runtime.enroll(proxy.url, desk.enrollment_code(CONTRACT))
        yield agent
    finally:
        runtime.stop()
        try:
            assert await asyncio.wait_for(task, 60) == 0
        finally:
            if owned:
                proxy.close()


@pytest.fixture
async def polling_agent(vx_home: Path, polled_desk: RunningDesk) -> AsyncIterator[Agent]:
    """An enrolled agent whose broker holds the desk's long poll (checks every hour
    otherwise: only the poll's case cursor can make it look)."""
    (vx_home / "config").mkdir(exist_ok=True)
    async with _run_agent(polled_desk, case_check_every_s=3600) as agent:
        yield agent


def _engineer(desk: RunningDesk, name: str) -> DeskClient:
    return DeskClient(desk.url, desk.add_engineer(name), timeout=30)


def _host_cursor(engineer: DeskClient, numbers: list[int]) -> int:
    """The host's case cursor as the desk computes it: its newest customer-visible event."""
    ids = [
        int(e["id"])
        for number in numbers
        for e in engineer.get_case(number)["events"]
        if e["visibility"] == "customer"
    ]
    return max(ids)


async def _file(agent: Agent, brief: str) -> int:
    filed = await agent.runtime.submit_case({**CASE, "brief": brief}, None)
    number = filed.item.case_number
    assert isinstance(number, int)
    return number


async def _caught_up(
    agent: Agent, engineer: DeskClient, numbers: list[int], held_poll: bool = True
) -> int:
    """Wait until the agent has read everything up to the desk's case cursor (read
    again each turn: what the agent does may move it); that cursor."""
    runtime = agent.runtime
    async with asyncio.timeout(60):
        while True:
            cursor = await asyncio.to_thread(_host_cursor, engineer, numbers)
            remote = runtime._remote
            polled = not held_poll or (remote is not None and remote.broker.case_cursor == cursor)
            if polled and runtime._case_cursor_read == cursor:
                return cursor
            await asyncio.sleep(0.1)


async def _first_poll_answered(agent: Agent, engineer: DeskClient, number: int) -> None:
    """Make the broker's first long poll answer, so it holds the desk's case cursor.

    A poll without a cursor answers only for a session request (or at the end of
    its wait): an engineer asks for one, and the agent refuses it on its own (the deny
    prompter), as in tests/runtime/test_runtime.py.
    """
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    asked = await asyncio.to_thread(
        engineer.request,
        "POST",
        "/api/v1/engineer/sessions",
        {
            "case_number": number,
            "scopes": ["shell"],
            "minutes": 5,
            "reason": "a first answer of the long poll",
            "public_key": key,
        },
    )
    sid = str(asked["session_id"])
    await agent.until(
        lambda: any(
            e.get("event") == "refused" and e.get("session_id") == sid for e in agent.events
        )
    )
    # and the desk has stored the refusal (its case event), before the test goes on
    await agent.until(
        lambda: engineer.request("GET", f"/api/v1/engineer/sessions/{sid}")["status"] == "denied"
    )
    remote = agent.runtime._remote
    await agent.until(lambda: remote is not None and remote.broker.case_cursor is not None)


async def test_a_reply_is_read_by_the_cheap_call_and_only_its_case_is_fetched(
    polling_agent: Agent,
) -> None:
    agent, desk = polling_agent, polling_agent.desk
    runtime = agent.runtime
    first = await _file(agent, "A: no call records")
    second = await _file(agent, "B: the tray shows no calls")
    with _engineer(desk, "ch-engineer") as engineer:
        await _first_poll_answered(agent, engineer, first)
        before = await _caught_up(agent, engineer, [first, second])
        # the agent listed its cases once (its first look), the broker once (is the
        # session request about a case of this host?); its own new cases were no news
        assert agent.case_requests().count("GET /api/v1/cases") == 2
        # nor is the session request the agent refused (it had its own prompt)
        assert agent.changed() == []
        told, mark = len(agent.changed()), len(agent.proxy.requests)

        # an engineer answers case A at the desk
        reply = await asyncio.to_thread(
            engineer.engineer_post, first, "replies", {"text": "Restart the SMDR service."}
        )
        await agent.until(lambda: len(agent.changed()) > told)
        cursor = await _caught_up(agent, engineer, [first, second])
        assert cursor == max(e["id"] for e in reply["events"] if e["visibility"] == "customer")
        assert agent.changed()[told:] == [(first, reply["status"])]
        # one cheap call, then case A alone: no list of every case, no case B
        assert agent.case_requests(mark) == [
            f"GET /api/v1/cases/changes?since={before}",
            f"GET /api/v1/cases/{first}",
        ]
        # the tray reads the reply in the case (get_case)
        shown = await runtime.get_case(first)
        assert "Restart the SMDR service." in [e["text"] for e in shown["events"]]

        # an internal note on B moves nothing the host may read; a status change on B does
        told, mark = len(agent.changed()), len(agent.proxy.requests)
        await asyncio.to_thread(engineer.engineer_post, second, "notes", {"text": "old PBX"})
        assert await asyncio.to_thread(_host_cursor, engineer, [first, second]) == cursor
        await asyncio.to_thread(engineer.engineer_set_status, second, "waiting_customer", None)
        await agent.until(lambda: len(agent.changed()) > told)
        await _caught_up(agent, engineer, [first, second])
        assert agent.changed()[told:] == [(second, "waiting_customer")]
        assert agent.case_requests(mark) == [
            f"GET /api/v1/cases/changes?since={cursor}",
            f"GET /api/v1/cases/{second}",
        ]
        assert "old PBX" not in str(await runtime.get_case(second))


async def test_a_look_that_fails_is_made_again_on_the_next_move(polling_agent: Agent) -> None:
    agent, desk = polling_agent, polling_agent.desk
    runtime = agent.runtime
    number = await _file(agent, "C: calls missing at night")
    with _engineer(desk, "ch-engineer-2") as engineer:
        await _first_poll_answered(agent, engineer, number)
        read = await _caught_up(agent, engineer, [number])
        told = len(agent.changed())
        # the held long poll still answers, but every new call of the agent fails
        agent.proxy.upstream_port = 1  # nothing listens there
        await asyncio.to_thread(engineer.engineer_post, number, "replies", {"text": "On it."})
        moved = await asyncio.to_thread(_host_cursor, engineer, [number])
        remote, lock = runtime._remote, runtime._case_lock
        assert remote is not None and lock is not None

        def looked() -> bool:
            return (
                remote.broker.case_cursor == moved
                and not runtime._case_look_waiting
                and not lock.locked()
            )

        await agent.until(looked)
        # the look failed: the cursor it acted on stays, nothing was told
        assert runtime._case_cursor_read == read and len(agent.changed()) == told
        agent.proxy.upstream_port = desk.port
        await asyncio.to_thread(engineer.engineer_set_status, number, "waiting_customer", None)
        await agent.until(lambda: len(agent.changed()) > told)
        await _caught_up(agent, engineer, [number])
        # the next move read from the same cursor: the reply and the status, told once
        assert agent.changed()[told:] == [(number, "waiting_customer")]
        assert f"GET /api/v1/cases/changes?since={read}" in agent.proxy.requests


async def test_the_timer_catches_up_with_a_cursor_that_a_failed_look_left_behind(
    vx_home: Path, polled_desk: RunningDesk
) -> None:
    (vx_home / "config").mkdir(exist_ok=True)
    async with _run_agent(polled_desk, case_check_every_s=0.3) as agent:
        runtime = agent.runtime
        number = await _file(agent, "F: calls missing at noon")
        with _engineer(polled_desk, "ch-engineer-5") as engineer:
            await _first_poll_answered(agent, engineer, number)
            read = await _caught_up(agent, engineer, [number])
            told, mark = len(agent.changed()), len(agent.proxy.requests)
            agent.proxy.upstream_port = 1  # the agent's new calls fail; its held poll does not
            await asyncio.to_thread(engineer.engineer_post, number, "replies", {"text": "Hm."})
            moved = await asyncio.to_thread(_host_cursor, engineer, [number])
            remote = runtime._remote
            assert remote is not None
            await agent.until(lambda: remote.broker.case_cursor == moved)
            assert runtime._case_cursor_read == read
            # no further move: the timer sees the poll's cursor ahead of what was read
            agent.proxy.upstream_port = polled_desk.port
            await agent.until(lambda: len(agent.changed()) > told)
            await _caught_up(agent, engineer, [number])
        assert agent.changed()[told:] == [(number, "open")]
        assert f"GET /api/v1/cases/changes?since={read}" in agent.proxy.requests[mark:]


async def test_without_a_long_poll_the_timed_check_makes_the_cheap_call(
    vx_home: Path, polled_desk: RunningDesk
) -> None:
    (vx_home / "config").mkdir(exist_ok=True)
    async with _run_agent(polled_desk, case_check_every_s=0.3) as agent:
        runtime = agent.runtime
        # the remote part gone, as on a host whose sessions cannot start: no long poll
        await runtime._stop_remote()
        assert not runtime.sessions_available and runtime.enrolled
        first = await _file(agent, "D: no records")
        second = await _file(agent, "E: slow reports")
        with _engineer(polled_desk, "ch-engineer-3") as engineer:
            await _caught_up(agent, engineer, [first, second], held_poll=False)
            mark = len(agent.proxy.requests)
            await asyncio.to_thread(engineer.engineer_post, second, "replies", {"text": "Hi"})
            await agent.until(agent.changed)
            await _caught_up(agent, engineer, [first, second], held_poll=False)
        assert agent.changed() == [(second, "open")]
        asked = agent.case_requests(mark)
        assert [r for r in asked if "/changes" not in r] == [f"GET /api/v1/cases/{second}"]
        assert not any(r.startswith(f"GET {POLL}") for r in agent.proxy.requests[mark:])


def test_a_host_never_reads_another_hosts_cases(polled_desk: RunningDesk) -> None:
    desk = polled_desk
    with DeskClient(desk.url, timeout=30) as anonymous:
        own = anonymous.enroll(desk.enrollment_code(CONTRACT), "host-own", None)
        other = anonymous.enroll(desk.enrollment_code(CONTRACT), "host-other", None)
    body = {k: v for k, v in CASE.items() if k != "priority"} | {"priority": 3}
    with (
        DeskClient(desk.url, str(own["token"]), timeout=30) as host,
        DeskClient(desk.url, str(other["token"]), timeout=30) as stranger,
        _engineer(desk, "ch-engineer-4") as engineer,
    ):
        number = int(host.create_case(body, str(uuid.uuid4()))["case_number"])
        stranger_case = int(stranger.create_case(body, str(uuid.uuid4()))["case_number"])
        at_first = stranger.case_changes(0)
        assert at_first["cases"] == [stranger_case]
        engineer.engineer_post(number, "replies", {"text": "For the owner only."})
        engineer.engineer_set_status(number, "waiting_customer", None)
        # the stranger's cursor does not move, and no call names or shows the case
        assert stranger.case_changes(at_first["cursor"]) == {
            "cursor": at_first["cursor"],
            "cases": [],
        }
        assert number not in stranger.case_changes(0)["cases"]
        with pytest.raises(DeskRejected) as refused:
            stranger.get_case(number)
        assert refused.value.status == 404
        assert number not in {c["case_number"] for c in stranger.list_cases()}
        # while the owner reads it by the same calls
        assert number in host.case_changes(0)["cases"]
        assert host.get_case(number)["status"] == "waiting_customer"


async def test_an_agent_started_again_learns_its_case_cursor_from_its_first_poll(
    vx_home: Path, polled_desk: RunningDesk
) -> None:
    """The tray starts every morning on a host with cases: its first long poll says it
    has seen none (cursor 0), so the desk answers at once with the host's cursor and
    the next reply reaches the customer by the poll, not by the hourly check."""
    (vx_home / "config").mkdir(exist_ok=True)
    proxy = DelayingProxy(polled_desk.port)
    try:
        async with _run_agent(polled_desk, proxy, case_check_every_s=3600) as yesterday:
            number = await _file(yesterday, "A case from yesterday")
        async with _run_agent(polled_desk, proxy, enroll=False, case_check_every_s=3600) as agent:
            remote = await agent.until(lambda: agent.runtime._remote)
            with _engineer(polled_desk, "ch-morning") as engineer:
                cursor = await asyncio.to_thread(_host_cursor, engineer, [number])
                await agent.until(lambda: remote.broker.case_cursor == cursor)
                told = len(agent.changed())
                await asyncio.to_thread(
                    engineer.engineer_post, number, "replies", {"text": "Good morning."}
                )
                await agent.until(lambda: len(agent.changed()) > told)
                assert [n for n, _status in agent.changed()[told:]] == [number]
    finally:
        proxy.close()
