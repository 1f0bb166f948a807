"""Everything not granted is refused, and the refusal is in the audit log."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.ssh import TestCA
from tests.remote.conftest import World, serving
from vxassist.remote.server import AgentSSHServer


def refusal_reasons(world: World, event: str = "login_refused") -> list[str]:
    return [r["reason"] for r in world.events_named(event)]


def test_logins_that_do_not_match_a_live_grant(world: World) -> None:
    grant = world.grant("s1", ("shell",))
    now = time.time()
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("expired", {"valid_after": now - 3600, "valid_before": now - 60}, "not valid now"),
        ("not yet valid", {"valid_after": now + 300, "valid_before": now + 600}, "not valid now"),
        ("wrong principal", {"principals": ["s2"]}, "not for this session"),
        ("other case", {"key_id": "alice/case-7/session-s1"}, "key id"),
        ("other engineer", {"key_id": "mallory/case-42/session-s1"}, "key id"),
        ("outlives the grant", {"valid_before": now + 86400}, "outlives the grant"),
        ("rogue CA", {"ca": TestCA("rogue")}, "not from the vendor CA"),
        ("source address", {"source_address": ["10.0.0.0/8"]}, "source address"),
    ]

    async def main() -> list[tuple[str, int, str]]:
        results = []
        async with serving(world, grant):
            world.configure_engineer("s1")
            for name, change, _ in cases:
                world.certify(grant, **dict(change))
                result = await world.engineer.run(["ssh", "agent", "echo in"])
                results.append((name, result.rc, result.text))
            world.configure_engineer("s1", with_certificate=False)
            plain = await world.engineer.run(["ssh", "agent", "echo in"])
            results.append(("plain key", plain.rc, plain.text))
            world.certify(grant)
            world.configure_engineer("s1")
            good = await world.engineer.run(["ssh", "agent", "echo in"])
            results.append(("good", good.rc, good.text))
        return results

    results = asyncio.run(main())
    for name, rc, out in results[:-1]:
        assert rc == 255 and out == "", name
    assert results[-1] == ("good", 0, "in\n")
    reasons = refusal_reasons(world)
    for name, _, why in cases:
        assert any(why in r for r in reasons), (name, reasons)
    assert any("plain keys" in r for r in reasons)
    refused = world.events_named("login_refused")
    assert all(r["key_fingerprint"] == world.engineer.fingerprint for r in refused)
    assert len(world.events_named("login")) == 1


def test_spent_and_ended_grants_never_open_again(world: World) -> None:
    first, second = world.grant("s1", ("shell",)), world.grant("s2", ("shell",))

    async def main() -> tuple[Any, Any, Any, dict[str, Any]]:
        async with serving(world, first) as service:
            await service.start(second, world.endpoint())  # shares the tunnel
            world.certify(first)
            world.configure_engineer("s1")
            before = await world.engineer.run(["ssh", "agent", "echo in"])
            summary = await service.end("s1", "revoked by the desk")
            after = await world.engineer.run(["ssh", "agent", "echo in"])
            world.certify(second)
            world.configure_engineer("s2")
            other = await world.engineer.run(["ssh", "agent", "echo other"])
            assert [g.session_id for g in service.active()] == ["s2"]
            return before, after, other, summary

    before, after, other, summary = asyncio.run(main())
    assert before.text == "in\n"
    assert after.rc == 255
    assert other.text == "other\n"
    assert summary["end_reason"] == "revoked by the desk"
    assert any("the grant is over (revoked by the desk)" in r for r in refusal_reasons(world))


def test_scopes_not_granted_are_refused(world: World, tmp_path: Path) -> None:
    files_only = world.grant("f1", ("files",))
    shell_only = world.grant("x1", ("shell",))
    batch = tmp_path / "batch"
    batch.write_text("ls\n")

    async def main() -> dict[str, Any]:
        out = {}
        async with serving(world, files_only) as service:
            await service.start(shell_only, world.endpoint())
            world.certify(files_only)
            world.configure_engineer("f1")
            out["exec"] = await world.engineer.run(["ssh", "agent", "echo in"])
            out["shell"] = await world.engineer.run(["ssh", "-tt", "agent"], b"echo in\nexit\n")
            out["sftp ok"] = await world.engineer.run(["sftp", "-b", str(batch), "agent"])
            world.certify(shell_only)
            world.configure_engineer("x1")
            out["sftp"] = await world.engineer.run(["sftp", "-b", str(batch), "agent"])
            out["scp"] = await world.engineer.run(["scp", str(batch), "agent:x"])
            out["legacy scp"] = await world.engineer.run(["scp", "-O", str(batch), "agent:x"])
            out["forward"] = await world.engineer.run(["ssh", "-W", "127.0.0.1:22", "agent"])
            out["reverse"] = await world.engineer.run(
                ["ssh", "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:22", "agent", "true"]
            )
        return out

    out = asyncio.run(main())
    assert out["sftp ok"].rc == 0, out["sftp ok"].err
    for name in ("exec", "shell", "sftp", "scp", "legacy scp", "forward", "reverse"):
        assert out[name].rc != 0, name
        assert b"in\n" not in out[name].out, name
    assert not (world.home / "x").exists()
    refused = world.events_named("channel_refused")
    kinds = {r["kind"] for r in refused}
    assert {"exec", "pty", "sftp", "reverse-forward"} <= kinds, kinds
    assert any("22" in r["target"] for r in world.events_named("forward_refused"))


def test_forward_only_to_granted_and_listed_targets(world: World) -> None:
    world.forward_target = "127.0.0.1:9"  # the only target local policy lists
    grant = world.grant("w1", ("forward:127.0.0.1:9", "forward:127.0.0.1:25"))
    world.certify(grant)
    world.configure_engineer("w1")

    async def main() -> tuple[Any, Any]:
        async with serving(world, grant):
            unlisted = await world.engineer.run(["ssh", "-W", "127.0.0.1:25", "agent"])
            ungranted = await world.engineer.run(["ssh", "-W", "127.0.0.1:8", "agent"])
            return unlisted, ungranted

    unlisted, ungranted = asyncio.run(main())
    assert unlisted.rc != 0 and ungranted.rc != 0
    reasons = [r["reason"] for r in world.events_named("forward_refused")]
    assert any("does not list 127.0.0.1:25" in r for r in reasons)
    assert any("127.0.0.1:8 was not granted" in r for r in reasons)


def test_no_agent_or_x11_forwarding(world: World, tmp_path: Path) -> None:
    grant = world.grant("a1", ("shell",))
    world.certify(grant)
    world.configure_engineer("a1")
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock), "DISPLAY": "127.0.0.1:93"}

        async def main() -> Any:
            async with serving(world, grant):
                return await world.engineer.run(
                    [
                        "ssh",
                        "-o",
                        "LogLevel=INFO",
                        "-A",
                        "-Y",
                        "agent",
                        "echo ${SSH_AUTH_SOCK:-noagent} ${DISPLAY:-nox}",
                    ],
                    env=env,
                )

        result = asyncio.run(main())
    finally:
        agent.terminate()
        agent.wait(5)
    assert result.text == "noagent nox\n", result.err
    assert b"X11 forwarding request failed" in result.err


class _NoHost:
    def now(self) -> Any:
        raise AssertionError("not asked")

    def record(self, event: str, **fields: Any) -> None:
        self.last = (event, fields)


def test_no_channel_before_authentication(world: World) -> None:
    from vxassist.remote.server import ServerConfig

    config = ServerConfig(world.user_ca.key, (world.home,), ("127.0.0.1:9",), world.home)
    server = AgentSSHServer(_NoHost(), config)  # type: ignore[arg-type]
    assert server.session_requested() is False
    assert server.connection_requested("127.0.0.1", 9, "", 0) is False
    assert server.server_requested("127.0.0.1", 0) is False
    assert not server.check("shell")
    assert not server.password_auth_supported()
    assert not server.kbdint_auth_supported()
    assert not server.host_based_auth_supported()


@pytest.mark.parametrize("username", ["", "s1", "root"])
def test_plain_keys_refused_at_the_hook(world: World, username: str) -> None:
    from vxassist.remote.server import ServerConfig

    host = _NoHost()
    config = ServerConfig(world.user_ca.key, (world.home,), (), world.home)
    server = AgentSSHServer(host, config)  # type: ignore[arg-type]
    assert server.validate_public_key(username, world.engineer.key) is False
    assert host.last[0] == "login_refused"


def test_a_connection_that_never_logs_in_is_dropped(world: World) -> None:
    grant = world.grant("t1", ("shell",))

    async def main() -> tuple[bytes, bytes]:
        async with serving(world, grant, login_timeout_s=1.0):
            # the relay's end of the tunnel, as an engineer's jump would reach it
            reader, writer = await asyncio.open_connection("127.0.0.1", world.listen_port)
            banner = await asyncio.wait_for(reader.readline(), 10)
            rest = await asyncio.wait_for(reader.read(), 8)  # EOF once the agent gives up
            writer.close()
            return banner, rest

    banner, _ = asyncio.run(main())
    assert banner.startswith(b"SSH-2.0-")
    assert world.events_named("login") == []
