"""File writes that neither stall the event loop nor serialize an upload.

asyncssh's SFTP server handles one request at a time. Awaiting a worker thread
for every write keeps the loop free but makes each request pay a thread hand-off,
so uploads crawl; writing on the loop blocks it whenever the disk is slow. A
:class:`WriteBehind` answers each write at once and hands the disk work to a
worker thread: writes that continue one another are joined into one run, handed
over when it reaches ``RUN`` bytes, at the end of the loop's turn, or before any
other operation on the file (a 200 MB upload is some 200 hand-offs, not one per
request).
At most ``limit`` bytes are accepted and not yet on disk; the first failure is
reported on the next write, read, stat or close.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import deque
from typing import BinaryIO

#: bytes accepted but not yet on disk, per open file
LIMIT = 8 * 1024 * 1024
#: a run of joined writes goes to the worker thread at this size
RUN = 1024 * 1024
#: ... or at this many writes (one system call takes at most 1024 buffers)
RUN_WRITES = 256


class WriteBehind:
    """The pending writes of one open file."""

    def __init__(self, file_obj: BinaryIO, limit: int = LIMIT) -> None:
        self._file = file_obj
        self._limit = limit
        self._loop = asyncio.get_running_loop()
        self._pending: deque[tuple[asyncio.Future[None], int]] = deque()
        self._in_flight = 0
        self._error: OSError | None = None
        #: the run being joined: where it starts, its pieces, their size
        self._run_at = 0
        self._run: list[bytes] = []
        self._run_size = 0
        self._run_handed_at_turn_end = False
        self._lock = threading.Lock()  # only where the platform has no positional write

    # on the worker thread ------------------------------------------------------------

    def _write_at(self, offset: int, pieces: list[bytes]) -> None:
        if hasattr(os, "pwritev"):
            fd = self._file.fileno()
            done = os.pwritev(fd, pieces, offset)
            if done == sum(len(piece) for piece in pieces):
                return
            rest = memoryview(b"".join(pieces))[done:]  # written in part: the rest
            offset += done
            while rest:
                done = os.pwrite(fd, rest, offset)
                rest, offset = rest[done:], offset + done
            return
        with self._lock:  # pragma: no cover - Windows
            self._file.seek(offset)
            self._file.write(b"".join(pieces))

    # on the loop ---------------------------------------------------------------------

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

    def _hand_over(self) -> None:
        """Give the run being joined to a worker thread."""
        if not self._run:
            return
        pieces, size = self._run, self._run_size
        self._run, self._run_size = [], 0
        future = self._loop.run_in_executor(None, self._write_at, self._run_at, pieces)
        future.add_done_callback(self._settled)
        self._pending.append((future, size))

    def _turn_ended(self) -> None:
        self._run_handed_at_turn_end = False
        self._hand_over()

    async def write(self, offset: int, data: bytes) -> None:
        """Accept one write; waits only while more than ``limit`` bytes are in flight."""
        self._raise()
        if self._run and offset != self._run_at + self._run_size:
            self._hand_over()  # not a continuation: the run so far goes first
        if not self._run:
            self._run_at = offset
        self._run.append(bytes(data))
        self._run_size += len(data)
        self._in_flight += len(data)
        if self._run_size >= RUN or len(self._run) >= RUN_WRITES:
            self._hand_over()
        elif not self._run_handed_at_turn_end:
            self._run_handed_at_turn_end = True
            self._loop.call_soon(self._turn_ended)
        if self._in_flight > self._limit:
            self._hand_over()
            while self._pending and self._in_flight > self._limit:
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
        """Wait for every accepted write to be on disk; raise the first failure."""
        self._hand_over()
        while self._pending:
            await self._retire_oldest()
        self._raise()
