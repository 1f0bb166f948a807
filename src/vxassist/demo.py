"""``vxassist demo``: desk, relay and agent on one machine, embedded defaults.

The demo starts, under one folder, everything the remote-session story needs:
a desk on SQLite on a free loopback port, a relay (the machine's OpenSSH sshd
when there is one, else the development relay of :mod:`vxassist.devrelay`), a
demo contract, an enrolled agent, a filed case and a logged-in engineer, then
runs the tray agent (``vxassist``; with ``--headless``, the terminal agent) in
the foreground and prints what the engineer types next. Ctrl-C stops everything
it started.

For the service platform it also starts a local SMTP server that files every
mail the desk sends under ``mail/`` (:mod:`vxassist.desk.mailsink`), gives the
engineer and a manager console passwords, and writes a knowledge-base article,
so the web console (``/console``) can be walked from the banner.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vxassist.cliutil import Context
from vxassist.errors import VxError
from vxassist.relay.local import (
    SSHD,
    OpenSshRelay,
    free_port,
    nss_wrapper_library,
    relay_accounts_exist,
    stop_group,
)

#: how long a demo server gets to stop after SIGTERM before it is killed
STOP_GRACE_S = 2.0
#: after a Ctrl-C, how long the agent gets to stop by itself before it is passed on
FORWARD_AFTER_S = 5.0


def _vxassist_command() -> str:
    """How another terminal runs this same vxassist: by name when it is on PATH."""
    ours = Path(sys.executable).with_name("vxassist")
    if not ours.exists() or shutil.which("vxassist") == str(ours):
        return "vxassist"
    return shlex.quote(str(ours))


class DemoError(VxError):
    """A part of the demo could not be started."""


def wait_for_port(
    host: str, port: int, timeout_s: float, proc: subprocess.Popen[Any] | None = None
) -> None:
    """Return once ``host:port`` accepts connections; raise after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise DemoError(
                f"A demo process stopped before it listened on {host}:{port}; see its log.",
                detail=f"exit code {proc.returncode}",
            )
        if time.monotonic() > deadline:
            raise DemoError(
                f"Nothing listened on {host}:{port} within {timeout_s:.0f} s; see the demo logs.",
            )
        time.sleep(0.05)


# -- the demo itself -------------------------------------------------------------

DEMO_CONTRACT = "DEMO-0001"
DEMO_COMPANY = "Demo Call Center Inc."
DEMO_ENGINEER = "demo-engineer"
#: console passwords of the demo's accounts (printed in the banner: demo only)
DEMO_ENGINEER_PASSWORD = "demo-engineer-password"
DEMO_MANAGER = "demo-manager"
DEMO_MANAGER_PASSWORD = "demo-manager-password"
#: who the demo desk mails (every mail lands in the demo's mail/ folder)
DEMO_MAIL_FROM = "support@demo.example"
DEMO_MAIL_ENGINEERS = "support-team@demo.example"
DEMO_MAIL_MANAGER = "tech-manager@demo.example"
DEMO_MAIL_SALES = "sales-manager@demo.example"
DEMO_ARTICLE = {
    "title": "Call records stop arriving: check the SMDR link",
    "body": (
        "When VXTracker shows no new call records:\n\n"
        "1. Check that the PBX still sends SMDR (its serial or TCP link).\n"
        "2. Restart the **VXTracker collector** service.\n"
        "3. If records still do not arrive, open a case with the collector's log.\n"
    ),
    "tags": ["smdr", "call-records"],
}

DEMO_CASE = {
    "company": DEMO_COMPANY,
    "install_type": "single server",
    "location": "Demo City",
    "database_type": "PostgreSQL 15",
    "vxtracker_server": "demo-host, VXTracker 9.1",
    "pbx_manufacturer": "Avaya",
    "pbx_model": "IP Office 500 V2",
    "contact_name": "Dana Demo",
    "contact_phone": "+1 555 0100",
    "contact_email": "dana@example.com",
    "brief": "Call records stopped arriving (demo)",
    "details": "Since this morning no new call records show up in VXTracker.",
    "steps_taken": "Restarted the VXTracker service.",
    "priority": "2",
}


def vxassist_command() -> list[str]:
    """How to run this very vxassist in a child process."""
    return [sys.executable, "-m", "vxassist"]


