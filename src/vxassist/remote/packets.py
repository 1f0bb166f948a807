"""Per-packet work asyncssh does that the agent's connections can go without.

Every keystroke of a session passes two SSH layers in the agent (the tunnel to
the relay, and the embedded server inside it), each in Python, so what asyncssh
does per packet sets the session's round trip. :func:`trim_per_packet_work`
takes out three things, each without changing what goes on the wire:

- **The empty SSH_MSG_IGNORE before every packet.** A countermeasure against a
  known-IV attack on CBC ciphers. The agent's connections never offer CBC
  (server and tunnel offer AES-GCM, ChaCha20-Poly1305 and AES-CTR only), OpenSSH
  sends no such packets, and each one is a second encryption and write.
  Kept whenever a CBC cipher is among those offered.
- **Packet logging** of the connection and its channels. asyncssh formats a
  description of every packet before its logger decides to drop it. The agent
  never logs these: at asyncssh's debug level 3 they would carry the engineer's
  keystrokes and file contents into the host's logs. (Key exchange and
  authentication packets have their own handlers, left as they are.)
- **Re-arming the keepalive timer on every packet received.** The timer is
  armed once per interval instead; when it fires it looks at when the peer was
  last heard and waits on if that was less than an interval ago. A silent peer
  is still dropped after ``keepalive_interval * (keepalive_count_max + 1)``.

Each part looks for the asyncssh internals it replaces and leaves the
connection as it is when they are missing (a newer asyncssh): the packets are
then just processed the library's way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from asyncssh.constants import MSG_IGNORE

log = logging.getLogger(__name__)

#: the payload asyncssh's inserted ignore packets carry (an empty SSH string)
_EMPTY_STRING = b"\x00\x00\x00\x00"


def trim_per_packet_work(conn: Any, ciphers: Sequence[str]) -> None:
    """Apply all of this module to ``conn``, which may negotiate only ``ciphers``."""
    skip_ignore_packets(conn, ciphers)
    quiet_packet_logging(conn)
    lazy_keepalive(conn)


def skip_ignore_packets(conn: Any, ciphers: Sequence[str]) -> None:
    """Stop ``conn`` from inserting an ignore packet before each packet it sends.

    ``ciphers`` are the ones ``conn`` was allowed to negotiate: with any CBC one
    among them nothing changes. Only the empty ignore packets asyncssh inserts
    are dropped.
    """
    if any("cbc" in name.lower() for name in ciphers):
        return
    original = getattr(conn, "send_packet", None)
    if original is None or getattr(original, "_vx_skips_ignore", False):
        return

    def send_packet(pkttype: int, *args: bytes, handler: Any = None) -> None:
        if pkttype != MSG_IGNORE or args != (_EMPTY_STRING,):
            original(pkttype, *args, handler=handler)

    send_packet._vx_skips_ignore = True  # type: ignore[attr-defined]
    conn.send_packet = send_packet


def _not_logged(pkttype: int, pktid: int | None, packet: Any, note: str = "") -> None:
    """A packet the agent does not describe in its logs."""


def _quiet(handler: Any) -> None:
    if hasattr(handler, "log_received_packet") and hasattr(handler, "log_sent_packet"):
        handler.log_received_packet = handler.log_sent_packet = _not_logged


def quiet_packet_logging(conn: Any) -> None:
    """No packet of ``conn`` or of any of its channels is described for the log."""
    add_channel = getattr(conn, "add_channel", None)
    if add_channel is None or getattr(add_channel, "_vx_quiet", False):
        return
    _quiet(conn)

    def quiet_add_channel(chan: Any) -> Any:
        _quiet(chan)
        return add_channel(chan)

    quiet_add_channel._vx_quiet = True  # type: ignore[attr-defined]
    conn.add_channel = quiet_add_channel


_KEEPALIVE_PARTS = (
    "_reset_keepalive_timer",
    "_keepalive_timer_callback",
    "_keepalive_timer",
    "_keepalive_interval",
    "_loop",
)


def lazy_keepalive(conn: Any) -> None:
    """Arm ``conn``'s keepalive timer once per interval, not once per packet received."""
    if not all(hasattr(conn, name) for name in _KEEPALIVE_PARTS):
        return
    if getattr(conn._reset_keepalive_timer, "_vx_lazy", False):
        return
    loop = conn._loop
    reset = conn._reset_keepalive_timer
    fire = conn._keepalive_timer_callback
    heard = [loop.time()]

    def heard_from_peer() -> None:
        if conn._keepalive_timer is None:
            reset()  # not armed yet (or switched off): asyncssh decides
        else:
            heard[0] = loop.time()

    def on_timer() -> None:
        due = heard[0] + conn._keepalive_interval
        if loop.time() < due:
            conn._keepalive_timer = loop.call_at(due, on_timer)
        else:
            fire()

    heard_from_peer._vx_lazy = True  # type: ignore[attr-defined]
    conn._reset_keepalive_timer = heard_from_peer
    conn._keepalive_timer_callback = on_timer
