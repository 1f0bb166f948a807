"""installer/desk as shipped: the unit is one systemd accepts, its command lines are
ones vxassist accepts with the example environment, and the installer's scripts
are valid shell. (The nginx site runs for real in test_vendor_side.py.)"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vxassist.cli import build_parser

DESK = Path(__file__).resolve().parents[2] / "installer" / "desk"
RELAY = DESK.parent / "relay"


def _unit_commands() -> dict[str, list[str]]:
    """ExecStartPre/ExecStart of the unit, continued lines joined, the example
    environment filled in as systemd does."""
    env = dict(
        line.split("=", 1)
        for line in (DESK / "desk.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    text = (DESK / "vxassist-desk.service").read_text().replace("\\\n", " ")
    commands = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key in ("ExecStartPre", "ExecStart"):
            for name, val in env.items():
                value = value.replace("${" + name + "}", val)
            commands[key] = shlex.split(value)
    return commands


def test_the_units_commands_are_ones_vxassist_accepts() -> None:
    commands = _unit_commands()
    assert set(commands) == {"ExecStartPre", "ExecStart"}
    for argv in commands.values():
        assert argv[0] == "/usr/local/bin/vxassist"
        assert "$" not in " ".join(argv), argv  # every variable is in desk.env.example
    migrate = build_parser().parse_args(commands["ExecStartPre"][1:])
    assert (migrate.desk_command, migrate.db) == (
        "migrate",
        "postgresql+psycopg://vxdesk:CHANGE-ME@127.0.0.1/vxdesk",
    )
    serve = build_parser().parse_args(commands["ExecStart"][1:])
    assert serve.desk_command == "serve"
    assert (serve.host, serve.port, serve.workers) == ("127.0.0.1", 8740, 2)
    assert serve.forwarded_allow_ips == "127.0.0.1"
    assert serve.config == "/etc/vxassist/desk.toml"
    site = (DESK / "vxassist-desk.nginx").read_text()
    assert f"server 127.0.0.1:{serve.port};" in site  # the proxy's upstream is the desk


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not here")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    # as install.sh installs it: the vxassist path swapped for the one given
    vx = Path(sys.executable).with_name("vxassist")
    unit = tmp_path / "vxassist-desk.service"
    unit.write_text(
        (DESK / "vxassist-desk.service").read_text().replace("/usr/local/bin/vxassist", str(vx))
    )
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    complaints = [
        line for line in (done.stdout + done.stderr).splitlines() if "vxassist-desk.service" in line
    ]
    assert not complaints, complaints


@pytest.mark.parametrize("script", [DESK / "install.sh", RELAY / "install.sh"])
def test_the_installers_are_valid_shell(script: Path) -> None:
    assert script.stat().st_mode & 0o111
    done = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("workers", "db", "says"),
    [("2", "sqlite:///{folder}/desk.sqlite3", "need PostgreSQL"), ("0", "", "1 or more")],
)
def test_serve_refuses_workers_it_cannot_run(
    tmp_path: Path, workers: str, db: str, says: str
) -> None:
    argv = ["desk", "serve", "--workers", workers, "--port", "0"]
    if db:
        argv += ["--db", db.format(folder=tmp_path)]
    done = subprocess.run(
        [sys.executable, "-m", "vxassist", *argv],
        env={"VXASSIST_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0
    assert says in done.stderr
