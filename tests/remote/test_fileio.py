"""Write-behind: writes land at their offsets, in any order, joined into runs handed to a
worker thread, and failures are reported."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from vxassist.remote.fileio import RUN, RUN_WRITES, WriteBehind


def test_writes_land_at_their_offsets(tmp_path: Path) -> None:
    path = tmp_path / "f"
    chunks = [(i * 1000, bytes([i]) * 1000) for i in range(50)]

    async def main() -> None:
        with path.open("wb", buffering=0) as fh:
            writer = WriteBehind(fh, limit=4000)  # forces waits for the oldest writes
            for offset, data in reversed(chunks):
                await writer.write(offset, data)
            await writer.flush()

    asyncio.run(main())
    assert path.read_bytes() == b"".join(data for _, data in chunks)


def test_a_failed_write_is_reported_later(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"")

    async def main() -> None:
        with path.open("rb", buffering=0) as fh:  # read-only: every write fails
            writer = WriteBehind(fh)
            await writer.write(0, b"x")
            with pytest.raises(OSError):
                await writer.flush()
            await writer.flush()  # reported once

    asyncio.run(main())
    assert os.path.getsize(path) == 0


def _record_writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[threading.Thread, int]]:
    """Each positional write system call: its thread and how many bytes it was given."""
    seen: list[tuple[threading.Thread, int]] = []
    real_pwritev, real_pwrite = os.pwritev, os.pwrite

    def pwritev(fd: int, buffers: list[bytes], offset: int) -> int:
        seen.append((threading.current_thread(), sum(len(b) for b in buffers)))
        return real_pwritev(fd, buffers, offset)

    def pwrite(fd: int, data: bytes, offset: int) -> int:
        seen.append((threading.current_thread(), len(data)))
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwritev", pwritev)
    monkeypatch.setattr(os, "pwrite", pwrite)
    return seen


def test_writes_run_off_the_event_loop_thread_joined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _record_writes(monkeypatch)
    path = tmp_path / "f"

    async def main() -> threading.Thread:
        with path.open("wb", buffering=0) as fh:
            writer = WriteBehind(fh)
            for i in range(10):  # one after another, as sftp sends an upload
                await writer.write(i * 10, bytes([65 + i]) * 10)
            await writer.flush()
        return threading.current_thread()

    loop_thread = asyncio.run(main())
    assert [size for _, size in seen] == [100]  # one hand-off for the ten
    assert loop_thread not in [thread for thread, _ in seen]
    assert path.read_bytes() == b"".join(bytes([65 + i]) * 10 for i in range(10))


def test_a_run_is_handed_over_by_size_and_by_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _record_writes(monkeypatch)
    path = tmp_path / "f"
    big = [bytes([i]) * 32768 for i in range(2 * RUN // 32768 + 3)]
    tiny = [bytes([i % 251]) for i in range(RUN_WRITES * 2 + 5)]

    async def main() -> None:
        with path.open("wb", buffering=0) as fh:
            writer = WriteBehind(fh)
            offset = 0
            for data in big + tiny:
                await writer.write(offset, data)
                offset += len(data)
            await writer.flush()

    asyncio.run(main())
    sizes = [size for _, size in seen]
    assert max(sizes) <= RUN
    assert len(sizes) >= 2 + 2 + 1  # two full runs of big pieces, two of tiny ones, the rest
    assert sum(sizes) == path.stat().st_size
    assert path.read_bytes() == b"".join(big + tiny)


def test_accepted_writes_reach_the_disk_without_a_flush(tmp_path: Path) -> None:
    """At the end of the loop's turn, not only at close: other programs see the upload grow."""
    path = tmp_path / "f"

    async def main() -> bytes:
        with path.open("wb", buffering=0) as fh:
            writer = WriteBehind(fh)
            await writer.write(0, b"hello")
            for _ in range(200):
                await asyncio.sleep(0.01)
                if path.read_bytes():
                    break
            on_disk = path.read_bytes()
            await writer.flush()
        return on_disk

    assert asyncio.run(main()) == b"hello"


def test_a_run_written_in_part_is_finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A positional write may take fewer bytes than given: the rest still lands."""
    real_pwritev = os.pwritev

    def first_piece_only(fd: int, buffers: list[bytes], offset: int) -> int:
        return real_pwritev(fd, buffers[:1], offset)

    monkeypatch.setattr(os, "pwritev", first_piece_only)
    path = tmp_path / "f"
    pieces = [bytes([65 + i]) * 1000 for i in range(5)]

    async def main() -> None:
        with path.open("wb", buffering=0) as fh:
            writer = WriteBehind(fh)
            for i, data in enumerate(pieces):
                await writer.write(i * 1000, data)
            await writer.flush()

    asyncio.run(main())
    assert path.read_bytes() == b"".join(pieces)
