"""The outbound tunnel: an SSH client connection to the relay and a reverse forward.

The agent logs in to the relay with its host key, checks the relay against the
known_hosts line it was given, and asks for one remote forward on the loopback
port the desk assigned. The embedded server answers on that forward only; there
is no local listener. When the relay or the network goes away, the tunnel comes
back with backoff; if it stays away longer than the grace window, the owner is
told (and ends its sessions).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncssh

from vxassist.remote.errors import TunnelError
from vxassist.remote.packets import trim_per_packet_work

log = logging.getLogger(__name__)

WINDOW = 16 * 1024 * 1024
MAX_PACKET = 256 * 1024
KEEPALIVE_S = 15
KEEPALIVE_COUNT = 3
CONNECT_TIMEOUT_S = 10.0
BACKOFF_FIRST_S = 0.25
BACKOFF_MAX_S = 10.0
#: one try at the relay: connect, log in, and have the remote listener granted
ATTEMPT_TIMEOUT_S = 2 * CONNECT_TIMEOUT_S
#: how long a first open retries a refused listener: the relay may not yet have
#: let go of this host's port from a connection that closed a moment ago
OPEN_LISTEN_RETRY_S = 5.0
#: what one failed try at the relay can raise (ChannelListenError is no asyncssh.Error)
RETRYABLE = (OSError, asyncssh.Error, asyncssh.ChannelListenError, TimeoutError)
#: preferred first: one hardware-assisted call per packet (see server.SERVER_CIPHERS)
CLIENT_CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
)


@dataclass(frozen=True)
class RelayEndpoint:
    """Where the agent's tunnel goes: the relay, its account, the port it may listen on."""

    host: str
    port: int
    user: str
    listen_port: int
    #: the relay's host key line(s), known_hosts format (a bare key line is accepted too)
    known_hosts: str


_KEY_PREFIXES = ("ssh-", "ecdsa-", "sk-", "rsa-")


def relay_known_hosts(relay: RelayEndpoint) -> asyncssh.SSHKnownHosts:
    """The relay's known_hosts, with bare key lines bound to the relay's host and port."""
    patterns = f"{relay.host},[{relay.host}]:{relay.port}"
    lines = []
    for raw in relay.known_hosts.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(_KEY_PREFIXES):
            line = f"{patterns} {line}"
        tokens = line.split()
        if tokens and tokens[0].startswith("@"):
            tokens = tokens[1:]
        try:
            asyncssh.import_public_key(" ".join(tokens[1:3]))
        except (ValueError, asyncssh.KeyImportError) as exc:
            raise TunnelError(
                "The relay's host key from enrollment is damaged; enroll this host again.",
                detail=f"{raw!r}: {exc}",
            ) from exc
        lines.append(line)
    if not lines:
        raise TunnelError(
            "The relay's host key is unknown; enroll this host again to get it.",
            detail=repr(relay.known_hosts),
        )
    try:
        return asyncssh.import_known_hosts("\n".join(lines) + "\n")
    except (ValueError, asyncssh.KeyImportError) as exc:
        raise TunnelError(
            "The relay's host key from enrollment is damaged; enroll this host again.",
            detail=str(exc),
        ) from exc


ServerFactory = Callable[[], asyncssh.SSHServer]


class _Batch(threading.local):
    """Tunnel channels written to inside :func:`writes_joined`, this thread's loop."""

    depth = 0

    def __init__(self) -> None:
        self.dirty: list[_CoalescingChannel] = []


_batch = _Batch()


class writes_joined:
    """Within this block, what the server writes goes to the tunnel at the block's end.

    For work that knows where its writes end (a process's output: one read, one
    channel write, one or more packets), so they need not wait for the next turn
    of the loop. Blocks may nest; the outermost one sends.
    """

    __slots__ = ()

    def __enter__(self) -> None:
        _batch.depth += 1

    def __exit__(self, *exc: object) -> None:
        _batch.depth -= 1
        if _batch.depth == 0 and _batch.dirty:
            dirty, _batch.dirty = _batch.dirty, []
            for chan in dirty:
                chan._flush()


