"""What e-mail notifications cost case creation: a burst of cases, notifications on vs off.

Starts a real SMTP server (aiosmtpd on 127.0.0.1) in this process and, in turn, two
``vxassist desk serve`` processes over SQLite (or PostgreSQL): one with no ``[mail]``
(notifications off), one whose ``[mail]`` points at that server (every new case
stores that the engineers' notice is owed; the desk's sender writes the mail and
sends it, off the request path). Each round sends the same burst of creates to each,
alternating; the figure is the ratio of the median burst times, on / off. The desk's
CPU per case during the bursts is printed too: on a shared machine it is the steadier
figure of what the create path costs.

Target (issue 11): a burst of 1,000 cases is not slowed by more than 10 % (ratio <= 1.10),
and every mail of the "on" bursts reaches the SMTP server.

    .venv/bin/python benchmarks/desk_notify.py [--cases 1000] [--concurrency 50] [--rounds 3]

Other benchmarks can call :func:`measure_notify_burst` and print its line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from desk_intake import BODY as _BODY
from desk_intake import Connection, _load, server_cpu_s

from vxassist.desk import admin
from vxassist.desk.config import DeskConfig
from vxassist.desk.db import Database, upgrade

TEAM = "team@bench.example"


class _Counter:
    """An SMTP handler that counts the messages it takes."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, _server: Any, _session: Any, _envelope: Any) -> str:
        with self.lock:
            self.count += 1
        return "250 OK"


@dataclass
class NotifyFigures:
    cases: int
    concurrency: int
    off_s: list[float] = field(default_factory=list)
    on_s: list[float] = field(default_factory=list)
    #: CPU seconds the desk process used during each burst (less noisy than wall time
    #: on a shared machine; what the create path itself costs)
    off_cpu_s: list[float] = field(default_factory=list)
    on_cpu_s: list[float] = field(default_factory=list)
    #: after each "on" burst: seconds until the SMTP server had every mail
    mailed_after_s: list[float] = field(default_factory=list)
    delivered: int = 0
    expected: int = 0
    errors: int = 0

    @property
    def ratio(self) -> float:
        return statistics.median(self.on_s) / statistics.median(self.off_s)

    @property
    def paired(self) -> float:
        """The median of each round's own on/off ratio (the two bursts ran back to back)."""
        return statistics.median(on / off for on, off in zip(self.on_s, self.off_s, strict=True))

    def line(self) -> str:
        off, on = statistics.median(self.off_s), statistics.median(self.on_s)
        return (
            f"notifications: {self.cases} cases at {self.concurrency} clients, "
            f"off {off:.2f} s ({self.cases / off:.0f}/s), on {on:.2f} s ({self.cases / on:.0f}/s): "
            f"on/off {self.ratio:.2f} (target <= 1.10); mails delivered "
            f"{self.delivered}/{self.expected}; errors {self.errors}"
        )

    def detail(self) -> str:
        per_case = 1e6 / (self.cases + self.concurrency)  # the warm-up's creates too
        off_cpu, on_cpu = statistics.median(self.off_cpu_s), statistics.median(self.on_cpu_s)
        return (
            f"per-round on/off median {self.paired:.2f}; desk CPU per case during the burst "
            f"off {off_cpu * per_case:.0f} us, on {on_cpu * per_case:.0f} us "
            f"(on/off {on_cpu / off_cpu:.2f}); every mail at the SMTP server "
            f"{statistics.median(self.mailed_after_s):.2f} s after the burst (median)"
        )


class _Desk:
    """A ``vxassist desk serve`` process over its own database, with hosts enrolled."""

    def __init__(self, home: Path, url: str, config_file: Path | None, hosts: int) -> None:
        self.url = url
        upgrade(url)
        db = Database(url)
        now = datetime.now(UTC)
        admin.add_contract(
            db,
            admin.NewContract("B-1", "Acme", date(2099, 1, 1), "Ann", "555", "ann@acme.example"),
            now,
            DeskConfig(),
        )
        codes = [admin.new_code(db, "B-1", now, DeskConfig())["code"] for _ in range(hosts)]
        db.dispose()
        command = [sys.executable, "-m", "vxassist", "desk", "serve", "--db", url, "--port", "0"]
        if config_file is not None:
            command += ["--config", str(config_file)]
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "VXASSIST_HOME": str(home)},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"the desk did not start: {line!r}")
        self.base = line.split()[-1]
        self.tokens = [
            httpx.post(f"{self.base}/api/v1/enroll", json={"code": c, "hostname": f"b{i}"})
            .raise_for_status()
            .json()["token"]
            for i, c in enumerate(codes)
        ]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


