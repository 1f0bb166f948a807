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
