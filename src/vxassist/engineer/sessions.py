"""The engineer's remote sessions: a key per session, the request, the wait, the files.

Each session lives in its own folder under the engineer's data folder
(``engineer-sessions/ID/``): a fresh ed25519 key pair (0600), the certificate the
desk signed once the customer approved, the known_hosts file and the ssh config
that ``ssh``, ``sftp``, ``scp`` and IDEs use with ``-F``. An approved extension
brings a certificate for the longer window, written over the old one, so new
logins work until the new end. The desk is reached through ``DeskClient.request`` only.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from vxassist.deskclient import API, DeskClient, DeskUnavailable, quote_path
from vxassist.engineer.account import EngineerError
from vxassist.engineer.sshconfig import SessionEndpoint, known_hosts, ssh_config
from vxassist.paths import Paths

#: one long-poll round; the HTTP timeout leaves the desk time to answer
POLL_S = 25.0
PENDING = "pending"
#: statuses after which a session's key can never be used again
FINISHED = frozenset({"denied", "expired", "revoked", "ended"})


class SessionNotReady(EngineerError):
    """The session is not (or no longer) approved, so there is nothing to connect to."""


@dataclass(frozen=True)
class SessionFiles:
    """Where one session's files live."""

    folder: Path

    @property
    def key(self) -> Path:
        return self.folder / "id_ed25519"

    @property
    def public_key(self) -> Path:
        return self.folder / "id_ed25519.pub"

    @property
    def certificate(self) -> Path:
        # not "id_ed25519-cert.pub": ssh would offer it to the relay hop by itself
        return self.folder / "session.cert"

    @property
    def known_hosts(self) -> Path:
        return self.folder / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.folder / "ssh_config"

    @property
    def record(self) -> Path:
        return self.folder / "session.json"


def sessions_dir(paths: Paths) -> Path:
    return paths.data_dir / "engineer-sessions"


def files_for(paths: Paths, session_id: str) -> SessionFiles:
    if not session_id or not all(c.isalnum() for c in session_id) or len(session_id) > 40:
        raise EngineerError(
            f"{session_id[:50]!r} is not a session id; `vxassist engineer list` shows yours.",
        )
    return SessionFiles(sessions_dir(paths) / session_id)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def new_key_pair(paths: Paths) -> tuple[SessionFiles, str]:
    """A fresh ed25519 key pair in a folder of its own (renamed once the desk names it)."""
    import asyncssh

    base = sessions_dir(paths)
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = base / f"new-{secrets.token_hex(6)}"
    folder.mkdir(mode=0o700)
    files = SessionFiles(folder)
    key = asyncssh.generate_private_key("ssh-ed25519", comment="vxassist-session")
    _write_private(files.key, key.export_private_key())
    public = key.export_public_key().decode().strip()
    files.public_key.write_text(public + "\n", encoding="utf-8")
    return files, public


def request_session(
    client: DeskClient,
    paths: Paths,
    case_number: int,
    scopes: list[str],
    minutes: int,
    reason: str,
) -> tuple[dict[str, Any], SessionFiles]:
    """Make a key, ask the desk; the session's files end up under its id."""
    files, public = new_key_pair(paths)
    try:
        session = client.request(
            "POST",
            f"{API}/engineer/sessions",
            json={
                "case_number": case_number,
                "scopes": scopes,
                "minutes": minutes,
                "reason": reason,
                "public_key": public,
            },
        )
    except BaseException:
        shutil.rmtree(files.folder, ignore_errors=True)
        raise
    final = files_for(paths, str(session["session_id"]))
    files.folder.rename(final.folder)
    save(final, session)
    return session, final


def save(files: SessionFiles, session: dict[str, Any]) -> None:
    files.record.write_text(json.dumps(session, indent=2), encoding="utf-8")
    if session.get("certificate"):
        files.certificate.write_text(str(session["certificate"]).strip() + "\n", encoding="utf-8")


def get(client: DeskClient, session_id: str, wait: float = 0) -> dict[str, Any]:
    params = {"wait": str(wait)} if wait else None
    return client.request(
        "GET",
        f"{API}/engineer/sessions/{quote_path(session_id)}",
        params=params,
        timeout=(wait + 15.0) if wait else None,
    )


def wait_for_decision(
    client: DeskClient,
    session_id: str,
    on_round: Callable[[dict[str, Any]], None] | None = None,
    poll_s: float = POLL_S,
) -> dict[str, Any]:
    """Long-poll until the session is no longer pending; a desk hiccup is retried."""
    while True:
        try:
            session = get(client, session_id, wait=poll_s)
        except DeskUnavailable:
            import time

            time.sleep(2.0)
            continue
        if session.get("status") != PENDING:
            return session
        if on_round is not None:
            on_round(session)


