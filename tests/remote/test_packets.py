"""Per-packet work taken out of the agent's connections, and what must not change.

The empty ignore packets asyncssh inserts are dropped, except under a CBC cipher;
no packet is described in the logs; keepalives still drop a silent peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import Counter
from typing import Any

import asyncssh
import pytest
from asyncssh.constants import MSG_CHANNEL_DATA, MSG_GLOBAL_REQUEST, MSG_IGNORE

from vxassist.remote.packets import skip_ignore_packets, trim_per_packet_work


def _count_sent(conn: Any, sent: Counter[int]) -> None:
    """Count, by type, the packets ``conn`` is asked to send from here on."""
    original = conn.send_packet

    def counting(pkttype: int, *args: bytes, handler: Any = None) -> None:
        sent[pkttype] += 1
        original(pkttype, *args, handler=handler)

    conn.send_packet = counting


class _Server(asyncssh.SSHServer):
    def __init__(self, sent: Counter[int], skip: bool, ciphers: list[str]) -> None:
        self._sent = sent
        self._skip = skip
        self._ciphers = ciphers

    def connection_made(self, conn: Any) -> None:
        _count_sent(conn, self._sent)
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


# -- packet logging ---------------------------------------------------------------


class _Trimmed(asyncssh.SSHServer):
    """A server connection with all of :func:`trim_per_packet_work` applied."""

    def __init__(self, seen: dict[str, Any], ciphers: list[str]) -> None:
        self._seen = seen
        self._ciphers = ciphers

    def connection_made(self, conn: Any) -> None:
        trim_per_packet_work(conn, self._ciphers)
        _count_sent(conn, self._seen.setdefault("sent", Counter()))
        # every record of this connection and its channels starts "[conn=N" then "," or "]"
        self._seen["conn_id"] = conn.logger.process("", {})[0].strip().strip("[]")

    def connection_lost(self, exc: Exception | None) -> None:
        self._seen["lost_at"] = asyncio.get_running_loop().time()

    def begin_auth(self, username: str) -> bool:
        return False


async def _echo(process: asyncssh.SSHServerProcess[str]) -> None:
    async for line in process.stdin:
        process.stdout.write(line)
    process.exit(0)


async def _trimmed_server(seen: dict[str, Any], **options: Any) -> asyncssh.SSHAcceptor:
    cipher = "aes128-gcm@openssh.com"
    return await asyncssh.listen(
        "127.0.0.1",
        0,
        server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
        server_factory=lambda: _Trimmed(seen, [cipher]),
        process_factory=_echo,
        encryption_algs=[cipher],
        **options,
    )


_PACKET_TYPE = re.compile(r"\((\d+)\), \d+ bytes?")


def _packet_type(message: str) -> int:
    found = _PACKET_TYPE.search(message)
    assert found is not None, message
    return int(found.group(1))


def test_trimmed_connections_never_describe_packets(caplog: pytest.LogCaptureFixture) -> None:
    """Even at asyncssh's packet-dump level: they would carry keystrokes into the logs."""

    async def session() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        server = await _trimmed_server(seen)
        port = server.sockets[0].getsockname()[1]
        try:
            async with (
                asyncssh.connect("127.0.0.1", port, known_hosts=None, username="x") as conn,
                conn.create_process("echo") as proc,
            ):
                proc.stdin.write("typed secret\n")
                assert await asyncio.wait_for(proc.stdout.readline(), 10) == "typed secret\n"
        finally:
            server.close()
            await server.wait_closed()
        return seen

    asyncssh.set_debug_level(3)
    try:
        with caplog.at_level(logging.DEBUG, logger="asyncssh"):
            seen = asyncio.run(session())
    finally:
        asyncssh.set_debug_level(1)
    conn_id = seen["conn_id"]

    def of_server(record: logging.LogRecord) -> bool:
        return record.getMessage().startswith((f"[{conn_id},", f"[{conn_id}]"))

    packets = [r for r in caplog.records if hasattr(r, "packet")]
    assert [r for r in packets if not of_server(r)], "the untrimmed client logs its packets"
    assert seen["sent"][MSG_CHANNEL_DATA] >= 1
    ours = [r.getMessage() for r in packets if of_server(r)]
    # key exchange and authentication are logged by their own handlers; every
    # packet that carries the session (channels, global requests) is not
    carried = [m for m in ours if _packet_type(m) >= MSG_GLOBAL_REQUEST]
    assert not carried, carried[:5]
    assert not [r for r in caplog.records if of_server(r) and "typed secret" in r.getMessage()]


