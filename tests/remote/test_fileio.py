"""Write-behind: writes land at their offsets, in any order, and failures are reported."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from vxassist.remote.fileio import WriteBehind


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


def test_writes_run_off_the_event_loop_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    seen: list[threading.Thread] = []
    real_pwrite = os.pwrite

    def recording_pwrite(fd: int, data: bytes, offset: int) -> int:
        seen.append(threading.current_thread())
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", recording_pwrite)

    async def main() -> threading.Thread:
        with (tmp_path / "f").open("wb", buffering=0) as fh:
            writer = WriteBehind(fh)
            for i in range(10):
                await writer.write(i * 10, b"x" * 10)
            await writer.flush()
        return threading.current_thread()

    loop_thread = asyncio.run(main())
    assert len(seen) == 10
    assert loop_thread not in seen
