"""SFTP and scp stay inside the allowed folders, whatever path the engineer sends."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.ssh import TestCA
from tests.remote.conftest import World, serving


def test_every_escape_is_refused_and_audited(world: World, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("secret")
    (world.home / "inside.txt").write_text("inside")
    os.symlink(outside, world.home / "link-out")
    os.symlink(outside / "secret", world.home / "file-out")
    os.mkfifo(world.home / "fifo")
    got = tmp_path / "got"
    got.mkdir()
    local = tmp_path / "local.txt"
    local.write_text("local")
    batch = tmp_path / "batch"
    batch.write_text(
        "\n".join(
            [
                f"-get ../outside/secret {got}/1",
                f"-get {outside}/secret {got}/2",
                f"-get link-out/secret {got}/3",
                f"-get file-out {got}/4",
                f"-get /etc/hostname {got}/5",
                f"-get fifo {got}/8",
                "-ls ..",
                f"-put {local} ../outside/put",
                f"-put {local} link-out/put",
                f"-put {local} {outside}/put",
                "-rename inside.txt ../outside/moved",
                f"-rename inside.txt {outside}/moved",
                "-rename inside.txt link-out/moved",
                "-symlink /etc/passwd pw",
                "-ln inside.txt hard",
                "-mkdir ../outside/dir",
                "-mkdir link-out/dir",
                "-rm link-out/secret",
                "-chmod 777 link-out/secret",
                "-cd ..",
                f"-get secret {got}/6",
                f"get inside.txt {got}/ok",
            ]
        )
        + "\n"
    )
    grant = world.grant("f1", ("files",))
    world.certify(grant)
    world.configure_engineer("f1")

    async def main() -> Any:
        async with serving(world, grant):
            sftp = await world.engineer.run(["sftp", "-b", str(batch), "agent"])
            scp_out = await world.engineer.run(["scp", "agent:../outside/secret", str(got / "7")])
            scp_in = await world.engineer.run(["scp", str(local), f"agent:{outside}/scp"])
            return sftp, scp_out, scp_in

    sftp, scp_out, scp_in = asyncio.run(main())
    assert sftp.rc == 0, sftp.err
    assert sorted(p.name for p in got.iterdir()) == ["ok"]
    assert (got / "ok").read_text() == "inside"
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_text() == "secret"
    assert (outside / "secret").stat().st_mode & 0o777 != 0o777
    assert (world.home / "inside.txt").read_text() == "inside"
    assert not (world.home / "pw").exists() and not (world.home / "hard").exists()
    assert scp_out.rc != 0 and scp_in.rc != 0
    refused = world.events_named("file_refused")
    assert len(refused) >= 15, [r["path"] for r in refused]
    assert any(r["op"] == "symlink" for r in refused)


class _Owner:
    """The parts of the connection the SFTP server uses, recorded."""

    def __init__(self, home: Path) -> None:
        from vxassist.remote.server import ServerConfig

        self.config = ServerConfig(TestCA().key, (home,), (), home)
        self.open_files: dict[int, Any] = {}
        self.events: list[tuple[str, dict[str, Any]]] = []

    def record(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))


def test_only_regular_files_open(world: World) -> None:
    import asyncssh

    from vxassist.remote.server import ConfinedSFTPServer

    os.mkfifo(world.home / "fifo")
    (world.home / "plain").write_bytes(b"plain")
    owner = _Owner(world.home)
    server = ConfinedSFTPServer(None, owner)  # type: ignore[arg-type]

    async def main() -> bytes:
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await server.open(b"fifo", asyncssh.FXF_READ, asyncssh.SFTPAttrs())
        handle = await server.open(b"plain", asyncssh.FXF_READ, asyncssh.SFTPAttrs())
        data = await server.read(handle, 0, 100)
        await server.close(handle)
        return data

    assert asyncio.run(main()) == b"plain"
    assert (
        "file_refused",
        {"op": "open", "path": "fifo", "reason": "only regular files can be opened"},
    ) in owner.events
    assert owner.events[-1][0] == "file" and owner.events[-1][1]["size"] == 5
