"""The web console and the desk's service platform under load, figures and ratios in one run.

1. The queue page (``GET /console/``, signed in) with 10,000 open cases, server time
   p50/p99 beside ``GET /healthz`` of the same desk. Target: queue p99 <= 50 ms.
2. Knowledge-base search (``GET /api/v1/kb/search``) over 5,000 articles, server
   time p99. Target: <= 20 ms.
3. A burst of 1,000 new cases (``POST /api/v1/cases``, 20 clients) with e-mail
   notifications on (``[mail]`` pointing at a local aiosmtpd; each case stores that
   the engineers' notice is owed, the desk's sender writes the mails and delivers
   them) and off.
   Target: on is at most 10 % slower than off.

Every desk is ``create_app`` served by uvicorn in a process of its own (this script
with ``--serve``), over SQLite, with a small ASGI wrapper that reports each
request's server time (first byte of the request to the response's headers) in
an ``x-server-ms`` header; the client's wall time is printed beside it.

    .venv/bin/python benchmarks/desk_console.py [--cases 10000] [--articles 5000] [--burst 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from vxassist.desk import admin
from vxassist.desk.config import DeskConfig
from vxassist.desk.db import Database, upgrade
from vxassist.desk.models import Agent, Case, CaseEscalation

sys.path.insert(0, str(Path(__file__).resolve().parent))

import kb_search

PASSWORD = "benchmark password"
CASE_BODY = {
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
    "continues_case": None,
    "third_party_app": None,
    "third_party_version": None,
    "system_report": {"sections": {"os": {"status": "ok", "data": {"system": "windows"}}}},
}
WORDS = [
    "recording",
    "smdr",
    "cdr",
    "avaya",
    "cisco",
    "mitel",
    "panasonic",
    "license",
    "upgrade",
    "database",
    "backup",
    "restore",
    "collector",
    "service",
    "port",
    "serial",
    "tcp",
    "link",
    "trunk",
    "extension",
    "report",
    "dashboard",
    "export",
    "import",
    "timezone",
    "clock",
    "certificate",
    "password",
    "login",
    "sql",
    "server",
    "mysql",
    "postgres",
    "firebird",
    "oracle",
    "windows",
    "linux",
    "disk",
    "memory",
    "cpu",
    "network",
    "firewall",
    "proxy",
    "update",
    "patch",
    "version",
    "install",
    "uninstall",
    "migrate",
    "archive",
    "retention",
    "playback",
    "audio",
    "codec",
    "channel",
    "queue",
    "agent",
    "supervisor",
]


# -- the server side (this script with --serve) -----------------------------------------


class ServerTime:
    """ASGI wrapper: the request's server time in ``x-server-ms`` on the response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def timed(message: Any) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - start) * 1000
                message = dict(message)
                message["headers"] = [*message.get("headers", []), (b"x-server-ms", b"%.3f" % ms)]
            await send(message)

        await self.app(scope, receive, timed)


def serve(db_url: str, config_path: str) -> None:
    import uvicorn

    from vxassist.desk.app import create_app
    from vxassist.desk.config import load_desk_config

    config = load_desk_config(Path(config_path)) if config_path else DeskConfig()
    app = create_app(db_url, config, background_checkpoints=True)
    server = uvicorn.Server(
        uvicorn.Config(
            ServerTime(app), host="127.0.0.1", port=0, log_level="warning", access_log=False
        )
    )

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        await task

    asyncio.run(run())


class DeskProcess:
    def __init__(self, db_url: str, config_path: str = "") -> None:
        env = dict(os.environ, VXASSIST_HOME=tempfile.mkdtemp(prefix="vx-bench-home-"))
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", db_url, config_path],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            raise SystemExit(f"the desk did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


# -- building the data ------------------------------------------------------------------


def new_database(folder: Path, name: str) -> tuple[str, Database]:
    url = f"sqlite:///{folder / name}"
    upgrade(url)
    return url, Database(url)


