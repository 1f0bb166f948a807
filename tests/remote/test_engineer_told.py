"""The engineer is told why: refusals made inside asyncssh are audited, a forward the
policy refuses says so, and an ended session names its reason on the client."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.remote.conftest import World, serving
from tests.remote.test_teardown import BOUND_S, eventually, logins


def test_refusals_inside_asyncssh_leave_an_audit_line(world: World, tmp_path: Path) -> None:
    """A shell-only certificate as the desk signs it: no port, agent or X11 forwarding."""
    grant = world.grant("r1", ("shell",))
    world.certify(grant, port_forwarding=False, agent_forwarding=False, x11_forwarding=False)
    world.configure_engineer("r1")
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if sock.exists():
                break
            time.sleep(0.05)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock), "DISPLAY": "127.0.0.1:93"}

        async def main() -> dict[str, Any]:
            out = {}
            async with serving(world, grant):
                run = world.engineer.run
                out["-W"] = await run(["ssh", "-W", "127.0.0.1:9", "agent"])
                out["-R"] = await run(
                    [
                        "ssh",
                        "-o",
                        "ExitOnForwardFailure=yes",
                        "-R",
                        "0:127.0.0.1:22",
                        "agent",
                        "true",
                    ]
                )
                out["-A -X"] = await run(["ssh", "-A", "-X", "agent", "echo in"], env=env)
            return out

        out = asyncio.run(main())
    finally:
        agent.terminate()
        agent.wait(5)
    assert out["-W"].rc != 0 and out["-R"].rc != 0
    assert out["-A -X"].text == "in\n"
    refused = world.events_named("channel_refused")
    kinds = [r["kind"] for r in refused]
    assert kinds.count("port-forwarding") >= 2, refused
    assert "agent-forwarding" in kinds and "X11-forwarding" in kinds, refused
    assert all(r["session_id"] == "r1" and r["reason"] for r in refused)
    assert world.audit.verify()[0]


def test_a_forward_the_policy_refuses_says_so(world: World) -> None:
    world.forward_target = "127.0.0.1:9"
    grant = world.grant("p1", ("forward:127.0.0.1:25",))
    world.certify(grant)
    world.configure_engineer("p1")

    async def main() -> Any:
        async with serving(world, grant):
            return await world.engineer.run(
                ["ssh", "-o", "LogLevel=INFO", "-W", "127.0.0.1:25", "agent"]
            )

    result = asyncio.run(main())
    err = result.err.decode()
    assert result.rc != 0
    assert "refused by the session's policy" in err and "does not list 127.0.0.1:25" in err, err
    assert "Connection refused" not in err


async def _shell(world: World) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "ssh",
        "-F",
        str(world.engineer.config_file),
        "-tt",
        "agent",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


def test_the_engineer_is_told_why_the_session_ended(world: World) -> None:
    cases = [("e1", "ended by the customer"), ("e2", "revoked"), ("e3", None)]
    told: dict[str, str] = {}

    async def main() -> None:
        for sid, reason in cases:
            grant = world.grant(sid, ("shell",), seconds=600 if reason else 5)
            world.certify(grant)
            world.configure_engineer(sid)
            before = logins(world)
            async with serving(world, grant) as service:
                shell = await _shell(world)
                await eventually(lambda: logins(world) == before + 1)  # noqa: B023
                if reason:
                    await service.end(sid, reason)
                _, err = await asyncio.wait_for(shell.communicate(), BOUND_S)
                told[sid] = err.decode()

    asyncio.run(main())
    assert "ended by the customer" in told["e1"], told
    assert "revoked by the desk" in told["e2"], told
    assert "the session's time is up" in told["e3"], told
    assert not any("Disconnected by application" in t for t in told.values())
