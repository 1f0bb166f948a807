"""The tray agent's cost and speed, side by side (issue 9, "Speed").

1. Idle: over ``--idle-s`` seconds (60 by default), side by side, a tray agent
   (``vxassist``) and a headless agent (``vxassist agent --consent deny``), both
   enrolled with one desk on loopback, and three floors without vxassist: a bare
   Python, the bare stack (the headless agent's third-party imports and an idle
   asyncio loop) and the bare stack with Qt (PySide6, plus a tray icon, or a window
   when there is no tray, as the tray agent shows). RSS, USS and CPU of each, then
   "tray over headless" next to "bare Qt over bare stack": what of the 75 MiB
   target the stack itself takes. Targets: tray RSS <= 75 MiB, CPU near 0 %
   (counted as <= 0.5 %).
2. In this process, a tray app over the real runtime with the Qt consent prompt,
   against the demo stack (a desk on SQLite, the OpenSSH relay of
   ``vxassist.relay.local.OpenSshRelay``, an enrolled host with a case, a logged-in
   engineer asking from a thread and connecting with stock ``ssh``/``sftp``):
   - Request Support -> form shown with the system fields filled (<= 0.5 s);
   - a session request -> the consent prompt shown: from the desk's answer to
     the engineer's POST to the ConsentDialog visible (<= 0.2 s), ``--rounds``;
   - End now -> every channel closed: a session with the engineer's ssh holding
     a shell and an exec, End now clicked in the live-session window, until both
     ssh processes exited (<= 0.5 s), ``--end-rounds``;
   - the GUI thread's longest stall (a 1 ms heartbeat's latest tick) while an
     sftp download of ``--size-mb`` MB (200) runs through a live session with the
     live view open (<= 16 ms), ``--stall-rounds`` times, each next to the same
     heartbeat with nothing running for as long (the floor).
A final table gives each figure against its target. Needs root and /usr/sbin/sshd
for the relay (libnss-wrapper when its accounts do not exist).

The Qt parts run offscreen unless DISPLAY names a display (under Xvfb with trayer
the tray agent sits in a real tray).

    .venv/bin/python benchmarks/ui.py [--idle-s 60] [--rounds 5] [--end-rounds 3]
        [--size-mb 200] [--stall-rounds 3] [--skip-idle] [--skip-live]

A quick run: ``--idle-s 10 --rounds 2 --end-rounds 1 --size-mb 20 --stall-rounds 1``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fixtures.desk import RunningDesk  # noqa: E402

CONTRACT = "C-BENCH"

#: the third-party packages a running headless agent has imported (its sys.modules at
#: exit, less the standard library and vxassist); the bare floors import these
HEADLESS_IMPORTS = (
    "asyncssh",
    "cryptography.hazmat.primitives.ciphers",
    "requests",
    "psutil",
    "keyring",
    "platformdirs",
    "uvloop",
    "importlib_metadata",
)

#: a floor without vxassist: argv[1] the modules to import, argv[2] "qt" to show Qt
BARE = """
import asyncio, sys, threading
for name in filter(None, sys.argv[1].split(",")):
    __import__(name)
if sys.argv[2] == "python":
    threading.Event().wait()
import uvloop
loop = uvloop.new_event_loop()
if sys.argv[2] != "qt":
    loop.run_forever()
threading.Thread(target=loop.run_forever, daemon=True).start()
from PySide6 import QtWidgets
app = QtWidgets.QApplication(sys.argv[:1])
if QtWidgets.QSystemTrayIcon.isSystemTrayAvailable():
    pixmap = QtWidgets.QStyle.StandardPixmap.SP_ComputerIcon
    shown = QtWidgets.QSystemTrayIcon(app.style().standardIcon(pixmap))
else:
    shown = QtWidgets.QLabel("An idle window with a line of text (fonts loaded)")
    shown.resize(420, 300)
