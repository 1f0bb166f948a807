"""Sessions run as the account the machine policy names when the agent is root:
the shell, commands and files (the kernel checks them as that account); a root
shell only when the policy allows it; a missing account refuses the session."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.remote.conftest import World, serving
from vxassist.remote.children import SessionAccountError
from vxassist.settings import RemotePolicy

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not hasattr(os, "getgrouplist"), reason="switching accounts needs root"
)
NOBODY = pwd.getpwnam("nobody") if os.name == "posix" else None


@pytest.fixture
def share() -> Iterator[Path]:
    """A folder the account can reach: a public file, a root-only file, a drop folder."""
    folder = Path(tempfile.mkdtemp(prefix="vx-share-", dir="/tmp"))
    try:
        folder.chmod(0o755)
        (folder / "public.txt").write_text("for everyone\n")
        (folder / "public.txt").chmod(0o644)
        (folder / "secret.txt").write_text("root only\n")
        (folder / "secret.txt").chmod(0o600)
        (folder / "group.txt").write_text("root's group\n")  # root's groups are not the account's
        (folder / "group.txt").chmod(0o640)
        drop = folder / "drop"
        drop.mkdir()
        assert NOBODY is not None
        os.chown(drop, NOBODY.pw_uid, NOBODY.pw_gid)
        yield folder
    finally:
        shutil.rmtree(folder)


def _policy(share: Path, **kw: Any) -> RemotePolicy:
    return RemotePolicy(file_roots=(str(share),), **kw)


def test_a_root_agent_runs_the_session_as_the_policys_account(
    world: World, share: Path, tmp_path: Path
) -> None:
    assert NOBODY is not None
    grant = world.grant("u1", ("shell", "files"))
    world.certify(grant)
    world.configure_engineer("u1")
    (tmp_path / "up.txt").write_text("uploaded\n")
    batch = tmp_path / "batch"
    batch.write_text(
        f"get {share}/public.txt {tmp_path}/public.txt\nput {tmp_path}/up.txt {share}/drop/up.txt\n"
    )

    async def main() -> dict[str, Any]:
        out = {}
        policy = _policy(share, session_account="nobody")
        async with serving(world, grant, policy=policy):
            run = world.engineer.run
            out["exec"] = await run(["ssh", "agent", 'id -u; id -g; echo "$HOME $USER"'])
            out["pty"] = await run(["ssh", "-tt", "agent"], b"id -u\nexit\n")
            out["cat secret"] = await run(["ssh", "agent", f"cat {share}/secret.txt"])
            out["cat group"] = await run(["ssh", "agent", f"cat {share}/group.txt"])
            out["get group"] = await run(
                ["sftp", "-b", "-", "agent"], f"get {share}/group.txt {tmp_path}/g.txt\n".encode()
            )
            out["sftp"] = await run(["sftp", "-b", str(batch), "agent"])
            out["get secret"] = await run(
                ["sftp", "-b", "-", "agent"], f"get {share}/secret.txt {tmp_path}/s.txt\n".encode()
            )
            out["scp secret"] = await run(["scp", f"agent:{share}/secret.txt", str(tmp_path)])
            out["legacy scp secret"] = await run(
                ["scp", "-O", f"agent:{share}/secret.txt", str(tmp_path / "legacy.txt")]
            )
            out["scp public"] = await run(
                ["scp", f"agent:{share}/public.txt", str(tmp_path / "scp.txt")]
            )
            out["put top"] = await run(
                ["sftp", "-b", "-", "agent"], f"put {tmp_path}/up.txt {share}/top.txt\n".encode()
            )
        return out

    out = asyncio.run(main())
    uid, gid = str(NOBODY.pw_uid), str(NOBODY.pw_gid)
    assert out["exec"].text == f"{uid}\n{gid}\n{NOBODY.pw_dir} nobody\n", out["exec"]
    assert uid in out["pty"].text
    assert out["cat secret"].rc != 0 and "root only" not in out["cat secret"].text
    assert out["cat group"].rc != 0 and "group" not in out["cat group"].text
    assert out["get group"].rc != 0 and not (tmp_path / "g.txt").exists()
    assert out["sftp"].rc == 0, out["sftp"].err
    assert (tmp_path / "public.txt").read_text() == "for everyone\n"
    uploaded = share / "drop" / "up.txt"
    assert uploaded.read_text() == "uploaded\n"
    assert (uploaded.stat().st_uid, uploaded.stat().st_gid) == (NOBODY.pw_uid, NOBODY.pw_gid)
    assert out["get secret"].rc != 0 and not (tmp_path / "s.txt").exists()
    assert out["put top"].rc != 0 and not (share / "top.txt").exists()
    assert out["scp secret"].rc != 0 and not (tmp_path / "secret.txt").exists()
    assert out["legacy scp secret"].rc != 0 and not (tmp_path / "legacy.txt").exists()
    assert out["scp public"].rc == 0, out["scp public"].err
    assert (tmp_path / "scp.txt").read_text() == "for everyone\n"


def test_a_root_shell_only_when_the_policy_allows_it(world: World, share: Path) -> None:
    grant = world.grant("u2", ("shell",))
    world.certify(grant)
    world.configure_engineer("u2")

    async def main() -> str:
        policy = _policy(share, session_account="nobody", allow_root_session=True)
        async with serving(world, grant, policy=policy):
            return (await world.engineer.run(["ssh", "agent", "id -u"])).text

    assert asyncio.run(main()) == "0\n"


@pytest.mark.parametrize(
    ("account", "says"), [("vx-no-such-account", "does not exist"), ("root", "allow_root_session")]
)
def test_an_unusable_account_refuses_the_session_with_a_sentence(
    world: World, share: Path, account: str, says: str
) -> None:
    grant = world.grant("u3", ("shell",))

    async def main() -> Any:
        service = world.service(policy=_policy(share, session_account=account))
        try:
            await service.start(grant, world.endpoint())
        except SessionAccountError as exc:
            return exc, service.active()
        finally:
            await service.close()
        return None, service.active()

    error, active = asyncio.run(main())
    assert error is not None and says in error.message and error.message.endswith(".")
    assert active == []


def test_the_account_is_the_machine_policys_and_user_settings_cannot_change_it() -> None:
    from vxassist.settings import _remote_from

    machine = _remote_from(
        {"session_account": "vxsupport", "allow_root_session": False}, Path("policy.toml")
    )
    user = _remote_from(
        {"session_account": "root", "allow_root_session": True}, Path("settings.toml")
    )
    merged = machine.tightened_by(user)
    assert (merged.session_account, merged.allow_root_session) == ("vxsupport", False)
    assert RemotePolicy().session_account == "vxsession"
    assert RemotePolicy().allow_root_session is False