class _CoalescingChannel:
    """The tunnel channel as the embedded server's transport, one write per batch.

    Each write the server makes (one SSH packet) would otherwise become its own
    tunnel message, which the relay copies into its loopback forward as its own
    small write; a second small write then waits for a delayed ACK (Nagle on the
    relay's socket): ~40 ms per round trip. So what the server writes is joined:
    within :class:`writes_joined`, until the block ends; otherwise until the end
    of the current turn of the loop.
    """

    def __init__(self, chan: Any) -> None:
        self._chan = chan
        self._pending: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        if not self._pending:
            if _batch.depth:
                _batch.dirty.append(self)
            else:
                self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        # closed meanwhile: the connection learns it from the channel
        with contextlib.suppress(ConnectionError):
            self._chan.write(data)

    def write_eof(self) -> None:
        self._flush()
        self._chan.write_eof()

    def close(self) -> None:
        self._flush()
        self._chan.close()

    def abort(self) -> None:
        self._pending.clear()
        self._chan.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chan, name)


class _CoalescingSession:
    """Hands the embedded server connection a :class:`_CoalescingChannel`."""

    def __init__(self, session: Any) -> None:
        self._session = session

    def connection_made(self, chan: Any) -> None:
        self._session.connection_made(_CoalescingChannel(chan))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


class _WideTunnel:
    """The relay connection as asyncssh's tunnel, with our window and packet size.

    ``asyncssh.listen(tunnel=conn)`` opens the remote listener with the library's
    defaults (2 MiB window, 32 KiB packets), not the connection's options. Each
    accepted connection writes through a :class:`_CoalescingChannel`.
    """

    def __init__(self, conn: asyncssh.SSHClientConnection) -> None:
        self._conn = conn
        self.logger = conn.logger

    async def create_server(
        self, session_factory: Any, listen_host: str, listen_port: int
    ) -> asyncssh.SSHListener:
        def coalescing_factory(orig_host: str, orig_port: int) -> Any:
            return _CoalescingSession(session_factory(orig_host, orig_port))

        return await self._conn.create_server(
            coalescing_factory, listen_host, listen_port, window=WINDOW, max_pktsize=MAX_PACKET
        )


