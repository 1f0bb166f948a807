"""vxassist's event loop: asyncio's own, or uvloop on request.

Measured on the remote path (``benchmarks/remote_path.py --loop``, four
alternating 200 MB runs each): uvloop made a keystroke's round trip through
the relay about 9 % shorter (1.47x against 1.60x the all-OpenSSH path) but SFTP
slower (put 0.93x against 0.98x, get 0.95x against 1.12x); on the desk it
changed case intake by 1-2 %. The stock loop is therefore the default;
``VXASSIST_EVENT_LOOP=uvloop`` picks uvloop where it is installed (the ``uvloop``
extra; not built for Windows), and the stock loop otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: environment variable that picks the loop: ``asyncio`` (the default) or ``uvloop``
ENV_VAR = "VXASSIST_EVENT_LOOP"


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    if os.environ.get(ENV_VAR, "").strip().lower() != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:  # not installed (Windows, or a build without the extra)
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