async def _burst(desk: _Desk, cases: int, concurrency: int) -> tuple[float, int]:
    import json
    import uuid

    host, port = desk.base.removeprefix("http://").rsplit(":", 1)
    conns = [Connection(host, int(port)) for _ in range(concurrency)]
    payload = json.dumps(_BODY).encode()

    async def create(c: Connection, i: int) -> int:
        headers = {
            "Authorization": f"Bearer {desk.tokens[i % len(desk.tokens)]}",
            "Idempotency-Key": uuid.uuid4().hex,
            "Content-Type": "application/json",
        }
        return await c.request("POST", "/api/v1/cases", headers, payload)

    try:
        await _load("warm-up", concurrency, conns, create)
        result = await _load("burst", cases, conns, create)
    finally:
        for c in conns:
            await c.close()
    return result.seconds, result.errors


_UNSENT = text("SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL")


def _drain(counter: _Counter, expected: int, url: str, timeout: float = 120.0) -> int:
    """Wait until the SMTP server has ``expected`` messages and the desk at ``url`` has
    marked every mail sent (its sender is idle again), or the timeout."""
    deadline = time.monotonic() + timeout
    while counter.count < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            while time.monotonic() < deadline:
                unsent = conn.execute(_UNSENT).scalar_one()
                if unsent == 0:
                    break
                conn.rollback()
                time.sleep(0.05)
    finally:
        engine.dispose()
    return counter.count


def measure_notify_burst(
    cases: int = 1000,
    concurrency: int = 50,
    rounds: int = 3,
    hosts: int = 10,
) -> NotifyFigures:
    """Bursts of ``cases`` creates on SQLite, notifications off then on, ``rounds`` times.

    After each "on" burst the SMTP server has every mail and the desk has marked each
    one sent before the next burst starts: every burst starts with an idle sender.
    """
    from aiosmtpd.controller import Controller

    home = Path(tempfile.mkdtemp(prefix="vxbench-notify-"))
    counter = _Counter()
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    smtp_port = probe.getsockname()[1]
    probe.close()
    controller = Controller(counter, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    on_file = home / "desk-on.toml"
    on_file.write_text(
        "[mail]\n"
        f'smtp_host = "127.0.0.1"\nsmtp_port = {smtp_port}\n'
        'from = "desk@bench.example"\n'
        f'engineers = ["{TEAM}"]\n'
    )
    figures = NotifyFigures(cases, concurrency)
    off = _Desk(home / "off", f"sqlite:///{home / 'off.sqlite3'}", None, hosts)
    on = _Desk(home / "on", f"sqlite:///{home / 'on.sqlite3'}", on_file, hosts)
    try:
        for done in range(rounds):
            # alternate which goes first, so that both meet the same machine load
            order = [(off, figures.off_s), (on, figures.on_s)]
            for desk, times in order if done % 2 == 0 else order[::-1]:
                cpu = server_cpu_s(desk.proc.pid)
                seconds, errors = asyncio.run(_burst(desk, cases, concurrency))
                cpu = server_cpu_s(desk.proc.pid) - cpu
                times.append(seconds)
                (figures.on_cpu_s if desk is on else figures.off_cpu_s).append(cpu)
                figures.errors += errors
                if desk is on:  # all mailed before the next burst: each starts from quiet
                    began = time.monotonic()
                    _drain(counter, (done + 1) * (cases + concurrency), on.url)
                    figures.mailed_after_s.append(time.monotonic() - began)
        # warm-ups and bursts of the "on" desk: one engineers' mail per case
        figures.expected = rounds * (cases + concurrency)
        figures.delivered = _drain(counter, figures.expected, on.url)
    finally:
        off.stop()
        on.stop()
        controller.stop()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    figures = measure_notify_burst(args.cases, args.concurrency, args.rounds)
    print(figures.line())
    print(figures.detail())
    print("bursts off (s):", " ".join(f"{s:.2f}" for s in figures.off_s))
    print("bursts on  (s):", " ".join(f"{s:.2f}" for s in figures.on_s))
    ok = figures.errors == 0 and figures.delivered == figures.expected
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
