"""The vendor side as docs/operating.md deploys it: two desk workers behind nginx on
PostgreSQL, two relays, a host on each, an engineer reaching both, a CA rotation.

Real parts throughout: PostgreSQL (tests/fixtures/postgres.py), the shipped nginx
site (installer/desk/vxassist-desk.nginx, with only its ports and certificate
paths swapped for the test's), ``vxassist desk serve --workers 2``, two OpenSSH
sshd relays on loopback with their own configs whose key lookup is
``relay-keys --relay NAME``, two headless agents answering at a pseudo-terminal,
and the engineer's ``vxassist engineer`` with stock ssh. Every client reaches the
desk through nginx over TLS (a certificate made here, trusted through
REQUESTS_CA_BUNDLE).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import STEP_S, Terminal, json_lines, vxassist
from tests.fixtures.postgres import PostgresUnavailable, find_bin_dir, running_postgres
from tests.fixtures.relay import Relay
from vxassist.demo import DEMO_CASE
from vxassist.relay.local import free_port

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "installer" / "desk" / "vxassist-desk.nginx"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        os.geteuid() != 0
        or not Path("/usr/sbin/sshd").exists()
        or not Path(NGINX).exists()
        or not shutil.which("openssl")
        or find_bin_dir() is None,
        reason="needs root, OpenSSH sshd, nginx, openssl and PostgreSQL (scripts/setup.sh)",
    ),
]

CONSENT_TIMEOUT_S = 60


# -- the parts -----------------------------------------------------------------------


def nginx_site(desk_port: int, https_port: int, http_port: int, cert: Path, key: Path) -> str:
    """The shipped site with the test's ports and certificate; every swap must apply."""
    text = SITE.read_text()
    swaps = {
        "server 127.0.0.1:8740;": f"server 127.0.0.1:{desk_port};",
        "    listen 443 ssl;\n    listen [::]:443 ssl;\n": (
            f"    listen 127.0.0.1:{https_port} ssl;\n"
        ),
        "    listen 80;\n    listen [::]:80;\n": f"    listen 127.0.0.1:{http_port};\n",
        "/etc/ssl/certs/vxassist-desk.crt": str(cert),
        "/etc/ssl/private/vxassist-desk.key": str(key),
    }
    for old, new in swaps.items():
        assert text.count(old) == 1, f"the shipped nginx site changed: {old!r}"
        text = text.replace(old, new)
    return text


def make_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "desk.crt", folder / "desk.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return cert, key


