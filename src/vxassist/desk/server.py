"""Running the desk with uvicorn, saying where it listens once it does.

On the event loop of ``vxassist.eventloop`` (uvloop where installed), with
uvicorn's httptools parser (the ``desk`` extra installs it).

With ``--workers N`` (N > 1) uvicorn's supervisor runs N worker processes on
one listening socket; each builds the app from the environment the parent
sets (:func:`app_from_env`). Whatever every worker must see goes through the
database, as DESIGN.md says. Behind a reverse proxy the client's address comes
from ``X-Forwarded-For``, trusted only from ``forwarded_allow_ips`` (default:
the proxy on this machine, 127.0.0.1), so the enrollment throttle counts the
real source and not the proxy.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TextIO

from vxassist.desk.config import DeskConfig
from vxassist.errors import VxError

log = logging.getLogger(__name__)

#: addresses whose X-Forwarded-For the desk believes: a proxy on this machine
DEFAULT_FORWARDED_ALLOW_IPS = "127.0.0.1"
#: how a worker process learns what the parent was told (``app_from_env``)
ENV_DB = "VXASSIST_DESK_DB"
ENV_CONFIG = "VXASSIST_DESK_CONFIG"
ENV_RELAY = "VXASSIST_DESK_RELAY"
ENV_RELAY_HOST_KEY = "VXASSIST_DESK_RELAY_HOST_KEY"
ENV_THREADS = "VXASSIST_DESK_THREADS"

_Scope = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
_Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class DeskServeError(VxError):
    """The desk could not start listening."""


#: the desk's garbage-collector thresholds: a desk holding thousands of long polls keeps
#: millions of long-lived objects, and with the defaults every full collection walked
#: them all (a fleet of 10,000 came back after a restart in 2 minutes instead of one,
#: and wake-ups waited up to 0.6 s behind a collection; benchmarks/desk_fleet.py)
GC_THRESHOLDS = (100_000, 50, 1000)


def tune_gc() -> None:
    """Collect rarely: what the desk allocates per request is short-lived, and what it
    imported at start is frozen out of every later collection."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def serve(
    db_url: str,
    host: str,
    port: int,
    config: DeskConfig,
    out: TextIO = sys.stdout,
    workers_threads: int = 32,
    forwarded_allow_ips: str = DEFAULT_FORWARDED_ALLOW_IPS,
) -> None:
    """Serve until cancelled or signalled; print the URL when ready (port 0 = any free one)."""
    import anyio.to_thread
    import uvicorn

    from vxassist.desk.app import create_app

    app = create_app(db_url, config, background_checkpoints=True)
    tune_gc()
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
            proxy_headers=True,
            forwarded_allow_ips=forwarded_allow_ips,
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


class _ThreadLimit:
    """Sets the worker's thread pool size when its loop starts (anyio keeps it per loop)."""

    def __init__(self, app: Any, threads: int) -> None:
        self.app = app
        self.threads = threads
        self._done = False

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if not self._done:
            import anyio.to_thread

            anyio.to_thread.current_default_thread_limiter().total_tokens = self.threads
            self._done = True
        await self.app(scope, receive, send)


def app_from_env() -> Any:
    """The desk app of one worker process, from what ``serve_workers`` put in the environment."""
    import argparse
    from pathlib import Path

    from vxassist.desk.app import create_app
    from vxassist.desk.config import load_desk_config
    from vxassist.desk.sessions.cli import apply_relay_args

    config_path = os.environ.get(ENV_CONFIG) or None
    args = argparse.Namespace(
        relay=os.environ.get(ENV_RELAY) or None,
        relay_host_key=os.environ.get(ENV_RELAY_HOST_KEY) or None,
    )
    config = apply_relay_args(load_desk_config(Path(config_path) if config_path else None), args)
    app = create_app(os.environ[ENV_DB], config, background_checkpoints=True)
    tune_gc()
    return _ThreadLimit(app, int(os.environ.get(ENV_THREADS, "32")))


def serve_workers(
    db_url: str,
    host: str,
    port: int,
    workers: int,
    *,
    config_path: str | None = None,
    relay: str | None = None,
    relay_host_key: str | None = None,
    out: TextIO = sys.stdout,
    workers_threads: int = 32,
    forwarded_allow_ips: str = DEFAULT_FORWARDED_ALLOW_IPS,
) -> None:
    """Serve with ``workers`` processes until signalled; print the URL once bound.

    The parent binds the socket (port 0 = any free one) and supervises; a worker
    that dies is started again by uvicorn's supervisor.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    os.environ[ENV_DB] = db_url
    os.environ[ENV_CONFIG] = config_path or ""
    os.environ[ENV_RELAY] = relay or ""
    os.environ[ENV_RELAY_HOST_KEY] = relay_host_key or ""
    os.environ[ENV_THREADS] = str(workers_threads)
    config = uvicorn.Config(
        "vxassist.desk.server:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
    )
    try:
        sock = config.bind_socket()
    except SystemExit as exc:  # uvicorn exits when it cannot bind
        raise DeskServeError(
            f"The desk could not listen on {host}:{port}; choose another --port.",
        ) from exc
    # listening now, not when the first worker is up: a connection made while the
    # workers start waits in the backlog instead of being refused (a proxy would
    # take the refusal for a dead upstream and answer 502 for a while)
    sock.listen(config.backlog)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    print(
        f"vxassist desk ({workers} workers) listening on http://{shown}:{bound}",
        file=out,
        flush=True,
    )
    log.info("desk listening on %s:%s with %s workers", host, bound, workers)
    Multiprocess(config, sockets=[sock]).run()
