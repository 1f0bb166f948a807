"""The embedded SSH server the engineer reaches through the relay's reverse forward.

It accepts one thing: a user certificate signed by the pinned vendor CA whose
principal (the login name, = session id), key id and validity match a live
grant (:func:`~vxassist.remote.grants.check_login`). Plain keys, passwords,
keyboard-interactive, host-based and GSS logins are refused. After login each
channel is checked against the grant's scopes: ``shell`` (PTY shell, exec),
``files`` (SFTP and scp confined to the allowed folders), ``forward:HOST:PORT``
(direct-tcpip to listed local services). Agent, X11 and reverse forwarding are
never allowed. Every decision goes to the audit log through :class:`ServerHost`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import count
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol, cast

import asyncssh
from asyncssh.channel import SSHChannel
from asyncssh.stream import SSHServerStreamSession

from vxassist.remote.children import AccountFiles, ChildAccount
from vxassist.remote.errors import PathEscape, RemoteError
from vxassist.remote.fileio import WriteBehind
from vxassist.remote.forwarding import forward_tcp
from vxassist.remote.grants import Grant, Verdict, check_channel, check_forward, check_login
from vxassist.remote.grants import confine_path as _confine
from vxassist.remote.packets import trim_per_packet_work
from vxassist.remote.recording import AsciicastRecorder
from vxassist.remote.terminal import PipeProcess, Terminal, clamp_size, spawn_terminal
from vxassist.remote.tunnel import writes_joined

log = logging.getLogger(__name__)

#: A 16 MiB window lets the engineer's ssh client queue megabytes per channel; its
#: buffers then churn (memmove, page faults): 3.5 s of its CPU per 100 MB uploaded,
#: 0.3 s with 2 MiB. 2 MiB is just below what sftp keeps in flight (64 x 32 KiB
#: plus headers) and uploads waited for window adjusts; 4 MiB was the fastest.
WINDOW = 4 * 1024 * 1024
LOGIN_TIMEOUT_S = 15
KEEPALIVE_S = 15
#: larger SSH packets: fewer per-packet costs in Python on both SSH layers
MAX_PACKET = 256 * 1024
#: every OpenSSH client since 6.2 speaks these; chacha20 costs asyncssh far more CPU
#: bytes one SFTP read fetches from disk ahead of sequential requests
READ_AHEAD = 1024 * 1024
SERVER_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
_recording_ids = count(1)


class ServerHost(Protocol):
    """What the server needs from the session service that runs it."""

    def now(self) -> datetime: ...

    def live_grant(self, session_id: str, now: datetime) -> Grant | None: ...

    def spent_reason(self, session_id: str) -> str | None: ...

    def record(self, event: str, **fields: Any) -> None: ...

    def attach(self, session_id: str, server: AgentSSHServer) -> bool: ...

    def detach(self, session_id: str, server: AgentSSHServer) -> None: ...

    def terminal_watcher(
        self, session_id: str, channel: str, cols: int, rows: int
    ) -> TerminalWatcher | None:
        """Who watches this channel's terminal live (None: nobody, nothing is passed on)."""
        ...


#: ``watcher("o", data)`` for output as the recorder gets it, ``("r", b"COLSxROWS")`` for a
#: resize, ``("x", b"")`` once the channel's process has ended
TerminalWatcher = Callable[[str, bytes], None]


@dataclass(frozen=True)
class ServerConfig:
    """The fixed parts of the embedded server."""

    ca_key: asyncssh.SSHKey
    file_roots: tuple[Path, ...]
    forward_targets: tuple[str, ...]
    recordings_dir: Path
    shell: str = ""
    home: str = ""
    #: the account sessions run as (the agent is root); None = the agent's own
    account: ChildAccount | None = None
    #: file access as that account (see :class:`~vxassist.remote.children.AccountFiles`)
    files: AccountFiles | None = None


def _cert_time(value: int) -> datetime:
    return datetime.fromtimestamp(min(value, 253402300799), tz=UTC)


def _cert_fields(cert: Any) -> tuple[str, datetime, datetime] | None:
    """Key id and validity of an OpenSSH certificate (asyncssh keeps them unexposed)."""
    try:
        key_id = cert._key_id
        after, before = int(cert._valid_after), int(cert._valid_before)
    except (AttributeError, TypeError, ValueError):
        return None
    if isinstance(key_id, bytes):
        key_id = key_id.decode("utf-8", "replace")
    return str(key_id), _cert_time(after), _cert_time(before)


