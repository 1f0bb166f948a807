"""No command prints a traceback: an unexpected error is one sentence and the log's
path; a reader that goes away (``| head``) ends the command quietly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from vxassist import cli
from vxassist.paths import Paths


def test_an_unexpected_error_is_one_sentence_and_the_log_path(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], vx_home: Path
) -> None:
    def boom(ctx: object, args: object) -> int:
        raise RuntimeError("dict changed size during iteration")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser.set_defaults(func=boom)
    code = cli.main([])
    err = capsys.readouterr().err
    log_file = Paths.from_env().log_file
    assert code == 1
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("vxassist: ") and str(log_file) in err
    # the detail went to the log, for the engineer who reads it
    logged = log_file.read_text()
    assert "Traceback" in logged and "dict changed size during iteration" in logged


def _nobody() -> list[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root to run a command as another account")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_a_policy_file_only_root_can_read() -> None:
    user = _nobody()
    home = Path(tempfile.mkdtemp(prefix="vx-user-"))
    home.chmod(0o777)
    etc = Path(tempfile.mkdtemp(prefix="vx-etc-"))
    etc.chmod(0o755)
    policy = etc / "policy.toml"
    policy.write_text("[remote]\nenabled = false\n")
    policy.chmod(0o600)  # root's, as an administrator leaves it
    env = {**os.environ, "VXASSIST_HOME": str(home / "vx"), "VXASSIST_POLICY": str(policy)}
    done = subprocess.run(
        [*user, sys.executable, "-m", "vxassist", "sysinfo", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    shutil.rmtree(etc)
    shutil.rmtree(home)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode != 0 or done.stdout.startswith("{")
    lines = done.stderr.strip().splitlines()
    assert len(lines) <= 1, done.stderr
    if lines:
        assert lines[0].startswith("vxassist: ") and str(policy) in lines[0]
        assert "machine policy" in lines[0] and "administrator" in lines[0]


def test_a_reader_that_goes_away_is_no_error(vx_home: Path) -> None:
    """``vxassist sysinfo --json | head -c 1``: the pipe closes before the output ends."""
    child = subprocess.Popen(
        [sys.executable, "-m", "vxassist", "sysinfo", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "VXASSIST_HOME": str(vx_home)},
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.read(1)
    child.stdout.close()
    err = child.stderr.read().decode()
    code = child.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert err == ""
    assert code == 141  # what a shell reports for a command ended by a closed pipe
