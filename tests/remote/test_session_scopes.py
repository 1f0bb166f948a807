"""The engineer's stock OpenSSH client through the real relay into the agent: each scope."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pyte

from tests.remote.conftest import World, serving


def test_exec_runs_the_command_and_is_recorded(world: World) -> None:
    grant = world.grant(scopes=("shell",))
    world.certify(grant)
    world.configure_engineer(grant.session_id)

    async def main() -> Any:
        async with serving(world, grant) as service:
            result = await world.engineer.run(["ssh", "agent", "echo hello; echo oops >&2; exit 3"])
            summary = await service.end(grant.session_id, "done")
        return result, summary

    result, summary = asyncio.run(main())
    assert result.rc == 3, result.err
    assert result.out == b"hello\n"
    assert b"oops" in result.err
    assert [c["command"] for c in summary["commands"]] == ["echo hello; echo oops >&2; exit 3"]
    (recording,) = summary["recordings"]
    cast = (world.paths.recordings_dir / recording["file"]).read_text().splitlines()
    header = json.loads(cast[0])
    assert header["version"] == 2
    assert any(json.loads(line)[2] == "hello\n" for line in cast[1:])
    logins = world.events_named("login")
    assert logins and logins[0]["engineer"] == "alice"
    assert logins[0]["key_fingerprint"] == world.engineer.fingerprint
    assert world.audit.verify()[0]


def test_pty_shell_with_input_recorded(world: World) -> None:
    grant = world.grant(scopes=("shell",))
    world.certify(grant)
    world.configure_engineer(grant.session_id)

    async def main() -> Any:
        async with serving(world, grant) as service:
            result = await world.engineer.run(
                ["ssh", "-tt", "agent"], stdin=b"tty; echo $((6*7))\nexit 4\n"
            )
            return result, await service.end(grant.session_id, "done")

    result, summary = asyncio.run(main())
    assert result.rc == 4, result.err
    assert b"/dev/pts/" in result.out and b"42" in result.out
    (recording,) = summary["recordings"]
    events = [
        json.loads(line)
        for line in (world.paths.recordings_dir / recording["file"]).read_text().splitlines()[1:]
    ]
    assert any(kind == "i" and "echo" in data for _, kind, data in events)
    assert any(kind == "o" and "42" in data for _, kind, data in events)
    assert summary["logins"] and summary["commands"][0]["pty"] is True
    # the recording plays back: a VT100 screen fed its output shows what the engineer saw
    header = json.loads(
        (world.paths.recordings_dir / recording["file"]).read_text().splitlines()[0]
    )
    screen = pyte.Screen(header["width"], header["height"])
    stream = pyte.Stream(screen)
    for _, kind, data in events:
        if kind == "o":
            stream.feed(data)
    assert any(line.strip() == "42" for line in screen.display)


def test_sftp_and_scp_inside_the_home(world: World, tmp_path: Path) -> None:
    grant = world.grant(scopes=("files",))
    world.certify(grant)
    world.configure_engineer(grant.session_id)
    (world.home / "vx.log").write_bytes(b"log line\n" * 1000)
    local = tmp_path / "upload.bin"
    local.write_bytes(os.urandom(300_000))
    batch = tmp_path / "batch"
    batch.write_text(
        f"put {local} up.bin\nget vx.log {tmp_path / 'got.log'}\n"
        "mkdir d\nrename up.bin d/up.bin\nls\n"
        f"ls -la {world.home}\nls -la {world.home}/.\ncd d\nls -la ..\n"
    )

    async def main() -> Any:
        async with serving(world, grant) as service:
            sftp = await world.engineer.run(["sftp", "-b", str(batch), "agent"])
            scp_up = await world.engineer.run(["scp", str(local), "agent:scp.bin"])
            scp_down = await world.engineer.run(["scp", "agent:vx.log", str(tmp_path / "scp.log")])
            legacy = await world.engineer.run(["scp", "-O", str(local), "agent:legacy.bin"])
            return sftp, scp_up, scp_down, legacy, await service.end(grant.session_id, "done")

    sftp, scp_up, scp_down, legacy, summary = asyncio.run(main())
    assert legacy.rc == 0, legacy.err
    assert (world.home / "legacy.bin").read_bytes() == local.read_bytes()
    assert sftp.rc == 0, sftp.err
    assert b"vx.log" in sftp.out and b"d\n" in sftp.out  # the top folder lists, absolute too
    assert scp_up.rc == 0, scp_up.err
    assert scp_down.rc == 0, scp_down.err
    assert (world.home / "d" / "up.bin").read_bytes() == local.read_bytes()
    assert (world.home / "scp.bin").read_bytes() == local.read_bytes()
    assert (tmp_path / "got.log").read_bytes() == (world.home / "vx.log").read_bytes()
    assert (tmp_path / "scp.log").read_bytes() == (world.home / "vx.log").read_bytes()
    files = summary["files"]
    uploads = [f for f in files if f["op"] == "upload"]
    assert {f["size"] for f in uploads} == {300_000}
    assert any(f["op"] == "download" and f["size"] == 9000 for f in files)
    assert any(f["op"] == "rename" for f in files)


def test_forward_to_a_listed_local_service(world: World) -> None:
    async def main() -> Any:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"svc:" + await reader.read(100))
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        world.forward_target = f"127.0.0.1:{port}"
        grant = world.grant(scopes=(f"forward:127.0.0.1:{port}",))
        world.certify(grant)
        world.configure_engineer(grant.session_id)
        async with server, serving(world, grant) as service:
            # like an RDP client: talk first, close when the answer is in (the service
            # closes first, the engineer's end-of-file comes after: this hung once)
            proc = await asyncio.create_subprocess_exec(
                "ssh",
                "-F",
                str(world.engineer.config_file),
                "-W",
                f"127.0.0.1:{port}",
                "agent",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(b"ping")
                answer = await asyncio.wait_for(proc.stdout.readexactly(8), 30)
                proc.stdin.close()
                await asyncio.wait_for(proc.wait(), 30)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            # and like a one-shot client: everything and end-of-file at once
            oneshot = await world.engineer.run(["ssh", "-W", f"127.0.0.1:{port}", "agent"], b"ping")
            return answer, oneshot, await service.end(grant.session_id, "done")

    answer, oneshot, summary = asyncio.run(main())
    assert answer == b"svc:ping"
    assert oneshot.out == b"svc:ping", oneshot.err
    assert summary["forwards"][0]["target"].startswith("127.0.0.1:")