def _fingerprint(key: asyncssh.SSHKey) -> str:
    return str(key.get_fingerprint("sha256"))


def _user_shell() -> tuple[str, str, str]:
    """The agent user's shell, home folder and name.

    The home folder is the agent's own ``HOME`` when it has one (as a login would
    set it; a service manager sets it too), else the account's entry.
    """
    if sys.platform == "win32":
        home = os.path.expanduser("~")
        return os.environ.get("COMSPEC", "cmd.exe"), home, os.environ.get("USERNAME", "")
    import pwd

    try:
        entry = pwd.getpwuid(os.getuid())
        home = os.environ.get("HOME") or entry.pw_dir
        return entry.pw_shell or "/bin/sh", home, entry.pw_name
    except KeyError:
        return "/bin/sh", os.path.expanduser("~"), str(os.getuid())


def shell_argv(shell: str, command: str) -> list[str]:
    """How to run ``command`` (or an interactive shell when empty) with ``shell``."""
    name = shell.replace("\\", "/").rsplit("/", 1)[-1].lower()
    if sys.platform == "win32" or name in ("cmd.exe", "cmd"):
        return [shell, "/c", command] if command else [shell]
    return [shell, "-c", command] if command else [shell, "-l"]


class AgentSSHServer(asyncssh.SSHServer):
    """One engineer connection: authentication and what its channels may do."""

    def __init__(self, host: ServerHost, config: ServerConfig) -> None:
        self._host = host
        self._config = config
        self._conn: asyncssh.SSHServerConnection | None = None
        self._cert: Any = None  # asyncssh.SSHOpenSSHCertificate
        self._username = ""
        self.grant: Grant | None = None
        self._processes: set[Any] = set()
        #: transfers in progress (SFTP file handles), so teardown can report them
        self.open_files: dict[int, dict[str, Any]] = {}
        #: the channels' command tasks, which teardown waits for (recordings get closed)
        self.tasks: set[asyncio.Task[Any]] = set()
        self._refused: set[str] = set()
        self._peer = ""

    # -- connection and authentication -------------------------------------------------

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        trim_per_packet_work(conn, SERVER_CIPHERS)
        peer = conn.get_extra_info("peername")
        self._peer = str(peer[0]) if peer else "relay"
        original = getattr(conn, "_validate_openssh_certificate", None)
        if original is None:  # asyncssh changed: no certificate can be checked, so none passes
            log.error("certificate hook missing in this asyncssh; every login will be refused")
            return

        async def capture(username: str, cert: Any) -> Any:
            """Keep the presented certificate for :meth:`validate_ca_key` to check."""
            self._cert = cert
            if cert.options.get("source-address"):
                # through the tunnel the peer address is empty; refuse instead of crashing
                self._refuse(username, "the certificate is bound to a source address", cert.key)
                return None
            return await original(username, cert)

        setattr(conn, "_validate_openssh_certificate", capture)  # noqa: B010
        self._audit_library_refusals(conn)

    def _audit_library_refusals(self, conn: asyncssh.SSHServerConnection) -> None:
        """Refusals asyncssh makes before any hook of ours runs leave an audit line too.

        A certificate without ``permit-port-forwarding`` (no forward scope) stops
        ``-L``, ``-R`` and ``-D`` inside the library, and agent and X11 forwarding,
        switched off in the server's options, never reach a hook either.
        """
        check_permission = conn.check_certificate_permission

        def audited_permission(permission: str) -> bool:
            allowed = check_permission(permission)
            if not allowed:
                self.record(
                    "channel_refused",
                    kind=permission,
                    reason=f"the session's certificate does not permit {permission}",
                )
            return allowed

        async def no_x11(*_args: Any) -> None:
            self.record(
                "channel_refused", kind="X11-forwarding", reason="X11 forwarding is never allowed"
            )
            return None

        async def no_agent() -> bool:
            self.record(
                "channel_refused",
                kind="agent-forwarding",
                reason="agent forwarding is never allowed",
            )
            return False

        setattr(conn, "check_certificate_permission", audited_permission)  # noqa: B010
        setattr(conn, "attach_x11_listener", no_x11)  # noqa: B010
        setattr(conn, "create_agent_listener", no_agent)  # noqa: B010

    def connection_lost(self, exc: Exception | None) -> None:
        for proc in list(self._processes):
            proc.kill()
        self._processes.clear()
        if self.grant is not None:
            self._host.record(
                "disconnect",
                session_id=self.grant.session_id,
                reason=str(exc) if exc else "closed",
            )
            self._host.detach(self.grant.session_id, self)

    def begin_auth(self, username: str) -> bool:
        self._username = username
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def host_based_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def _refuse(self, username: str, reason: str, key: asyncssh.SSHKey | None) -> None:
        fingerprint = _fingerprint(key) if key is not None else ""
        marker = f"{username}|{reason}|{fingerprint}"
        if marker in self._refused:  # a client asks once without, once with a signature
            return
        self._refused.add(marker)
        self._host.record(
            "login_refused",
            session_id=username,
            reason=reason,
            key_fingerprint=fingerprint,
            peer=self._peer,
        )

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        self._refuse(username, "plain keys are not accepted, only certificates", key)
        return False

    def validate_ca_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        self.grant = None  # only the attempt that succeeds names the grant
        cert = self._cert
        engineer_key = cert.key if cert is not None else None
        if key.public_data != self._config.ca_key.public_data:
            self._refuse(username, "the certificate is not from the vendor CA", engineer_key)
            return False
        if cert is None:
            self._refuse(username, "no certificate was presented", None)
            return False
        now = self._host.now()
        grant = self._host.live_grant(username, now)
        fields = _cert_fields(cert)
        if fields is None:
            self._refuse(username, "the certificate's fields cannot be read", cert.key)
            return False
        key_id, valid_after, valid_before = fields
        verdict = check_login(
            grant,
            tuple(cert.principals),
            key_id,
            valid_after,
            valid_before,
            now,
            _fingerprint(cert.key),
        )
        if not verdict:
            spent = self._host.spent_reason(username)
            reason = f"the grant is over ({spent})" if spent else verdict.reason
            self._refuse(username, reason, cert.key)
            return False
        self.grant = grant
        return True

    def auth_completed(self) -> None:
        grant, cert = self.grant, self._cert
        if grant is None or cert is None or self._conn is None:  # pragma: no cover - guarded
            if self._conn is not None:
                self._conn.close()
            return
        if not self._host.attach(grant.session_id, self):
            self._conn.close()
            return
        self._host.record(
            "login",
            session_id=grant.session_id,
            engineer=grant.engineer,
            key_id=str(getattr(cert, "_key_id", "")),
            key_fingerprint=_fingerprint(cert.key),
            ca_fingerprint=_fingerprint(self._config.ca_key),
            peer=self._peer,
        )

    # -- channels ----------------------------------------------------------------------

    def check(self, kind: str, **fields: Any) -> Verdict:
        """Check a channel against the grant now; refusals are audited."""
        grant = self.grant
        if grant is None:
            verdict = Verdict(False, "not logged in")
        else:
            verdict = check_channel(grant, kind, self._host.now())
        if not verdict:
            self._host.record(
                "channel_refused",
                session_id=grant.session_id if grant else self._username,
                kind=kind,
                reason=verdict.reason,
                **fields,
            )
        return verdict

    def record(self, event: str, **fields: Any) -> None:
        session_id = self.grant.session_id if self.grant else self._username
        self._host.record(event, session_id=session_id, **fields)

    def session_requested(self) -> asyncssh.SSHServerSession[bytes] | bool:
        if self.grant is None:
            return False
        return GuardedSession(self)

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool:
        grant = self.grant
        if grant is None:
            return False
        verdict = check_forward(
            grant, dest_host, dest_port, self._config.forward_targets, self._host.now()
        )
        event = "forward" if verdict else "forward_refused"
        self.record(event, target=f"{dest_host}:{dest_port}", reason=verdict.reason)
        if not verdict:
            # say why, not asyncssh's "Connection refused" (which reads as a dead service)
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
                f"refused by the session's policy: {verdict.reason}",
            )
        return forward_tcp(dest_host, dest_port)  # type: ignore[return-value]

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        self.record(
            "channel_refused",
            kind="reverse-forward",
            target=f"{listen_host}:{listen_port}",
            reason="reverse forwarding is never allowed",
        )
        return False

    def unix_connection_requested(self, dest_path: str) -> bool:
        self.record("channel_refused", kind="unix-forward", target=dest_path, reason="never")
        return False

    def tun_requested(self, unit: int | None) -> bool:
        self.record("channel_refused", kind="tun", target=str(unit), reason="never")
        return False

    def tap_requested(self, unit: int | None) -> bool:
        self.record("channel_refused", kind="tap", target=str(unit), reason="never")
        return False

    def unix_server_requested(self, listen_path: str) -> bool:
        self.record("channel_refused", kind="unix-listen", target=listen_path, reason="never")
        return False

    # -- used by sessions and the service ----------------------------------------------

    @property
    def config(self) -> ServerConfig:
        return self._config

    def now(self) -> datetime:
        return self._host.now()

    def terminal_watcher(
        self, session_id: str, channel: str, cols: int, rows: int
    ) -> TerminalWatcher | None:
        return self._host.terminal_watcher(session_id, channel, cols, rows)

    def track(self, proc: Any) -> None:
        self._processes.add(proc)

    def untrack(self, proc: Any) -> None:
        self._processes.discard(proc)

    def close(self, reason: str = "") -> None:
        """End every process and the connection now; transfers cut short are recorded.

        ``reason`` is what the engineer's client shows as the disconnect message
        (e.g. "the session's time is up"), instead of "Disconnected by application".
        """
        for info in list(self.open_files.values()):
            self.record("file", **_transfer_fields(info), interrupted=True)
        self.open_files.clear()
        for proc in list(self._processes):
            proc.kill()
        if self._conn is not None:
            if reason:
                self._conn.disconnect(asyncssh.DISC_BY_APPLICATION, reason)
            else:
                self._conn.close()

    async def wait_closed(self) -> None:
        if self._conn is not None:
            await self._conn.wait_closed()

    def abort(self) -> None:
        if self._conn is not None:
            self._conn.abort()


