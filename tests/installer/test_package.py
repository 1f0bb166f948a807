"""The bundle and the Debian package, built and used as an administrator would.

The bundle is built once per run by ``scripts/build-bundle.sh`` (which runs its
own self-test), or taken from ``VXASSIST_BUNDLE_DIR`` when CI built it before.
The package test installs the ``.deb`` on this machine with ``dpkg -i`` (root
only), runs its self-test, runs the headless agent as the package's account,
then removes and purges it and looks at what is left.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import shlex
import shutil
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.desk import RunningDesk

ROOT = Path(__file__).parents[2]
ACCOUNT = "vxassist"
PROGRAM = Path("/opt/vxassist/vxassist")
STATE = Path("/var/lib/vxassist")
POLICY = Path("/etc/xdg/vxassist/policy.toml")
UNIT = Path("/lib/systemd/system/vxassist-agent.service")
BUILD_TIMEOUT_S = 900

pytestmark = [pytest.mark.slow, pytest.mark.timeout(BUILD_TIMEOUT_S)]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the test run's vxassist settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VXASSIST_")}
    env.update(QT_QPA_PLATFORM="offscreen", DBUS_SESSION_BUS_ADDRESS="disabled:")
    env.update(extra)
    return env


def file_home(folder: Path) -> Path:
    """A VXASSIST_HOME whose secrets go to a file (a test machine has no keyring)."""
    (folder / "config").mkdir(parents=True, exist_ok=True)
    (folder / "config" / "settings.toml").write_text('secrets_backend = "file"\n')
    return folder


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s:g} s for {what}")
        time.sleep(0.2)


class Output:
    """A child's merged output, read on a thread so the child never blocks on it."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        with contextlib.suppress(ValueError, OSError):
            for line in stream:  # type: ignore[attr-defined]
                self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)


