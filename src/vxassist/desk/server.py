"""Running the desk with uvicorn, saying where it listens once it does.

On the event loop of ``vxassist.eventloop`` (uvloop where installed), with
uvicorn's httptools parser (the ``desk`` extra installs it).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TextIO

from vxassist.desk.config import DeskConfig
from vxassist.errors import VxError

log = logging.getLogger(__name__)


class DeskServeError(VxError):
    """The desk could not start listening."""


async def serve(
    db_url: str,
    host: str,
    port: int,
    config: DeskConfig,
    out: TextIO = sys.stdout,
    workers_threads: int = 32,
) -> None:
    """Serve until cancelled or signalled; print the URL when ready (port 0 = any free one)."""
    import anyio.to_thread
    import uvicorn

    from vxassist.desk.app import create_app

    app = create_app(db_url, config, background_checkpoints=True)
    # Sync routes run in anyio's thread pool; 40 threads queue a burst of 100 clients.
    anyio.to_thread.current_default_thread_limiter().total_tokens = workers_threads
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            raise DeskServeError(
                f"The desk could not listen on {host}:{port}; choose another --port.",
            )
        await asyncio.sleep(0.02)
    bound = port
    for listener in server.servers:
        for sock in listener.sockets:
            bound = sock.getsockname()[1]
            break
    shown = f"[{host}]" if ":" in host else host
    print(f"vxassist desk listening on http://{shown}:{bound}", file=out, flush=True)
    log.info("desk listening on %s:%s", host, bound)
    await task
