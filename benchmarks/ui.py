"""The tray agent's cost and speed, next to the headless agent's (issue 9, "Speed").

1. Idle: a tray agent (``vxassist``) and a headless agent (``vxassist agent
   --consent deny``), both enrolled with the same desk on loopback, run side by
   side; over ``--idle-s`` seconds (60 by default) each one's RSS at the end and
   its CPU share are printed, with the tray/headless ratio.
   Targets: tray RSS <= 75 MiB, CPU near 0 %.
2. Request Support: in this process, a tray app over the real runtime (the
   system report kept fresh in the background); from "open the window" to the
   form shown with the system fields filled, ``--rounds`` times.
   Target: <= 0.5 s.

The tray runs offscreen unless DISPLAY names a display (under Xvfb with trayer
it sits in a real tray).

    .venv/bin/python benchmarks/ui.py [--idle-s 60] [--rounds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fixtures.desk import RunningDesk  # noqa: E402

CONTRACT = "C-BENCH"


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        VXASSIST_HOME=str(home),
        VXASSIST_POLICY=str(home / "policy.toml"),
        DBUS_SESSION_BUS_ADDRESS="disabled:",
        # keyring: a 0600 file, since a benchmark machine has no desktop keyring
        **extra,
    )
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def _enroll(desk: RunningDesk, home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config").mkdir(exist_ok=True)
    (home / "config" / "settings.toml").write_text('secrets_backend = "file"\n')
    code = desk.enrollment_code(CONTRACT)
    subprocess.run(
        [sys.executable, "-m", "vxassist", "enroll", "--desk", desk.url, "--code", code],
        env=_env(home),
        check=True,
        capture_output=True,
        timeout=120,
    )


def _wait_running(home: Path, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    control = home / "data" / "control.json"
    deadline = time.monotonic() + timeout_s
    while not control.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the agent under {home} did not start")
        time.sleep(0.1)


def _cpu_s(p: psutil.Process) -> float:
    total = 0.0
    for proc in [p, *p.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            total += t.user + t.system
    return total


def _memory(p: psutil.Process) -> tuple[float, float]:
    """RSS and USS (the pages only this process holds) of ``p`` and its children, MiB."""
    rss = uss = 0
    for proc in [p, *p.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            info = proc.memory_full_info()
            rss += info.rss
            uss += info.uss
    return rss / 2**20, uss / 2**20


def idle(desk: RunningDesk, work: Path, idle_s: float) -> None:
    tray_home, headless_home = work / "tray", work / "headless"
    _enroll(desk, tray_home)
    _enroll(desk, headless_home)
    procs = {
        "tray": subprocess.Popen(
            [sys.executable, "-m", "vxassist"],
            env=_env(tray_home),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        "headless": subprocess.Popen(
            [sys.executable, "-m", "vxassist", "agent", "--consent", "deny"],
            env=_env(headless_home),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    }
    try:
        _wait_running(tray_home, procs["tray"])
        _wait_running(headless_home, procs["headless"])
        time.sleep(5)  # past start-up: the first report and the first case check
        watched = {name: psutil.Process(p.pid) for name, p in procs.items()}
        cpu0 = {name: _cpu_s(p) for name, p in watched.items()}
        t0 = time.monotonic()
        time.sleep(idle_s)
        elapsed = time.monotonic() - t0
        cpu = {name: (_cpu_s(p) - cpu0[name]) / elapsed * 100 for name, p in watched.items()}
        memory = {name: _memory(p) for name, p in watched.items()}
        rss = {name: m[0] for name, m in memory.items()}
        uss = {name: m[1] for name, m in memory.items()}
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
    print(f"idle over {elapsed:.0f} s (enrolled, desk on loopback):")
    for name in ("tray", "headless"):
        print(
            f"  {name:<9} RSS {rss[name]:6.1f} MiB  (USS {uss[name]:5.1f} MiB)"
            f"   CPU {cpu[name]:5.2f} %"
        )
    print(
        f"  tray/headless: RSS {rss['tray'] / rss['headless']:.2f}x, "
        f"CPU +{cpu['tray'] - cpu['headless']:.2f} points"
        f"   (target: tray RSS <= 75 MiB: {'met' if rss['tray'] <= 75 else 'NOT met'})"
    )


def request_support(desk: RunningDesk, work: Path, rounds: int) -> None:
    home = work / "inproc"
    _enroll(desk, home)
    os.environ.update(_env(home))
    from vxassist.cliutil import Context
    from vxassist.remote.consent import DenyPrompter
    from vxassist.runtime import AgentRuntime
    from vxassist.ui.app import TrayApp
    from vxassist.ui.qt import QtWidgets

    qapp = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    ctx = Context.create()
    seen: list[str] = []

    def make(prompter: Any, emit: Callable[..., None]) -> Any:
        return AgentRuntime(ctx, prompter, emit, face="tray")

    app = TrayApp(ctx, make, DenyPrompter(), use_tray=False)
    app.bridge.event_received.connect(lambda e: seen.append(str(e.get("event"))))
    app.start()

    def spin_until(check: Callable[[], Any], timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            if time.monotonic() > deadline:
                raise SystemExit("timed out")
            qapp.processEvents()
            time.sleep(0.001)

    spin_until(lambda: "report_ready" in seen)  # the background report is fresh
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        window: Any = app.open_window("request")
        spin_until(lambda w=window: w.isVisible() and w.report is not None)
        times.append(time.perf_counter() - t0)
        window.close()
        app.windows._open.pop(("request", ""), None)
        window.deleteLater()
        qapp.processEvents()
    app.bridge.stop(30)
    med = statistics.median(times)
    print(f"Request Support -> form with the system fields filled, {rounds} rounds:")
    print(
        f"  median {med * 1000:.0f} ms, worst {max(times) * 1000:.0f} ms"
        f"   (target <= 500 ms: {'met' if max(times) <= 0.5 else 'NOT met'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-s", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-idle", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vxassist-bench-ui-"))
    with RunningDesk(work / "desk") as desk:
        desk.add_contract(CONTRACT, "Bench Hotels")
        if not args.skip_idle:
            idle(desk, work, args.idle_s)
        request_support(desk, work, args.rounds)


if __name__ == "__main__":
    main()
