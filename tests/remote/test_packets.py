"""The empty ignore packets asyncssh inserts are dropped, except under a CBC cipher."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import asyncssh
import pytest
from asyncssh.constants import MSG_IGNORE

from vxassist.remote.packets import skip_ignore_packets


class _Server(asyncssh.SSHServer):
    def __init__(self, sent: Counter[int], skip: bool, ciphers: list[str]) -> None:
        self._sent = sent
        self._skip = skip
        self._ciphers = ciphers

    def connection_made(self, conn: Any) -> None:
        original = conn.send_packet

        def counting(pkttype: int, *args: bytes, handler: Any = None) -> None:
            self._sent[pkttype] += 1
            original(pkttype, *args, handler=handler)

        conn.send_packet = counting
        if self._skip:
            skip_ignore_packets(conn, self._ciphers)
            skip_ignore_packets(conn, self._ciphers)  # twice is once

    def begin_auth(self, username: str) -> bool:
        return False  # no authentication: this test is about packets


async def _session(skip: bool, cipher: str, offered: list[str] | None = None) -> Counter[int]:
    """Packets the server sends in a short echo session on ``cipher``."""
    offered = offered or [cipher]
    sent: Counter[int] = Counter()
    key = asyncssh.generate_private_key("ssh-ed25519")

    async def echo(process: asyncssh.SSHServerProcess[str]) -> None:
        for _ in range(5):
            line = await process.stdin.readline()
            process.stdout.write(line)
        process.exit(0)

    server = await asyncssh.listen(
        "127.0.0.1",
        0,
        server_host_keys=[key],
        server_factory=lambda: _Server(sent, skip, offered),
        process_factory=echo,
        encryption_algs=[cipher],
    )
    port = server.sockets[0].getsockname()[1]
    try:
        async with (
            asyncssh.connect(
                "127.0.0.1", port, known_hosts=None, username="x", encryption_algs=[cipher]
            ) as conn,
            conn.create_process("echo") as proc,
        ):
            for i in range(5):
                proc.stdin.write(f"line {i}\n")
                assert await asyncio.wait_for(proc.stdout.readline(), 10) == f"line {i}\n"
    finally:
        server.close()
        await server.wait_closed()
    return sent


@pytest.mark.parametrize("cipher", ["aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"])
def test_no_ignore_packets_on_an_aead_cipher(cipher: str) -> None:
    without = asyncio.run(_session(False, cipher))
    assert without[MSG_IGNORE] >= 5  # what asyncssh does by itself
    skipped = asyncio.run(_session(True, cipher))
    assert skipped[MSG_IGNORE] == 0
    assert sum(skipped.values()) > 10  # the session's own packets all went out


def test_ignore_packets_kept_when_cbc_may_be_negotiated() -> None:
    cbc = asyncio.run(_session(True, "aes128-cbc"))
    assert cbc[MSG_IGNORE] >= 5
    # offered along with others, even when another cipher is chosen
    offered = ["aes128-gcm@openssh.com", "aes256-cbc"]
    gcm = asyncio.run(_session(True, "aes128-gcm@openssh.com", offered))
    assert gcm[MSG_IGNORE] >= 5
