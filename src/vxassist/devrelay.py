"""A development relay: a small asyncssh server on loopback, for ``vxassist demo`` only.

When this machine has no OpenSSH sshd, the demo still needs something in the
middle of the remote path. This relay enforces the rules the production relay
gets from ``vxassist desk relay-keys``, by asking the same logic
(:mod:`vxassist.desk.relay_keys`) for every login and again for every forward:

- account ``vxagent``: an enrolled host's key may listen on its own port on
  127.0.0.1 (a remote forward) and do nothing else;
- account ``vxeng``: an engineer's key may open a connection to the ports of the
  sessions it holds a live grant for, and do nothing else;
- nobody gets a shell, a command, a subsystem, agent or X11 forwarding;
  unknown keys, certificates and other accounts are refused (deny by default).

It is labelled as what it is: not hardened, not for production, loopback only.

    python -m vxassist.devrelay --folder DIR --db sqlite:///desk.db [--port N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncssh

from vxassist.desk.relay_keys import (
    AGENT_USER,
    ENGINEER_USER,
    RelayLookup,
    authorized_lines,
    lookup_lines,
)
from vxassist.errors import VxError

log = logging.getLogger(__name__)

LABEL = "development relay (vxassist demo only; not hardened, loopback only)"
LOOPBACK = "127.0.0.1"
_LISTEN = re.compile(r'permitlisten="127\.0\.0\.1:(\d+)"')
_OPEN = re.compile(r'permitopen="127\.0\.0\.1:(\d+)"')

#: (user, key type, base64 key) -> the authorized_keys lines relay-keys would print
LinesFor = Callable[[str, str, str], list[str]]


class DevRelayError(VxError):
    """The development relay could not start."""


def lines_from_db(db_url: str) -> LinesFor:
    """The desk's relay-keys answer, read from the desk database at ``db_url``."""

    def lines(user: str, key_type: str, key_b64: str) -> list[str]:
        try:
            return lookup_lines(db_url, user, key_type, key_b64, datetime.now(UTC))
        except VxError as exc:
            log.warning("relay-keys lookup failed, refusing: %s", exc.detail or exc.message)
            return []

    return lines


def lines_from_lookup(lookup: RelayLookup, clock: Callable[[], datetime]) -> LinesFor:
    def lines(user: str, key_type: str, key_b64: str) -> list[str]:
        return authorized_lines(user, key_type, key_b64, lookup, clock())

    return lines


def allowed_ports(lines: list[str], user: str) -> frozenset[int]:
    """The ports an authorized_keys answer lets ``user`` listen on or open."""
    pattern = _LISTEN if user == AGENT_USER else _OPEN if user == ENGINEER_USER else None
    if pattern is None:
        return frozenset()
    return frozenset(int(p) for line in lines for p in pattern.findall(line))


def _key_parts(key: asyncssh.SSHKey) -> tuple[str, str]:
    text = key.export_public_key("openssh").decode("ascii").split()
    return text[0], text[1]


class _RelayConnection(asyncssh.SSHServer):
    """One client of the relay; every decision asks ``lines_for`` again."""

    def __init__(self, lines_for: LinesFor) -> None:
        self._lines_for = lines_for
        self._user = ""
        self._key: tuple[str, str] | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._peer = conn.get_extra_info("peername")

    def begin_auth(self, username: str) -> bool:
        self._user = username
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_ca_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        # certificates never log in to the relay
        return False

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if username not in (AGENT_USER, ENGINEER_USER):
            return False
        parts = _key_parts(key)
        if not allowed_ports(self._lines_for(username, *parts), username):
            log.info("relay: refused key for %s", username)
            return False
        self._key = parts
        return True

    def _ports_now(self) -> frozenset[int]:
        if self._key is None:
            return frozenset()
        return allowed_ports(self._lines_for(self._user, *self._key), self._user)

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        """A remote forward: only an agent, only on loopback, only on its own port."""
        if self._user != AGENT_USER or listen_host not in (LOOPBACK, "localhost"):
            return False
        ok = listen_port in self._ports_now()
        log.info(
            "relay: agent listen on %s:%s %s",
            listen_host,
            listen_port,
            "allowed" if ok else "refused",
        )
        return ok

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool:
        """A local forward: only an engineer, only to a port of a live grant, asked again now."""
        if self._user != ENGINEER_USER or dest_host not in (LOOPBACK, "localhost"):
            return False
        ok = dest_port in self._ports_now()
        log.info(
            "relay: engineer open %s:%s %s", dest_host, dest_port, "allowed" if ok else "refused"
        )
        return ok


class DevRelay:
    """The development relay on ``host:port`` (port 0 = a free one)."""

    def __init__(
        self, folder: Path, lines_for: LinesFor, host: str = LOOPBACK, port: int = 0
    ) -> None:
        if host not in (LOOPBACK, "localhost", "::1"):
            raise DevRelayError("The development relay listens on loopback only.")
        self.folder = folder
        self.host = host
        self.port = port
        self._lines_for = lines_for
        self._server: asyncssh.SSHAcceptor | None = None

    @property
    def host_key_file(self) -> Path:
        return self.folder / "devrelay_host_ed25519"

    def _host_key(self) -> asyncssh.SSHKey:
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.host_key_file.exists():
            key = asyncssh.generate_private_key("ssh-ed25519", comment="vxassist-devrelay")
            key.write_private_key(self.host_key_file)
            self.host_key_file.chmod(0o600)
        return asyncssh.read_private_key(self.host_key_file)

    def host_key_line(self) -> str:
        key = self._host_key().export_public_key("openssh").decode().split()
        return f"{key[0]} {key[1]}"

    def known_hosts_line(self) -> str:
        return f"[{self.host}]:{self.port} {self.host_key_line()}"

    async def start(self) -> DevRelay:
        self._server = await asyncssh.listen(
            self.host,
            self.port,
            server_host_keys=[self._host_key()],
            server_factory=lambda: _RelayConnection(self._lines_for),
            allow_pty=False,
            agent_forwarding=False,
            x11_forwarding=False,
            login_timeout=15,
            keepalive_interval=15,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("%s listening on %s:%s", LABEL, self.host, self.port)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


async def _serve(args: argparse.Namespace) -> int:
    relay = DevRelay(Path(args.folder), lines_from_db(args.db), port=args.port)
    await relay.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    print(f"{LABEL} on {relay.host}:{relay.port}", flush=True)
    await stop.wait()
    await relay.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vxassist.devrelay", description=LABEL)
    parser.add_argument("--folder", required=True, help="where the relay keeps its host key")
    parser.add_argument("--db", required=True, help="the desk database URL (relay-keys logic)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    return asyncio.run(_serve(args))


if __name__ == "__main__":
    raise SystemExit(main())
