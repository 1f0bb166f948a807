"""A local SMTP server that keeps every mail as a file: the demo's mail server.

``MailSink`` runs aiosmtpd on 127.0.0.1 (its own thread and loop) and writes each
message it accepts to ``folder`` as ``NNNN-subject.eml`` (readable as text, opened
by any mail program), so a person trying the desk on one machine reads what the
desk would have mailed without a real mail server. Nothing is relayed anywhere.
"""

from __future__ import annotations

import email
import email.policy
import re
import threading
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


def _slug(subject: str) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "-", subject).strip("-").lower()
    return words[:60] or "no-subject"


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else content.encode()
        self.sink.keep(tuple(envelope.rcpt_tos), raw)
        return "250 Message accepted for delivery"


class MailSink:
    """SMTP on ``127.0.0.1:port`` (0: a free one) that files every mail under ``folder``."""

    def __init__(self, folder: Path, port: int = 0) -> None:
        self.folder = folder
        self.port = port
        self._count = 0
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> MailSink:
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.port:
            from vxassist.relay.local import free_port

            self.port = free_port()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def keep(self, rcpt: tuple[str, ...], raw: bytes) -> Path:
        """File one accepted message; the envelope's recipients go first, as X-Rcpt-To."""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        with self._lock:
            self._count += 1
            path = self.folder / f"{self._count:04d}-{_slug(str(message['Subject'] or ''))}.eml"
            path.write_bytes(b"X-Rcpt-To: " + ", ".join(rcpt).encode() + b"\r\n" + raw)
        return path

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
