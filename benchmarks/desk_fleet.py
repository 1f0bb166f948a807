"""A fleet of idle hosts on one desk: what silence costs, how fast a wake-up is, and
how the fleet comes back after a desk restart.

This process simulates N hosts (asyncio, one HTTP/1.1 connection and one long poll
each, retrying with the agent's own jittered backoff); the desk is its own process,
``vxassist desk serve`` (uvicorn), on SQLite and on a throw-away PostgreSQL. The
database is seeded directly (N enrolled hosts, one open case each). Printed per
database and fleet size:

- desk CPU % of one core and database statements/s while every host holds a poll
  (each host's first wait is random in [1, wait] so re-polls arrive spread out, as
  in a fleet whose agents started at different times);
- desk RSS;
- wake-up p50/p99: an engineer asks for a session on 50 random hosts, one at a time,
  time until that host's poll answers with it (on PostgreSQL also asked on a second
  desk process while the hosts poll the first);
- restart: the desk is stopped (SIGTERM) and started again; seconds until every
  host holds a poll again, counted from the old process's exit; the polls the
  stopping desk answered "come back in N s" (503), the 503s the new one shed, the
  connection errors (refused while no desk listened), and the most failures in a
  row of one host.

Targets (10,000 hosts): idle CPU <= 5 %, statements ~ 0/s, RSS <= 1 GiB,
wake-up p99 <= 0.5 s, every host back within 60 s.

    .venv/bin/python benchmarks/desk_fleet.py [--hosts 1000,10000] [--db sqlite,postgres]

Statements are counted inside the desk process (every statement the SQLite driver
runs, traced; on PostgreSQL every statement SQLAlchemy sends), read through a
debug route this script adds when it starts the desk (``--serve-desk``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
IDLE_S = 30.0
WAKES = 50
RESTART_LIMIT_S = 120.0
#: like the agent's HTTP client: a connection not made by then is retried (backoff)
CONNECT_TIMEOUT_S = 5.0


# -- the desk process (with a statement counter and a debug route) ---------------


def serve_desk(argv: list[str]) -> int:
    """``vxassist desk serve ARGV`` with statements counted and ``/debug/fleet``."""
    from fastapi import FastAPI
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    import vxassist.desk.app as desk_app

    counted = [0]
    lock = threading.Lock()

    checkpoints = [0]

    def count(*_args: Any) -> None:
        with lock:
            # the SQLite log checkpointer (db.py): one PRAGMA a second, whatever the fleet
            if threading.current_thread().name == "vxassist-desk-checkpoint":
                checkpoints[0] += 1
            else:
                counted[0] += 1

    @event.listens_for(Engine, "connect")
    def _trace(dbapi_conn: Any, _record: Any) -> None:
        if hasattr(dbapi_conn, "set_trace_callback"):  # sqlite3: every statement it runs
            dbapi_conn.set_trace_callback(lambda _sql: count())

    @event.listens_for(Engine, "before_cursor_execute")
    def _sent(conn: Any, *_args: Any) -> None:
        if conn.dialect.name != "sqlite":
            count()

    original = desk_app.create_app

    def create_app(*args: Any, **kwargs: Any) -> FastAPI:
        app = original(*args, **kwargs)

        @app.get("/debug/fleet", include_in_schema=False)
        async def fleet() -> dict[str, Any]:
            broker = app.state.session_broker
            return {
                "statements": counted[0],
                "checkpointer": checkpoints[0],
                "waiting": broker.waiting(),
                "listening": broker.listening,
                "reads": sum(broker.reads.values()),
                "shed": broker.shed,
            }

        return app

    desk_app.create_app = create_app  # type: ignore[assignment]

    from vxassist.cli import main

    return int(main(["desk", "serve", *argv]) or 0)


# -- seeding ---------------------------------------------------------------------


def seed(url: str, hosts: int) -> tuple[list[tuple[str, str, int]], str]:
    """N hosts with one open case each: [(agent_id, token, case_number)], engineer token."""
    from sqlalchemy import insert

    from vxassist.desk import admin
    from vxassist.desk.config import DeskConfig
    from vxassist.desk.db import Database, upgrade
    from vxassist.desk.models import Agent, Case, CaseEvent, Counter
    from vxassist.desk.sessions.tables import AgentRelay
    from vxassist.desk.tokens import AGENT_PREFIX, new_token, token_hash

    upgrade(url)
    db = Database(url)
    now = datetime.now(UTC)
    config = DeskConfig()
    admin.add_contract(
        db,
        admin.NewContract("F-1", "Fleet Inc", date(2099, 1, 1), "Ann", "555", "ann@fleet.example"),
        now,
        config,
    )
    engineer = admin.add_engineer(db, "fleetbench", now)["token"]
    out: list[tuple[str, str, int]] = []
    agents, cases, relays = [], [], []
    for i in range(hosts):
        agent_id, token = uuid.uuid4().hex, new_token(AGENT_PREFIX)
        out.append((agent_id, token, 100_000 + i))
        agents.append(
            {
                "agent_id": agent_id,
                "contract_id": "F-1",
                "hostname": f"fleet{i}",
                "token_hash": token_hash(token),
                "enrolled_at": now,
            }
        )
        cases.append(
            {
                "id": 1_000_000 + i,
                "case_number": 100_000 + i,
                "reference": f"F{i:014d}",
                "agent_id": agent_id,
                "contract_id": "F-1",
                "status": "open",
                "priority": 3,
                "received_at": now,
                "response_due": now + timedelta(days=1),
                "updated_at": now,
                "message": "",
                **{
                    k: "x"
                    for k in [
                        "company",
                        "install_type",
                        "location",
                        "database_type",
                        "vxtracker_server",
                        "pbx_manufacturer",
                        "pbx_model",
                        "contact_name",
                        "contact_phone",
                        "contact_email",
                        "brief",
                        "details",
                        "steps_taken",
                    ]
                },
            }
        )
        relays.append(
            {
                "agent_id": agent_id,
                "listen_port": 20_000 + i,
                "host_key": f"ssh-ed25519 FLEET{i}",
                "host_certificate": "",
                "assigned_at": now,
            }
        )
    events = [
        {
            "case_id": c["id"],
            "at": now,
            "kind": "received",
            "author": "host",
            "text": "received",
            "visibility": "customer",
            "author_kind": "host",
        }
        for c in cases
    ]
    with db.writing() as session:
        for model, rows in ((Agent, agents), (Case, cases), (AgentRelay, relays)):
            for start in range(0, len(rows), 2000):
                session.execute(insert(model), rows[start : start + 2000])
        for start in range(0, len(events), 2000):
            session.execute(insert(CaseEvent), events[start : start + 2000])
        if session.get(Counter, "case_number") is None:
            session.add(Counter(name="case_number", value=200_000 + hosts))
    db.dispose()
    return out, engineer


# -- the simulated hosts ------------------------------------------------------------


async def http(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes = b"",
) -> tuple[int, dict[str, str], bytes]:
    lines = [f"{method} {path} HTTP/1.1", "Host: desk"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionResetError("closed")
    status = int(status_line.split()[1])
    head: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        head[name.strip().lower()] = value.strip()
    data = await reader.readexactly(int(head.get("content-length", "0")))
    return status, head, data


@dataclass
class Fleet:
    port: int
    hosts: list[tuple[str, str, int]]
    wait_s: int
    #: session id -> future the host's poll resolves with the moment it saw it
    watched: dict[str, asyncio.Future[float]] = field(default_factory=dict)
    shed: int = 0
    errors: int = 0
    worst_streak: int = 0
    answered: int = 0
    stop: bool = False
    kinds: dict[str, int] = field(default_factory=dict)

    async def host(self, index: int) -> None:
        from vxassist.deskclient import DeskUnavailable
        from vxassist.remote.broker import retry_delay

        _agent_id, token, _case = self.hosts[index]
        headers = {"Authorization": f"Bearer {token}"}
        first_wait = random.randint(1, self.wait_s)
        reader = writer = None
        delay, streak = 0.0, 0
        while not self.stop:
            try:
                if writer is None:
                    # source addresses 127.0.0.2.. each have their own ephemeral ports:
                    # closed connections linger (TIME_WAIT) without starving the others
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection(
                            "127.0.0.1", self.port, local_addr=(f"127.0.1.{1 + index % 200}", 0)
                        ),
                        CONNECT_TIMEOUT_S,
                    )
                assert reader is not None
                wait = first_wait if first_wait else self.wait_s
                first_wait = 0
                status, head, data = await http(
                    reader,
                    writer,
                    "GET",
                    f"/api/v1/agent/session-requests?wait={wait}",
                    headers,
                )
                if status == 503:
                    self.shed += 1
                    raise DeskUnavailable(
                        "busy", retry_after=float(head.get("retry-after", "0") or 0)
                    )
                if status != 200:
                    raise DeskUnavailable(f"HTTP {status}")
            except (
                OSError,
                TimeoutError,
                asyncio.IncompleteReadError,
                ValueError,
                DeskUnavailable,
            ) as exc:
                if writer is not None:
                    writer.close()
                reader = writer = None
                if not isinstance(exc, DeskUnavailable) or exc.retry_after is None:
                    self.errors += 1
                    name = type(exc).__name__ + (
                        f" {exc.errno}" if isinstance(exc, OSError) else ""
                    )
                    self.kinds[name] = self.kinds.get(name, 0) + 1
                streak += 1
                self.worst_streak = max(self.worst_streak, streak)
                unavailable = exc if isinstance(exc, DeskUnavailable) else DeskUnavailable("down")
                delay, pause = retry_delay(unavailable, delay)
                await asyncio.sleep(pause)
                continue
            delay, streak = 0.0, 0
            self.answered += 1
            at = time.perf_counter()
            answer = json.loads(data)
            for req in answer["requests"]:
                fut = self.watched.get(req["session_id"])
                if fut is not None and not fut.done():
                    fut.set_result(at)

    async def run(self) -> list[asyncio.Task[None]]:
        tasks = []
        for start in range(0, len(self.hosts), 200):  # hosts starting over a few seconds
            for i in range(start, min(start + 200, len(self.hosts))):
                tasks.append(asyncio.create_task(self.host(i)))
            await asyncio.sleep(0.05)
        # this process holds tens of thousands of long-lived objects: keep the collector
        # from walking them all (its pauses would count as the desk's wake-up latency)
        gc.collect()
        gc.freeze()
        return tasks


async def debug(port: int) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        _s, _h, data = await http(reader, writer, "GET", "/debug/fleet", {})
        result: dict[str, Any] = json.loads(data)
        return result
    finally:
        writer.close()


async def until_held(port: int, hosts: int, limit_s: float) -> float | None:
    """Seconds until the desk holds a poll of every host (None: not within the limit)."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        with contextlib.suppress(OSError, ValueError, asyncio.IncompleteReadError):
            if (await debug(port))["waiting"] >= hosts:
                return time.perf_counter() - start
        await asyncio.sleep(0.2)
    return None


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def wake_ups(
    fleet: Fleet, engineer: str, ask_port: int, count: int
) -> tuple[list[float], int]:
    """Latency from the engineer's request (sent to ``ask_port``) to the host's answer."""
    import asyncssh

    reader, writer = await asyncio.open_connection("127.0.0.1", ask_port)
    latencies: list[float] = []
    missed = -1  # the first request warms the desk's request path up: not counted
    headers = {"Authorization": f"Bearer {engineer}", "Content-Type": "application/json"}
    for index in random.sample(range(len(fleet.hosts)), count + 1):
        key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
        body = json.dumps(
            {
                "case_number": fleet.hosts[index][2],
                "scopes": ["shell"],
                "minutes": 5,
                "reason": "fleet benchmark",
                "public_key": key,
            }
        ).encode()
        started = time.perf_counter()
        try:
            status, _h, data = await http(
                reader, writer, "POST", "/api/v1/engineer/sessions", headers, body
            )
        except (ConnectionResetError, asyncio.IncompleteReadError):
            # the desk closed the idle keep-alive connection (a wake-up that took long)
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", ask_port)
            started = time.perf_counter()
            status, _h, data = await http(
                reader, writer, "POST", "/api/v1/engineer/sessions", headers, body
            )
        if status != 201:
            raise RuntimeError(f"session request refused: {status} {data[:200]!r}")
        sid = json.loads(data)["session_id"]
        fut = fleet.watched.setdefault(sid, asyncio.get_running_loop().create_future())
        try:
            seen = await asyncio.wait_for(asyncio.shield(fut), 10)
            if missed >= 0:
                latencies.append(seen - started)
        except TimeoutError:
            missed += 1
        missed = max(missed, 0)
        await asyncio.sleep(0.05)
    writer.close()
    return latencies, missed


