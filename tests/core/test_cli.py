from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from vxassist import cli
from vxassist.errors import VxError


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert "vxassist" in capsys.readouterr().out


def test_user_error_is_one_sentence_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(ctx: object, args: object) -> int:
        raise VxError("The desk did not answer; try again later.", detail="timeout after 10 s")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser.set_defaults(func=boom)
    code = cli.main([])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.strip() == "vxassist: The desk did not answer; try again later."
    assert "Traceback" not in captured.err and "timeout after" not in captured.err


def test_command_line_start_loads_no_heavy_library() -> None:
    # `vxassist sysinfo` must start fast: areas import their libraries in handlers.
    code = (
        "import sys; from vxassist import cli; cli.build_parser();"
        "heavy = ('fastapi', 'sqlalchemy', 'uvicorn', 'PySide6', 'asyncssh', 'requests',"
        " 'keyring');"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""


def test_read_only_home_still_runs_commands() -> None:
    # The relay runs `vxassist desk relay-keys` as an account whose home cannot be written.
    home = Path(tempfile.mkdtemp(prefix="vx-ro-"))
    home.chmod(0o555)
    env = {**os.environ, "VXASSIST_HOME": str(home / "vx")}
    env.pop("VXASSIST_POLICY")
    user = (
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    )
    out = subprocess.run(
        [*user, sys.executable, "-m", "vxassist", "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    done = subprocess.run(
        [*user, sys.executable, "-m", "vxassist", "sysinfo", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    home.rmdir()
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
