"""The live-session window on real widgets: a real session feeds it, End now ends it."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

pytest.importorskip("PySide6.QtWidgets")

from tests.remote.conftest import World
from tests.remote.conftest import world as world
from vxassist.remote.grants import Grant
from vxassist.remote.service import RemoteSessionService
from vxassist.ui.bridge import Bridge
from vxassist.ui.consent import ExtensionPrompt, QtPrompter
from vxassist.ui.qt import Qt
from vxassist.ui.session_window import LiveSessionWindow, left_text

WAIT = 15000
NOW = datetime(2026, 12, 3, 14, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def start_event(session_id: str = "s-1", minutes: int = 30) -> dict[str, Any]:
    return {
        "event": "session_start",
        "ts": NOW.isoformat(),
        "session_id": session_id,
        "engineer": "alice",
        "case_number": 1001,
        "scopes": ["shell", "files"],
        "not_before": NOW.isoformat(),
        "not_after": (NOW + timedelta(minutes=minutes)).isoformat(),
    }


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def window(qtbot: Any, clock: Clock) -> Iterator[LiveSessionWindow]:
    w = LiveSessionWindow(clock=clock)
    qtbot.addWidget(w)
    yield w
    for panel in w.panels.values():
        panel.mark_ended("test over")  # let qtbot close it


def test_a_session_opens_the_window_on_top_with_the_time_left(
    window: LiveSessionWindow, clock: Clock
) -> None:
    assert not window.isVisible()
    window.handle_event(start_event())
    assert window.isVisible()
    assert window.windowFlags() & Qt.WindowType.WindowStaysOnTopHint
    panel = window.panel("s-1")
    assert panel is not None and panel.live
    assert panel.who.text() == "alice - case 1001"
    assert panel.time_left.text() == "30 min 00 s left"
    assert "alice" in window.banner.text()
    clock.now = NOW + timedelta(minutes=2, seconds=5)
    window.tick()
    assert panel.time_left.text() == "27 min 55 s left"
    window.handle_event(
        {
            "event": "session_extended",
            "session_id": "s-1",
            "not_after": (NOW + timedelta(minutes=45)).isoformat(),
        }
    )
    assert panel.time_left.text() == "42 min 55 s left"


def test_activity_in_plain_words(window: LiveSessionWindow) -> None:
    window.handle_event(start_event())
    for event in (
        {"event": "login", "session_id": "s-1", "engineer": "alice"},
        {"event": "channel", "session_id": "s-1", "kind": "shell", "pty": True},
        {"event": "process", "session_id": "s-1", "command": "/bin/sh"},
        {
            "event": "file",
            "session_id": "s-1",
            "op": "download",
            "path": "/srv/vx/callacct.log",
            "size": 2_100_000,
        },
        {"event": "forward_refused", "session_id": "s-1", "target": "127.0.0.1:22"},
        {"event": "channel", "session_id": "other", "kind": "shell"},
    ):
        window.handle_event(event)
    panel = window.panel("s-1")
    assert panel is not None
    texts = [line.split("  ", 1)[1] for line in panel.activity_lines()]
    assert texts == [
        "the session started; waiting for the engineer to connect",
        "alice connected",
        "opened a shell",
        "downloaded callacct.log, 2.1 MB",
        "a forward to 127.0.0.1:22 was refused",
    ]


def test_it_cannot_be_closed_hidden_or_minimised_while_live(
    window: LiveSessionWindow, qtbot: Any
) -> None:
    window.handle_event(start_event())
    window.close()
    assert window.isVisible() and window.compact
    panel = window.panel("s-1")
    assert panel is not None
    assert panel.end_button.isVisible() and panel.time_left.isVisible()
    assert not panel.details.isVisible()
    window.hide()
    assert window.isVisible()
    window.showMinimized()
    qtbot.waitUntil(lambda: not window.isMinimized(), timeout=WAIT)
    window.handle_event(
        {"event": "teardown", "session_id": "s-1", "reason": "the grant's time is up"}
    )
    assert not panel.live and not panel.end_button.isEnabled()
    assert "No engineer" in window.banner.text()
    window.close()
    assert not window.isVisible()


def test_an_extension_request_shows_in_its_session(window: LiveSessionWindow, qtbot: Any) -> None:
    prompter = QtPrompter(allow_delay_ms=0)
    prompter.extension_host = window.add_extension
    window.handle_event(start_event())
    now = datetime.now(UTC)
    grant = Grant("s-1", "alice", 1001, (), now, now + timedelta(minutes=5), "k")
    loop = asyncio.new_event_loop()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        future = asyncio.run_coroutine_threadsafe(
            prompter.ask_extension(grant, 15, "the import needs a rerun", 60), loop
        )
        panel = window.panel("s-1")
        assert panel is not None
        found: list[ExtensionPrompt] = []

        def shown() -> bool:
            found[:] = panel.findChildren(ExtensionPrompt)
            return bool(found) and found[0].isVisible()

        qtbot.waitUntil(shown, timeout=WAIT)
        prompt = found[0]
        assert prompt.window() is window
        qtbot.waitUntil(prompt.allow_button.isEnabled, timeout=WAIT)
        prompt.minutes.setValue(5)
        qtbot.mouseClick(prompt.allow_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(future.done, timeout=WAIT)
        assert future.result() == 5
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_left_text() -> None:
    assert left_text(timedelta(minutes=14, seconds=5)) == "14 min 05 s left"
    assert left_text(timedelta(hours=1, minutes=2, seconds=3)) == "1 h 02 min left"
    assert left_text(timedelta(seconds=42)) == "42 s left"
    assert left_text(timedelta(seconds=-5)) == "0 s left"


# -- a real session: relay sshd, the agent's service on the bridge's loop, real ssh ----------


class SessionRuntime:
    """The smallest runtime that serves one grant through the world's relay."""

    def __init__(self, world: World, grant: Grant, emit: Any) -> None:
        self.world, self.grant, self.emit = world, grant, emit
        self.service: RemoteSessionService | None = None
        self._stop = asyncio.Event()

    async def run(self) -> int:
        service = self.world.service(live_terminals=True)
        record = service.on_event
        assert record is not None

        def both(event: dict[str, Any]) -> None:
            record(event)
            self.emit(event)

        service.on_event = both
        self.service = service
        await service.start(self.grant, self.world.endpoint())
        await self._stop.wait()
        await service.close()
        return 0

    def stop(self) -> None:
        self._stop.set()

    async def end_session(self, session_id: str, reason: str = "ended by the customer") -> Any:
        assert self.service is not None
        return await self.service.end(session_id, reason)