# -- the bundle -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def bundle_dir() -> Path:
    """The bundle's folder: VXASSIST_BUNDLE_DIR, or built now by scripts/build-bundle.sh."""
    given = os.environ.get("VXASSIST_BUNDLE_DIR")
    if given:
        folder = Path(given).resolve()
        assert (folder / "vxassist").is_file(), f"VXASSIST_BUNDLE_DIR={given} holds no bundle"
        return folder
    build = subprocess.run(
        [str(ROOT / "scripts" / "build-bundle.sh")],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    assert "checks passed." in build.stdout
    return ROOT / "dist" / "bundle" / "vxassist"


def test_the_bundle_has_no_desk_inside(bundle_dir: Path, tmp_path: Path) -> None:
    probe = subprocess.run(
        [
            str(bundle_dir / "vxassist"),
            "-c",
            "import importlib.util as u; "
            "print([m for m in ('fastapi', 'uvicorn', 'sqlalchemy', 'alembic', 'psycopg', "
            "'vxassist.desk.app', 'vxassist.desk.db', 'PySide6.QtNetwork') if u.find_spec(m)])",
        ],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]"
    # ... yet its commands are listed, and say in one sentence where to run them
    program = str(bundle_dir / "vxassist")
    help_text = subprocess.run(
        [program, "--help"], env=clean_env(), capture_output=True, text=True, timeout=60
    ).stdout
    assert "self-test" in help_text and "desk" in help_text
    serve = subprocess.run(
        [program, "desk", "serve"],
        env=clean_env(VXASSIST_HOME=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert serve.returncode == 1
    assert "needs the desk, which this installation of the agent does not include" in serve.stderr


@pytest.mark.skipif(
    not (shutil.which("gnome-keyring-daemon") and shutil.which("dbus-run-session")),
    reason="gnome-keyring and dbus-run-session are not installed",
)
def test_the_bundle_keeps_secrets_in_a_real_keyring(bundle_dir: Path, tmp_path: Path) -> None:
    script = (
        "echo pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null && "
        f"exec {shlex.quote(str(bundle_dir / 'vxassist'))} self-test --json"
    )
    env = clean_env(VXASSIST_HOME=str(tmp_path / "home"))
    env.pop("DBUS_SESSION_BUS_ADDRESS")
    test = subprocess.run(
        ["dbus-run-session", "--", "sh", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    checks = {c["name"]: c for c in json.loads(test.stdout)["checks"]}
    assert checks["secrets"]["sentence"] == "the OS keyring keeps and gives back secrets."
    assert test.returncode == 0, test.stdout


KEEPER_PROBE = """
import os, subprocess
from vxassist.remote.children import KEEPER_ENV, Keeper
keeper = Keeper("bundle-test")
child = subprocess.Popen(["sleep", "300"], start_new_session=True,
                         env={KEEPER_ENV: "bundle-test", "PATH": "/usr/bin:/bin"})
keeper.watch(child.pid)
os.close(keeper._pipe)  # the agent is gone: the keeper's input ends
print("ended by signal", -child.wait(timeout=60))
"""


def test_a_sessions_keeper_runs_from_the_bundle(bundle_dir: Path) -> None:
    # the keeper is `sys.executable -I -S -c CODE`: in the bundle, vxassist itself
    probe = subprocess.run(
        [str(bundle_dir / "vxassist"), "-c", KEEPER_PROBE],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == f"ended by signal {signal.SIGKILL.value}"


def _tray_starts(bundle_dir: Path, home: Path, env: dict[str, str], wrap: list[str]) -> str:
    """Start the bundled tray, ask it over its control channel, stop it; its log."""
    program = str(bundle_dir / "vxassist")
    env = dict(env, VXASSIST_HOME=str(home), VXASSIST_POLICY=str(home / "policy.toml"))
    tray = subprocess.Popen(
        [*wrap, program],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output = Output(tray)
    try:
        control = home / "data" / "control.json"
        wait_for(lambda: control.exists() or tray.poll() is not None, 60, "the tray to start")
        assert tray.poll() is None, output.text
        listed = subprocess.run(
            [program, "session", "list", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout) == {"sessions": []}
        # the tray itself (not xvfb-run, whose display it needs to the end): SIGTERM
        # ends its sessions and quits
        os.kill(int(json.loads(control.read_text())["pid"]), signal.SIGTERM)
        assert tray.wait(timeout=60) == 0, output.text
    finally:
        if tray.poll() is None:
            os.killpg(tray.pid, signal.SIGKILL)
            tray.wait(timeout=60)
    log = (home / "logs" / "vxassist.log").read_text()
    assert "vxassist.ui.app" in log, log  # the Qt face, not the headless agent
    return log


def test_the_tray_starts_from_the_bundle_offscreen(bundle_dir: Path, tmp_path: Path) -> None:
    _tray_starts(bundle_dir, file_home(tmp_path / "home"), clean_env(), [])


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed")
def test_the_tray_starts_from_the_bundle_on_xvfb(bundle_dir: Path, tmp_path: Path) -> None:
    env = clean_env(QT_QPA_PLATFORM="xcb")
    env.pop("DISPLAY", None)
    _tray_starts(bundle_dir, file_home(tmp_path / "home"), env, ["xvfb-run", "-a"])


# -- the Debian package ---------------------------------------------------------------


def _package_guard() -> None:
    if os.geteuid() != 0:
        pytest.skip("installing the .deb needs root (CI runs as root)")
    if not (shutil.which("dpkg") and shutil.which("dpkg-deb")):
        pytest.skip("dpkg is missing: not a Debian system")
    installed = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", "vxassist"], capture_output=True, text=True
    )
    if "installed" in installed.stdout or "config-files" in installed.stdout:
        pytest.skip("a vxassist package is already on this machine; the test would remove it")


@pytest.fixture(scope="session")
def deb(bundle_dir: Path) -> Path:
    _package_guard()
    build = subprocess.run(
        [str(ROOT / "scripts" / "build-deb.sh")],
        env=clean_env(VXASSIST_BUNDLE_DIR=str(bundle_dir)),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    built = sorted((ROOT / "dist").glob("vxassist_*.deb"), key=lambda p: p.stat().st_mtime)
    assert built, build.stdout
    return built[-1]


def dpkg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["dpkg", *args],
        env=clean_env(DEBIAN_FRONTEND="noninteractive"),
        capture_output=True,
        text=True,
        timeout=300,
    )


def unit_settings() -> tuple[dict[str, str], list[str], str]:
    """The unit's Environment=, ExecStart= and User=, as systemd would read them."""
    env: dict[str, str] = {}
    command: list[str] = []
    user = ""
    for line in UNIT.read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "Environment":
            name, _, val = value.partition("=")
            env[name] = val
        elif key == "ExecStart":
            command = shlex.split(value)
        elif key == "User":
            user = value
    return env, command, user


def as_account(env: dict[str, str], *command: str) -> list[str]:
    pairs = [f"{k}={v}" for k, v in env.items()]
    return ["runuser", "-u", ACCOUNT, "--", "env", "-i", "PATH=/usr/bin:/bin", *pairs, *command]


def agent_pids() -> list[int]:
    """The running headless agents of the package (by program and command)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.readlink(proc / "exe") == str(PROGRAM) and b"agent" in (
                proc / "cmdline"
            ).read_bytes().split(b"\0"):
                pids.append(int(proc.name))
    return pids


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def installed(deb: Path) -> Iterator[subprocess.CompletedProcess[str]]:
    """The package installed; purged (and the agent stopped) whatever the test did."""
    result = dpkg("-i", str(deb))
    try:
        yield result
    finally:
        for pid in agent_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        dpkg("-P", "vxassist")
        shutil.rmtree(STATE, ignore_errors=True)  # the audit trail this test made


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[RunningDesk]:
    with RunningDesk(tmp_path / "desk") as running:
        running.add_contract()
        yield running


def test_the_package_installs_runs_as_its_account_and_removes_cleanly(
    installed: subprocess.CompletedProcess[str], desk: RunningDesk, tmp_path: Path
) -> None:
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert Path("/usr/bin/vxassist").resolve() == PROGRAM

    # the self-test of the installed program, as root with its own default folders
    home = tmp_path / "root-home"
    (home / ".config" / "vxassist").mkdir(parents=True)
    (home / ".config" / "vxassist" / "settings.toml").write_text('secrets_backend = "file"\n')
    test = subprocess.run(
        ["/usr/bin/vxassist", "self-test", "--json"],
        env=clean_env(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert test.returncode == 0, test.stdout + test.stderr
    checks = {c["name"]: c for c in json.loads(test.stdout)["checks"]}
    assert checks["qt"]["sentence"] == "the Qt platform plugin 'offscreen' loads."
    assert str(POLICY) in checks["policy"]["sentence"]
    assert "only administrators can change it" in checks["policy"]["sentence"]

    # the machine policy: root's, readable by all, writable by nobody else
    st = POLICY.stat()
    assert (st.st_uid, st.st_gid) == (0, 0)
    assert stat.S_IMODE(st.st_mode) == 0o644
    assert str(POLICY) in dpkg("--status", "vxassist").stdout  # a conffile

    # the account and its folder
    account = pwd.getpwnam(ACCOUNT)
    assert account.pw_uid < 1000 and account.pw_dir == str(STATE)
    st = STATE.stat()
    assert st.st_uid == account.pw_uid and stat.S_IMODE(st.st_mode) == 0o700

    # the unit: the headless agent as that account, with the machine policy named
    env, command, user = unit_settings()
    assert user == ACCOUNT
    assert command[:2] == [str(PROGRAM), "agent"]
    assert env["VXASSIST_HOME"] == str(STATE)
    assert env["VXASSIST_POLICY"] == str(POLICY)
    if shutil.which("systemd-analyze"):
        verify = subprocess.run(
            ["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True, timeout=60
        )
        assert verify.returncode == 0, verify.stderr
    desktop_files = ("/usr/share/applications/", "/etc/xdg/autostart/")
    for entry in desktop_files:
        assert "Exec=/usr/bin/vxassist\n" in Path(entry, "vxassist.desktop").read_text()

    # enrolled as the account, the headless agent runs as it
    code = desk.enrollment_code()
    enroll = subprocess.run(
        as_account(env, "/usr/bin/vxassist", "enroll", "--desk", desk.url, "--code", code),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert enroll.returncode == 0, enroll.stdout + enroll.stderr
    audit = STATE / "data" / "audit"
    plant = subprocess.run(
        as_account(
            env,
            str(PROGRAM),
            "-c",
            "from vxassist.paths import Paths; from vxassist.remote.audit import AuditLog; "
            "AuditLog.for_paths(Paths.from_env()).append('package_test', note='kept on remove')",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert plant.returncode == 0, plant.stderr
    trail = tree_digest(audit)
    assert trail

    systemd = Path("/run/systemd/system").is_dir()
    agent: subprocess.Popen[str] | None = None
    if systemd:
        subprocess.run(["systemctl", "start", "vxassist-agent.service"], check=True, timeout=60)
    else:
        agent = subprocess.Popen(
            as_account(env, *command),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        output = Output(agent)
        wait_for(lambda: "running for" in output.text or agent.poll() is not None, 60, "agent")
        assert agent.poll() is None, output.text
    wait_for(lambda: bool(agent_pids()), 60, "the headless agent's process")
    assert {uid_of(pid) for pid in agent_pids()} == {account.pw_uid}

    # remove, with the agent running: prerm ends it (and its sessions) first
    removed = dpkg("-r", "vxassist")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    if agent is not None:
        assert agent.wait(timeout=60) == 0
        assert "stopping: ending every session" in output.text
    assert not agent_pids()
    assert not PROGRAM.exists() and not Path("/usr/bin/vxassist").exists()
    assert not UNIT.exists()
    assert "Kept:" in removed.stdout
    # kept: the audit trail (unchanged), the enrollment, the account and the policy
    assert tree_digest(audit) == trail
    assert (STATE / "data" / "enrollment.json").exists()
    assert POLICY.exists()
    pwd.getpwnam(ACCOUNT)

    # purge: everything but the audit trail, which stays root's alone
    purged = dpkg("-P", "vxassist")
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert f"removed the account '{ACCOUNT}'" in purged.stdout
    assert f"kept {audit}" in purged.stdout
    assert f"removed {STATE / 'data' / 'enrollment.json'}" in purged.stdout
    with pytest.raises(KeyError):
        pwd.getpwnam(ACCOUNT)
    assert not POLICY.exists() and not POLICY.parent.exists()
    left = sorted(str(p.relative_to(STATE)) for p in STATE.rglob("*"))
    assert left == ["data", "data/audit", *(f"data/audit/{name}" for name in sorted(trail))]
    assert tree_digest(audit) == trail
    for path in [STATE, *STATE.rglob("*")]:
        assert path.stat().st_uid == 0, path
    assert stat.S_IMODE(STATE.stat().st_mode) == 0o700
