"""The remote-session service: runs approved grants until they end.

``start(grant, relay)`` records the grant, opens (or shares) the tunnel to the
relay and schedules the end at ``grant.not_after``: certificates are checked
only at login, so this timer is what ends a live session on time. ``end()``
(End now, revoke, deadline, agent stop) closes every channel and connection of
the session within a second, releases the tunnel when no session needs it, and
spends the grant so it never opens again. Every step goes to the audit log and,
as a plain dict, to ``on_event`` (for the tray or the broker).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncssh

from vxassist.paths import Paths
from vxassist.remote.audit import AuditLog
from vxassist.remote.children import AccountFiles, SessionAccountError, session_account
from vxassist.remote.errors import AuditError, GrantError, RemoteError, TunnelError
from vxassist.remote.grants import Grant, GrantTable, default_file_roots
from vxassist.remote.hostkey import ensure_host_key, load_host_certificate, load_host_key
from vxassist.remote.server import (
    KEEPALIVE_S,
    LOGIN_TIMEOUT_S,
    MAX_PACKET,
    SERVER_CIPHERS,
    WINDOW,
    AgentSSHServer,
    ServerConfig,
    TerminalWatcher,
)
from vxassist.remote.tunnel import RelayEndpoint, Tunnel
from vxassist.settings import RemotePolicy

__all__ = ["RelayEndpoint", "RemoteSessionService"]

log = logging.getLogger(__name__)

#: how long every channel and connection get to close before they are cut
CLOSE_WITHIN_S = 1.0
#: how long a lost tunnel may take to come back before its sessions end
RESUME_GRACE_S = 60.0
#: the live sessions, on disk: what a restart after a crash reports as ended
LIVE_FILE = "live_sessions.json"
LEFTOVER_REASON = "the agent stopped unexpectedly"

#: summary keys that count things the engineer did
_NOTED = {
    "login": "logins",
    "process": "commands",
    "file": "files",
    "forward": "forwards",
    "recording": "recordings",
}


@dataclass
class _Live:
    grant: Grant
    relay: RelayEndpoint
    started_at: datetime
    timer: asyncio.TimerHandle | None = None
    servers: set[AgentSSHServer] = field(default_factory=set)
    notes: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {k: [] for k in _NOTED.values()}
    )
    refusals: int = 0
    #: set while the session is being ended; holds the summary when done
    ending: asyncio.Future[dict[str, Any]] | None = None


class RemoteSessionService:
    """Runs approved sessions: opens the tunnel, serves the engineer, ends on time."""

    def __init__(
        self,
        paths: Paths,
        policy: RemotePolicy,
        audit: AuditLog,
        user_ca_public_key: str,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        shell: str = "",
        home: Path | None = None,
        resume_grace_s: float = RESUME_GRACE_S,
        login_timeout_s: float = LOGIN_TIMEOUT_S,
        live_terminals: bool = False,
    ) -> None:
        self.paths = paths
        self.policy = policy
        self.audit = audit
        self.on_event = on_event
        self._clock = clock or (lambda: datetime.now(UTC))
        try:
            ca_key = asyncssh.import_public_key(user_ca_public_key)
        except (ValueError, asyncssh.KeyImportError) as exc:
            raise RemoteError(
                "The vendor's CA key from enrollment is damaged; enroll this host again.",
                detail=str(exc),
            ) from exc
        self._config = ServerConfig(
            ca_key=ca_key,
            file_roots=default_file_roots(policy, home),
            forward_targets=tuple(policy.forward_targets),
            recordings_dir=paths.recordings_dir,
            shell=shell,
            home=str(home) if home else "",
        )
        #: publish every PTY's output to ``on_event`` (the tray's live view); off: no cost
        self.live_terminals = live_terminals
        self._resume_grace_s = resume_grace_s
        self._login_timeout_s = login_timeout_s
        self._grants = GrantTable()
        self._live: dict[str, _Live] = {}
        self._ended: dict[str, dict[str, Any]] = {}
        self._tunnels: dict[RelayEndpoint, Tunnel] = {}
        self._tunnel_lock = asyncio.Lock()
        #: teardowns still running (a session leaves ``_live`` before its end is written)
        self._teardowns: set[asyncio.Task[dict[str, Any]]] = set()
        self._live_file = paths.data_dir / LIVE_FILE
        #: what an earlier run left in the live file, read before this run writes it
        self._leftovers = self._read_live_file()

    # -- ServerHost, for the embedded server ---------------------------------------------

    def now(self) -> datetime:
        return self._clock()

    def live_grant(self, session_id: str, now: datetime) -> Grant | None:
        return self._grants.live(session_id, now)

    def spent_reason(self, session_id: str) -> str | None:
        return self._grants.spent_reason(session_id)

    def record(self, event: str, **fields: Any) -> None:
        line = self.audit.append(event, **fields)
        log.info("session %s: %s (audit %s)", fields.get("session_id", "-"), event, line["seq"])
        live = self._live.get(str(fields.get("session_id", "")))
        if live is not None:
            bucket = _NOTED.get(event)
            if bucket:
                live.notes[bucket].append(
                    {k: v for k, v in fields.items() if k != "session_id"} | {"ts": line["ts"]}
                )
            if event.endswith("_refused"):
                live.refusals += 1
        self._emit(line)

    def attach(self, session_id: str, server: AgentSSHServer) -> bool:
        live = self._live.get(session_id)
        if live is None or self._grants.live(session_id, self.now()) is None:
            return False
        live.servers.add(server)
        return True

    def detach(self, session_id: str, server: AgentSSHServer) -> None:
        live = self._live.get(session_id)
        if live is not None:
            live.servers.discard(server)

    def terminal_watcher(
        self, session_id: str, channel: str, cols: int, rows: int
    ) -> TerminalWatcher | None:
        """Publish a PTY's output, as the recorder gets it, to ``on_event`` (raw bytes).

        Events: ``terminal_output`` (``data``, ``width``, ``height``), ``terminal_resize``
        and ``terminal_closed``, each with ``session_id`` and ``channel`` (the recording's
        file name). Nothing is formatted per chunk; the watcher decodes and draws.
        """
        sink = self.on_event
        if not self.live_terminals or sink is None:
            return None
        size = [cols, rows]

        def watch(kind: str, data: bytes) -> None:
            if kind == "o":
                event = "terminal_output"
            elif kind == "r":
                width, _, height = data.partition(b"x")
                size[:] = [int(width), int(height)]
                event, data = "terminal_resize", b""
            else:
                event = "terminal_closed"
            try:
                sink(
                    {
                        "event": event,
                        "session_id": session_id,
                        "channel": channel,
                        "data": data,
                        "width": size[0],
                        "height": size[1],
                    }
                )
            except Exception:  # a display must never break the engineer's session
                log.exception("terminal watcher failed")

        return watch

    def _emit(self, event: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(dict(event))

    # -- the service ---------------------------------------------------------------------

    def _server_options(self) -> dict[str, Any]:
        key = load_host_key(self.paths)
        cert = load_host_certificate(self.paths)
        return {
            "server_host_keys": [(key, cert)] if cert is not None else [key],
            "login_timeout": self._login_timeout_s,
            "keepalive_interval": KEEPALIVE_S,
            "keepalive_count_max": 3,
            "agent_forwarding": False,
            "x11_forwarding": False,
            "password_auth": False,
            "kbdint_auth": False,
            "host_based_auth": False,
            "gss_host": None,
            "public_key_auth": True,
            "encoding": None,
            # a real PTY edits lines; asyncssh's editor would only wrap every channel
            "line_editor": False,
            "window": WINDOW,
            "max_pktsize": MAX_PACKET,
            "allow_scp": True,
            # AES-GCM runs in one hardware-assisted call per packet; the stream is
            # encrypted twice (engineer session inside the relay tunnel), so this counts
            "encryption_algs": SERVER_CIPHERS,
        }

    async def _tunnel_for(self, relay: RelayEndpoint) -> Tunnel:
        async with self._tunnel_lock:
            tunnel = self._tunnels.get(relay)
            if tunnel is not None:
                return tunnel
            ensure_host_key(self.paths)

            async def gone() -> None:
                await self._tunnel_gone(relay)

            tunnel = Tunnel(
                relay,
                load_host_key(self.paths),
                lambda: AgentSSHServer(self, self._config),
                self._server_options(),
                on_state=self._tunnel_state,
                on_gone=gone,
                grace_s=self._resume_grace_s,
            )
            await tunnel.open()
            self._tunnels[relay] = tunnel
            return tunnel

    def _tunnel_state(self, state: str, fields: dict[str, Any]) -> None:
        port = fields.get("listen_port")
        sessions = sorted(sid for sid, live in self._live.items() if live.relay.listen_port == port)
        self._emit(self.audit.append(state, sessions=sessions, **fields))

    async def _tunnel_gone(self, relay: RelayEndpoint) -> None:
        for sid, live in list(self._live.items()):
            if live.relay == relay:
                await self.end(sid, "the relay stayed unreachable; ask for a new session")

    def _use_session_account(self, grant: Grant) -> None:
        """Run this grant's processes and files as the machine policy's session account.

        Raises :class:`SessionAccountError` (a sentence) when it cannot be used.
        """
        account = session_account(self.policy.session_account, self.policy.allow_root_session)
        config = self._config
        if account == config.account and (config.files is not None or account is None):
            return
        files = None
        if account is not None:
            try:
                files = AccountFiles(account)
            except SessionAccountError:
                if any(scope.kind == "files" for scope in grant.scopes):
                    raise
        roots = config.file_roots
        if account is not None and not self.policy.file_roots:
            roots = default_file_roots(self.policy, Path(account.home))
        if config.files is not None:
            config.files.close()
        self._config = replace(config, account=account, files=files, file_roots=roots)

    async def start(self, grant: Grant, relay: RelayEndpoint) -> None:
        """Record the grant, open the tunnel, and schedule the end at ``grant.not_after``."""
        now = self.now()
        if grant.not_after <= now:
            raise GrantError("This grant has already ended; ask for a new session.")
        self._grants.add(grant)
        try:
            self._use_session_account(grant)
        except SessionAccountError as exc:
            self._grants.spend(grant.session_id, exc.message)
            self.record("session_refused", session_id=grant.session_id, reason=exc.message)
            raise
        live = _Live(grant, relay, now)
        self._live[grant.session_id] = live
        self._write_live_file()
        self.record(
            "session_start",
            session_id=grant.session_id,
            engineer=grant.engineer,
            case_number=grant.case_number,
            scopes=[str(s) for s in grant.scopes],
            not_before=grant.not_before.isoformat(),
            not_after=grant.not_after.isoformat(),
            key_id=grant.key_id,
            relay=f"{relay.host}:{relay.port}",
            listen_port=relay.listen_port,
        )
        try:
            await self._tunnel_for(relay)
        except (RemoteError, OSError) as exc:
            await self.end(grant.session_id, "the tunnel to the relay could not be opened")
            if isinstance(exc, TunnelError):
                raise
            raise TunnelError(
                "The tunnel to the relay could not be opened; check the network and try again.",
                detail=str(exc),
            ) from exc
        if live.ending is not None or grant.session_id not in self._live:
            # ended (End now, revoke, agent stop) while the tunnel was opening
            await self._release_tunnel(relay)
            raise GrantError(
                "The session was ended before it could start; ask for a new one.",
                detail=self._grants.spent_reason(grant.session_id) or "",
            )
        loop = asyncio.get_running_loop()
        # the live grant: an extension approved while the tunnel opened counts
        delay = max(0.0, (live.grant.not_after - self.now()).total_seconds())
        live.timer = loop.call_later(delay, self._deadline, grant.session_id)

    def extend(
        self, session_id: str, not_after: datetime, event: str = "session_extended", **fields: Any
    ) -> Grant:
        """Give a live session a new end: a new grant replaces the old one, the deadline
        timer moves, and connections already open follow the new window.

        ``event`` names the audit line (``session_extended``; a withdrawn extension
        puts the old end back under another name). Raises :class:`GrantError` when
        the session is not live or ``not_after`` is not in the future.
        """
        now = self.now()
        live = self._live.get(session_id)
        if live is None or live.ending is not None or self._grants.live(session_id, now) is None:
            raise GrantError(
                "This session has already ended; ask for a new session.", detail=session_id
            )
        if not_after <= now:
            raise GrantError(
                "The new end of the session is already past; ask for a new session.",
                detail=f"{session_id}: {not_after.isoformat()}",
            )
        old = live.grant
        grant = replace(old, not_after=not_after)
        self._grants.replace(grant)
        live.grant = grant
        for server in live.servers:
            # a connection keeps the grant it logged in with; give it the new window
            if server.grant is not None and server.grant.session_id == session_id:
                server.grant = grant
        if live.timer is not None:
            live.timer.cancel()
            delay = max(0.0, (not_after - now).total_seconds())
            live.timer = asyncio.get_running_loop().call_later(delay, self._deadline, session_id)
        self.record(
            event,
            session_id=session_id,
            engineer=grant.engineer,
            case_number=grant.case_number,
            previous_not_after=old.not_after.isoformat(),
            not_after=not_after.isoformat(),
            **fields,
        )
        return grant

    async def _release_tunnel(self, relay: RelayEndpoint) -> None:
        """Close the tunnel to ``relay`` when no session needs it any more."""
        if any(other.relay == relay for other in self._live.values()):
            return
        tunnel = self._tunnels.pop(relay, None)
        if tunnel is not None:
            await tunnel.close()

    def _deadline(self, session_id: str) -> None:
        task = asyncio.ensure_future(self.end(session_id, "the grant's time is up"))
        task.add_done_callback(_log_failure)

    async def end(self, session_id: str, reason: str) -> dict[str, Any]:
        """Close the session now (every channel within a second); returns its summary.

        The teardown runs as a task of its own, shielded from its callers: a caller
        that is cancelled (or a second End) cannot leave it half done, and a step that
        fails still lets go of the session, so no later end waits on it forever.
        """
        live = self._live.get(session_id)
        if live is None:
            if session_id in self._ended:
                return self._ended[session_id]
            self._grants.spend(session_id, reason)  # never usable later either
            return {}
        if live.ending is None:
            self._grants.spend(session_id, reason)
            if live.timer is not None:
                live.timer.cancel()
            task = asyncio.ensure_future(self._teardown(session_id, live, reason))
            self._teardowns.add(task)
            task.add_done_callback(self._teardowns.discard)
            live.ending = task
        return await asyncio.shield(live.ending)

    async def _teardown(self, session_id: str, live: _Live, reason: str) -> dict[str, Any]:
        try:
            servers = list(live.servers)
            for server in servers:
                server.close(engineer_reason(reason))
            if servers:
                waits = [asyncio.ensure_future(s.wait_closed()) for s in servers]
                waits += [task for s in servers for task in s.tasks]
                _, pending = await asyncio.wait(waits, timeout=CLOSE_WITHIN_S)
                for server in servers:
                    server.abort()
                for task in pending:
                    task.cancel()
        finally:
            if self._live.get(session_id) is live:
                del self._live[session_id]
            self._write_live_file()
        await self._release_tunnel(live.relay)
        summary = self._summary(live, reason)
        self._ended[session_id] = summary
        self._emit(
            self.audit.append("teardown", session_id=session_id, reason=reason, summary=summary)
        )
        return summary

    def _summary(self, live: _Live, reason: str) -> dict[str, Any]:
        grant = live.grant
        return {
            "session_id": grant.session_id,
            "engineer": grant.engineer,
            "case_number": grant.case_number,
            "scopes": [str(s) for s in grant.scopes],
            "not_before": grant.not_before.isoformat(),
            "not_after": grant.not_after.isoformat(),
            "started_at": live.started_at.isoformat(),
            "ended_at": self.now().isoformat(),
            "end_reason": reason,
            "refusals": live.refusals,
            **{k: list(v) for k, v in live.notes.items()},
            **self._audit_position(),
        }

    def _audit_position(self) -> dict[str, Any]:
        """The audit log's last line (seq, hash): the desk keeps it as a copy outside the host."""
        try:
            return {"audit": self.audit.last()}
        except AuditError as exc:
            log.warning("audit position unknown: %s", exc.detail)
            return {}

    def active(self) -> list[Grant]:
        return [live.grant for live in self._live.values() if live.ending is None]

    # -- sessions a killed agent left behind ---------------------------------------------

    def _read_live_file(self) -> dict[str, dict[str, Any]]:
        try:
            raw = json.loads(self._live_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("the live sessions file %s is unreadable: %s", self._live_file, exc)
            return {}
        if not isinstance(raw, dict):
            return {}
        return {str(k): dict(v) for k, v in raw.items() if isinstance(v, dict)}

    def _write_live_file(self) -> None:
        """Keep the live sessions on disk (one small file, replaced in one step)."""
        live = {
            sid: {
                "session_id": sid,
                "engineer": s.grant.engineer,
                "case_number": s.grant.case_number,
                "scopes": [str(x) for x in s.grant.scopes],
                "not_before": s.grant.not_before.isoformat(),
                "not_after": s.grant.not_after.isoformat(),
                "started_at": s.started_at.isoformat(),
            }
            for sid, s in self._live.items()
        }
        data = {**self._leftovers, **live}
        tmp = self._live_file.with_name(self._live_file.name + ".tmp")
        try:
            self._live_file.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, self._live_file)
        except OSError as exc:
            log.warning("the live sessions file %s cannot be written: %s", self._live_file, exc)

    def take_leftovers(self) -> list[dict[str, Any]]:
        """Sessions an earlier run left live (the agent was killed): ended now.

        Each is audited as ended ("the agent stopped unexpectedly") and returned
        as a summary for the desk; the caller reports them and calls
        :meth:`leftover_reported` once the desk has it (until then the file keeps
        it, and a later start offers it again, audited once). Their processes
        died with that agent (see :mod:`vxassist.remote.children`).
        """
        summaries = []
        for sid, info in list(self._leftovers.items()):
            if sid in self._live:
                del self._leftovers[sid]
                continue
            if info.get("ended"):  # audited by an earlier start; the desk still waits
                summaries.append(dict(info["summary"]))
                continue
            self._grants.spend(sid, LEFTOVER_REASON)
            summary = {
                **info,
                "session_id": sid,
                "ended_at": self.now().isoformat(),
                "end_reason": LEFTOVER_REASON,
                **self._audit_position(),
            }
            self._emit(
                self.audit.append(
                    "teardown", session_id=sid, reason=LEFTOVER_REASON, summary=summary
                )
            )
            self._leftovers[sid] = {"ended": True, "summary": summary}
            summaries.append(summary)
        self._write_live_file()
        return summaries

    def leftover_reported(self, session_id: str) -> None:
        """The desk has the end of a session an earlier run left: forget it."""
        if self._leftovers.pop(session_id, None) is not None:
            self._write_live_file()

    async def close(self) -> None:
        """End every session ("agent stopped") and every tunnel."""
        for session_id in list(self._live):
            await self.end(session_id, "agent stopped")
        if self._teardowns:  # ends already under way finish and are written first
            await asyncio.wait(set(self._teardowns))
        for relay in list(self._tunnels):
            tunnel = self._tunnels.pop(relay)
            await tunnel.close()


#: what the engineer's client shows when the session ends, by the end's reason
_ENGINEER_REASONS = {
    "the grant's time is up": "the session's time is up",
    "revoked": "revoked by the desk",
    "agent stopped": "the agent at the host stopped",
}


def engineer_reason(reason: str) -> str:
    """The disconnect message for an end: why, in the engineer's words."""
    if reason.startswith("revoked"):
        return "revoked by the desk"
    return _ENGINEER_REASONS.get(reason, reason)


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("ending a session failed", exc_info=task.exception())