shown.show()
sys.exit(app.exec())
"""


@dataclass
class Row:
    """One line of the final table."""

    figure: str
    measured: float
    unit: str
    target: float | None

    def verdict(self) -> str:
        if self.target is None:
            return "(baseline)"
        return "met" if self.measured <= self.target else "NOT met"


def print_table(table: list[Row]) -> None:
    width = max(len(r.figure) for r in table)
    print()
    print(f"{'figure':<{width}}  {'measured':>12}  {'target':>10}  result")
    for r in table:
        target = f"<= {r.target:g} {r.unit}" if r.target is not None else "-"
        measured = f"{r.measured:.1f} {r.unit}"
        print(f"{r.figure:<{width}}  {measured:>12}  {target:>10}  {r.verdict()}")


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


FLOORS = {
    "bare Qt": ("qt", HEADLESS_IMPORTS),
    "bare stack": ("stack", HEADLESS_IMPORTS),
    "bare Python": ("python", ()),
}
NAMES = ("tray", "headless", *FLOORS)


def idle(desk: RunningDesk, work: Path, idle_s: float, table: list[Row]) -> None:
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
    floor_home = work / "floor"
    floor_home.mkdir(exist_ok=True)
    for name, (kind, modules) in FLOORS.items():
        procs[name] = subprocess.Popen(
            [sys.executable, "-c", BARE, ",".join(modules), kind],
            env=_env(floor_home),
            cwd=floor_home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        _wait_running(tray_home, procs["tray"])
        _wait_running(headless_home, procs["headless"])
        time.sleep(5)  # past start-up: the first report and the first case check
        for name, p in procs.items():
            if p.poll() is not None:
                raise SystemExit(f"ui benchmark: the {name} process stopped (exit {p.returncode})")
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
    print(f"idle over {elapsed:.0f} s, side by side (enrolled agents, desk on loopback):")
    notes = {
        "tray": "vxassist (tray agent)",
        "headless": "vxassist agent --consent deny",
        "bare Qt": "no vxassist: the bare stack + PySide6 and a tray icon (or a window with text)",
        "bare stack": "no vxassist: " + ", ".join(m.split(".")[0] for m in HEADLESS_IMPORTS),
        "bare Python": "no vxassist: the interpreter, idle",
    }
    for name in NAMES:
        print(
            f"  {name:<11} RSS {rss[name]:6.1f} MiB  (USS {uss[name]:5.1f} MiB)"
            f"   CPU {cpu[name]:5.2f} %   {notes[name]}"
        )
    tray_over = rss["tray"] - rss["headless"]
    qt_over = rss["bare Qt"] - rss["bare stack"]
    tray_x = rss["tray"] / rss["headless"]
    qt_x = rss["bare Qt"] / rss["bare stack"]
    ours, ours_headless = rss["tray"] - rss["bare Qt"], rss["headless"] - rss["bare stack"]
    print(
        f"  tray over headless:       +{tray_over:5.1f} MiB RSS ({tray_x:.2f}x),"
        f" CPU {cpu['tray'] - cpu['headless']:+.2f} points"
    )
    print(f"  bare Qt over bare stack:  +{qt_over:5.1f} MiB RSS ({qt_x:.2f}x)")
    print(
        f"  of the tray's {rss['tray']:.1f} MiB, the bare Qt stack takes {rss['bare Qt']:.1f} MiB"
        f" ({rss['bare Qt'] / 75 * 100:.0f} % of the 75 MiB target); vxassist's own share"
        f" {ours:.1f} MiB (headless: {ours_headless:.1f} MiB)"
    )
    table.append(Row("idle tray agent RSS", rss["tray"], "MiB", 75))
    table.append(Row("idle headless agent RSS", rss["headless"], "MiB", None))
    table.append(Row("idle bare Qt + stack RSS (no vxassist)", rss["bare Qt"], "MiB", None))
    table.append(Row("idle tray agent CPU", cpu["tray"], "%", 0.5))
    table.append(Row("idle headless agent CPU", cpu["headless"], "%", None))


# -- the live story: a tray app over the real runtime, a demo stack, a real engineer -------


#: a 1 ms sleep loop in a process of its own, until its stdin closes: its latest wake-up
#: is how long the machine kept a ready process off the CPU (no GIL shared with us)
SLEEPER = """
import sys, threading, time
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
late, last = 0.0, time.perf_counter()
while not done.is_set():
    time.sleep(0.001)
    now = time.perf_counter()
    late, last = max(late, now - last - 0.001), now
