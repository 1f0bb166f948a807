"""A real SMTP server for the desk's mail tests: aiosmtpd on 127.0.0.1.

``SmtpServer`` keeps every message it takes, can be stopped (the desk's mail then
fails) and started again on the same port.
"""

from __future__ import annotations

import email
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    rcpt: tuple[str, ...]
    message: Message

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        payload = self.message.get_payload(decode=True)
        assert isinstance(payload, bytes)
        return payload.decode("utf-8")


class _Handler:
    def __init__(self, box: SmtpServer) -> None:
        self.box = box

    async def handle_RCPT(
        self, _server: Any, _session: Any, envelope: Any, address: str, _options: Any
    ) -> str:
        if address in self.box.refused:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else content.encode()
        self.box._take(Received(tuple(envelope.rcpt_tos), email.message_from_bytes(raw)))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpServer:
    """aiosmtpd on 127.0.0.1:``port``; ``messages`` in the order taken."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.messages: list[Received] = []
        #: addresses refused for good (550), as a server refuses an unknown mailbox
        self.refused: set[str] = set()
        self._cond = threading.Condition()
        self._controller: Controller | None = None

    def _take(self, received: Received) -> None:
        with self._cond:
            self.messages.append(received)
            self._cond.notify_all()

    def start(self) -> None:
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def to(self, addr: str) -> list[Received]:
        with self._cond:
            return [m for m in self.messages if addr in m.rcpt]

    def wait_for(self, addr: str, count: int = 1, timeout: float = 20.0) -> list[Received]:
        """The messages to ``addr`` once there are ``count`` (fails after ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in self.messages if addr in m.rcpt]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                assert left > 0, f"{count} mail(s) to {addr} never came; got {self.summary()}"
                self._cond.wait(left)

    def summary(self) -> list[tuple[tuple[str, ...], str]]:
        return [(m.rcpt, m.subject) for m in self.messages]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