# -- one run --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_desk(url: str, port: int, home: Path, config: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "VXASSIST_HOME": str(home)}
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve-desk",
            "--db",
            url,
            "--port",
            str(port),
            "--config",
            str(config),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"the desk did not start: {line!r}")
    return proc


def stop_desk(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Figures:
    db: str
    hosts: int
    held_s: float | None = None
    cpu_pct: float = 0.0
    statements_s: float = 0.0
    checkpointer_s: float = 0.0
    answers_s: float = 0.0
    rss_mib: float = 0.0
    wake: list[float] = field(default_factory=list)
    wake_missed: int = 0
    wake_other: list[float] = field(default_factory=list)
    wake_other_missed: int = 0
    back_s: float | None = None
    released: int = 0
    shed: int = 0
    errors: int = 0
    worst_streak: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


async def measure(url: str, kind: str, hosts: int, wait_s: int) -> Figures:
    home = Path(tempfile.mkdtemp(prefix="vxfleet-"))
    config = home / "desk.toml"
    config.write_text(
        f'[sessions]\nmax_wait_s = {wait_s}\nrequest_timeout_s = 600\nca_dir = "{home / "ca"}"\n'
    )
    fleet_hosts, engineer = seed(url, hosts)
    figures = Figures(kind, hosts)
    port = free_port()
    desk = await asyncio.to_thread(start_desk, url, port, home, config)
    other: subprocess.Popen[str] | None = None
    fleet = Fleet(port, fleet_hosts, wait_s)
    tasks: list[asyncio.Task[None]] = []
    try:
        tasks = await fleet.run()
        figures.held_s = await until_held(port, hosts, 300)
        await asyncio.sleep(3)
        before = await debug(port)
        c0, a0, t0 = cpu_s(desk.pid), fleet.answered, time.perf_counter()
        await asyncio.sleep(IDLE_S)
        after = await debug(port)
        elapsed = time.perf_counter() - t0
        figures.cpu_pct = (cpu_s(desk.pid) - c0) / elapsed * 100
        figures.statements_s = (after["statements"] - before["statements"]) / elapsed
        figures.checkpointer_s = (after["checkpointer"] - before["checkpointer"]) / elapsed
        figures.answers_s = (fleet.answered - a0) / elapsed
        figures.rss_mib = rss_mib(desk.pid)
        figures.wake, figures.wake_missed = await wake_ups(fleet, engineer, port, WAKES)
        if kind == "postgresql":
            other_port = free_port()
            other = await asyncio.to_thread(start_desk, url, other_port, home, config)
            figures.wake_other, figures.wake_other_missed = await wake_ups(
                fleet, engineer, other_port, WAKES
            )
        fleet.shed = fleet.errors = fleet.worst_streak = 0
        fleet.kinds.clear()
        await asyncio.to_thread(stop_desk, desk)
        stopped = time.perf_counter()
        figures.released, fleet.shed = fleet.shed, 0  # 503s from the stopping desk
        desk = await asyncio.to_thread(start_desk, url, port, home, config)
        held = await until_held(port, hosts, RESTART_LIMIT_S)
        figures.back_s = None if held is None else time.perf_counter() - stopped
        figures.shed, figures.errors, figures.worst_streak = (
            fleet.shed,
            fleet.errors,
            fleet.worst_streak,
        )
        figures.kinds = dict(fleet.kinds)
    finally:
        fleet.stop = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(stop_desk, desk)
        if other is not None:
            await asyncio.to_thread(stop_desk, other)
    return figures


def report(f: Figures, wait_s: int) -> list[str]:
    def ms(values: list[float], q: float) -> str:
        return f"{pct(values, q) * 1000:6.0f}" if values else "     -"

    lines = [
        f"{f.db:<10} {f.hosts:>6} hosts   all polls held after {f.held_s or float('nan'):5.1f} s",
        f"  idle ({IDLE_S:.0f} s, polls of {wait_s} s, {f.answers_s:.0f} answers/s): "
        f"desk CPU {f.cpu_pct:5.1f} % (<= 5)   statements {f.statements_s:7.1f}/s (~0)   "
        f"RSS {f.rss_mib:6.0f} MiB (<= 1024)"
        + (f"   (+ log checkpointer {f.checkpointer_s:.1f}/s)" if f.checkpointer_s else ""),
        f"  wake-up, {WAKES} requests to random hosts: p50 {ms(f.wake, 0.5)} ms   "
        f"p99 {ms(f.wake, 0.99)} ms (<= 500)   max {ms(f.wake, 1.0)} ms   missed {f.wake_missed}",
    ]
    if f.wake_other or f.wake_other_missed:
        lines.append(
            f"  wake-up, asked on a second desk process: p50 {ms(f.wake_other, 0.5)} ms   "
            f"p99 {ms(f.wake_other, 0.99)} ms (<= 500)   max {ms(f.wake_other, 1.0)} ms   "
            f"missed {f.wake_other_missed}"
        )
    back = f"{f.back_s:5.1f} s" if f.back_s is not None else f"not within {RESTART_LIMIT_S:.0f} s"
    lines.append(
        f"  desk restart: every host polling again after {back} (<= 60)   "
        f"answered at stop {f.released}   503 shed {f.shed}   "
        f"connection errors {f.errors}   worst streak {f.worst_streak}"
    )
    if f.kinds:
        lines.append(
            "    errors by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(f.kinds.items()))
        )
    return lines


@contextlib.contextmanager
def database(kind: str) -> Iterator[Any]:
    if kind == "sqlite":
        home = Path(tempfile.mkdtemp(prefix="vxfleet-db-"))
        yield lambda: f"sqlite:///{home / f'desk-{uuid.uuid4().hex[:6]}.sqlite3'}"
        return
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.postgres import running_postgres

    with running_postgres() as server:
        yield server.fresh_database


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-desk":
        return serve_desk(sys.argv[2:])
    from vxassist.remote.broker import POLL_WAIT_S

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="1000,10000", help="fleet sizes, comma-separated")
    parser.add_argument("--db", default="sqlite,postgres", help="sqlite and/or postgres")
    parser.add_argument(
        "--wait", type=int, default=POLL_WAIT_S, help="the hosts' long poll (the agent's)"
    )
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the desk inherits it too
    sizes = [int(n) for n in args.hosts.split(",")]
    print(f"file descriptors: soft limit {soft} raised to {hard}; {os.cpu_count()} cores")
    ok = True
    for kind in args.db.split(","):
        name = "postgresql" if kind.startswith("postgres") else "sqlite"
        with database(name) as fresh:
            for n in sizes:
                figures = asyncio.run(measure(fresh(), name, n, args.wait))
                for line in report(figures, args.wait):
                    print(line, flush=True)
                ok = ok and meets(figures)
    print("all targets met" if ok else "some targets NOT met")
    return 0 if ok else 1


def meets(f: Figures) -> bool:
    wakes = f.wake + f.wake_other
    return f.hosts < 10_000 or (
        f.cpu_pct <= 5
        and f.statements_s <= 1
        and f.rss_mib <= 1024
        and bool(wakes)
        and pct(wakes, 0.99) <= 0.5
        and f.wake_missed == f.wake_other_missed == 0
        and f.back_s is not None
        and f.back_s <= 60
    )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