print(late * 1000)
"""


class Heartbeat:
    """A timer on the GUI thread every ``interval_ms``; its latest tick is the longest stall
    of the GUI thread (the gap between ticks minus the interval). Alongside, a plain
    thread of this process sleeps ``interval_ms`` in a loop: its latest wake-up is how
    long any Python thread waited for the interpreter (the GIL) or the CPU, so a GUI
    stall of the same size is not the GUI's own work; and a process of its own does the
    same (no GIL shared): how long the machine kept a ready process waiting."""

    def __init__(self, interval_ms: int = 1) -> None:
        from vxassist.ui.qt import Qt, QTimer

        self.interval_s = interval_ms / 1000
        self.gaps: list[float] = []
        self.thread_gaps: list[float] = []
        self._last = 0.0
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._running = threading.Event()
        self._sleeper: threading.Thread | None = None
        self._process: subprocess.Popen[str] | None = None
        self.gc_pauses: list[tuple[float, int]] = []
        self._gc_started = 0.0

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._gc_started = now
        elif self._gc_started:
            self.gc_pauses.append((now - self._gc_started, int(info.get("generation", -1))))

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now

    def _sleep_loop(self) -> None:
        last = time.perf_counter()
        while self._running.is_set():
            time.sleep(self.interval_s)
            now = time.perf_counter()
            self.thread_gaps.append(now - last)
            last = now

    def start(self) -> None:
        self.gaps.clear()
        self.thread_gaps.clear()
        self.gc_pauses.clear()
        self._gc_started = 0.0
        gc.callbacks.append(self._gc)
        self._running.set()
        self._process = subprocess.Popen(
            [sys.executable, "-c", SLEEPER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._sleeper = threading.Thread(target=self._sleep_loop, daemon=True)
        self._sleeper.start()
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> dict[str, float]:
        self._timer.stop()
        gc.callbacks.remove(self._gc)
        self._running.clear()
        if self._sleeper is not None:
            self._sleeper.join(5)
        machine_ms = float("nan")
        if self._process is not None:
            with contextlib.suppress(ValueError, subprocess.TimeoutExpired):
                machine_ms = float(self._process.communicate("", timeout=10)[0])
            self._process = None
        late = sorted(max(0.0, g - self.interval_s) for g in self.gaps) or [0.0]
        thread_late = max((g - self.interval_s for g in self.thread_gaps), default=0.0)
        return {
            "max_ms": late[-1] * 1000,
            "p99_ms": late[int(len(late) * 0.99)] * 1000,
            "over_16": float(sum(1 for g in late if g > 0.016)),
            "ticks": float(len(self.gaps)),
            "thread_max_ms": thread_late * 1000,
            "machine_max_ms": machine_ms,
            "gc_max_ms": max((d for d, _g in self.gc_pauses), default=0.0) * 1000,
            "gc_gen": float(max(self.gc_pauses, default=(0.0, -1))[1]),
        }


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = 120.0) -> None:
    """Run the GUI's event loop until ``check()`` is true (polled every 2 ms)."""
    from vxassist.ui.qt import QtCore, QTimer

    if check():
        return
    loop = QtCore.QEventLoop()
    deadline = time.monotonic() + timeout_s
    timer = QTimer()
    timer.setInterval(2)

    def poll() -> None:
        if check() or time.monotonic() > deadline:
            loop.quit()

    timer.timeout.connect(poll)
    timer.start()
    loop.exec()
    timer.stop()
    if not check():
        raise SystemExit(f"ui benchmark: timed out waiting for {what}")


def run_events_for(seconds: float) -> None:
    from vxassist.ui.qt import QtCore, QTimer

    loop = QtCore.QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


