"""Direct-tcpip forwarding for the ``forward:HOST:PORT`` scope.

asyncssh's own forwarder leaves the channel open when the local service closes
first and the engineer's end-of-file arrives afterwards: both directions are
finished, but nobody closes, and the engineer's client waits forever (seen as a
hung ``ssh -W`` in about one run in five). This forwarder closes the pair as soon
as both sides have sent end-of-file, whichever came first.
"""

from __future__ import annotations

import asyncio

import asyncssh
from asyncssh.forward import SSHForwarder


class _Forwarder(SSHForwarder):
    def eof_received(self) -> bool:
        keep_open = super().eof_received()
        if not keep_open:
            self.close()
        return keep_open


async def forward_tcp(host: str, port: int) -> SSHForwarder:
    """Connect to ``host:port`` and return the channel's side of the pair."""
    loop = asyncio.get_running_loop()
    try:
        _, local = await loop.create_connection(_Forwarder, host, port)
    except OSError as exc:
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, str(exc)) from None
    return _Forwarder(local)
