"""File writes that neither stall the event loop nor serialize an upload.

asyncssh's SFTP server handles one request at a time. Awaiting a worker thread
for every write keeps the loop free but makes each request pay a thread hand-off,
so uploads crawl; writing on the loop blocks it whenever the disk is slow. A
:class:`WriteBehind` hands each write to a worker thread and answers at once
(positional writes, so order does not matter), keeps at most ``limit`` bytes in
flight, and reports the first failure on the next write, read, stat or close.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import deque
from typing import BinaryIO

#: bytes accepted but not yet on disk, per open file
LIMIT = 8 * 1024 * 1024


class WriteBehind:
    """The pending writes of one open file."""

    def __init__(self, file_obj: BinaryIO, limit: int = LIMIT) -> None:
        self._file = file_obj
        self._limit = limit
        self._pending: deque[tuple[asyncio.Future[None], int]] = deque()
        self._in_flight = 0
        self._error: OSError | None = None
        self._lock = threading.Lock()  # only where the platform has no positional write

    def _write_at(self, offset: int, data: bytes) -> None:
        view = memoryview(data)
        if hasattr(os, "pwrite"):
            fd = self._file.fileno()
            while view:
                done = os.pwrite(fd, view, offset)
                view, offset = view[done:], offset + done
            return
        with self._lock:  # pragma: no cover - Windows
            self._file.seek(offset)
            self._file.write(view)

    def _settled(self, future: asyncio.Future[None]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None and self._error is None:
            self._error = exc if isinstance(exc, OSError) else OSError(str(exc))

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    async def write(self, offset: int, data: bytes) -> None:
        """Queue one write; waits only while more than ``limit`` bytes are in flight."""
        self._raise()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self._write_at, offset, bytes(data))
        future.add_done_callback(self._settled)
        self._pending.append((future, len(data)))
        self._in_flight += len(data)
        while self._in_flight > self._limit:
            await self._retire_oldest()
        self._reap()

    def _reap(self) -> None:
        while self._pending and self._pending[0][0].done():
            _, size = self._pending.popleft()
            self._in_flight -= size

    async def _retire_oldest(self) -> None:
        future, size = self._pending.popleft()
        self._in_flight -= size
        await asyncio.wait({future})

    async def flush(self) -> None:
        """Wait for every queued write; raise the first failure."""
        while self._pending:
            await self._retire_oldest()
        self._raise()