class Tunnel:
    """One relay connection carrying one reverse forward, kept up until closed."""

    def __init__(
        self,
        relay: RelayEndpoint,
        client_key: asyncssh.SSHKey,
        server_factory: ServerFactory,
        server_options: dict[str, Any],
        on_state: Callable[[str, dict[str, Any]], None],
        on_gone: Callable[[], Awaitable[None]],
        grace_s: float = 60.0,
    ) -> None:
        self.relay = relay
        self._key = client_key
        self._server_factory = server_factory
        self._server_options = server_options
        self._on_state = on_state
        self._on_gone = on_gone
        self._grace_s = grace_s
        self._known_hosts = relay_known_hosts(relay)
        self._conn: asyncssh.SSHClientConnection | None = None
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def up(self) -> bool:
        return self._conn is not None and self._acceptor is not None

    async def _connect_once(self) -> None:
        # a stalled relay can leave the listen request unanswered: bound the whole try
        await asyncio.wait_for(self._connect_and_listen(), ATTEMPT_TIMEOUT_S)

    async def _connect_and_listen(self) -> None:
        relay = self.relay
        conn = await asyncssh.connect(
            relay.host,
            relay.port,
            username=relay.user,
            client_keys=[self._key],
            known_hosts=self._known_hosts,
            agent_path=None,
            config=None,
            password=None,
            kbdint_auth=False,
            gss_host=None,
            keepalive_interval=KEEPALIVE_S,
            keepalive_count_max=KEEPALIVE_COUNT,
            connect_timeout=CONNECT_TIMEOUT_S,
            window=WINDOW,
            max_pktsize=MAX_PACKET,
            encryption_algs=CLIENT_CIPHERS,
        )
        trim_per_packet_work(conn, CLIENT_CIPHERS)
        try:
            acceptor = await asyncssh.listen(
                "127.0.0.1",
                relay.listen_port,
                tunnel=_WideTunnel(conn),
                server_factory=self._server_factory,
                config=None,
                **self._server_options,
            )
        except BaseException:
            conn.abort()
            raise
        self._conn, self._acceptor = conn, acceptor

    async def open(self) -> None:
        """Connect and listen; raises :class:`TunnelError` if the relay cannot be used."""
        try:
            await self._connect_listen_retried()
        except asyncssh.ChannelListenError as exc:
            raise TunnelError(
                "The relay refused this host's tunnel port (it may still be held by an "
                "earlier connection); try again in a minute.",
                detail=f"{self.relay.host}:{self.relay.port} port {self.relay.listen_port}: {exc}",
            ) from exc
        except RETRYABLE as exc:
            raise TunnelError(
                "The relay could not be reached; check the network and try again.",
                detail=f"{self.relay.host}:{self.relay.port}: {exc}",
            ) from exc
        self._on_state("tunnel_up", self._describe())
        self._supervisor = asyncio.ensure_future(self._supervise())

    async def _connect_listen_retried(self) -> None:
        """One try, and more for a while if only the listener was refused."""
        deadline = time.monotonic() + OPEN_LISTEN_RETRY_S
        delay = BACKOFF_FIRST_S
        while True:
            try:
                await self._connect_once()
                return
            except asyncssh.ChannelListenError:
                if self._closing or time.monotonic() + delay > deadline:
                    raise
                log.debug("relay refused the listener; trying again in %.2f s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)

    def _describe(self) -> dict[str, Any]:
        r = self.relay
        return {"relay": f"{r.host}:{r.port}", "user": r.user, "listen_port": r.listen_port}

    async def _supervise(self) -> None:
        while not self._closing:
            conn = self._conn
            if conn is None:
                return
            await conn.wait_closed()
            if self._closing:
                return
            self._conn = self._acceptor = None
            self._on_state("tunnel_lost", self._describe())
            try:
                back = await self._reconnect()
            except asyncio.CancelledError:
                raise
            except Exception:  # never die silently: the sessions end instead
                log.exception("reconnecting to the relay failed")
                back = False
            if not back:
                if not self._closing:
                    self._on_state("tunnel_gone", {**self._describe(), "grace_s": self._grace_s})
                    await self._on_gone()
                return
            self._on_state("tunnel_up", {**self._describe(), "resumed": True})

    async def _reconnect(self) -> bool:
        """Try again with backoff until the grace window ends; True once back.

        A relay that stalled may still hold this host's port for the old
        connection, so a refused listener is retried like an unreachable relay.
        """
        deadline = time.monotonic() + self._grace_s
        delay = BACKOFF_FIRST_S
        told: set[str] = set()
        while not self._closing and time.monotonic() < deadline:
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            if self._closing:
                return False
            try:
                await self._connect_once()
                return True
            except RETRYABLE as exc:
                log.debug("relay not back yet: %r", exc)
                kind = type(exc).__name__
                if kind not in told:  # once per kind of failure and outage
                    told.add(kind)
                    self._on_state(
                        "tunnel_retrying", {**self._describe(), "error": str(exc) or kind}
                    )
            delay = min(delay * 2, BACKOFF_MAX_S)
        return False

    async def close(self) -> None:
        """Stop listening and drop the relay connection (the relay frees the port)."""
        self._closing = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None and supervisor is not asyncio.current_task():
            supervisor.cancel()
            await asyncio.wait({supervisor})
        acceptor, conn = self._acceptor, self._conn
        self._acceptor = self._conn = None
        if acceptor is not None:
            acceptor.close()
        if conn is not None:
            conn.close()
            try:
                await asyncio.wait_for(conn.wait_closed(), 1.0)
            except TimeoutError:
                conn.abort()
        self._on_state("tunnel_closed", self._describe())
