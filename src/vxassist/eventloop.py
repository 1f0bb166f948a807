"""vxassist's event loop: uvloop where it is installed, asyncio's own otherwise.

Measured on the remote path with two agents side by side behind one relay, one
on each loop, their round trips and transfers alternating (both orders): on
uvloop a keystroke's round trip was 6-8 % shorter and SFTP took 10-21 % less of
the agent's CPU per megabyte, which the host's own software gets instead.
Uploads were as fast or faster; downloads were faster on a busy machine and
10-20 % slower on a quiet one. uvloop is a dependency everywhere it is built
(not on Windows, where the stock loop runs). ``VXASSIST_EVENT_LOOP=asyncio`` picks the
stock loop anyway (the test run uses it to keep both loops tested).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: environment variable that picks the loop: ``uvloop`` (the default) or ``asyncio``
ENV_VAR = "VXASSIST_EVENT_LOOP"


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    wanted = os.environ.get(ENV_VAR, "").strip().lower()
    if wanted == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:  # not built for this platform (Windows)
        if wanted == "uvloop":
            log.warning("%s=uvloop, but uvloop is not installed: using asyncio's loop", ENV_VAR)
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def loop_kind() -> str:
    """``"uvloop"`` or ``"asyncio"``: which loop :func:`new_event_loop` makes here."""
    return "uvloop" if _uvloop_factory() is not None else "asyncio"


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop of the best kind available (not set as the current one)."""
    factory = _uvloop_factory()
    if factory is None:
        # the platform's own loop class, whatever event loop policy is installed
        return asyncio.DefaultEventLoopPolicy().new_event_loop()
    return factory()


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a new loop of :func:`new_event_loop`'s kind.

    As :func:`asyncio.run` (tasks cancelled, async generators and the default
    executor shut down at the end), with the loop chosen here.
    """
    log.debug("event loop: %s", loop_kind())
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
