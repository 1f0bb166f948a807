"""The remote-session service: grants, the tunnel to the relay, the embedded server.

(Interface committed first; the body follows.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vxassist.paths import Paths
from vxassist.remote.audit import AuditLog
from vxassist.remote.grants import Grant
from vxassist.settings import RemotePolicy


@dataclass(frozen=True)
class RelayEndpoint:
    """Where the agent's tunnel goes: the relay, its account, the port it may listen on."""

    host: str
    port: int
    user: str
    listen_port: int
    #: the relay's host key line(s), known_hosts format (a bare key line is accepted too)
    known_hosts: str


class RemoteSessionService:
    """Runs approved sessions: opens the tunnel, serves the engineer, ends on time."""

    def __init__(
        self,
        paths: Paths,
        policy: RemotePolicy,
        audit: AuditLog,
        user_ca_public_key: str,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.paths = paths
        self.policy = policy
        self.audit = audit
        self.user_ca_public_key = user_ca_public_key
        self.on_event = on_event

    async def start(self, grant: Grant, relay: RelayEndpoint) -> None:
        raise NotImplementedError

    async def end(self, session_id: str, reason: str) -> dict[str, Any]:
        raise NotImplementedError

    def active(self) -> list[Grant]:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError
