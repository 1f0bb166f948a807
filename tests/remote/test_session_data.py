"""A command's data through relay and agent: bulk both ways, and a channel that goes away."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from tests.remote.conftest import World, serving

IN_BYTES = 8_000_000  # twice the server's channel window: flow control has to work
OUT_BYTES = 5_000_000


def test_bulk_input_and_output_arrive_whole_and_in_order(world: World) -> None:
    grant = world.grant(scopes=("shell",))
    world.certify(grant)
    world.configure_engineer(grant.session_id)
    command = f"wc -c; head -c {OUT_BYTES} /dev/zero | tr '\\0' a; echo done >&2; exit 7"

    async def main() -> Any:
        async with serving(world, grant) as service:
            result = await world.engineer.run(["ssh", "agent", command], stdin=b"i" * IN_BYTES)
            return result, await service.end(grant.session_id, "done")

    result, summary = asyncio.run(main())
    assert result.rc == 7, result.err
    head, _, body = result.out.partition(b"\n")
    assert head.strip() == str(IN_BYTES).encode()
    assert body == b"a" * OUT_BYTES
    assert b"done" in result.err
    exits = world.events_named("process_exit")
    assert [e["status"] for e in exits] == [7]
    (recording,) = summary["recordings"]
    cast = (world.paths.recordings_dir / recording["file"]).read_bytes()
    assert cast.count(b"a") >= OUT_BYTES  # the output is in the recording too


def test_a_command_ends_when_the_engineer_drops_its_channel(world: World) -> None:
    """Nothing keeps running unwatched: the process group is killed and it is audited."""
    grant = world.grant(scopes=("shell",))
    world.certify(grant)
    world.configure_engineer(grant.session_id)

    async def main() -> tuple[int, list[dict[str, Any]]]:
        async with serving(world, grant):
            ssh = await asyncio.create_subprocess_exec(
                "ssh",
                "-F",
                str(world.engineer.config_file),
                "agent",
                "echo $$; exec sleep 60",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
            assert ssh.stdout is not None
            line = await asyncio.wait_for(ssh.stdout.readline(), 30)
            pid = int(line)
            ssh.send_signal(signal.SIGKILL)  # the engineer's side vanishes
            await ssh.wait()
            for _ in range(200):  # bounded: 10 s
                if world.events_named("process_exit"):
                    break
                await asyncio.sleep(0.05)
            return pid, world.events_named("process_exit")

    pid, exits = asyncio.run(main())
    assert [e["status"] for e in exits] in ([255], [128 + 9])  # channel lost, or killed
    assert world.events_named("recording")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pass
    else:  # a zombie not yet reaped is gone too; anything else is still running
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            assert stat.read().split()[2] == "Z", "the command outlived its channel"
