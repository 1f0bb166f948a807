"""Case-create throughput and latency against the same desk's /healthz, side by side.

Starts ``vxassist desk serve`` on 127.0.0.1 (SQLite by default) as its own
process, enrolls a few hosts, then sends the same number of requests at the
same concurrency to ``GET /healthz`` (the baseline: no database) and to
``POST /api/v1/cases`` (validation, auth, idempotency record, case number,
deadline, history, one transaction). Prints both and their ratios.

Targets: create throughput >= 0.5 x /healthz, create p99 <= 50 ms (SQLite).

A third line shows the floor of any create on this stack: a bare FastAPI app
(its own process, same server, same loop) whose POST only validates the same
body against the desk's schema and answers a constant; no auth, no database.

    .venv/bin/python benchmarks/desk_intake.py [--requests 2000] [--concurrency 100]
    .venv/bin/python benchmarks/desk_intake.py --postgres   # the same on a real PostgreSQL
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import FastAPI, Header, Response

from vxassist.desk import admin
from vxassist.desk.config import DeskConfig
from vxassist.desk.db import Database, upgrade
from vxassist.desk.schemas import CaseIn

BODY = {
    "company": "Acme Telecom",
    "install_type": "single server",
    "location": "Fresno, CA",
    "database_type": "SQL Server 2019",
    "vxtracker_server": "VXT01 7.2.1",
    "pbx_manufacturer": "Avaya",
    "pbx_model": "IP Office 500 V2",
    "contact_name": "Ann Example",
    "contact_phone": "+1 559 555 0100",
    "contact_email": "ann@acme.example",
    "brief": "Calls are not recorded since this morning",
    "details": "The SMDR link shows no records since 06:10. " * 10,
    "steps_taken": "Restarted the collector service.",
    "priority": 2,
    "system_report": {"os": {"name": "Windows Server 2019", "build": 17763}, "disks": [1, 2, 3]},
}


def server_cpu_s(pid: int) -> float:
    """CPU seconds the desk process has used (Linux /proc); 0 where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    cpu_s: float = 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_s * 1000 / self.requests

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def line(self) -> str:
        return (
            f"{self.name:<14} {self.rps:8.0f} req/s   p50 {self.pct(0.50):6.1f} ms   "
            f"p99 {self.pct(0.99):6.1f} ms   max {max(self.latencies_ms):6.1f} ms   "
            f"desk CPU {self.cpu_ms_per_request:5.2f} ms/req   errors {self.errors}"
        )


