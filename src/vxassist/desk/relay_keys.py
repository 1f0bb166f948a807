"""What the relay's sshd may let a key do: its ``AuthorizedKeysCommand``.

``vxassist desk relay-keys [--db URL] USER KEYTYPE KEY`` (sshd passes ``%u %t %k``)
prints at most one authorized_keys line:

- for ``vxagent``: an enrolled host's key may listen on its own relay port and
  nothing else: ``restrict,port-forwarding,permitlisten="127.0.0.1:PORT"``;
- for ``vxeng``: an engineer's session key may open the ports of the sessions it
  holds a live grant for: ``restrict,port-forwarding,permitopen="127.0.0.1:PORT"``
  (one ``permitopen`` per port, on one line, since sshd uses the first line that
  matches a key);
- with ``--relay NAME`` (a desk with several relays): only hosts placed on that
  relay, and only sessions of such hosts (hosts placed before relays had names
  count as on every relay: they know only the one they enrolled with);
- otherwise nothing, and exit 0: an unknown user or key, a certificate, an
  expired, revoked or ended session, a closed case. Deny by default.

sshd runs this for every login attempt, so it imports only the database driver
(``sqlite3`` or ``psycopg``), never SQLAlchemy or FastAPI; its decisions are the
pure functions at the top.
"""

from __future__ import annotations

import base64
import binascii
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from vxassist.errors import VxError

AGENT_USER = "vxagent"
ENGINEER_USER = "vxeng"
#: a certificate is valid this much before its grant (clock skew); the relay matches it
SKEW = timedelta(seconds=30)
#: case statuses that end every session on the case
CLOSED_CASE_STATUSES = frozenset({"closed"})
_KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "ssh-rsa",
    }
)
_B64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


@dataclass(frozen=True)
class EngineerGrant:
    """One approved session of a key, as the database holds it."""

    listen_port: int
    not_before: datetime
    not_after: datetime
    case_status: str


class RelayLookup(Protocol):
    def agent_port(self, key: str) -> int | None: ...
    def engineer_grants(self, key: str) -> list[EngineerGrant]: ...


def normalized_key(key_type: str, key_b64: str) -> str | None:
    """``TYPE BASE64`` if the two look like a plain public key of a type we issue for."""
    if key_type not in _KEY_TYPES or not _B64.match(key_b64) or len(key_b64) > 4096:
        return None
    try:
        blob = base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    # the blob starts with its own type: a mismatch is a forged or damaged key
    if len(blob) < 4 or blob[4 : 4 + int.from_bytes(blob[:4], "big")] != key_type.encode():
        return None
    return f"{key_type} {key_b64}"


def agent_line(port: int, key: str) -> str:
    return f'restrict,port-forwarding,permitlisten="127.0.0.1:{port}" {key}'


def engineer_line(ports: Sequence[int], key: str) -> str:
    opens = ",".join(f'permitopen="127.0.0.1:{p}"' for p in ports)
    return f"restrict,port-forwarding,{opens} {key}"


def live_ports(grants: Iterable[EngineerGrant], now: datetime) -> list[int]:
    """Ports of the grants live at ``now`` on cases still open, sorted, once each."""
    ports = {
        g.listen_port
        for g in grants
        if g.not_before - SKEW <= now < g.not_after and g.case_status not in CLOSED_CASE_STATUSES
    }
    return sorted(ports)


def authorized_lines(
    user: str, key_type: str, key_b64: str, lookup: RelayLookup, now: datetime
) -> list[str]:
    """The authorized_keys lines for one login attempt (empty = refused)."""
    key = normalized_key(key_type, key_b64)
    if key is None:
        return []
    if user == AGENT_USER:
        port = lookup.agent_port(key)
        return [agent_line(port, key)] if port else []
    if user == ENGINEER_USER:
        ports = live_ports(lookup.engineer_grants(key), now)
        return [engineer_line(ports, key)] if ports else []
    return []


# -- the database, read with the bare driver ----------------------------------

_AGENT_SQL = "SELECT listen_port FROM agent_relays WHERE host_key = {p}"
_ENGINEER_SQL = (
    "SELECT r.listen_port, s.not_before, s.not_after, c.status"
    " FROM remote_sessions s"
    " JOIN agent_relays r ON r.agent_id = s.agent_id"
    " JOIN cases c ON c.id = s.case_id"
    " WHERE s.public_key = {p} AND s.status = 'approved'"
)