class LiveStory:
    """The demo stack (desk on SQLite, OpenSSH relay via ``OpenSshRelay``, an enrolled host
    with a filed case, a logged-in engineer) and, in this process, the tray app over the real
    runtime with the Qt consent prompt, as the host's user. The engineer asks through the
    desk from a thread of this process and connects with stock ``ssh``/``sftp``."""

    def __init__(self, work: Path) -> None:
        from vxassist.cliutil import Context
        from vxassist.demo import DemoStack
        from vxassist.engineer.account import engineer_client
        from vxassist.paths import Paths
        from vxassist.runtime import AgentRuntime
        from vxassist.secrets import open_secret_store
        from vxassist.settings import load_settings
        from vxassist.ui.app import TrayApp
        from vxassist.ui.consent import QtPrompter

        self.work = work
        self.stack = DemoStack(
            work / "demo", relay="openssh", consent_timeout_s=120, say=lambda _t: None
        )
        self.stack.start()
        for name, value in self.stack.host_env().items():
            if name.startswith("VXASSIST_"):
                os.environ[name] = value
        ctx = Context.create()

        def make(prompter: Any, emit: Callable[..., None]) -> Any:
            return AgentRuntime(ctx, prompter, emit, face="tray")

        self.prompter = QtPrompter()  # the real Allow delay
        self.opened: list[tuple[float, Any]] = []
        self.prompter.dialog_opened.connect(lambda d: self.opened.append((time.perf_counter(), d)))
        self.app = TrayApp(ctx, make, self.prompter, use_tray=False)
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.app.bridge.event_received.connect(
            lambda e: self.events.append((time.perf_counter(), dict(e)))
        )
        self.app.start()
        self.eng_paths = Paths.from_env(self.stack.engineer_env()).ensure()
        secrets = open_secret_store(self.eng_paths, load_settings(self.eng_paths).secrets_backend)
        self.client = engineer_client(self.eng_paths, secrets, timeout=60)
        # the moment the desk's answer to the engineer's POST arrives, before any file work
        self.posted_at = 0.0
        request = self.client.request

        def timed(method: str, path: str, **kw: Any) -> Any:
            answer = request(method, path, **kw)
            if method == "POST" and path.endswith("/engineer/sessions"):
                self.posted_at = time.perf_counter()
            return answer

        self.client.request = timed  # type: ignore[assignment]
        self.engineer_procs: list[subprocess.Popen[bytes]] = []
        self.stall_rounds = 1
        self.listen_port = 0
        #: why an allowed session could not start (the relay still held the tunnel port)
        self.refused: list[str] = []
        wait_for(lambda: self.app.state.enrolled, "the tray agent to start")

    def seen(self, kind: str, session_id: str | None = None) -> list[tuple[float, dict[str, Any]]]:
        return [
            (t, e)
            for t, e in self.events
            if e.get("event") == kind and (session_id is None or e.get("session_id") == session_id)
        ]

    def ask(self, scopes: list[str], minutes: int) -> tuple[dict[str, Any], threading.Thread]:
        """The engineer asks for a session and waits for the answer, on a thread; the box
        gets ``posted`` (when the desk's answer to the POST arrived) and ``session``."""
        from vxassist.engineer import sessions

        box: dict[str, Any] = {}
        case = self.stack.case_number
        assert case is not None

        def run() -> None:
            try:
                session, _files = sessions.request_session(
                    self.client, self.eng_paths, case, scopes, minutes, "ui benchmark"
                )
                box["posted"] = self.posted_at
                box["session"] = sessions.wait_for_decision(self.client, session["session_id"])
            except BaseException as exc:  # reported on the GUI thread
                box["error"] = exc

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return box, thread

    def _answered(self, box: dict[str, Any], thread: threading.Thread) -> dict[str, Any]:
        wait_for(lambda: not thread.is_alive(), "the desk's answer to the engineer")
        if "error" in box:
            raise SystemExit(f"ui benchmark: the engineer's request failed: {box['error']!r}")
        session: dict[str, Any] = box["session"]
        return session

    def prompt_round(self) -> float:
        """One request answered Deny; seconds from the POST's answer to the prompt shown."""
        self.opened.clear()
        box, thread = self.ask(["shell"], 5)
        wait_for(lambda: bool(self.opened) and "posted" in box, "the consent prompt")
        shown_at, dialog = self.opened[0]
        assert dialog.isVisible()
        dialog.deny_button.click()
        session = self._answered(box, thread)
        if session.get("status") != "denied":
            raise SystemExit(f"ui benchmark: a denied request ended {session.get('status')}")
        return shown_at - float(box["posted"])

    def _ask_and_allow(self) -> tuple[dict[str, Any], float]:
        self.opened.clear()
        box, thread = self.ask(["shell", "files"], 30)
        wait_for(lambda: bool(self.opened) and "posted" in box, "the consent prompt")
        shown_at, dialog = self.opened[0]
        wait_for(dialog.allow_button.isEnabled, "the Allow button")
        dialog.allow_button.click()
        return self._answered(box, thread), shown_at - float(box["posted"])

    def open_session(self) -> tuple[str, Path, float]:
        """Ask, Allow (after the prompt's guard delay); the session id, the engineer's ssh
        config and the prompt's delay. A session the agent could not start because the
        relay still held this host's tunnel port is noted and asked for again."""
        from vxassist.engineer import sessions

        for _attempt in range(3):
            session, prompt_s = self._ask_and_allow()
            note = str(session.get("note") or "")
            if session.get("status") == "approved" or "tunnel port" not in note:
                break
            self.refused.append(note)
            run_events_for(2.0)
        if session.get("status") != "approved":
            raise SystemExit(
                f"ui benchmark: an allowed request ended {session.get('status')}"
                f" ({session.get('note') or 'no note'})"
            )
        sid = str(session["session_id"])
        self.listen_port = int(session["listen_port"])
        files = sessions.prepare(self.eng_paths, session)
        app = self.app

        def window_up() -> bool:
            window: Any = app.session_window
            return sid in app.state.live and window is not None and bool(window.isVisible())

        wait_for(window_up, "the live-session window")
        return sid, files.ssh_config, prompt_s

    def ssh(self, config: Path, sid: str, options: list[str], command: list[str]) -> Any:
        proc = subprocess.Popen(
            ["ssh", "-F", str(config), *options, f"vx-session-{sid}", *command],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.engineer_procs.append(proc)
        return proc

    def end_now(self, sid: str) -> float:
        panel = self.app.session_window.panel(sid)
        assert panel is not None and panel.end_button.isEnabled()
        t0 = time.perf_counter()
        panel.end_button.click()
        return t0

    def end_round(self) -> tuple[float, float, float, float]:
        """A session with a shell and an exec open; End now. Seconds from the click to the
        last engineer ssh exiting, to the teardown event on the GUI thread and to the
        relay's listening port of the session closed (a new session of this host needs
        it), and the prompt's delay of this request."""
        sid, config, prompt_s = self.open_session()
        shell = self.ssh(config, sid, ["-tt"], [])
        execd = self.ssh(config, sid, ["-T"], ["sleep 300"])
        wait_for(lambda: len(self.seen("channel", sid)) >= 2, "the engineer's two channels")
        exits: dict[str, float] = {}

        def watch(name: str, proc: subprocess.Popen[bytes]) -> None:
            proc.wait()
            exits[name] = time.perf_counter()

        for name, proc in (("shell", shell), ("exec", execd)):
            threading.Thread(target=watch, args=(name, proc), daemon=True).start()
        t0 = self.end_now(sid)
        wait_for(
            lambda: len(exits) == 2 and bool(self.seen("teardown", sid)),
            "the engineer's ssh to exit after End now",
            timeout_s=60,
        )
        for proc in (shell, execd):
            proc.stdin.close()
        wait_for(lambda: sid not in self.app.state.live, "the session to leave the tray")
        port = self.listen_port
        wait_for(lambda: not _listening(port), "the relay to close the session's port", 120)
        port_closed = time.perf_counter()
        teardown_at = self.seen("teardown", sid)[0][0]
        return max(exits.values()) - t0, teardown_at - t0, port_closed - t0, prompt_s

    def download_stall(self, size_mb: float) -> list[dict[str, dict[str, float]]]:
        """Longest GUI stall: a session live with a shell open in the live view, first while
        an sftp download of ``size_mb`` MB runs, then with nothing running for as long."""
        sid, config, _prompt_s = self.open_session()
        shell = self.ssh(config, sid, ["-tt"], [])
        assert shell.stdin is not None
        shell.stdin.write(b"echo the live view shows this shell\n")
        shell.stdin.flush()
        panel = self.app.session_window.panel(sid)
        wait_for(lambda: bool(panel.terminals), "the live terminal view")
        remote = self.stack.root / "files" / "download.bin"
        block = os.urandom(2**20)
        with remote.open("wb") as f:
            for _ in range(int(size_mb * 1e6) // len(block)):
                f.write(block)
        size = remote.stat().st_size
        local = self.work / "downloaded.bin"
        batch = self.work / "sftp-batch"
        batch.write_text(f"get {remote} {local}\n")
        beat = Heartbeat()
        rounds: list[dict[str, dict[str, float]]] = []
        for _ in range(self.stall_rounds):
            local = self.work / "downloaded.bin"
            sftp = subprocess.Popen(
                ["sftp", "-F", str(config), "-b", str(batch), f"vx-session-{sid}"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            self.engineer_procs.append(sftp)
            events = len(self.events)
            t0 = time.perf_counter()
            beat.start()
            wait_for(functools.partial(_exited, sftp), "the sftp download", timeout_s=900)
            busy = beat.stop()
            seconds = time.perf_counter() - t0
            got = local.stat().st_size if local.exists() else 0
            if sftp.returncode != 0 or got != size:
                err = sftp.stderr.read().decode(errors="replace") if sftp.stderr else ""
                raise SystemExit(f"ui benchmark: the download failed ({got} of {size} B): {err}")
            busy["seconds"] = seconds
            busy["mb_s"] = size / 1e6 / seconds
            busy["events"] = float(len(self.events) - events)
            local.unlink()
            beat.start()
            run_events_for(min(seconds, 30.0))
            floor = beat.stop()
            floor["seconds"] = min(seconds, 30.0)
            rounds.append({"download": busy, "floor": floor})
        remote.unlink()
        self.end_now(sid)
        wait_for(lambda: sid not in self.app.state.live, "the download session to end")
        shell.stdin.close()
        return rounds

    def request_support(self, rounds: int) -> list[float]:
        """Request Support: from "open the window" to the form shown with its system
        fields filled (the report kept fresh in the background)."""
        wait_for(lambda: bool(self.seen("report_ready")), "the background report", 180)
        app, times = self.app, []
        for _ in range(rounds):
            t0 = time.perf_counter()
            window: Any = app.open_window("request")
            wait_for(functools.partial(_form_filled, window), "the form")
            times.append(time.perf_counter() - t0)
            window.close()
            app.windows._open.pop(("request", ""), None)
            window.deleteLater()
            run_events_for(0.05)
        return times

    def stop(self) -> None:
        for proc in self.engineer_procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        with contextlib.suppress(Exception):
            self.client.close()
        try:
            self.app.bridge.stop(30)
        finally:
            self.stack.stop()


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


def _exited(proc: subprocess.Popen[bytes]) -> bool:
    return proc.poll() is not None


def _form_filled(window: Any) -> bool:
    return bool(window.isVisible() and window.report is not None)


def _ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.0f} ms, worst {max(values) * 1000:.0f} ms"


def live(work: Path, args: argparse.Namespace, table: list[Row]) -> None:
    from vxassist.ui.qt import QtCore, QtWidgets

    _qapp = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])

    def quiet_platform(kind: Any, context: Any, message: str) -> None:
        # the offscreen platform says it cannot raise or hint sizes; anything else is shown
        if "This plugin does not support" not in message:
            print(message, file=sys.stderr)

    QtCore.qInstallMessageHandler(quiet_platform)
    story = LiveStory(work)
    try:
        times = story.request_support(args.rounds)
        print(f"Request Support -> form with the system fields filled, {args.rounds} rounds:")
        print(f"  {_ms(times)}")
        table.append(Row("Request Support -> form filled (worst)", max(times) * 1000, "ms", 500))

        prompts = [story.prompt_round() for _ in range(args.rounds)]
        print(
            f"session request -> consent prompt shown (from the desk's answer to the engineer's "
            f"POST to the ConsentDialog visible), {len(prompts)} requests, each denied:"
        )
        print(f"  {_ms(prompts)}")
        table.append(Row("request -> consent prompt shown (worst)", max(prompts) * 1000, "ms", 200))

        if args.end_rounds:
            ends = [story.end_round() for _ in range(args.end_rounds)]
            ssh_exit = [e[0] for e in ends]
            teardown = [e[1] for e in ends]
            print(
                f"End now -> every channel closed (engineer's ssh with a shell and one with an "
                f"exec, relay OpenSSH sshd), {len(ends)} sessions:"
            )
            print(f"  last engineer ssh exited: {_ms(ssh_exit)}")
            print(f"  teardown event in the window: {_ms(teardown)}")
            print(
                f"  the relay's port of the session closed (a new session of this host "
                f"can start): {_ms([e[2] for e in ends])}"
            )
            print(f"  (their consent prompts: {_ms([e[3] for e in ends])})")
            table.append(
                Row("End now -> engineer's ssh exited (worst)", max(ssh_exit) * 1000, "ms", 500)
            )

        if args.size_mb > 0:
            story.stall_rounds = args.stall_rounds
            rounds = story.download_stall(args.size_mb)
            print(
                "GUI thread's longest stall (1 ms heartbeat: latest tick), the live-session "
                "window open with a shell in the live view; [a plain thread's latest 1 ms "
                "sleep in the same process / in a process of its own]:"
            )
            for i, r in enumerate(rounds, 1):
                busy, floor = r["download"], r["floor"]
                print(
                    f"  {i}. sftp download of {args.size_mb:.0f} MB ({busy['seconds']:.1f} s, "
                    f"{busy['mb_s']:.0f} MB/s, {busy['events']:.0f} events to the GUI): longest "
                    f"{busy['max_ms']:5.1f} ms, p99 {busy['p99_ms']:4.1f} ms, "
                    f"{busy['over_16']:.0f} ticks over 16 ms  [{busy['thread_max_ms']:5.1f} / "
                    f"{busy['machine_max_ms']:5.1f} ms]; longest garbage collection "
                    f"{busy['gc_max_ms']:.1f} ms (generation {busy['gc_gen']:.0f})"
                )
                print(
                    f"     nothing running for {floor['seconds']:.1f} s (the floor):       longest "
                    f"{floor['max_ms']:5.1f} ms, p99 {floor['p99_ms']:4.1f} ms, "
                    f"{floor['over_16']:.0f} ticks over 16 ms  [{floor['thread_max_ms']:5.1f} / "
                    f"{floor['machine_max_ms']:5.1f} ms]; longest garbage collection "
                    f"{floor['gc_max_ms']:.1f} ms (generation {floor['gc_gen']:.0f})"
                )
            worst = max(r["download"]["max_ms"] for r in rounds)
            worst_floor = max(r["floor"]["max_ms"] for r in rounds)
            median = statistics.median(r["download"]["max_ms"] for r in rounds)
            ratio = worst / worst_floor if worst_floor else float("inf")
            print(
                f"  longest stall over {len(rounds)} downloads: worst {worst:.1f} ms, median "
                f"{median:.1f} ms; download / floor (worst): {ratio:.2f}x"
            )
            label = f"longest GUI stall, {args.size_mb:.0f} MB download"
            table.append(Row(f"{label} (worst)", worst, "ms", 16))
            table.append(Row(f"{label} (median)", median, "ms", 16))
            table.append(Row("longest GUI stall, nothing running (floor)", worst_floor, "ms", None))
        if story.refused:
            print(
                f"note: {len(story.refused)} allowed session(s) could not start, asked again: "
                f"{story.refused[0]}"
            )
    finally:
        story.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--idle-s", type=float, default=60.0, help="idle window (60 s)")
    parser.add_argument("--rounds", type=int, default=5, help="Request Support and prompt rounds")
    parser.add_argument("--end-rounds", type=int, default=3, help="End now rounds (0 skips)")
    parser.add_argument("--size-mb", type=float, default=200.0, help="download size (0 skips)")
    parser.add_argument("--stall-rounds", type=int, default=3, help="downloads (3)")
    parser.add_argument(
        "--switch-interval-ms",
        type=float,
        default=None,
        help="experiment: the interpreter's thread switch interval in this process (5 ms)",
    )
    parser.add_argument("--skip-idle", action="store_true")
    parser.add_argument("--skip-live", action="store_true", help="only the idle figures")
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ.setdefault("DBUS_SESSION_BUS_ADDRESS", "disabled:")
    work = Path(tempfile.mkdtemp(prefix="vxassist-bench-ui-"))
    try:
        run(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, args: argparse.Namespace) -> None:
    table: list[Row] = []
    print(f"{psutil.cpu_count()} cores, load {os.getloadavg()[0]:.2f} at the start")
    if not args.skip_idle:
        with RunningDesk(work / "desk") as desk:
            desk.add_contract(CONTRACT, "Bench Hotels")
            idle(desk, work, args.idle_s, table)
    if not args.skip_live:
        if os.geteuid() != 0 or not Path("/usr/sbin/sshd").exists():
            raise SystemExit("ui benchmark: the live part needs root and /usr/sbin/sshd")
        if args.switch_interval_ms is not None:
            sys.setswitchinterval(args.switch_interval_ms / 1000)
            print(f"experiment: thread switch interval {args.switch_interval_ms:g} ms")
        live(work, args, table)
    print(f"load {os.getloadavg()[0]:.2f} at the end")
    if table:
        print_table(table)


if __name__ == "__main__":
    main()