class Connection:
    """One keep-alive HTTP/1.1 connection: a lean client, so the desk is what gets measured."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> int:
        try:
            return await self._request(method, path, headers, body)
        except (ConnectionError, asyncio.IncompleteReadError, IndexError):
            # the server closed an idle keep-alive connection: open a new one, once
            await self.close()
            return await self._request(method, path, headers, body)

    async def _request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError):
                await self.writer.wait_closed()
            self.reader = self.writer = None


Request = Callable[[Connection, int], Awaitable[int]]


async def _load(
    name: str, total: int, conns: list[Connection], one: Request, pid: int = 0
) -> Result:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))

    async def worker(conn: Connection) -> None:
        nonlocal errors
        for i in counter:
            start = time.perf_counter()
            status = await one(conn, i)
            latencies.append((time.perf_counter() - start) * 1000)
            if status >= 400:
                errors += 1

    cpu = server_cpu_s(pid)
    began = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - began
    return Result(name, total, elapsed, latencies, errors, server_cpu_s(pid) - cpu)


async def _paced(
    name: str, total: int, conns: list[Connection], one: Request, rate: float, pid: int
) -> Result:
    """Open loop: request i is due at start + i/rate, whether or not earlier ones are done.

    Latency counts from the due time, so waiting for a free client counts too.
    """
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for c in conns:
        free.put_nowait(c)
    latencies: list[float] = []
    errors = 0
    cpu = server_cpu_s(pid)
    began = time.perf_counter()

    async def send(i: int, due: float) -> None:
        nonlocal errors
        conn = await free.get()
        try:
            status = await one(conn, i)
        finally:
            free.put_nowait(conn)
        latencies.append((time.perf_counter() - due) * 1000)
        errors += status >= 400

    tasks = []
    for i in range(total):
        due = began + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(send(i, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - began
    return Result(name, total, elapsed, latencies, errors, server_cpu_s(pid) - cpu)


async def run(
    base: str,
    tokens: list[str],
    total: int,
    concurrency: int,
    pid: int,
    rounds: int,
    paced: bool = True,
) -> list[Result]:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    conns = [Connection(host, int(port)) for _ in range(concurrency)]
    payload = json.dumps(BODY).encode()

    async def health(c: Connection, _i: int) -> int:
        return await c.request("GET", "/healthz", {})

    async def create(c: Connection, i: int) -> int:
        headers = {
            "Authorization": f"Bearer {tokens[i % len(tokens)]}",
            "Idempotency-Key": uuid.uuid4().hex,
            "Content-Type": "application/json",
        }
        return await c.request("POST", "/api/v1/cases", headers, payload)

    try:
        # warm both paths (connections, imports, caches) before measuring
        await _load("warm-up", concurrency * 2, conns, health)
        await _load("warm-up", concurrency, conns, create)
        # alternate the two paths so that both meet the same machine load
        healthz, cases = [], []
        for _ in range(rounds):
            healthz.append(await _load("GET /healthz", total, conns, health, pid))
            cases.append(await _load("POST /cases", total, conns, create, pid))
        # the median round of each, by throughput
        best = [sorted(r, key=lambda x: x.rps)[len(r) // 2] for r in (healthz, cases)]
        if not paced:
            return [*best, best[1]]
        # then creates at half the measured capacity: the latency a customer sees
        rate = best[1].rps / 2
        at_half = await _paced(
            f"POST @{rate:.0f}/s", max(200, total // 4), conns, create, rate, pid
        )
    finally:
        for c in conns:
            await c.close()
    return [*best, at_half]


def floor_app() -> Any:
    """The floor: /healthz and a POST that validates a case body and answers a constant."""
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(content=b'{"status":"ok"}', media_type="application/json")

    @app.post("/api/v1/cases", status_code=201)
    async def create(
        body: CaseIn, key: Annotated[str | None, Header(alias="Idempotency-Key")] = None
    ) -> Response:
        return Response(content=b'{"case_number":1}', status_code=201)

    return app


def serve_floor(port: int) -> None:
    import uvicorn

    from vxassist import eventloop

    config = uvicorn.Config(
        floor_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    eventloop.run(uvicorn.Server(config).serve())


def measure_floor(args: argparse.Namespace) -> tuple[Result, Result]:
    """The same two loads against the floor app, in its own process."""
    from vxassist.demo import free_port, wait_for_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve-floor", str(port)])
    try:
        wait_for_port("127.0.0.1", port, 30, proc)
        base = f"http://127.0.0.1:{port}"
        tokens = ["floor"]
        healthz, cases, _ = asyncio.run(
            run(base, tokens, args.requests, args.concurrency, proc.pid, args.rounds, paced=False)
        )
        return healthz, cases
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-floor":
        serve_floor(int(sys.argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per path")
    parser.add_argument("--hosts", type=int, default=10, help="enrolled hosts sending cases")
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor app")
    parser.add_argument(
        "--postgres", action="store_true", help="start a throw-away PostgreSQL and use it"
    )
    args = parser.parse_args()
    if args.postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.fixtures.postgres import running_postgres

        with running_postgres() as server:
            args.db = server.fresh_database()
            return measure(args)
    return measure(args)


def measure(args: argparse.Namespace) -> int:
    home = Path(tempfile.mkdtemp(prefix="vxbench-"))
    url = args.db or f"sqlite:///{home / 'desk.sqlite3'}"
    upgrade(url)
    db = Database(url)
    now, config = datetime.now(UTC), DeskConfig()
    admin.add_contract(
        db,
        admin.NewContract("B-1", "Acme", date(2099, 1, 1), "Ann", "555", "ann@acme.example"),
        now,
        config,
    )
    codes = [admin.new_code(db, "B-1", now, config)["code"] for _ in range(args.hosts)]
    db.dispose()

    env = {**os.environ, "VXASSIST_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vxassist", "desk", "serve", "--db", url, "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on" not in line:
            print(f"the desk did not start: {line!r}", file=sys.stderr)
            return 1
        base = line.split()[-1]
        tokens = [
            httpx.post(f"{base}/api/v1/enroll", json={"code": c, "hostname": f"bench{i}"})
            .raise_for_status()
            .json()["token"]
            for i, c in enumerate(codes)
        ]
        healthz, cases, paced = asyncio.run(
            run(base, tokens, args.requests, args.concurrency, proc.pid, args.rounds)
        )
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    floor = None if args.no_floor else measure_floor(args)

    db_kind = url.split(":", 1)[0].split("+")[0]
    print(
        f"desk on {db_kind}, {args.requests} requests per path and round, "
        f"{args.concurrency} clients, median of {args.rounds} alternating rounds"
    )
    print(healthz.line())
    print(cases.line())
    print(paced.line() + "   (open loop, half the create capacity)")
    ratio = cases.rps / healthz.rps
    p99 = cases.pct(0.99)
    cpu_ratio = cases.cpu_ms_per_request / max(healthz.cpu_ms_per_request, 1e-9)
    median_ratio = statistics.median(cases.latencies_ms) / statistics.median(healthz.latencies_ms)
    print(
        f"create/healthz: throughput {ratio:.2f} (target >= 0.50), "
        f"p99 {p99 / healthz.pct(0.99):.2f}, median {median_ratio:.2f}, "
        f"desk CPU per request {cpu_ratio:.2f}"
    )
    print(
        f"create p99 {p99:.1f} ms at {args.concurrency} busy clients, "
        f"{paced.pct(0.99):.1f} ms at half capacity (target <= 50 ms)"
    )
    if floor is not None:
        floor_healthz, floor_post = floor
        floor_post.name = "floor POST"
        print(
            "floor: a bare FastAPI app whose POST only validates the same body "
            "(no auth, no database)"
        )
        print(floor_healthz.line())
        print(floor_post.line())
        print(
            f"floor POST/healthz: throughput {floor_post.rps / floor_healthz.rps:.2f}, "
            f"p99 {floor_post.pct(0.99):.1f} ms at {args.concurrency} busy clients"
        )
    return 0 if healthz.errors == cases.errors == paced.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