def _as_utc(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_ON_RELAY = " AND ({col} = {p} OR {col} IS NULL)"


class DbLookup:
    """Reads ``agent_relays`` / ``remote_sessions`` through a DB-API connection;
    with ``relay``, only what is placed on that relay."""

    def __init__(self, conn: Any, placeholder: str, relay: str = "") -> None:
        self._conn = conn
        self._p = placeholder
        self._relay = relay

    def _where_relay(
        self, sql: str, col: str, args: tuple[str, ...]
    ) -> tuple[str, tuple[str, ...]]:
        if not self._relay:
            return sql.format(p=self._p), args
        return (sql + _ON_RELAY).format(p=self._p, col=col), (*args, self._relay)

    def agent_port(self, key: str) -> int | None:
        cur = self._conn.cursor()
        cur.execute(*self._where_relay(_AGENT_SQL, "relay", (key,)))
        row = cur.fetchone()
        return int(row[0]) if row else None

    def engineer_grants(self, key: str) -> list[EngineerGrant]:
        cur = self._conn.cursor()
        cur.execute(*self._where_relay(_ENGINEER_SQL, "r.relay", (key,)))
        return [
            EngineerGrant(int(port), _as_utc(nb), _as_utc(na), str(status))
            for port, nb, na, status in cur.fetchall()
            if nb is not None and na is not None
        ]


class RelayKeysError(VxError):
    """The desk database could not answer; the login is refused."""


def connect(url: str) -> tuple[Any, str, type[Exception]]:
    """A read-only DB-API connection for a desk URL, its placeholder and its error class."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "sqlite":
        import sqlite3

        database = unquote(url.split(":///", 1)[1]) if ":///" in url else ""
        if not database or database == ":memory:" or not Path(database).exists():
            raise RelayKeysError("There is no desk database there.", repr(database))
        try:
            conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5.0)
        except sqlite3.Error as exc:
            raise RelayKeysError("The desk database cannot be opened.", repr(exc)) from exc
        return conn, "?", sqlite3.Error
    if scheme in ("postgresql", "postgres"):
        import psycopg

        dsn = url.replace(parts.scheme + "://", "postgresql://", 1)
        try:
            pg = psycopg.connect(dsn, connect_timeout=5, autocommit=True)
        except psycopg.Error as exc:
            raise RelayKeysError("The desk database cannot be reached.", repr(exc)) from exc
        return pg, "%s", psycopg.Error
    raise RelayKeysError(
        "Give the desk database as sqlite:///PATH or postgresql+psycopg://...",
        f"scheme {parts.scheme!r}",
    )


def lookup_lines(
    url: str, user: str, key_type: str, key_b64: str, now: datetime, relay: str = ""
) -> list[str]:
    """The lines for one login attempt, read from the desk database at ``url``."""
    if user not in (AGENT_USER, ENGINEER_USER) or normalized_key(key_type, key_b64) is None:
        return []
    conn, placeholder, driver_error = connect(url)
    try:
        lookup = DbLookup(conn, placeholder, relay)
        return authorized_lines(user, key_type, key_b64, lookup, now)
    except driver_error as exc:
        raise RelayKeysError("The desk database could not be read.", repr(exc)) from exc
    finally:
        conn.close()


def run(url: str, user: str, key_type: str, key_b64: str, relay: str = "") -> int:
    """Print the lines; on any failure print nothing (sshd then refuses) and say why on stderr."""
    try:
        lines = lookup_lines(url, user, key_type, key_b64, datetime.now(UTC), relay)
    except (RelayKeysError, OSError, ValueError) as exc:
        detail = exc.detail if isinstance(exc, RelayKeysError) else repr(exc)
        print(f"vxassist relay-keys: refused: {exc} ({detail})", file=sys.stderr)
        return 0
    for line in lines:
        print(line)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vxassist.desk.relay_keys [--db URL] [--relay NAME] USER KEYTYPE KEY``.

    The same as ``vxassist desk relay-keys`` without loading the rest of the
    command line (about a quarter of the start-up time): for busy relays.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="vxassist-relay-keys", description=main.__doc__)
    parser.add_argument("--db", metavar="URL", default="")
    parser.add_argument("--relay", metavar="NAME", default="")
    parser.add_argument("user")
    parser.add_argument("key_type")
    parser.add_argument("key")
    args = parser.parse_args(argv)
    url = args.db
    if not url:
        from vxassist.paths import Paths

        url = f"sqlite:///{Paths.from_env().data_dir / 'desk.sqlite3'}"
    return run(url, args.user, args.key_type, args.key, args.relay)


if __name__ == "__main__":
    sys.exit(main())
