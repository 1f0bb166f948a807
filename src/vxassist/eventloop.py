"""The agent's event loop: uvloop where it is installed, asyncio's own otherwise.

Every remote session passes each byte through two SSH layers on this loop (the
engineer's connection inside the relay tunnel); the loop's own per-callback cost
is a large part of a keystroke's round trip, and uvloop's is lower. uvloop is not
built for Windows, and a build without it must still run: the stock loop is the
fallback. ``VXASSIST_EVENT_LOOP=asyncio`` forces the stock loop (to compare, or to
rule the loop out when something misbehaves).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: environment variable that picks the loop: ``uvloop`` (default when installed) or ``asyncio``
ENV_VAR = "VXASSIST_EVENT_LOOP"


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    if os.environ.get(ENV_VAR, "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:  # not installed (Windows, or a minimal build)
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