def request_extension(
    client: DeskClient, session_id: str, minutes: int, reason: str = ""
) -> dict[str, Any]:
    """Ask the customer, through the desk, for ``minutes`` more on a live session."""
    return client.request(
        "POST",
        f"{API}/engineer/sessions/{quote_path(session_id)}/extensions",
        json={"minutes": minutes, "reason": reason},
    )


def get_extension(
    client: DeskClient, session_id: str, number: int, wait: float = 0
) -> dict[str, Any]:
    params = {"wait": str(wait)} if wait else None
    return client.request(
        "GET",
        f"{API}/engineer/sessions/{quote_path(session_id)}/extensions/{int(number)}",
        params=params,
        timeout=(wait + 15.0) if wait else None,
    )


#: how long past the desk's own expiry of an extension the engineer still waits
EXTENSION_SLACK_S = 30.0


def wait_for_extension(
    client: DeskClient,
    extension: dict[str, Any],
    on_round: Callable[[dict[str, Any]], None] | None = None,
    poll_s: float = POLL_S,
    clock: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """Long-poll until the customer has answered ``extension``; bounded by its expiry.

    The desk lets an unanswered extension lapse at ``expires_at``; this wait ends a
    little after that in any case, with the last answer the desk gave.
    """
    import time

    now = clock or time.monotonic
    try:
        created = datetime.fromisoformat(str(extension["created_at"]))
        expires = datetime.fromisoformat(str(extension["expires_at"]))
        bound_s = max(0.0, (expires - created).total_seconds()) + EXTENSION_SLACK_S
    except (KeyError, ValueError):
        bound_s = 600.0
    deadline = now() + bound_s
    sid, number = str(extension["session_id"]), int(extension["number"])
    latest = extension
    while latest.get("status") == PENDING and now() < deadline:
        try:
            latest = get_extension(client, sid, number, wait=min(poll_s, deadline - now()))
        except DeskUnavailable:
            time.sleep(2.0)
            continue
        if latest.get("status") == PENDING and on_round is not None:
            on_round(latest)
    return latest


def revoke(client: DeskClient, session_id: str, reason: str = "") -> dict[str, Any]:
    return client.request(
        "POST",
        f"{API}/engineer/sessions/{quote_path(session_id)}/revoke",
        json={"reason": reason},
    )


def list_sessions(client: DeskClient) -> list[dict[str, Any]]:
    body = client.request("GET", f"{API}/engineer/sessions")
    rows = body.get("sessions")
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def prepare(paths: Paths, session: dict[str, Any]) -> SessionFiles:
    """Write certificate, known_hosts and ssh config for an approved session."""
    sid = str(session.get("session_id", ""))
    files = files_for(paths, sid)
    status = session.get("status")
    if status != "approved" or not session.get("certificate"):
        raise SessionNotReady(
            f"Session {sid} is {status}, not approved; there is nothing to connect to. "
            "Ask for a new one with `vxassist engineer request`.",
        )
    if not files.key.exists():
        raise SessionNotReady(
            f"The key of session {sid} is not on this computer; connect from the computer "
            "that asked for it, or ask for a new session.",
        )
    save(files, session)
    relay = session.get("relay") or {}
    try:
        endpoint = SessionEndpoint(
            session_id=sid,
            relay_host=str(relay["host"]),
            relay_port=int(relay["port"]),
            relay_user=str(relay["user"]),
            relay_known_hosts=str(relay.get("known_hosts", "")),
            listen_port=int(session["listen_port"]),
            host_alias=str(session["host_alias"]),
            host_ca_public_key=str(session["host_ca_public_key"]),
            identity_file=files.key,
            certificate_file=files.certificate,
            known_hosts_file=files.known_hosts,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise EngineerError(
            "The desk's answer lacks the relay details; ask the desk's operator to check "
            "its relay configuration.",
            detail=repr(exc),
        ) from exc
    files.known_hosts.write_text(known_hosts(endpoint), encoding="utf-8")
    files.ssh_config.write_text(ssh_config(endpoint), encoding="utf-8")
    return files


def forget_finished(paths: Paths, known: list[dict[str, Any]]) -> list[str]:
    """Remove the key and files of sessions that are over; the ids removed.

    A spent session key opens nothing, but a private key left lying around is
    one more thing to explain; this keeps the folder to live sessions.
    """
    removed = []
    for session in known:
        sid = str(session.get("session_id", ""))
        if session.get("status") not in FINISHED or not sid.isalnum():
            continue
        folder = sessions_dir(paths) / sid
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(sid)
    return removed


def ssh_command(files: SessionFiles, session_id: str, extra: list[str]) -> list[str]:
    """``ssh -F CONFIG vx-session-ID [extra...]``: ssh reads options after the host too,
    so ``extra`` may hold options (``-L 8080:127.0.0.1:80``), then a remote command."""
    ssh = shutil.which("ssh") or "ssh"
    return [ssh, "-F", str(files.ssh_config), f"vx-session-{session_id}", *extra]