def default_demo_root(paths: object | None = None) -> Path:
    from vxassist.paths import Paths

    base = paths if isinstance(paths, Paths) else Paths.from_env()
    return base.data_dir / "demo"


@dataclass
class DemoStack:
    """Every part of the demo, started in order and stopped in reverse.

    ``relay`` is ``openssh`` (the machine's sshd; needs root), ``dev`` (the
    development relay) or ``auto`` (OpenSSH when it can run here).
    """

    root: Path
    relay: str = "auto"
    consent_timeout_s: int = 120
    say: Any = print
    desk_port: int = 0
    relay_port: int = 0
    case_number: int | None = None
    relay_label: str = ""
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _openssh: OpenSshRelay | None = None
    _mail: Any = None

    # -- folders and environments --------------------------------------------------

    @property
    def host_home(self) -> Path:
        return self.root / "host"

    @property
    def engineer_home(self) -> Path:
        return self.root / "engineer"

    @property
    def desk_dir(self) -> Path:
        return self.root / "desk"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.desk_dir / 'desk.sqlite3'}"

    @property
    def desk_url(self) -> str:
        return f"http://127.0.0.1:{self.desk_port}"

    @property
    def console_url(self) -> str:
        return f"{self.desk_url}/console/"

    @property
    def mail_dir(self) -> Path:
        """Where the demo's SMTP server files every mail the desk sends."""
        return self.root / "mail"

    def _env(self, home: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NSS_WRAPPER")}
        env["VXASSIST_HOME"] = str(home)
        env["VXASSIST_POLICY"] = str(home / "policy.toml")
        env.pop("LD_PRELOAD", None)
        return env

    def host_env(self) -> dict[str, str]:
        return self._env(self.host_home)

    def engineer_env(self) -> dict[str, str]:
        return self._env(self.engineer_home)

    def desk_env(self) -> dict[str, str]:
        return self._env(self.desk_dir / "home")

    def run(self, args: list[str], env: dict[str, str], what: str) -> str:
        """Run one vxassist command to its end; its stdout, or a DemoError naming ``what``."""
        proc = subprocess.run(
            vxassist_command() + args,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            raise DemoError(
                f"The demo could not {what}; see the message above and the logs under {self.root}.",
                detail=f"{args[:3]} exit {proc.returncode}: {proc.stderr.strip()[-800:]}",
            )
        return proc.stdout

    def run_json(self, args: list[str], env: dict[str, str], what: str) -> dict[str, Any]:
        out = self.run([*args, "--json"], env, what)
        try:
            data = json.loads(out)
        except ValueError as exc:
            raise DemoError(
                f"The demo could not {what}: the answer was not JSON.", detail=out[-400:]
            ) from exc
        if not isinstance(data, dict):
            raise DemoError(f"The demo could not {what}: unexpected answer.", detail=out[-400:])
        return data

    def _spawn(
        self, args: list[str], env: dict[str, str], log_name: str
    ) -> subprocess.Popen[bytes]:
        log_path = self.root / "logs" / log_name
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                args,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                # its own group: Ctrl-C at the terminal reaches the agent, not the servers
                start_new_session=True,
            )
        self._procs.append(proc)
        return proc

    # -- the steps ----------------------------------------------------------------------

    def _relay_kind(self) -> str:
        if self.relay != "auto":
            return self.relay
        can_run_sshd = Path(SSHD).exists() and os.geteuid() == 0
        if can_run_sshd and (relay_accounts_exist() or nss_wrapper_library()):
            return "openssh"
        return "dev"

    def _write_settings(self, home: Path, extra: str = "") -> None:
        (home / "config").mkdir(parents=True, exist_ok=True)
        # the demo runs without a desktop keyring: secrets in a 0600 file of its own
        (home / "config" / "settings.toml").write_text('secrets_backend = "file"\n' + extra)

    def prepare(self) -> None:
        """Folders, settings and the desk database with a contract and an engineer."""
        if self.root.exists():
            shutil.rmtree(self.root)
        for folder in (self.host_home, self.engineer_home, self.desk_dir / "home"):
            folder.mkdir(parents=True, exist_ok=True)
        self._write_settings(
            self.host_home,
            f"\n[remote]\nconsent_timeout_s = {int(self.consent_timeout_s)}\n"
            f'file_roots = ["{self.root / "files"}"]\n',
        )
        (self.root / "files").mkdir(exist_ok=True)
        if os.name == "posix" and os.geteuid() == 0:
            # sessions of a root agent run as the policy's account; the demo's machine
            # has none, so its own machine policy allows a root session (demo only)
            (self.host_home / "policy.toml").write_text(
                "# vxassist demo: the agent runs as root here\n"
                "[remote]\nallow_root_session = true\n"
            )
        self._write_settings(self.engineer_home)
        self._write_settings(self.desk_dir / "home")
        self._desk_admin(contract=True)

    def _desk_admin(self, contract: bool = False) -> dict[str, str]:
        """The desk operator's steps, in this process: schema, contract and a
        knowledge-base article; then a code, the engineer and the manager."""
        from vxassist.desk import admin, kb
        from vxassist.desk.config import DeskConfig
        from vxassist.desk.db import Database, upgrade

        now = datetime.now(UTC)
        upgrade(self.db_url)
        db = Database(self.db_url)
        try:
            if contract:
                admin.add_contract(
                    db,
                    admin.NewContract(
                        contract_id=DEMO_CONTRACT,
                        company=DEMO_COMPANY,
                        expires=(now + timedelta(days=365)).date(),
                        contact_name=str(DEMO_CASE["contact_name"]),
                        contact_phone=str(DEMO_CASE["contact_phone"]),
                        contact_email=str(DEMO_CASE["contact_email"]),
                    ),
                    now,
                    DeskConfig(),
                )
                with db.writing() as session:
                    kb.add_article(
                        session,
                        kb.ArticleIn(
                            title=str(DEMO_ARTICLE["title"]),
                            body=str(DEMO_ARTICLE["body"]),
                            tags=list(DEMO_ARTICLE["tags"]),
                            versions=[],
                        ),
                        now,
                    )
                return {}
            code = admin.new_code(db, DEMO_CONTRACT, now, DeskConfig(), None)["code"]
            token = admin.add_engineer(db, DEMO_ENGINEER, now, password=DEMO_ENGINEER_PASSWORD)[
                "token"
            ]
            admin.add_engineer(db, DEMO_MANAGER, now, password=DEMO_MANAGER_PASSWORD, manager=True)
            return {"code": str(code), "token": str(token)}
        finally:
            db.dispose()

    def issue_code_and_engineer(self) -> dict[str, str]:
        """An enrollment code for the demo contract and the demo engineer's token."""
        return self._desk_admin()

    def start_relay(self) -> None:
        kind = self._relay_kind()
        folder = self.root / "relay"
        if kind == "openssh":
            keys_command = [
                "/usr/bin/env",
                f"VXASSIST_HOME={self.desk_dir / 'home'}",
                sys.executable,
                # = `vxassist desk relay-keys`, quicker to start (sshd runs it per login)
                "-m",
                "vxassist.desk.relay_keys",
                "--db",
                self.db_url,
                "%u",
                "%t",
                "%k",
            ]
            self._openssh = OpenSshRelay(folder, authorized_keys_command=keys_command)
            self._openssh.start()
            self.relay_port = self._openssh.port
            self.relay_label = f"OpenSSH sshd on 127.0.0.1:{self.relay_port}"
            self._relay_known_hosts = self._openssh.host_key_line()
            return
        self.relay_port = free_port()
        proc = self._spawn(
            [
                *vxassist_command()[:1],
                "-m",
                "vxassist.devrelay",
                "--folder",
                str(folder),
                "--db",
                self.db_url,
                "--port",
                str(self.relay_port),
            ],
            self.desk_env(),
            "devrelay.log",
        )
        wait_for_port("127.0.0.1", self.relay_port, 15, proc)
        from vxassist.devrelay import LABEL, DevRelay

        self._relay_known_hosts = DevRelay(folder, lambda *_: []).host_key_line()
        self.relay_label = f"{LABEL} on 127.0.0.1:{self.relay_port}"

    def start_mail(self) -> str:
        """The local SMTP server the desk mails to: every mail becomes a file in mail/.

        Its line for the banner; without aiosmtpd (an install older than the desk
        extra's) the demo runs with mail off and says so.
        """
        try:
            from vxassist.desk.mailsink import MailSink
        except ModuleNotFoundError as exc:
            return (
                f"mail: off ({exc.name} is not installed; `pip install 'vxassist[desk]'` adds it)"
            )
        self._mail = MailSink(self.mail_dir).start()
        return f"mail: SMTP on 127.0.0.1:{self._mail.port}, every mail filed in {self.mail_dir}"

    def start_desk(self) -> None:
        self.desk_port = free_port()
        config = self.desk_dir / "desk.toml"
        mail = ""
        if self._mail is not None:
            mail = (
                f'[desk]\npublic_url = "{self.desk_url}"\n'
                f'[mail]\nsmtp_host = "127.0.0.1"\nsmtp_port = {self._mail.port}\n'
                f'from = "{DEMO_MAIL_FROM}"\nengineers = ["{DEMO_MAIL_ENGINEERS}"]\n'
                "retry_base_s = 5\n"
                f'[escalation]\nmanager_email = "{DEMO_MAIL_MANAGER}"\n'
                f'sales_manager_email = "{DEMO_MAIL_SALES}"\n'
                # a deadline passed shows within seconds, not the production half-minute
                "[deadlines]\ncheck_every_s = 2\n"
            )
        config.write_text(
            "[relay]\n"
            f'host = "127.0.0.1"\nport = {self.relay_port}\n'
            f'known_hosts = "{self._relay_known_hosts}"\n'
            "[sessions]\n"
            f"request_timeout_s = {int(self.consent_timeout_s) + 60}\n"
            f'ca_dir = "{self.desk_dir / "ca"}"\n' + mail
        )
        proc = self._spawn(
            [
                *vxassist_command(),
                "desk",
                "serve",
                "--db",
                self.db_url,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.desk_port),
                "--config",
                str(config),
            ],
            self.desk_env(),
            "desk.log",
        )
        wait_for_port("127.0.0.1", self.desk_port, 30, proc)

    def enroll_and_file(self) -> None:
        """Enroll the host, file its case and log the engineer in, as their commands do.

        In this process, with each side's own folder, settings and secret file: the
        same library calls as ``vxassist enroll``, ``case new`` and ``engineer login``.
        """
        from vxassist.cases.enroll import enroll
        from vxassist.cases.intake import submit_case
        from vxassist.cases.model import build_request
        from vxassist.engineer.account import login
        from vxassist.paths import Paths
        from vxassist.secrets import open_secret_store
        from vxassist.settings import load_settings

        admin = self.issue_code_and_engineer()
        host = Paths.from_env(self.host_env()).ensure()
        host_settings = load_settings(host)
        host_secrets = open_secret_store(host, host_settings.secrets_backend)
        enroll(host, host_secrets, self.desk_url, admin["code"], hostname="demo-host")
        host_settings = load_settings(host)  # now with the desk's address
        submission = submit_case(
            host, host_settings, host_secrets, build_request(DEMO_CASE, system_report=None)
        )
        answer = submission.answer or {}
        number = answer.get("case_number")
        if number is None:
            raise DemoError(
                f"The demo case got no case number; see the desk log under {self.root / 'logs'}.",
                detail=f"outbox item {submission.item.id}: {answer!r}",
            )
        self.case_number = int(number)
        engineer = Paths.from_env(self.engineer_env()).ensure()
        login(
            engineer,
            open_secret_store(engineer, load_settings(engineer).secrets_backend),
            self.desk_url,
            admin["token"],
        )

    def start(self) -> DemoStack:
        self.say(f"demo folder: {self.root}")
        self.prepare()
        self.say("desk database ready (SQLite), demo contract added")
        self.start_relay()
        self.say(f"relay: {self.relay_label}")
        self.say(self.start_mail())
        self.start_desk()
        self.say(f"desk: {self.desk_url}")
        self.enroll_and_file()
        self.say(f"host enrolled (VXASSIST_HOME={self.host_home}), case {self.case_number} filed")
        self.say(f"engineer {DEMO_ENGINEER} logged in (VXASSIST_HOME={self.engineer_home})")
        return self

    def tray_command(self) -> list[str]:
        """The tray agent: ``vxassist`` with no command."""
        return vxassist_command()

    def agent_command(self, consent: str = "tty", as_json: bool = False) -> list[str]:
        return [*vxassist_command(), "agent", "--consent", consent] + (
            ["--json"] if as_json else []
        )

    def facts(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "desk_url": self.desk_url,
            "relay": self.relay_label,
            "relay_port": self.relay_port,
            "db_url": self.db_url,
            "host_home": str(self.host_home),
            "engineer_home": str(self.engineer_home),
            "files_root": str(self.root / "files"),
            "case_number": self.case_number,
            "engineer": DEMO_ENGINEER,
            "console_url": self.console_url,
            "console_accounts": {
                DEMO_ENGINEER: DEMO_ENGINEER_PASSWORD,
                DEMO_MANAGER: DEMO_MANAGER_PASSWORD,
            },
            "mail_dir": str(self.mail_dir),
            "smtp_port": self._mail.port if self._mail is not None else None,
            **self.where(),
            "next": self.next_steps(),
        }

    def where(self) -> dict[str, str]:
        """Where the demo keeps its data, the host's audit trail and its recordings."""
        from vxassist.paths import Paths

        host = Paths.from_env(self.host_env())
        return {
            "data_dir": str(self.root),
            "desk_database": self.db_url,
            "host_data_dir": str(host.data_dir),
            "audit_dir": str(host.audit_dir),
            "recordings_dir": str(host.recordings_dir),
        }

    def where_text(self) -> str:
        where = self.where()
        return "\n".join(
            [
                "Where the demo keeps things:",
                f"    everything            {where['data_dir']}",
                f"    the desk's database   {where['desk_database']}",
                f"    the host's audit trail {where['audit_dir']}  (vxassist audit show|verify)",
                f"    session recordings    {where['recordings_dir']}  (asciinema play FILE)",
            ]
        )

    def next_steps(self) -> list[str]:
        eng = f"VXASSIST_HOME={shlex.quote(str(self.engineer_home))}"
        vx = _vxassist_command()
        case = self.case_number if self.case_number is not None else "CASE"
        return [
            f"export {eng}",
            f"{vx} engineer request {case} --scope shell --scope files --minutes 2 "
            '--reason "look at the call record import"',
            f"{vx} engineer connect SESSION",
            f"sftp -F $({vx} engineer ssh-config SESSION) vx-session-SESSION",
            f"scp -F $({vx} engineer ssh-config SESSION) ./notes.txt "
            f"vx-session-SESSION:{self.root / 'files'}/",
            f"VXASSIST_HOME={shlex.quote(str(self.host_home))} {vx} audit show",
        ]

    def console_text(self) -> str:
        """The banner's part on the web console, the mail folder and the host's case commands."""
        host = f"VXASSIST_HOME={shlex.quote(str(self.host_home))} {_vxassist_command()}"
        case = self.case_number if self.case_number is not None else "CASE"
        return "\n".join(
            [
                f"The web console: {self.console_url}",
                f"    sign in as {DEMO_ENGINEER} / {DEMO_ENGINEER_PASSWORD}"
                f"  (or the manager: {DEMO_MANAGER} / {DEMO_MANAGER_PASSWORD})",
                f"    public knowledge base: {self.desk_url}/kb",
                (
                    "Mail the desk sends (replies, escalations, deadline notices) is filed in "
                    f"{self.mail_dir}/"
                    if self._mail is not None
                    else "Mail is off in this demo (see the line on mail above)."
                ),
                "On the host, in another terminal:",
                f"    {host} case show {case}      # the thread, support's replies marked",
                f"    {host} case upgrade --help    # a version upgrade: technical contact only",
            ]
        )

    def stop(self) -> None:
        """Stop everything the demo started, newest first."""
        for proc in reversed(self._procs):
            # the desk would wait for its open long polls (up to their full wait)
            stop_group(proc, grace_s=STOP_GRACE_S)
        self._procs.clear()
        if self._openssh is not None:
            self._openssh.stop()
            self._openssh = None
        if self._mail is not None:
            self._mail.stop()
            self._mail = None

    def __enter__(self) -> DemoStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _no_tray_here() -> str:
    """Why the tray cannot run here (no display, no Qt), in a sentence; "" when it can."""
    import importlib.util

    from vxassist.app import has_display

    if not has_display():
        return "there is no display here; run `vxassist demo --headless` for the terminal agent."
    if importlib.util.find_spec("PySide6") is None:
        return (
            "the tray needs PySide6, which is not installed here; "
            "run `vxassist demo --headless` for the terminal agent."
        )
    return ""