class GuardedSession(SSHServerStreamSession[bytes]):
    """A session channel whose every request is checked against the grant."""

    def __init__(self, owner: AgentSSHServer) -> None:
        self._owner = owner
        self._pty = False
        self._command: CommandChannel | None = None
        super().__init__(None, sftp_factory=self._make_sftp, sftp_version=3, allow_scp=True)

    def _make_sftp(self, chan: SSHChannel[bytes]) -> asyncssh.SFTPServer:
        return ConfinedSFTPServer(cast(asyncssh.SSHServerChannel[bytes], chan), self._owner)

    def pty_requested(
        self, term_type: str, term_size: tuple[int, int, int, int], term_modes: Any
    ) -> bool:
        self._pty = bool(self._owner.check("pty"))
        return self._pty

    def shell_requested(self) -> bool:
        allowed = bool(self._owner.check("shell"))
        if allowed:
            self._owner.record("channel", kind="shell", pty=self._pty)
        return allowed

    def exec_requested(self, command: str) -> bool:
        if command.startswith("scp "):
            allowed = bool(self._owner.check("sftp", command=command))
            kind = "scp"
        else:
            allowed = bool(self._owner.check("exec", command=command))
            kind = "exec"
        if allowed:
            self._owner.record("channel", kind=kind, command=command, pty=self._pty)
        return allowed

    def subsystem_requested(self, subsystem: str) -> bool:
        if subsystem != "sftp":
            self._owner.check(f"subsystem:{subsystem}")
            return False
        allowed = bool(self._owner.check("sftp"))
        if allowed:
            self._owner.record("channel", kind="sftp")
        return allowed

    def session_started(self) -> None:
        chan = self._chan
        assert chan is not None
        command = chan.get_command() or ""
        if chan.get_subsystem() == "sftp" or command.startswith("scp "):
            super().session_started()  # asyncssh's SFTP and scp servers, on streams
            return
        self._command = CommandChannel(self._owner, cast(asyncssh.SSHServerChannel[bytes], chan))
        self._command.start()

    # A shell or command gets the channel's events directly (see CommandChannel);
    # SFTP and scp keep asyncssh's stream handling.

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if self._command is not None:
            self._command.data_received(data, datatype)
        else:
            super().data_received(data, datatype)

    def eof_received(self) -> bool:
        if self._command is not None:
            self._command.eof_received()
            return True
        return super().eof_received()

    def pause_writing(self) -> None:
        if self._command is not None:
            self._command.pause_writing()
        else:
            super().pause_writing()

    def resume_writing(self) -> None:
        if self._command is not None:
            self._command.resume_writing()
        else:
            super().resume_writing()

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        if self._command is not None:
            self._command.terminal_size_changed(width, height)
        else:
            super().terminal_size_changed(width, height, pixwidth, pixheight)

    def break_received(self, msec: int) -> bool:
        if self._command is not None:
            return True  # ignored, as a terminal without a line would
        return super().break_received(msec)

    def signal_received(self, signal: str) -> None:
        if self._command is None:
            super().signal_received(signal)

    def soft_eof_received(self) -> None:
        if self._command is None:
            super().soft_eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._command is not None:
            self._command.channel_lost()
        else:
            super().connection_lost(exc)


