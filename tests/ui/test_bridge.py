"""The bridge: work on the loop thread, results and events on the GUI thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("PySide6.QtWidgets")

from vxassist.ui.bridge import Bridge
from vxassist.ui.qt import QTimer


class LoopRuntime:
    """The smallest runtime: runs until stop(), emits what it is told to."""

    def __init__(self, prompter: object, emit: Any) -> None:
        self.prompter = prompter
        self.emit = emit
        self.built_on = threading.current_thread()
        self.stopped = False
        self._stop: asyncio.Event | None = None

    async def run(self) -> int:
        self._stop = asyncio.Event()
        await self._stop.wait()
        self.stopped = True
        return 0

    def stop(self) -> None:
        assert self._stop is not None
        self._stop.set()

    async def answer(self, value: int) -> tuple[int, str]:
        await asyncio.sleep(0)
        return value * 2, threading.current_thread().name

    async def fail(self) -> None:
        await asyncio.sleep(0)
        raise ValueError("the desk said no")

    async def burst(self, n: int) -> None:
        for i in range(n):
            self.emit({"event": "tick", "i": i, "data": bytes([i % 256])})
            if i % 10 == 0:
                await asyncio.sleep(0)


@pytest.fixture
def bridge(qapp: Any) -> Iterator[Bridge]:
    b = Bridge(LoopRuntime, prompter="the prompter")
    b.start()
    yield b
    b.stop(10.0)


def test_result_arrives_on_the_gui_thread(bridge: Bridge, qtbot: Any) -> None:
    got: list[tuple[tuple[int, str], threading.Thread]] = []
    bridge.submit(
        lambda rt: rt.answer(21), on_done=lambda r: got.append((r, threading.current_thread()))
    )
    qtbot.waitUntil(lambda: bool(got), timeout=10000)
    (value, loop_thread_name), delivered_on = got[0]
    assert value == 42
    assert loop_thread_name == "vxassist-loop"
    assert delivered_on is threading.main_thread()
    assert bridge.runtime.built_on.name == "vxassist-loop"
    assert bridge.runtime.prompter == "the prompter"


def test_exception_arrives_in_on_error(bridge: Bridge, qtbot: Any) -> None:
    done: list[object] = []
    errors: list[tuple[BaseException, threading.Thread]] = []
    bridge.submit(
        lambda rt: rt.fail(),
        on_done=done.append,
        on_error=lambda e: errors.append((e, threading.current_thread())),
    )
    qtbot.waitUntil(lambda: bool(errors), timeout=10000)
    exc, thread = errors[0]
    assert isinstance(exc, ValueError) and str(exc) == "the desk said no"
    assert thread is threading.main_thread()
    assert done == []


def test_events_arrive_in_order_on_the_gui_thread(bridge: Bridge, qtbot: Any) -> None:
    seen: list[int] = []
    threads: set[threading.Thread] = set()

    def on_event(event: dict[str, Any]) -> None:
        seen.append(event["i"])
        threads.add(threading.current_thread())
        assert event["data"] == bytes([event["i"] % 256])

    bridge.event_received.connect(on_event)
    bridge.submit(lambda rt: rt.burst(500))
    qtbot.waitUntil(lambda: len(seen) == 500, timeout=10000)
    assert seen == list(range(500))
    assert threads == {threading.main_thread()}


def test_call_soon_runs_on_the_loop_thread(bridge: Bridge, qtbot: Any) -> None:
    ran_on: list[str] = []
    bridge.call_soon(lambda: ran_on.append(threading.current_thread().name))
    qtbot.waitUntil(lambda: bool(ran_on), timeout=10000)
    assert ran_on == ["vxassist-loop"]


def test_stop_joins_the_thread_and_reports_the_exit(qapp: Any, qtbot: Any) -> None:
    b = Bridge(LoopRuntime, prompter=None)
    finished: list[object] = []
    b.runtime_finished.connect(finished.append)
    b.start()
    qtbot.waitUntil(lambda: b.runtime is not None, timeout=10000)
    runtime = b.runtime
    b.stop(10.0)
    assert not b.running
    assert runtime.stopped
    qtbot.waitUntil(lambda: bool(finished), timeout=10000)
    assert finished == [0]
    with pytest.raises(RuntimeError):
        b.submit(lambda rt: rt.answer(1))


def test_stop_before_the_runtime_exists(qapp: Any) -> None:
    b = Bridge(LoopRuntime, prompter=None)
    b.start()
    b.stop(10.0)  # whether or not the runtime was built yet, the thread ends
    assert not b.running


def test_a_slow_coroutine_never_blocks_the_gui_thread(bridge: Bridge, qtbot: Any) -> None:
    release = threading.Event()

    async def slow(rt: LoopRuntime) -> str:
        # the loop thread itself is stuck (slow work gone wrong blocks it outright);
        # the GUI thread must keep turning meanwhile
        release.wait(30)
        await asyncio.sleep(0)
        return "late"

    result: list[str] = []
    bridge.submit(slow, on_done=result.append)
    ticks: list[int] = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    qtbot.waitUntil(lambda: len(ticks) >= 20, timeout=10000)
    assert result == []  # the GUI turned 20 times while the work was still running
    release.set()
    qtbot.waitUntil(lambda: result == ["late"], timeout=10000)
    timer.stop()


def test_a_failing_result_handler_does_not_stop_later_deliveries(
    bridge: Bridge, qtbot: Any
) -> None:
    got: list[int] = []

    def broken(_: object) -> None:
        raise RuntimeError("a window's bug")

    bridge.submit(lambda rt: rt.answer(1), on_done=broken)
    bridge.submit(lambda rt: rt.answer(2), on_done=lambda r: got.append(r[0]))
    qtbot.waitUntil(lambda: got == [4], timeout=10000)