def test_the_customer_watches_the_engineer_and_ends_the_session(
    world: World,
    qtbot: Any,
) -> None:
    grant = world.grant("live1", ("shell",))
    world.certify(grant)
    world.configure_engineer("live1")
    window = LiveSessionWindow()
    qtbot.addWidget(window)
    bridge = Bridge(lambda prompter, emit: SessionRuntime(world, grant, emit), prompter=None)
    window.attach(bridge)
    bridge.start()
    ssh = None
    try:
        qtbot.waitUntil(lambda: window.panel("live1") is not None, timeout=WAIT)
        panel = window.panel("live1")
        assert panel is not None
        qtbot.waitUntil(lambda: bool(world.events_named("tunnel_up")), timeout=WAIT)
        ssh = subprocess.Popen(
            ["ssh", "-F", str(world.engineer.config_file), "-tt", "agent"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        qtbot.waitUntil(lambda: bool(panel.terminals), timeout=WAIT)
        assert ssh.stdin is not None
        ssh.stdin.write(b"echo customer-sees-$((40+2))\n")
        ssh.stdin.flush()
        (view,) = panel.terminals.values()
        qtbot.waitUntil(lambda: "customer-sees-42" in view.text(), timeout=WAIT)
        assert "echo customer-sees-$((40+2))" in view.text()  # what the engineer typed
        lines = [line.split("  ", 1)[1] for line in panel.activity_lines()]
        assert "alice connected" in lines and "opened a shell" in lines
        qtbot.mouseClick(panel.end_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not panel.live, timeout=WAIT)
        qtbot.waitUntil(lambda: ssh.poll() is not None, timeout=WAIT)
        assert ssh.returncode != 0
        (teardown,) = world.events_named("teardown")
        assert teardown["reason"] == "ended by the customer"
        assert panel.time_left.text() == "Ended"
        again = subprocess.run(
            ["ssh", "-F", str(world.engineer.config_file), "agent", "true"],
            capture_output=True,
            timeout=30,
        )
        assert again.returncode == 255
    finally:
        if ssh is not None and ssh.poll() is None:
            ssh.kill()
            ssh.wait()
        bridge.stop(10.0)


def test_the_sample_windows_render(tmp_path: Any, qtbot: Any) -> None:
    from vxassist.ui.qt import QtGui
    from vxassist.ui.session_samples import render_all

    saved = render_all(tmp_path / "png", tmp_path / "data")
    assert [p.name for p in saved] == [
        "consent.png",
        "live-session.png",
        "live-session-strip.png",
        "live-session-extension.png",
        "audit-trail.png",
        "audit-recording.png",
    ]
    for path in saved:
        image = QtGui.QImage(str(path))
        assert image.width() > 400 and image.height() > 80, path.name


def test_end_now_that_fails_says_why_and_can_be_tried_again(
    qtbot: Any, window: LiveSessionWindow
) -> None:
    from vxassist.runtime import SessionNotFound
    from vxassist.ui.qt import QObject, Signal

    class Bridge(QObject):
        """The bridge's edge: the runtime answers End now with an error."""

        event_received = Signal(dict)

        def __init__(self, error: BaseException) -> None:
            super().__init__()
            self.error = error

        def submit(self, coro_factory: Any, on_done: Any = None, on_error: Any = None) -> None:
            on_error(self.error)

    window.attach(Bridge(RuntimeError("The agent's loop is not running.")))
    window.handle_event(start_event())
    panel = window.panel("s-1")
    assert panel is not None
    qtbot.mouseClick(panel.end_button, Qt.MouseButton.LeftButton)
    assert "loop is not running" in panel.status.text()
    assert panel.end_button.isEnabled() and panel.end_button.text() == "End now"
    window.attach(Bridge(SessionNotFound("No live session has the id 's-1'.")))
    qtbot.mouseClick(panel.end_button, Qt.MouseButton.LeftButton)
    assert panel.status.text() == "This session has already ended."
