"""Drive ``vxassist demo --headless`` as a person would: through a pseudo-terminal.

``Terminal`` runs a command on a pty and reads what it prints on a thread, so a
test can wait for a line (``expect``) and type an answer (``send``). ``Demo``
starts the demo that way and reads the facts it prints (``--json``): folders,
desk address, case number; the agent's events follow as JSON lines, and its
consent prompt is plain text on the same terminal.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

#: generous bounds for a loaded 2-core machine; they only stop a hung test
START_S = 120.0
STEP_S = 60.0


class Terminal:
    """A process on a pseudo-terminal; everything it prints is kept in ``text``."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None):
        master, slave = pty.openpty()
        self._master = master
        self.proc = subprocess.Popen(
            list(argv),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=dict(env),
            cwd=cwd,
            # its own session: signals from the test runner's terminal never reach it
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self.text = ""
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:
                chunk = b""
            with self._cond:
                if not chunk:
                    self._closed = True
                    self._cond.notify_all()
                    return
                self.text += chunk.decode("utf-8", "replace").replace("\r\n", "\n")
                self._cond.notify_all()

    _closed = False

    def expect(self, pattern: str, timeout_s: float = STEP_S, start: int = 0) -> re.Match[str]:
        """Wait until ``pattern`` (a regex) appears after offset ``start``; the match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                found = regex.search(self.text, start)
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise AssertionError(
                        f"{pattern!r} did not appear; the terminal showed:\n{self.text[-4000:]}"
                    )
                self._cond.wait(min(left, 0.5))

    def wait_for(self, check: Callable[[], Any], timeout_s: float = STEP_S) -> Any:
        """Wait until ``check()`` (called on new output) returns something true."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                result = check()
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise AssertionError(f"condition not met; terminal:\n{self.text[-4000:]}")
                self._cond.wait(min(left, 0.5))

    def send(self, text: str) -> None:
        os.write(self._master, text.encode())

    def interrupt(self) -> None:
        """Ctrl-C, as the terminal sends it: SIGINT to the foreground processes."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)

    def close(self, timeout_s: float = 30.0) -> int:
        """Ctrl-C, wait for the exit; kill what is left. The exit code."""
        if self.proc.poll() is None:
            self.interrupt()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._reader.join(5)
        with contextlib.suppress(OSError):
            os.close(self._master)
        return int(self.proc.returncode)


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` that is a JSON object."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            with contextlib.suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, dict):
                    out.append(value)
    return out


def vxassist(*args: str) -> list[str]:
    return [sys.executable, "-m", "vxassist", *args]


class Demo:
    """``vxassist demo --headless --json`` on a pty, with the facts it printed."""

    def __init__(
        self,
        folder: Path,
        consent: str = "tty",
        consent_timeout_s: int = 120,
        grant_seconds: float | None = None,
        relay: str = "auto",
    ) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VXASSIST_")}
        env["VXASSIST_HOME"] = str(folder / "user-home")
        if grant_seconds is not None:
            env["VXASSIST_TEST_GRANT_SECONDS"] = str(grant_seconds)
        self.terminal = Terminal(
            vxassist(
                "demo",
                "--headless",
                "--json",
                "--folder",
                str(folder / "demo"),
                "--consent",
                consent,
                "--consent-timeout",
                str(consent_timeout_s),
                "--relay",
                relay,
            ),
            env,
        )
        found = self.terminal.wait_for(self._facts, START_S)
        self.facts: dict[str, Any] = found
        self.terminal.expect(r'"message": "running for', START_S)

    def _facts(self) -> dict[str, Any] | None:
        for item in json_lines(self.terminal.text):
            if "desk_url" in item and "engineer_home" in item:
                return item
        return None

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        items = [e for e in json_lines(self.terminal.text) if "event" in e]
        return [e for e in items if kind is None or e["event"] == kind]

    def wait_event(self, kind: str, session_id: str, timeout_s: float = STEP_S) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for e in self.events(kind):
                if e.get("session_id") == session_id:
                    return e
            return None

        return dict(self.terminal.wait_for(found, timeout_s))

    def env(self, home_key: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VXASSIST_")}
        home = Path(self.facts[home_key])
        env["VXASSIST_HOME"] = str(home)
        env["VXASSIST_POLICY"] = str(home / "policy.toml")
        return env

    def engineer(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``vxassist engineer ARGS`` as the demo's engineer."""
        done = subprocess.run(
            vxassist("engineer", *args),
            env=self.env("engineer_home"),
            capture_output=True,
            text=True,
            timeout=STEP_S,
            stdin=subprocess.DEVNULL,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"engineer {args} failed: {done.stdout}\n{done.stderr}")
        return done

    def host(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``vxassist ARGS`` on the demo's host (its VXASSIST_HOME)."""
        done = subprocess.run(
            vxassist(*args),
            env=self.env("host_home"),
            capture_output=True,
            text=True,
            timeout=STEP_S,
            stdin=subprocess.DEVNULL,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{args} failed: {done.stdout}\n{done.stderr}")
        return done

    def close(self) -> int:
        return self.terminal.close()
