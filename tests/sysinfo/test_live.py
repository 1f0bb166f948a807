"""``vxassist sysinfo`` on this machine, as a subprocess, against real processes:
a PostgreSQL 15 server started for the test, and a process that carries secrets in
its command line and its environment."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sysinfo.conftest import planted_policy
from vxassist.sysinfo.model import SECTIONS

VXASSIST = [sys.executable, "-m", "vxassist"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sysinfo(home: Path, *args: str) -> str:
    env = {**os.environ, "VXASSIST_HOME": str(home), "VXASSIST_POLICY": str(home / "policy.toml")}
    done = subprocess.run(
        [*VXASSIST, "sysinfo", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, Any]]:
    """A PostgreSQL server in a temporary folder, on a free loopback port."""
    if shutil.which("initdb") is None or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) or runuser are not installed")
    root = Path(tempfile.mkdtemp(prefix="vx-pg-"))
    shutil.chown(root, "postgres", "postgres")
    data = root / "data"
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_pg, "initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = _free_port()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [
            *as_pg,
            "pg_ctl",
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "log"),
            "-w",
            "-t",
            "60",
            "start",
        ],
        check=True,
        capture_output=True,
        timeout=90,
    )
    major = (data / "PG_VERSION").read_text().strip()
    try:
        yield {"port": port, "data": str(data), "major": major}
    finally:
        subprocess.run(
            [*as_pg, "pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


def test_live_report_finds_the_running_postgres_with_its_version(
    postgres: dict[str, Any], vx_home: Path
) -> None:
    report = json.loads(_sysinfo(vx_home, "--json"))
    assert set(report["sections"]) == set(SECTIONS)
    for name, section in report["sections"].items():
        assert section["status"] in ("ok", "partial", "skipped", "failed", "timeout"), name
    servers = report["sections"]["databases"]["data"]["servers"]
    mine = [s for s in servers if f"127.0.0.1:{postgres['port']}" in s["listening"]]
    assert len(mine) == 1, servers
    pg = mine[0]
    assert pg["engine"] == "postgresql"
    assert pg["version"].split(".")[0] == postgres["major"]
    assert pg["data_dir"] == postgres["data"]
    assert "process" in pg["found_by"]
    assert pg["pids"] and pg["exe"].endswith("postgres")


SECRET_ARG = "Cmd-Line-Secret-4711"
SECRET_SPLIT = "Split-Arg-Secret-0815"
SECRET_ENV = "Env-Var-Secret-1234"
SECRET_CONFIG = "Config-File-Secret-9999"
SECRET_LOG = "Log-Tail-Secret-5555"

_LISTENER = (
    "import socket, sys, time\n"
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
    "print(s.getsockname()[1], flush=True)\n"
    "time.sleep(120)\n"
)


@pytest.fixture
def secret_process(tmp_path: Path, vx_home: Path) -> Iterator[dict[str, Any]]:
    """A 'VXTracker collector' (python under another name) holding secrets."""
    install = tmp_path / "vxtracker-install"
    (install / "logs").mkdir(parents=True)
    (install / "server.ini").write_text(
        f"[Database]\nPassword={SECRET_CONFIG}\n[PBX]\nPBXManufacturer=Avaya\n",
        encoding="utf-16",
    )
    (install / "logs" / "server.log").write_text(f"started; token={SECRET_LOG}\n")
    (vx_home / "policy.toml").write_text(planted_policy(install, process_names=["vxtrackerd"]))
    os.chmod(vx_home / "policy.toml", 0o644)
    binary = tmp_path / "vxtrackerd"
    binary.symlink_to(os.path.realpath(sys.executable))
    env = {"PATH": os.environ.get("PATH", ""), "DB_PASSWORD": SECRET_ENV}
    proc = subprocess.Popen(
        [str(binary), "-c", _LISTENER, f"--password={SECRET_ARG}", "--db-password", SECRET_SPLIT],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield {"pid": proc.pid, "port": port, "install": str(install)}
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_no_secret_from_a_process_reaches_any_output(
    secret_process: dict[str, Any], vx_home: Path, tmp_path: Path
) -> None:
    text = _sysinfo(vx_home)
    as_json = _sysinfo(vx_home, "--json")
    bundle = tmp_path / "case.zip"
    bundle_out = _sysinfo(vx_home, "--out", str(bundle))
    anonymized = _sysinfo(vx_home, "--json", "--anonymize")
    with zipfile.ZipFile(bundle) as zf:
        zipped = "\n".join(zf.read(n).decode("utf-8") for n in zf.namelist())
    outputs = {
        "text": text,
        "json": as_json,
        "bundle": zipped + bundle_out,
        "anonymized": anonymized,
    }
    for where, output in outputs.items():
        for secret in (SECRET_ARG, SECRET_SPLIT, SECRET_ENV, SECRET_CONFIG, SECRET_LOG):
            assert secret not in output, (where, secret)

    # the process was really seen, with its secrets masked rather than dropped
    report = json.loads(as_json)
    vx = report["sections"]["vxtracker"]["data"]
    procs = [p for p in vx["processes"] if p["pid"] == secret_process["pid"]]
    assert procs, vx["processes"]
    assert "--password=********" in procs[0]["cmdline"]
    assert procs[0]["environment"]["DB_PASSWORD"] == "********"
    assert secret_process["install"] in vx["install_dirs"]
    ports = report["sections"]["ports"]["data"]["listening"]
    assert any(
        p["port"] == secret_process["port"] and p["pid"] == secret_process["pid"] for p in ports
    )
    assert report["sections"]["pbx"]["data"]["manufacturer"] == "Avaya"
    assert "files/vxtracker/config/server.ini" in zipfile.ZipFile(bundle).namelist()
    redacted = {m["item"] for m in report["manifest"] if m["action"] == "redacted"}
    assert "vxtracker/config/server.ini" in redacted