def contract(db: Database, now: datetime) -> None:
    admin.add_contract(
        db,
        admin.NewContract(
            "C-1", "Acme Telecom", date(2030, 6, 30), "Ann Example", "555 0100", "ann@acme.example"
        ),
        now,
        DeskConfig(),
    )


def fill_cases(db: Database, count: int, now: datetime) -> None:
    """``count`` open cases of 50 companies, deadlines spread over two weeks either side."""
    rng = random.Random(7)
    with db.writing() as session:
        session.add(
            Agent(
                agent_id="bench-host",
                contract_id="C-1",
                hostname="vxbench",
                token_hash=uuid.uuid4().hex * 2,
                enrolled_at=now,
            )
        )
        session.flush()
        rows = []
        for i in range(count):
            received = now - timedelta(minutes=rng.randint(0, 14 * 24 * 60))
            rows.append(
                {
                    "case_number": 100_000 + i,
                    "reference": f"R-B{i:05d}",
                    "agent_id": "bench-host",
                    "contract_id": "C-1",
                    "group_id": None,
                    "status": rng.choice(("open", "open", "in_progress", "waiting_customer")),
                    "priority": rng.randint(1, 4),
                    "received_at": received,
                    "response_due": received + timedelta(hours=rng.choice((4, 8, 24, 72))),
                    "updated_at": received,
                    "message": "",
                    "company": f"Customer {i % 50:02d} Inc",
                    "install_type": "single server",
                    "location": "Fresno, CA",
                    "database_type": "SQL Server 2019",
                    "vxtracker_server": "VXT01",
                    "pbx_manufacturer": "Avaya",
                    "pbx_model": "IP Office",
                    "contact_name": "Ann",
                    "contact_phone": "555",
                    "contact_email": "ann@example.com",
                    "brief": f"Benchmark case {i}: " + " ".join(rng.sample(WORDS, 6)),
                    "details": "details " * 40,
                    "steps_taken": "none",
                    "assignee": rng.choice((None, None, "bench")),
                    "first_response_at": None,
                }
            )
        session.execute(insert(Case), rows)
        ids = list(range(1, count + 1, 50))
        session.execute(
            insert(CaseEscalation),
            [
                {
                    "case_id": case_id,
                    "at": now,
                    "by_kind": "engineer",
                    "by_name": "bench",
                    "level": "manager",
                    "recipient": "boss@example.com",
                    "reason": "benchmark",
                }
                for case_id in ids
            ],
        )


def fill_articles(db: Database, count: int, now: datetime) -> None:
    """The articles of ``benchmarks/kb_search.py`` (a realistic vocabulary, not one list)."""
    kb_search.fill_articles(db, count)


# -- measuring --------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def measure(
    client: httpx.Client, pages: dict[str, Callable[[int], str]], n: int
) -> dict[str, dict[str, float]]:
    """``n`` requests to each page, taken in turns (a noisy moment hurts them all alike)."""
    server: dict[str, list[float]] = {name: [] for name in pages}
    wall: dict[str, list[float]] = {name: [] for name in pages}
    for i in range(n):
        for name, make_path in pages.items():
            start = time.perf_counter()
            answer = client.get(make_path(i))
            wall[name].append((time.perf_counter() - start) * 1000)
            if answer.status_code != 200:
                raise SystemExit(
                    f"{make_path(i)} answered {answer.status_code}: {answer.text[:300]}"
                )
            server[name].append(float(answer.headers["x-server-ms"]))
    return {
        name: {
            "server_min": min(server[name]),
            "server_p50": statistics.median(server[name]),
            "server_p99": percentile(server[name], 99),
            "wall_p50": statistics.median(wall[name]),
            "wall_p99": percentile(wall[name], 99),
        }
        for name in pages
    }