class CommandChannel:
    """A shell or command of one session channel, wired to its process by callbacks.

    Bytes from the engineer go from the channel's callback into the child, and
    the child's output from the loop's reader into the channel, recorded on the
    way; no task wakes per chunk. Flow control both ways: a full channel send
    buffer pauses reading from the child, a backed-up child pauses reading from
    the channel (its window then closes on the engineer). One task per channel
    starts the process and, once the output has ended and the process exited,
    closes the recording, audits, and sends the exit status; teardown waits
    for it through :attr:`AgentSSHServer.tasks`.
    """

    def __init__(self, owner: AgentSSHServer, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self._owner = owner
        self._chan = chan
        self._proc: Terminal | None = None
        self._recorder: AsciicastRecorder | None = None
        self._watch: TerminalWatcher | None = None
        #: what the engineer sent before the process ran, replayed once it does
        self._early: list[Callable[[], None]] | None = []
        self._done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._channel_open = True
        self._output_paused = False
        self._input_paused = False

    def start(self) -> None:
        task = asyncio.ensure_future(self._run())
        self._owner.tasks.add(task)
        task.add_done_callback(self._owner.tasks.discard)
        task.add_done_callback(_log_task_failure)

    async def _run(self) -> None:
        try:
            status = await self._execute()
        except RemoteError as exc:
            with contextlib.suppress(OSError, asyncssh.Error):
                self._chan.write_stderr(f"vxassist: {exc.message}\r\n".encode())
            status = 127
        with contextlib.suppress(OSError, asyncssh.Error):
            self._chan.exit(status)

    async def _execute(self) -> int:
        """Run the shell or command of this channel, recorded, until its output ends."""
        owner, chan = self._owner, self._chan
        grant = owner.grant
        assert grant is not None
        term = chan.get_terminal_type() or ""
        cols, rows, _, _ = chan.get_terminal_size()
        cols, rows = clamp_size(cols, rows)
        command = chan.get_command() or ""
        config = owner.config
        shell, env = _session_env(config, term, grant)
        argv = shell_argv(shell, command)
        cwd = str(config.file_roots[0]) if config.file_roots else env["HOME"]
        if not await asyncio.to_thread(os.path.isdir, cwd):
            cwd = "/"
        stamp = owner.now().strftime("%Y%m%dT%H%M%S")
        path = config.recordings_dir / f"{grant.session_id}-{stamp}-{next(_recording_ids)}.cast"
        recorder = self._recorder = AsciicastRecorder(
            path,
            cols,
            rows,
            owner.now(),
            title=f"{grant.engineer} case {grant.case_number} session {grant.session_id}",
            term=term,
            command=command,
            schedule=asyncio.get_running_loop().call_later,
        )
        if term:
            self._watch = owner.terminal_watcher(grant.session_id, path.name, cols, rows)
        proc: Terminal
        try:
            if term:
                proc = await spawn_terminal(argv, env, cwd, cols, rows, self, config.account)
            else:
                proc = await PipeProcess.spawn(argv, env, cwd, self, config.account)
        except BaseException:
            recorder.close()
            raise
        self._proc = proc
        owner.track(proc)
        owner.record("process", command=command or shell, pty=bool(term), recording=path.name)
        early, self._early = self._early or [], None
        for action in early:
            action()
        if self._output_paused:
            proc.pause_output()
        status = 255
        try:
            status = await self._done
        finally:
            owner.untrack(proc)
            proc.kill()
            proc.close()
            digest = recorder.close()
            if self._watch is not None:
                self._watch("x", b"")
                self._watch = None
            owner.record("recording", file=path.name, sha256=digest, command=command or shell)
        owner.record("process_exit", command=command or shell, status=status)
        return status

    # the process's events ------------------------------------------------------------

    def process_output(self, data: bytes, stderr: bool) -> None:
        if self._recorder is not None:
            self._recorder.output(data)
        if self._watch is not None:
            self._watch("o", data)
        if not self._channel_open:
            return
        try:
            with writes_joined():  # to the tunnel now, not at the next turn of the loop
                if stderr:
                    self._chan.write_stderr(data)
                else:
                    self._chan.write(data)
        except (OSError, asyncssh.Error) as exc:  # the channel went away under us
            log.debug("channel closed while writing: %s", exc)
            self.channel_lost()

    def process_writable(self) -> None:
        if self._input_paused:
            self._input_paused = False
            if self._channel_open:
                self._chan.resume_reading()

    def process_done(self, status: int) -> None:
        if not self._done.done():
            self._done.set_result(status)

    # the channel's events ------------------------------------------------------------

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if datatype is not None:  # extended data has no meaning towards a process
            return
        if self._early is not None:
            self._early.append(lambda: self.data_received(data, datatype))
            return
        if self._recorder is not None:
            self._recorder.input(data)
        if self._proc is not None and not self._proc.write(data) and not self._input_paused:
            self._input_paused = True
            self._chan.pause_reading()

    def eof_received(self) -> None:
        if self._early is not None:
            self._early.append(self.eof_received)
        elif self._proc is not None:
            self._proc.close_input()

    def terminal_size_changed(self, width: int, height: int) -> None:
        if self._early is not None:
            self._early.append(lambda: self.terminal_size_changed(width, height))
            return
        if self._proc is not None:
            self._proc.resize(width, height)
        if self._recorder is not None:
            self._recorder.resize(*clamp_size(width, height))
        if self._watch is not None:
            self._watch("r", "{}x{}".format(*clamp_size(width, height)).encode())

    def pause_writing(self) -> None:
        self._output_paused = True
        if self._proc is not None:
            self._proc.pause_output()

    def resume_writing(self) -> None:
        self._output_paused = False
        if self._proc is not None:
            self._proc.resume_output()

    def channel_lost(self) -> None:
        """The engineer's channel is gone: nothing runs on unwatched."""
        self._channel_open = False
        if not self._done.done():
            self._done.set_result(255)


def _log_task_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("session channel failed", exc_info=task.exception())


def _session_env(config: ServerConfig, term: str, grant: Grant) -> tuple[str, dict[str, str]]:
    account = config.account
    if account is not None:
        shell = config.shell or account.shell or "/bin/sh"
        home, user = account.home, account.name
    else:
        shell, home, user = _user_shell()
        shell = config.shell or shell
        home = config.home or home
    env = {
        "HOME": home,
        "USER": user,
        "LOGNAME": user,
        "SHELL": shell,
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "VXASSIST_SESSION": grant.session_id,
    }
    if term:
        env["TERM"] = term
    return shell, env


class ConfinedSFTPServer(asyncssh.SFTPServer):
    """SFTP inside the allowed folders only; file I/O off the event loop; all audited."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], owner: AgentSSHServer) -> None:
        super().__init__(chan)
        self._owner = owner
        self._roots: Sequence[Path] = owner.config.file_roots
        self._files = owner.open_files
        self._writers: dict[int, WriteBehind] = {}
        #: per open file: the offset and bytes of the last read-ahead block
        self._read_ahead: dict[int, tuple[int, bytes]] = {}

    # paths ---------------------------------------------------------------------------

    def _deny(self, op: str, path: bytes, exc: PathEscape) -> asyncssh.SFTPError:
        self._owner.record(
            "file_refused",
            op=op,
            path=path.decode("utf-8", "replace"),
            reason=exc.message,
            detail=exc.detail,
        )
        return asyncssh.SFTPPermissionDenied(exc.message)

    def map_path(self, path: bytes) -> bytes:
        """The real path, every symlink and ``..`` resolved, inside the roots (or refused)."""
        try:
            return os.fsencode(_confine(self._roots, path))
        except PathEscape as exc:
            raise self._deny("resolve", path, exc) from exc

    def _map_entry(self, op: str, path: bytes, *, root_itself: bool = False) -> bytes:
        """The path of the entry itself (its last part not followed), inside the roots.

        With ``root_itself`` (read-only look-ups) a top folder of the session is
        also allowed, although its parent lies outside by design.
        """
        text = path.decode("utf-8", "replace")
        name = PurePosixPath(text).name
        if name in ("", ".", ".."):
            return self.map_path(path)
        parent = str(PurePosixPath(text).parent)
        try:
            folder = _confine(self._roots, parent)
        except PathEscape as exc:
            if root_itself and self._is_root(path):
                return self.map_path(path)
            raise self._deny(op, path, exc) from exc
        return os.fsencode(folder / name)

    def _is_root(self, path: bytes) -> bool:
        try:
            real = _confine(self._roots, path)
        except PathEscape:
            return False
        return any(real == Path(os.path.realpath(r)) for r in self._roots)

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        """The folder's entries; ``..`` of a top folder shows the folder itself."""
        local = self.map_path(path)

        def listing() -> list[tuple[bytes, os.stat_result]]:
            here = os.stat(local)
            try:
                up = os.stat(_confine(self._roots, os.path.join(local, b"..")))
            except PathEscape:
                up = here
            names = [(b".", here), (b"..", up)]
            with os.scandir(local) as entries:
                names += [(os.fsencode(e.name), e.stat(follow_symlinks=False)) for e in entries]
            return names

        for name, st in await self._off_loop(listing):
            yield asyncssh.SFTPName(name, attrs=asyncssh.SFTPAttrs.from_local(st))

    def _show(self, local: bytes) -> str:
        return local.decode("utf-8", "replace")

    async def _as_account(self, work: Callable[..., Any], *args: Any) -> Any:
        """``work(*args)`` checked by the kernel as the session's account, if there is one."""
        files = self._owner.config.files
        if files is None:
            return work(*args)
        return await files.run(work, *args)

    async def _off_loop(self, work: Callable[..., Any], *args: Any) -> Any:
        """``work(*args)`` on a worker thread: the session account's, if there is one."""
        files = self._owner.config.files
        if files is None:
            return await asyncio.to_thread(work, *args)
        return await files.run(work, *args)

    # files ---------------------------------------------------------------------------

    async def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        local = self.map_path(path)
        try:
            mode = (await self._off_loop(os.stat, local)).st_mode
        except FileNotFoundError:
            mode = stat.S_IFREG  # a new file
        if not stat.S_ISREG(mode):
            # a FIFO or device would tie up a worker thread, or stream forever
            self._deny_op("open", path, "only regular files can be opened")
        file_obj = await self._off_loop(super().open, local, pflags, attrs)
        writing = bool(pflags & (asyncssh.FXF_WRITE | asyncssh.FXF_APPEND | asyncssh.FXF_CREAT))
        self._files[id(file_obj)] = {
            "path": self._show(local),
            "op": "upload" if writing else "download",
            "bytes_read": 0,
            "bytes_written": 0,
        }
        return file_obj

    async def _flush(self, file_obj: object) -> None:
        writer = self._writers.get(id(file_obj))
        if writer is not None:
            await writer.flush()

    async def read(self, file_obj: object, offset: int, size: int) -> bytes:
        """Sequential reads are served from one block read ahead on a worker thread.

        asyncssh answers one request at a time, so a thread hand-off per 32 KiB
        request paced downloads; one per READ_AHEAD bytes does not.
        """
        key = id(file_obj)
        block = self._read_ahead.get(key)
        if block is not None and block[0] <= offset and offset + size <= block[0] + len(block[1]):
            start = offset - block[0]
            data = block[1][start : start + size]
        else:
            await self._flush(file_obj)
            chunk = cast(
                bytes,
                await asyncio.to_thread(super().read, file_obj, offset, max(size, READ_AHEAD)),
            )
            self._read_ahead[key] = (offset, chunk)
            data = chunk[:size]
        info = self._files.get(id(file_obj))
        if info is not None:
            info["bytes_read"] += len(data)
        return data

    async def write(self, file_obj: object, offset: int, data: bytes) -> int:
        self._read_ahead.pop(id(file_obj), None)
        writer = self._writers.get(id(file_obj))
        if writer is None:
            writer = self._writers[id(file_obj)] = WriteBehind(cast(BinaryIO, file_obj))
        await writer.write(offset, data)
        info = self._files.get(id(file_obj))
        if info is not None:
            info["bytes_written"] += len(data)
        return len(data)

    async def fstat(self, file_obj: object) -> Any:
        await self._flush(file_obj)
        return super().fstat(file_obj)

    async def fsync(self, file_obj: object) -> None:
        await self._flush(file_obj)
        await asyncio.to_thread(super().fsync, file_obj)

    async def close(self, file_obj: object) -> None:
        self._read_ahead.pop(id(file_obj), None)
        writer = self._writers.pop(id(file_obj), None)
        try:
            if writer is not None:
                await writer.flush()
        finally:
            await asyncio.to_thread(super().close, file_obj)
        info = self._files.pop(id(file_obj), None)
        if info is not None:
            self._owner.record("file", **_transfer_fields(info))

    # names ---------------------------------------------------------------------------

    async def lstat(self, path: bytes) -> Any:
        return await self._as_account(os.lstat, self._map_entry("lstat", path, root_itself=True))

    async def stat(self, path: bytes) -> Any:
        return await self._as_account(os.stat, self.map_path(path))

    async def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        await self._as_account(super().setstat, path, attrs)

    async def statvfs(self, path: bytes) -> Any:
        return await self._as_account(super().statvfs, path)

    def lsetstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        raise asyncssh.SFTPOpUnsupported("Changing a link's attributes is not supported.")

    async def remove(self, path: bytes) -> None:
        local = self._map_entry("remove", path)
        await self._as_account(os.remove, local)
        self._owner.record("file", op="remove", path=self._show(local))

    async def rmdir(self, path: bytes) -> None:
        local = self._map_entry("rmdir", path)
        if self._is_top_folder(local):
            raise asyncssh.SFTPPermissionDenied("A top folder of this session cannot be removed.")
        await self._as_account(os.rmdir, local)
        self._owner.record("file", op="rmdir", path=self._show(local))

    async def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        local = self._map_entry("mkdir", path)
        mode = 0o777 if attrs.permissions is None else attrs.permissions
        await self._as_account(os.mkdir, local, mode)
        self._owner.record("file", op="mkdir", path=self._show(local))

    async def rename(self, oldpath: bytes, newpath: bytes) -> None:
        old, new = self._map_entry("rename", oldpath), self._map_entry("rename", newpath)

        def rename_to_new() -> None:
            if os.path.lexists(new):
                raise asyncssh.SFTPFailure(f"{self._show(newpath)} already exists")
            os.rename(old, new)

        await self._as_account(rename_to_new)
        self._owner.record("file", op="rename", path=self._show(old), to=self._show(new))

    async def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        old, new = self._map_entry("rename", oldpath), self._map_entry("rename", newpath)
        await self._as_account(os.replace, old, new)
        self._owner.record("file", op="rename", path=self._show(old), to=self._show(new))

    def _is_top_folder(self, local: bytes) -> bool:
        return os.path.realpath(os.fsdecode(local)) in (str(r) for r in self._roots)

    async def readlink(self, path: bytes) -> bytes:
        local = self._map_entry("readlink", path)
        return os.fsencode(await self._as_account(os.readlink, local))

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        self._deny_op("symlink", newpath, "links cannot be made in a session")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        self._deny_op("link", newpath, "links cannot be made in a session")

    def _deny_op(self, op: str, path: bytes, reason: str) -> None:
        self._owner.record(
            "file_refused", op=op, path=path.decode("utf-8", "replace"), reason=reason
        )
        raise asyncssh.SFTPPermissionDenied(reason)

    def exit(self) -> None:
        """OpenSSH's scp (SFTP mode) wants an exit status, or it reports failure."""
        with contextlib.suppress(OSError, asyncssh.Error):
            self.channel.exit(0)


def _transfer_fields(info: dict[str, Any]) -> dict[str, Any]:
    size = info["bytes_written"] if info["op"] == "upload" else info["bytes_read"]
    return {"op": info["op"], "path": info["path"], "size": size}
