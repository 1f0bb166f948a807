"""Per-packet work asyncssh does that the agent's connections can go without.

asyncssh sends an empty SSH_MSG_IGNORE before every packet once the connection
is encrypted: a countermeasure against a known-IV attack on CBC ciphers. The
agent's connections never offer CBC (server and tunnel offer AES-GCM,
ChaCha20-Poly1305 and AES-CTR only), OpenSSH sends no such packets, and on the
agent each one is a second encryption, MAC and write per packet, on both SSH
layers a session's bytes pass through (about a third of the send path's CPU).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from asyncssh.constants import MSG_IGNORE

log = logging.getLogger(__name__)

#: the payload asyncssh's inserted ignore packets carry (an empty SSH string)
_EMPTY_STRING = b"\x00\x00\x00\x00"


def skip_ignore_packets(conn: Any, ciphers: Sequence[str]) -> None:
    """Stop ``conn`` from inserting an ignore packet before each packet it sends.

    ``ciphers`` are the ones ``conn`` was allowed to negotiate: with any CBC one
    among them nothing changes. Only the empty ignore packets asyncssh inserts
    are dropped. If this asyncssh sends packets some other way, nothing happens
    (the packets are just sent).
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