def sign_in(client: httpx.Client, name: str) -> None:
    form = client.get("/console/signin")
    found = re.search(r'name="pre" value="([^"]+)"', form.text)
    assert found, form.text[:500]
    answer = client.post(
        "/console/signin",
        data={"pre": found.group(1), "next": "/console/", "name": name, "password": PASSWORD},
    )
    if answer.status_code != 303:
        raise SystemExit(f"sign-in failed: {answer.status_code} {answer.text[:300]}")


def line(label: str, figures: dict[str, float]) -> str:
    return (
        f"  {label:<36} server min {figures['server_min']:6.2f}"
        f"  p50 {figures['server_p50']:6.2f}  p99 {figures['server_p99']:6.2f} ms"
        f"  (wall p50 {figures['wall_p50']:6.2f}  p99 {figures['wall_p99']:6.2f})"
    )


def bench_queue_and_kb(folder: Path, cases: int, articles: int, n: int) -> list[str]:
    now = datetime.now(UTC)
    url, db = new_database(folder, "console.sqlite3")
    contract(db, now)
    admin.add_engineer(db, "bench", now, password=PASSWORD, manager=True)
    t0 = time.perf_counter()
    fill_cases(db, cases, now)
    t1 = time.perf_counter()
    fill_articles(db, articles, now)
    t2 = time.perf_counter()
    db.dispose()
    out = [
        f"data: {cases} open cases in {t1 - t0:.1f} s, {articles} articles in {t2 - t1:.1f} s",
    ]
    desk = DeskProcess(url)
    try:
        with httpx.Client(base_url=desk.url, timeout=30) as client:
            sign_in(client, "bench")
            for _ in range(20):  # warm up: the first requests compile statements
                client.get("/healthz")
                client.get("/console/")
                client.get("/api/v1/kb/search", params={"q": "smdr"})
            queries = kb_search.make_queries(n)
            filters = (
                "/console/?priority=2&breached=1",
                "/console/?company=customer+1",
                "/console/?escalated=1",
                "/console/?assignee=-&page=20",
            )
            figures = measure(
                client,
                {
                    "health": lambda i: "/healthz",
                    "queue": lambda i: "/console/",
                    "filtered": lambda i: filters[i % len(filters)],
                    "dashboard": lambda i: "/console/dashboard",
                    "search": lambda i: f"/api/v1/kb/search?q={queries[i].replace(' ', '+')}",
                },
                n,
            )
            health, queue, filtered = figures["health"], figures["queue"], figures["filtered"]
            dashboard, search = figures["dashboard"], figures["search"]
            page = client.get("/console/")
            assert f"{cases:,}" in page.text or f"{cases} open" in page.text, "queue total missing"
    finally:
        desk.stop()
    out += [
        f"queue page, {cases} open cases ({n} requests each, one client, pages in turns):",
        line("GET /healthz (baseline)", health),
        line("GET /console/ (first page, 50 cases)", queue),
        line("GET /console/?filters, later pages", filtered),
        line("GET /console/dashboard", dashboard),
        f"  queue / healthz server p99: {queue['server_p99'] / health['server_p99']:.1f}x;"
        f"  target queue p99 <= 50 ms: {'MET' if queue['server_p99'] <= 50 else 'MISSED'}",
        f"knowledge-base search, {articles} articles ({n} queries of 1-3 words):",
        line("GET /api/v1/kb/search", search),
        f"  target p99 <= 20 ms: {'MET' if search['server_p99'] <= 20 else 'MISSED'}",
    ]
    return out


# -- the notifications burst ------------------------------------------------------------