def run_demo(ctx: Context, args: argparse.Namespace) -> int:
    """``vxassist demo``: start the parts, run the agent here, stop all on Ctrl-C."""
    root = Path(args.folder).resolve() if args.folder else default_demo_root(ctx.paths)

    def say(text: str) -> None:
        print(f"demo: {text}", file=sys.stderr if args.json else sys.stdout, flush=True)

    if not args.headless:
        problem = _no_tray_here()
        if problem:
            print(f"vxassist demo: {problem}", file=sys.stderr)
            return 2
    stack = DemoStack(root, relay=args.relay, consent_timeout_s=args.consent_timeout, say=say)
    try:
        stack.start()
        if args.json:
            print(json.dumps(stack.facts()), flush=True)
        else:
            print("\nIn another terminal, the engineer types:\n", flush=True)
            for line in stack.next_steps()[:-1]:
                print(f"    {line}", flush=True)
            print("\n(SESSION is the id `engineer request` prints.) Afterwards, on the host:\n")
            print(f"    {stack.next_steps()[-1]}\n", flush=True)
            print(stack.console_text() + "\n", flush=True)
            print(stack.where_text() + "\n", flush=True)
            if args.headless:
                say("starting the agent; answer its prompt here. Ctrl-C stops everything.")
            else:
                say(
                    "starting the tray agent; answer its prompt in the window. "
                    "Quit from its menu, or Ctrl-C here, stops everything."
                )
        command = (
            stack.agent_command(args.consent, as_json=args.json)
            if args.headless
            else stack.tray_command()
        )
        agent = subprocess.Popen(command, env=stack.host_env())
        # SIGTERM (a service manager, `timeout`) stops the demo as Ctrl-C does; before,
        # it killed the demo alone and left the desk and the relay running
        signal.signal(signal.SIGTERM, signal.getsignal(signal.SIGINT))
        interrupted = False
        while True:
            try:
                code = agent.wait(timeout=FORWARD_AFTER_S if interrupted else None)
                break
            except KeyboardInterrupt:
                # a Ctrl-C at the terminal reaches the agent too: let it end its sessions
                interrupted = True
            except subprocess.TimeoutExpired:
                # the signal came to this process alone: pass it on, once
                interrupted = False
                with contextlib.suppress(ProcessLookupError):
                    agent.send_signal(signal.SIGINT)
        say(f"agent stopped (exit {code}); stopping the desk and the relay")
    finally:
        stack.stop()
    return 0 if code in (0, -signal.SIGINT, 130) else int(code)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``vxassist demo``."""
    parser = sub.add_parser(
        "demo",
        help="desk + relay + agent on this machine, with embedded defaults",
        description=(
            "Start a desk (SQLite), a relay (this machine's OpenSSH sshd when it can run, "
            "else a development relay), a demo contract, an enrolled host with a filed case "
            "and a logged-in engineer, then run the tray agent here (with --headless, the "
            "terminal agent) and print what the engineer types next. Ctrl-C stops everything "
            "the demo started."
        ),
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="run the terminal agent instead of the tray (for a machine with no display)",
    )
    parser.add_argument(
        "--folder",
        help="where the demo keeps its files "
        "(default: demo/ in the vxassist data folder; wiped at start)",
    )
    parser.add_argument(
        "--relay",
        choices=("auto", "openssh", "dev"),
        default="auto",
        help="which relay to run (default: OpenSSH sshd when it can run here)",
    )
    parser.add_argument(
        "--consent",
        choices=("tty", "deny"),
        default="tty",
        help="how the headless agent answers session requests (the tray asks in a window)",
    )
    parser.add_argument(
        "--consent-timeout",
        type=int,
        default=120,
        metavar="SECONDS",
        help="how long the prompt waits before it denies",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the demo's facts as one JSON line, then agent events as JSON",
    )
    parser.set_defaults(func=run_demo)