def wait_port(port: int, proc: subprocess.Popen[Any], what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not listen on {port}")


@contextlib.contextmanager
def running_nginx(folder: Path, site: str) -> Iterator[subprocess.Popen[bytes]]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "site.conf").write_text(site)
    (folder / "nginx.conf").write_text(
        "user root root;\n"
        "worker_processes 1;\n"
        f"pid {folder}/nginx.pid;\n"
        f"error_log {folder}/error.log warn;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"  access_log {folder}/access.log;\n"
        f"  client_body_temp_path {folder}/body;\n"
        f"  proxy_temp_path {folder}/proxy;\n"
        f"  fastcgi_temp_path {folder}/fastcgi;\n"
        f"  uwsgi_temp_path {folder}/uwsgi;\n"
        f"  scgi_temp_path {folder}/scgi;\n"
        f"  include {folder}/site.conf;\n"
        "}\n"
    )
    conf = ["-p", str(folder), "-c", str(folder / "nginx.conf")]
    checked = subprocess.run([NGINX, "-t", *conf], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen(
        [NGINX, *conf, "-g", "daemon off;"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=(folder / "stderr.log").open("wb"),
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@contextlib.contextmanager
def running_desk(
    folder: Path, db_url: str, config: Path, workers: int = 2
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    env = clean_env(folder / "desk-home")
    log = folder / "desk.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *vxassist("desk", "serve", "--db", db_url, "--config", str(config)),
                *("--host", "127.0.0.1", "--port", "0", "--workers", str(workers)),
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pattern = re.compile(r"\((\d+) workers\) listening on http://127\.0\.0\.1:(\d+)")
    port = 0
    deadline = time.monotonic() + 60
    while not port and time.monotonic() < deadline and proc.poll() is None:
        found = pattern.search(log.read_text(errors="replace"))
        if found:
            assert int(found.group(1)) == workers
            port = int(found.group(2))
        else:
            time.sleep(0.1)
    try:
        assert port, "the desk did not start:\n" + log.read_text(errors="replace")
        wait_healthy(port, proc, log)
        yield proc, port
        assert proc.poll() is None, "the desk stopped:\n" + log.read_text(errors="replace")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # a worker left behind, if any


def wait_healthy(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until a worker answers /healthz (the socket takes connections before that)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        time.sleep(0.2)
    raise AssertionError("the desk's workers did not answer:\n" + log.read_text(errors="replace"))


def clean_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VXASSIST_", "NSS_WRAPPER")) and k != "LD_PRELOAD"
    }
    env["VXASSIST_HOME"] = str(home)
    env["VXASSIST_POLICY"] = str(home / "policy.toml")
    return env


def both(work: Callable[[Any], object], items: Sequence[Any]) -> None:
    """``work`` on each item at the same time (each waits on its own processes)."""
    with ThreadPoolExecutor(len(items)) as pool:
        for _ in pool.map(work, items):
            pass


def relay_keys_command(db_url: str, name: str) -> list[str]:
    return [
        sys.executable, "-m", "vxassist.desk.relay_keys",
        "--db", db_url, "--relay", name, "%u", "%t", "%k",
    ]  # fmt: skip


@dataclass
class Host:
    name: str
    home: Path
    env: dict[str, str]
    case_number: int = 0
    agent: Terminal | None = None

    def run(self, *args: str) -> str:
        done = subprocess.run(
            vxassist(*args),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=STEP_S,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
        return done.stdout

    def enrollment(self) -> dict[str, Any]:
        from vxassist.cases.enroll import read_enrollment
        from vxassist.paths import Paths

        return dict(read_enrollment(Paths.from_env(self.env)) or {})

    def file_case(self) -> None:
        fields: list[str] = []
        for key, value in DEMO_CASE.items():
            fields += ["--" + key.replace("_", "-"), value]
        case = json.loads(self.run("case", "new", *fields, "--no-system-report", "--json"))
        number = case.get("case_number") or (case.get("answer") or {}).get("case_number")
        self.case_number = int(number)

    def start_agent(self) -> None:
        self.agent = Terminal(vxassist("agent", "--consent", "tty", "--json"), self.env)
        self.agent.expect(r'"message": "running for', 120)

    def stop_agent(self) -> None:
        if self.agent is not None:
            self.agent.close()
            self.agent = None


@dataclass
class World:
    root: Path
    db_url: str
    config: Path
    desk_url: str
    https_port: int
    http_port: int
    cert: Path
    relays: dict[str, Relay]
    hosts: list[Host] = field(default_factory=list)
    engineer_env: dict[str, str] = field(default_factory=dict)

    def admin(self) -> Any:
        from vxassist.desk.db import Database

        return Database(self.db_url)

    def desk_config(self) -> Any:
        from vxassist.desk.config import load_desk_config

        return load_desk_config(self.config)

    def code(self) -> str:
        from vxassist.desk import admin

        db = self.admin()
        try:
            now = datetime.now(UTC)
            return str(admin.new_code(db, "C-2001", now, self.desk_config())["code"])
        finally:
            db.dispose()

    def desk_cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            vxassist("desk", *args),
            env=clean_env(self.root / "desk-home"),
            capture_output=True,
            text=True,
            timeout=STEP_S,
            stdin=subprocess.DEVNULL,
        )
        if check:
            assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
        return done

    def engineer(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            vxassist("engineer", *args),
            env=self.engineer_env,
            capture_output=True,
            text=True,
            timeout=STEP_S * 2,
            stdin=subprocess.DEVNULL,
        )
        if check:
            assert done.returncode == 0, f"engineer {args}: {done.stdout}\n{done.stderr}"
        return done

    def add_host(self, name: str) -> Host:
        home = self.root / name
        (home / "config").mkdir(parents=True)
        (home / "files").mkdir()
        (home / "config" / "settings.toml").write_text(
            'secrets_backend = "file"\n'
            f"[remote]\nconsent_timeout_s = {CONSENT_TIMEOUT_S}\n"
            f'file_roots = ["{home / "files"}"]\n'
        )
        # sessions of a root agent run as the policy's account; this machine has none
        (home / "policy.toml").write_text("[remote]\nallow_root_session = true\n")
        env = clean_env(home)
        env["REQUESTS_CA_BUNDLE"] = str(self.cert)
        host = Host(name, home, env)
        host.run("enroll", "--desk", self.desk_url, "--code", self.code())
        self.hosts.append(host)
        return host

    def session(self, host: Host) -> dict[str, Any]:
        """An engineer's shell session on ``host``, approved at its terminal; the Session."""
        assert host.agent is not None
        mark = len(host.agent.text)
        request = subprocess.Popen(
            vxassist(
                "engineer", "request", str(host.case_number), "--scope", "shell",
                "--minutes", "5", "--reason", "check the call records", "--json",
            ),
            env=self.engineer_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            host.agent.expect(r"Allow this session\? \[y/N\]", start=mark)
            host.agent.send("y\n")
            host.agent.expect(r"Minutes to allow", start=mark)
            host.agent.send("\n")
            out, err = request.communicate(timeout=STEP_S * 2)
        finally:
            if request.poll() is None:
                request.kill()
                request.wait()
        assert request.returncode == 0, err
        session = json.loads(out)
        assert session["status"] == "approved", session
        return dict(session)

    def reach(self, host: Host, session: dict[str, Any]) -> None:
        """Run a command on ``host`` through the session's relay, as the engineer does;
        ssh checks the host's certificate (``vx-<agent id>``), and the agent of that
        host, no other, reports the session open."""
        sid = session["session_id"]
        ran = self.engineer("connect", sid, "--", "echo", "on-$((40+2))")
        assert "on-42" in ran.stdout, ran.stdout + ran.stderr
        assert host.agent is not None
        opened = [
            e
            for e in json_lines(host.agent.text)
            if e.get("event") == "session_open" and e.get("session_id") == sid
        ]
        assert opened, host.agent.text[-2000:]
        for other in self.hosts:
            if other is not host and other.agent is not None:
                assert sid not in other.agent.text
        # ended, as an engineer does when done; the next session waits until the host
        # has closed this one (its tunnel port on the relay is then free again)
        self.engineer("revoke", sid, "--reason", "done")

        def ended() -> bool:
            return any(
                e.get("event") == "session_end" and e.get("session_id") == sid
                for e in json_lines(host.agent.text if host.agent else "")
            )

        host.agent.wait_for(ended)


def place_of(world: World, host: Host) -> tuple[str | None, str | None, str]:
    """The host's row at the desk: relay name, user CA fingerprint, host certificate."""
    from vxassist.desk.sessions.tables import AgentRelay

    agent_id = host.enrollment()["agent_id"]
    db = world.admin()
    try:
        with db.writing() as session:
            row = session.get(AgentRelay, agent_id)
            assert row is not None
            return row.relay, row.user_ca, row.host_certificate
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("vendor")
    with contextlib.ExitStack() as stack:
        try:
            pg = stack.enter_context(running_postgres())
        except PostgresUnavailable as exc:
            pytest.skip(str(exc))
        db_url = pg.fresh_database()
        from vxassist.desk.db import upgrade

        upgrade(db_url)
        relays = {}
        for name in ("relay-a", "relay-b"):
            relay = Relay(root / name, relay_keys_command(db_url, name))
            stack.enter_context(relay)
            relays[name] = relay
        config = root / "desk.toml"
        text = ""
        for name, relay in relays.items():
            text += (
                f'[[relays]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {relay.port}\n'
                f'known_hosts = "{relay.host_key_line()}"\n'
            )
        config.write_text(
            text + "[sessions]\n"
            f'ca_dir = "{root / "desk-ca"}"\nrequest_timeout_s = {CONSENT_TIMEOUT_S + 60}\n'
            "[enrollment]\nmax_failures = 1\n"
        )
        _desk, desk_port = stack.enter_context(running_desk(root, db_url, config))
        cert, key = make_certificate(root)
        https_port, http_port = free_port(), free_port()
        nginx = stack.enter_context(
            running_nginx(root / "nginx", nginx_site(desk_port, https_port, http_port, cert, key))
        )
        wait_port(https_port, nginx, "nginx")
        world = World(
            root=root,
            db_url=db_url,
            config=config,
            desk_url=f"https://127.0.0.1:{https_port}",
            https_port=https_port,
            http_port=http_port,
            cert=cert,
            relays=relays,
        )
        from vxassist.desk import admin

        db = world.admin()
        try:
            now = datetime.now(UTC)
            admin.add_contract(
                db,
                admin.NewContract(
                    contract_id="C-2001",
                    company="Acme Hotels",
                    expires=date.today() + timedelta(days=365),
                    contact_name="Bob Jones",
                    contact_phone="+1 775 555 0100",
                    contact_email="bob@acme.example.com",
                ),
                now,
                world.desk_config(),
            )
            token = str(admin.add_engineer(db, "jdoe", now)["token"])
        finally:
            db.dispose()
        engineer_home = root / "engineer"
        (engineer_home / "config").mkdir(parents=True)
        (engineer_home / "config" / "settings.toml").write_text('secrets_backend = "file"\n')
        world.engineer_env = clean_env(engineer_home)
        world.engineer_env["REQUESTS_CA_BUNDLE"] = str(cert)
        world.engineer("login", "--desk", world.desk_url, "--token", token)
        # enrolled one after the other (the first is placed on relay-a, the second on
        # relay-b); their cases and agents side by side
        for name in ("host-one", "host-two"):
            stack.callback(lambda n=name: [h.stop_agent() for h in world.hosts if h.name == n])
            world.add_host(name)
        both(lambda host: (host.file_case(), host.start_agent()), world.hosts)
        yield world


# -- the proxy -------------------------------------------------------------------------


def https(world: World, source: str = "127.0.0.1") -> http.client.HTTPSConnection:
    context = ssl.create_default_context(cafile=str(world.cert))
    return http.client.HTTPSConnection(
        "127.0.0.1", world.https_port, context=context, timeout=30, source_address=(source, 0)
    )


def test_the_proxy_serves_the_desk_over_tls_with_its_limits(world: World) -> None:
    conn = https(world)
    conn.request("GET", "/healthz")
    answer = conn.getresponse()
    assert answer.status == 200, answer.read()
    answer.read()
    # plain HTTP is sent to HTTPS
    plain = http.client.HTTPConnection("127.0.0.1", world.http_port, timeout=30)
    plain.request("GET", "/healthz", headers={"Host": "desk.example.com"})
    moved = plain.getresponse()
    assert moved.status == 301
    assert moved.getheader("Location", "").startswith("https://desk.example.com/")
    # a body above the desk's limit stops at the proxy
    conn.request("POST", "/api/v1/cases", body=b"x" * (4 * 1024 * 1024 + 1))
    too_big = conn.getresponse()
    too_big.read()
    assert too_big.status == 413


def test_the_enrollment_throttle_counts_the_clients_address_not_the_proxy_or_a_forged_one(
    world: World,
) -> None:
    """One failure per source (desk.toml); two workers each count their own."""

    def attempt(source: str, forged: str) -> int:
        conn = https(world, source)
        body = json.dumps({"code": "AAAA-BBBB-CCCC", "hostname": "guess"})
        headers = {"Content-Type": "application/json", "X-Forwarded-For": forged}
        conn.request("POST", "/api/v1/enroll", body=body, headers=headers)
        answer = conn.getresponse()
        answer.read()
        conn.close()
        return answer.status

    # a new forged address each time changes nothing: nginx replaces the header
    statuses = [attempt("127.0.0.2", f"198.51.100.{i}") for i in range(3)]
    assert 429 in statuses, statuses  # at most one failure per worker passes
    assert set(statuses) <= {404, 429}, statuses
    # another client is not held back by the first one's failures
    assert attempt("127.0.0.3", "198.51.100.200") == 404


# -- two relays ------------------------------------------------------------------------


def test_each_host_is_placed_on_its_own_relay_and_the_engineer_reaches_both(
    world: World,
) -> None:
    one, two = world.hosts
    assert one.enrollment()["relay"]["port"] == world.relays["relay-a"].port
    assert two.enrollment()["relay"]["port"] == world.relays["relay-b"].port
    assert place_of(world, one)[0] == "relay-a"
    assert place_of(world, two)[0] == "relay-b"

    def through(pair: tuple[Host, str]) -> None:
        host, name = pair
        session = world.session(host)
        assert session["relay"]["name"] == name
        assert session["relay"]["port"] == world.relays[name].port
        world.reach(host, session)

    both(through, [(one, "relay-a"), (two, "relay-b")])


def test_a_relay_answers_only_for_its_own_hosts(world: World) -> None:
    """relay-keys --relay: host one's key may not listen on relay-b."""
    from vxassist.desk.relay_keys import lookup_lines

    one = world.hosts[0]
    _name, _ca, certificate = place_of(world, one)
    from vxassist.desk.ca import inspect_certificate

    key_type, key_b64 = inspect_certificate(certificate).key.split()
    now = datetime.now(UTC)
    on_a = lookup_lines(world.db_url, "vxagent", key_type, key_b64, now, "relay-a")
    on_b = lookup_lines(world.db_url, "vxagent", key_type, key_b64, now, "relay-b")
    assert len(on_a) == 1 and "permitlisten=" in on_a[0]
    assert on_b == []


# -- CA rotation -----------------------------------------------------------------------


def test_rotating_both_cas_keeps_every_enrolled_host_reachable(world: World) -> None:
    from vxassist.desk.ca import CertificateAuthority, fingerprint, inspect_certificate

    one, two = world.hosts
    ca = CertificateAuthority(world.root / "desk-ca")
    old_user = fingerprint(ca.user_ca)
    cfg = ("--config", str(world.config))
    world.desk_cli("ca", "rotate", "user", *cfg)
    world.desk_cli("ca", "rotate", "host", *cfg)
    assert fingerprint(ca.user_ca) != old_user

    # a host enrolled before the rotation: its sessions are signed by the user CA it
    # trusts, and the engineer trusts both host CAs (its certificate is from the old one)
    session = world.session(one)
    assert len(session["host_ca_public_key"].splitlines()) == 2
    old_key = ca.previous("user")
    assert old_key is not None
    assert (
        inspect_certificate(session["certificate"]).signing_key.split()[1]
        == (old_key.export_public_key().decode().split()[1])
    )
    world.reach(one, session)

    # a host enrolling again (a new agent id: it files its case again) gets the new
    # CAs, stays on its relay, and is reachable
    two.stop_agent()
    two.run("enroll", "--desk", world.desk_url, "--code", world.code())
    two.file_case()
    two.start_agent()
    relay, user_ca, host_cert = place_of(world, two)
    assert relay == "relay-b"
    assert user_ca == fingerprint(ca.user_ca)
    new_host_ca = ca.host_ca.export_public_key().decode().split()[1]
    assert inspect_certificate(host_cert).signing_key.split()[1] == new_host_ca
    session = world.session(two)
    assert (
        inspect_certificate(session["certificate"]).signing_key.split()[1]
        == (ca.user_ca.export_public_key().decode().split()[1])
    )
    world.reach(two, session)

    # host one still depends on the previous CAs: retiring them is refused
    refused = world.desk_cli("ca", "retire", "user", "--db", world.db_url, *cfg, check=False)
    assert refused.returncode != 0, refused.stdout
    assert "1 enrolled host" in refused.stderr
    from vxassist.desk.sessions.cli import holding_previous

    db = world.admin()
    try:
        with db.writing() as rows:
            agent_one = one.enrollment()["agent_id"]
            assert holding_previous(rows, ca, "host") == [agent_one]
            assert holding_previous(rows, ca, "user") == [agent_one]
    finally:
        db.dispose()
    assert ca.previous("user") is not None and ca.previous("host") is not None


# -- losing a relay --------------------------------------------------------------------


def test_losing_one_relay_leaves_the_other_relays_hosts_reachable(world: World) -> None:
    one, two = world.hosts
    world.relays["relay-a"].stop()
    session = world.session(two)
    assert session["relay"]["name"] == "relay-b"
    world.reach(two, session)
    assert one.agent is not None and one.agent.proc.poll() is None  # waits for its relay