class Smtp:
    """A local aiosmtpd that counts what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        outer = self
        self.received = 0
        self.lock = threading.Lock()

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                with outer.lock:
                    outer.received += 1
                return "250 OK"

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


def burst_desk(folder: Path, name: str, config_text: str) -> tuple[DeskProcess, list[str]]:
    now = datetime.now(UTC)
    url, db = new_database(folder, f"{name}.sqlite3")
    contract(db, now)
    codes = [admin.new_code(db, "C-1", now, DeskConfig())["code"] for _ in range(20)]
    db.dispose()
    config = folder / f"{name}.toml"
    config.write_text(config_text)
    desk = DeskProcess(url, str(config))
    tokens = []
    with httpx.Client(base_url=desk.url, timeout=30) as client:
        for i, code in enumerate(codes):
            answer = client.post(
                "/api/v1/enroll",
                json={"code": code, "hostname": f"{name}-{i}", "host_public_key": None},
            )
            assert answer.status_code == 201, answer.text
            tokens.append(answer.json()["token"])
    return desk, tokens


async def create_burst(url: str, tokens: list[str], count: int) -> tuple[float, list[float]]:
    """``count`` cases from len(tokens) hosts at once; (seconds, per-request ms)."""
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def host(token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as client:
            while True:
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                start = time.perf_counter()
                answer = await client.post(
                    "/api/v1/cases", json=CASE_BODY, headers={"Idempotency-Key": uuid.uuid4().hex}
                )
                latencies.append((time.perf_counter() - start) * 1000)
                if answer.status_code != 201:
                    raise SystemExit(f"create answered {answer.status_code}: {answer.text[:300]}")

    start = time.perf_counter()
    await asyncio.gather(*(host(t) for t in tokens))
    return time.perf_counter() - start, latencies


def bench_notifications(folder: Path, count: int) -> list[str]:
    smtp = Smtp()
    mail = (
        "[mail]\n"
        f'smtp_host = "127.0.0.1"\nsmtp_port = {smtp.port}\n'
        'from = "desk@example.com"\nengineers = ["team@example.com"]\n'
    )
    on, on_tokens = burst_desk(folder, "mail-on", mail)
    off, off_tokens = burst_desk(folder, "mail-off", "")
    try:
        asyncio.run(create_burst(on.url, on_tokens, 40))  # warm both up
        asyncio.run(create_burst(off.url, off_tokens, 40))
        results: dict[str, list[tuple[float, list[float]]]] = {"on": [], "off": []}
        half = count // 2
        for _ in range(2):  # alternate, so a noisy moment hurts both
            results["off"].append(asyncio.run(create_burst(off.url, off_tokens, half)))
            results["on"].append(asyncio.run(create_burst(on.url, on_tokens, half)))
        deadline = time.monotonic() + 60
        expected = 2 * half + 40  # one mail to the engineers per new case
        while smtp.received < expected and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        on.stop()
        off.stop()
        smtp.stop()
    out = [f"notifications: {2 * half} cases created by 20 hosts at once, mail on vs off:"]
    figures = {}
    for key in ("off", "on"):
        seconds = sum(s for s, _ in results[key])
        lat = [ms for _, run in results[key] for ms in run]
        figures[key] = (seconds, lat)
        out.append(
            f"  mail {key:<3}  {2 * half / seconds:7.0f} cases/s"
            f"   p50 {statistics.median(lat):6.1f} ms"
            f"  p99 {percentile(lat, 99):6.1f} ms"
        )
    ratio = figures["on"][0] / figures["off"][0]
    out.append(
        f"  on / off time: {ratio:.3f} ({(ratio - 1) * 100:+.1f} %); target <= +10 %: "
        f"{'MET' if ratio <= 1.10 else 'MISSED'}"
    )
    out.append(f"  mails the SMTP server received: {smtp.received} of {expected} expected")
    return out


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "")
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--articles", type=int, default=5_000)
    parser.add_argument("--burst", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=400, help="requests per page measured")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vx-bench-console-") as tmp:
        folder = Path(tmp)
        print(
            f"desk_console benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, SQLite, "
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start "
            "(figures are only comparable on a quiet machine)",
            flush=True,
        )
        print("\n".join(bench_queue_and_kb(folder, args.cases, args.articles, args.requests)))
        print("\n".join(bench_notifications(folder, args.burst)), flush=True)


if __name__ == "__main__":
    main()
