"""The asyncio thread and the GUI thread, joined by queued Qt signals.

The agent runtime and all its network, disk and child-process work run on an
event loop of their own thread (:mod:`vxassist.eventloop`); the GUI thread only
ever receives finished results and events. Nothing here waits on the loop
except :meth:`Bridge.stop`, at the very end. (Why not qasync or QtAsyncio:
DESIGN.md, "Inside the agent", and PITFALLS.md.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

from vxassist import eventloop
from vxassist.ui.qt import QObject, Qt, Signal, Slot

log = logging.getLogger(__name__)

T = TypeVar("T")

Emit = Callable[[Mapping[str, Any]], None]


class RuntimeLike(Protocol):
    """What the bridge needs of the agent runtime (``vxassist.runtime.AgentRuntime``)."""

    async def run(self) -> int: ...

    def stop(self) -> None: ...


class Bridge(QObject):
    """Runs the runtime on its loop thread; results and events come back as signals.

    ``make_runtime(prompter, emit)`` is called on the loop thread, so whatever the
    runtime builds belongs to that loop. ``emit`` may be called from any thread;
    events reach :attr:`event_received` on the GUI thread, in the order emitted.
    """

    #: every runtime event, on the GUI thread
    event_received = Signal(dict)
    #: ``runtime.run()`` returned (its exit code) or failed (the exception)
    runtime_finished = Signal(object)

    # internal: handed from the loop thread to the GUI thread (queued connections)
    _event_posted = Signal(object)
    _call_posted = Signal(object)

    def __init__(
        self,
        make_runtime: Callable[[Any, Emit], Any],
        prompter: Any,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._make_runtime = make_runtime
        self._prompter = prompter
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runtime: Any = None
        self._ready: asyncio.Event | None = None
        self._stop_asked = False
        self._finished = False
        self._event_posted.connect(self._deliver_event, Qt.ConnectionType.QueuedConnection)
        self._call_posted.connect(self._deliver_call, Qt.ConnectionType.QueuedConnection)

    # --- lifecycle -----------------------------------------------------------------

    @property
    def runtime(self) -> Any:
        """The runtime once the loop thread built it (read its state on the loop only)."""
        return self._runtime

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the loop thread, build the runtime there and run it."""
        if self._thread is not None:
            raise RuntimeError("the bridge is started once")
        self._loop = eventloop.new_event_loop()
        self._ready = asyncio.Event()
        self._thread = threading.Thread(target=self._thread_main, name="vxassist-loop", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the runtime to stop and join the loop thread (the one wait the GUI makes)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._stop_asked = True
        if thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(self._stop_on_loop)
            thread.join(timeout_s)
            if thread.is_alive():
                log.warning("the agent's loop did not stop within %.1f s", timeout_s)

    def _stop_on_loop(self) -> None:
        if self._runtime is not None:
            self._runtime.stop()
        elif self._ready is not None:
            self._ready.set()  # main() sees _stop_asked and returns

    def _thread_main(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        outcome: object = None
        try:
            outcome = loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to the GUI, which decides what to say
            log.exception("the agent runtime failed")
            outcome = exc
        finally:
            try:
                _cancel_leftovers(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                self._finished = True
                asyncio.set_event_loop(None)
                loop.close()
            self._post(self.runtime_finished.emit, outcome)

    async def _main(self) -> int:
        assert self._ready is not None
        if self._stop_asked:
            return 0
        self._runtime = self._make_runtime(self._prompter, self._emit)
        self._ready.set()
        if self._stop_asked:
            return 0
        return int(await self._runtime.run())

    # --- work and events -----------------------------------------------------------

    def submit(
        self,
        coro_factory: Callable[[Any], Awaitable[T]],
        on_done: Callable[[T], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> concurrent.futures.Future[T]:
        """Run ``coro_factory(runtime)`` on the loop; the callbacks run on the GUI thread.

        An error with no ``on_error`` is logged. A cancelled job calls neither.
        """
        loop, ready = self._loop, self._ready
        if loop is None or ready is None or self._finished:
            raise RuntimeError("the agent's loop is not running")

        async def job() -> T:
            await ready.wait()
            if self._runtime is None:
                raise RuntimeError("the agent stopped before the work could start")
            return await coro_factory(self._runtime)

        future = asyncio.run_coroutine_threadsafe(job(), loop)

        def finished(fut: concurrent.futures.Future[T]) -> None:
            if fut.cancelled():
                return
            exc = fut.exception()
            if exc is None:
                if on_done is not None:
                    self._post(on_done, fut.result())
            elif on_error is not None:
                self._post(on_error, exc)
            else:
                log.error("background work failed", exc_info=exc)

        future.add_done_callback(finished)
        return future

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the loop thread (thread-safe)."""
        if self._loop is None or self._finished:
            raise RuntimeError("the agent's loop is not running")
        self._loop.call_soon_threadsafe(fn)

    def _emit(self, event: Mapping[str, Any]) -> None:
        self._event_posted.emit(dict(event))

    def _post(self, fn: Callable[..., None], arg: object) -> None:
        self._call_posted.emit((fn, arg))

    @Slot(object)
    def _deliver_event(self, event: dict[str, Any]) -> None:
        self.event_received.emit(event)

    @Slot(object)
    def _deliver_call(self, call: tuple[Callable[[object], None], object]) -> None:
        fn, arg = call
        try:
            fn(arg)
        except Exception:  # one window's fault must not stop the others' deliveries
            log.exception("a result handler failed")


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
