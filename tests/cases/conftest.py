"""Fixtures of the case tests: a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.fixtures.desk import RunningDesk, desk, shared_desk  # noqa: F401  (fixtures)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        self.messages.append(message_from_bytes(raw, policy=policy.default))  # type: ignore[arg-type]
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """A real SMTP server on 127.0.0.1 that keeps what it receives."""
    box = Mailbox("127.0.0.1", free_port())
    controller = Controller(box, hostname=box.host, port=box.port, ready_timeout=10)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


# -- a real desk, and vxassist run as a customer would ------------------------


def write_settings(home: Path, **values: Any) -> None:
    """Settings of the agent under ``home`` (``VXASSIST_HOME``), as TOML."""
    import tomli_w

    config = home / "config"
    config.mkdir(parents=True, exist_ok=True)
    path = config / "settings.toml"
    current: dict[str, Any] = {}
    if path.exists():
        import tomllib

        current = tomllib.loads(path.read_text(encoding="utf-8"))
    current.update(values)
    path.write_text(tomli_w.dumps(current), encoding="utf-8")


@dataclass
class AgentProcess:
    """``vxassist`` run in a subprocess with its own home and a file secret store."""

    home: Path

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["VXASSIST_HOME"] = str(self.home)
        env["VXASSIST_POLICY"] = str(self.home / "policy.toml")
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "vxassist", *args]

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def json(self, *args: str) -> Any:
        done = self.run(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )


@pytest.fixture
def agent_process(tmp_path: Path) -> AgentProcess:
    home = tmp_path / "agent-home"
    write_settings(
        home,
        secrets_backend="file",
        smtp={"host": "127.0.0.1", "port": free_port(), "timeout_s": 5},
    )
    return AgentProcess(home)


CASE_FLAGS: tuple[str, ...] = (
    "--company",
    "Acme Hotels",
    "--install-type",
    "single server",
    "--location",
    "Reno, NV",
    "--database-type",
    "SQL Server 2019",
    "--vxtracker-server",
    "vxsrv01 7.4.2",
    "--pbx-manufacturer",
    "Avaya",
    "--pbx-model",
    "IP Office 500 V2",
    "--contact-name",
    "Bob Jones",
    "--contact-phone",
    "+1 775 555 0100",
    "--contact-email",
    "bob@acme.example.com",
    "--brief",
    "Calls from the front desk are not recorded",
    "--details",
    "Since Monday no calls appear.",
    "--steps-taken",
    "Restarted the service.",
    "--priority",
    "2",
    "--no-system-report",
)