# -- keepalive --------------------------------------------------------------------


class _Blackhole:
    """A loopback TCP proxy that can stop passing bytes, both ways, sockets kept open."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self.silent = False
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        self._writers += [writer, up_writer]
        self._tasks += [
            asyncio.ensure_future(self._pipe(reader, up_writer)),
            asyncio.ensure_future(self._pipe(up_reader, writer)),
        ]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                if not self.silent:
                    writer.write(data)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


INTERVAL = 0.2
COUNT_MAX = 2


def test_silent_peer_dropped_after_its_keepalives_go_unanswered() -> None:
    async def run() -> tuple[float, float]:
        seen: dict[str, Any] = {}
        server = await _trimmed_server(
            seen, keepalive_interval=INTERVAL, keepalive_count_max=COUNT_MAX
        )
        hole = _Blackhole(server.sockets[0].getsockname()[1])
        port = await hole.start()
        conn = await asyncssh.connect("127.0.0.1", port, known_hosts=None, username="x")
        try:
            result = await conn.run("echo", input="hi\n", check=True)
            assert result.stdout == "hi\n"
            loop = asyncio.get_running_loop()
            silent_from = loop.time()
            hole.silent = True
            for _ in range(100):
                if "lost_at" in seen:
                    break
                await asyncio.sleep(0.05)
            assert "lost_at" in seen, "the server kept a silent peer for 5 s"
            return seen["lost_at"] - silent_from, INTERVAL * (COUNT_MAX + 1)
        finally:
            conn.abort()
            await hole.close()
            server.close()
            await server.wait_closed()

    took, expected = asyncio.run(run())
    # not before its keepalives had their chance (an interval each)
    assert took >= expected - INTERVAL, took


def test_keepalives_only_when_the_peer_is_quiet() -> None:
    """Steady traffic needs no keepalive; an idle, answering peer gets them and stays."""

    async def run() -> tuple[int, int, bool]:
        seen: dict[str, Any] = {}
        server = await _trimmed_server(
            seen, keepalive_interval=INTERVAL, keepalive_count_max=COUNT_MAX
        )
        port = server.sockets[0].getsockname()[1]
        try:
            async with (
                asyncssh.connect("127.0.0.1", port, known_hosts=None, username="x") as conn,
                conn.create_process("echo") as proc,
            ):
                loop = asyncio.get_running_loop()
                end = loop.time() + INTERVAL * (COUNT_MAX + 3)
                while loop.time() < end:  # a line every quarter interval
                    proc.stdin.write("tick\n")
                    assert await asyncio.wait_for(proc.stdout.readline(), 10) == "tick\n"
                    await asyncio.sleep(INTERVAL / 4)
                busy = seen["sent"][MSG_GLOBAL_REQUEST]
                await asyncio.sleep(INTERVAL * (COUNT_MAX + 3))  # idle
                idle = seen["sent"][MSG_GLOBAL_REQUEST] - busy
                alive = "lost_at" not in seen
                proc.stdin.write("still\n")
                assert await asyncio.wait_for(proc.stdout.readline(), 10) == "still\n"
        finally:
            server.close()
            await server.wait_closed()
        return busy, idle, alive

    busy, idle, alive = asyncio.run(run())
    assert busy == 0
    assert idle >= COUNT_MAX + 1
    assert alive
