"""Sessions end on time, on End now, on revoke and at agent stop; the tunnel survives relay loss."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.remote.conftest import World, serving

BOUND_S = 20.0


async def eventually(check: Callable[[], bool], timeout_s: float = BOUND_S) -> None:
    """Wait until ``check()`` holds, bounded in time (no assertion about how fast)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def processes_with(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


async def spawn(world: World, *argv: str) -> asyncio.subprocess.Process:
    """An engineer's client whose stdin stays open (an interactive session)."""
    return await asyncio.create_subprocess_exec(
        argv[0],
        "-F",
        str(world.engineer.config_file),
        *argv[1:],
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )


def logins(world: World) -> int:
    return len(world.events_named("login"))


def test_deadline_ends_shell_exec_and_transfer(world: World, tmp_path: Path) -> None:
    big = world.home / "big.bin"
    with big.open("wb") as fh:
        fh.truncate(4 << 30)  # sparse: a transfer that outlasts the grant
    batch = tmp_path / "batch"
    batch.write_text("get big.bin /dev/null\n")
    grant = world.grant("d1", ("shell", "files"), seconds=6)
    world.certify(grant)
    world.configure_engineer("d1")
    marker = "61.123"

    async def main() -> dict[str, Any]:
        async with serving(world, grant) as service:
            shell = await spawn(world, "ssh", "-tt", "agent")
            exec_ = await spawn(world, "ssh", "agent", f"sleep {marker}")
            sftp = await spawn(world, "sftp", "-b", str(batch), "agent")
            await eventually(lambda: logins(world) == 3 and bool(processes_with(marker)))
            assert port_open(world.listen_port)
            assert service.active()
            codes = [await asyncio.wait_for(p.wait(), BOUND_S) for p in (shell, exec_, sftp)]
            await eventually(lambda: not service.active())
            await eventually(lambda: not port_open(world.listen_port))
            await eventually(lambda: not processes_with(marker))
            late = await world.engineer.run(["ssh", "agent", "true"])
            return {"codes": codes, "late": late.rc}

    out = asyncio.run(main())
    assert all(code != 0 for code in out["codes"]), out
    assert out["late"] == 255
    (teardown,) = world.events_named("teardown")
    assert teardown["reason"] == "the grant's time is up"
    partial = [
        f for f in teardown["summary"]["files"] if f["op"] == "download" and "big.bin" in f["path"]
    ]
    assert partial and partial[0]["size"] < 4 << 30
    assert len(teardown["summary"]["recordings"]) == 2
    assert world.audit.verify()[0]


def test_end_now_closes_a_live_shell_and_spends_the_grant(world: World) -> None:
    grant = world.grant("e1", ("shell",))
    world.certify(grant)
    world.configure_engineer("e1")
    events: list[str] = []

    async def main() -> tuple[dict[str, Any], int, int]:
        async with serving(world, grant) as service:
            shell = await spawn(world, "ssh", "-tt", "agent")
            await eventually(lambda: logins(world) == 1)
            summary = await service.end("e1", "ended by the customer")
            events.extend(e["event"] for e in world.events)
            code = await asyncio.wait_for(shell.wait(), BOUND_S)
            again = await world.engineer.run(["ssh", "agent", "true"])
            assert not port_open(world.listen_port)
            assert await service.end("e1", "twice") == summary
            return summary, code, again.rc

    summary, code, again = asyncio.run(main())
    assert code != 0 and again == 255
    assert summary["end_reason"] == "ended by the customer"
    assert summary["engineer"] == "alice" and summary["case_number"] == 42
    assert summary["logins"][0]["key_fingerprint"] == world.engineer.fingerprint
    assert "teardown" in events and "tunnel_closed" in events


def test_agent_stop_ends_every_session(world: World) -> None:
    one, two = world.grant("a1", ("shell",)), world.grant("a2", ("files",))

    async def main() -> list[str]:
        service = world.service()
        await service.start(one, world.endpoint())
        await service.start(two, world.endpoint())
        await service.close()
        assert service.active() == []
        # the relay's per-connection sshd lets go of the listener once it sees the close
        await eventually(lambda: not port_open(world.listen_port))
        return [t["reason"] for t in world.events_named("teardown")]

    assert asyncio.run(main()) == ["agent stopped", "agent stopped"]


class _StuckConnection:
    """An engineer's connection that never finishes closing by itself."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[None]] = []

    def close(self, reason: str = "") -> None:
        pass

    def abort(self) -> None:
        pass

    async def wait_closed(self) -> None:
        await asyncio.Event().wait()


def test_an_end_whose_caller_gives_up_still_finishes(world: World) -> None:
    grant = world.grant("c1", ("shell",))

    async def main() -> dict[str, Any]:
        service = world.service()
        await service.start(grant, world.endpoint())
        service._live["c1"].servers.add(_StuckConnection())  # type: ignore[arg-type]
        impatient = asyncio.ensure_future(service.end("c1", "ended by the customer"))
        await asyncio.sleep(0.1)
        impatient.cancel()  # e.g. a control-channel client that timed out
        with pytest.raises(asyncio.CancelledError):
            await impatient
        # the deadline or the agent's stop after it does not wait forever
        later = await asyncio.wait_for(service.end("c1", "agent stopped"), timeout=BOUND_S)
        assert service.active() == []
        await asyncio.wait_for(service.close(), timeout=BOUND_S)
        return later

    assert asyncio.run(main())["end_reason"] == "ended by the customer"


def test_tunnel_comes_back_after_a_relay_restart(world: World) -> None:
    grant = world.grant("r1", ("shell",))
    world.certify(grant)
    world.configure_engineer("r1")

    async def main() -> tuple[int, str]:
        async with serving(world, grant) as service:
            first = await world.engineer.run(["ssh", "agent", "echo one"])
            assert first.text == "one\n"
            await asyncio.to_thread(world.relay.restart)
            await eventually(lambda: bool(world.events_named("tunnel_lost")))
            await eventually(lambda: len(world.events_named("tunnel_up")) == 2)
            again = await world.engineer.run(["ssh", "agent", "echo two"])
            return len(service.active()), again.text

    active, text = asyncio.run(main())
    assert (active, text) == (1, "two\n")
    assert world.events_named("tunnel_up")[1].get("resumed") is True


def test_relay_gone_past_the_grace_window_ends_the_session(world: World) -> None:
    grant = world.grant("g1", ("shell",))

    async def main() -> str:
        async with serving(world, grant, resume_grace_s=1.0) as service:
            await asyncio.to_thread(world.relay.stop)
            await eventually(lambda: not service.active())
        return str(world.events_named("teardown")[0]["reason"])

    assert "relay stayed unreachable" in asyncio.run(main())
    assert world.events_named("tunnel_gone")
    world.relay.start()


def test_start_fails_cleanly_when_the_relay_is_down(world: World) -> None:
    from vxassist.remote.errors import TunnelError

    world.relay.stop()
    grant = world.grant("n1", ("shell",))

    async def main() -> Any:
        service = world.service()
        try:
            await service.start(grant, world.endpoint())
        except TunnelError as exc:
            return exc, service.active()
        return None, service.active()

    exc, active = asyncio.run(main())
    assert exc is not None and "relay could not be reached" in exc.message
    assert active == []
    assert world.events_named("teardown")[0]["reason"].startswith("the tunnel")
    subprocess.run(["true"], check=True)


def test_end_while_the_tunnel_opens_leaves_nothing_open(world: World) -> None:
    from vxassist.remote.errors import GrantError

    grant = world.grant("o1", ("shell",))

    async def main() -> Any:
        service = world.service()
        starting = asyncio.ensure_future(service.start(grant, world.endpoint()))
        await eventually(lambda: bool(world.events_named("session_start")))
        summary = await service.end("o1", "ended by the customer")
        try:
            await starting
        except GrantError as exc:
            error = exc
        else:
            error = None
        return error, summary, service.active()

    error, summary, active = asyncio.run(main())
    assert error is not None and "ended before it could start" in error.message
    assert summary["end_reason"] == "ended by the customer"
    assert active == []
    assert not port_open(world.listen_port)
