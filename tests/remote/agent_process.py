"""A session service in a process of its own, for tests that kill the agent.

``python -m tests.remote.agent_process SPEC.json``: serves the grant in the spec
behind the relay in the spec (paths from ``VXASSIST_HOME``), prints ``ready``,
and runs until killed. With a desk in the spec (``write_broker_spec``) it runs
the broker instead, approving every request (the person at the host replaced).
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vxassist.deskclient import DeskClient
from vxassist.eventloop import new_event_loop
from vxassist.paths import Paths
from vxassist.remote.audit import AuditLog
from vxassist.remote.broker import SessionBroker
from vxassist.remote.grants import ConsentDecision, Grant, Scope, SessionRequest
from vxassist.remote.service import RemoteSessionService
from vxassist.remote.tunnel import RelayEndpoint
from vxassist.settings import RemotePolicy


def write_spec(path: Path, grant: Grant, relay: RelayEndpoint, ca_line: str, home: Path) -> None:
    path.write_text(
        json.dumps(
            {
                "grant": {
                    "session_id": grant.session_id,
                    "engineer": grant.engineer,
                    "case_number": grant.case_number,
                    "scopes": [str(s) for s in grant.scopes],
                    "not_before": grant.not_before.isoformat(),
                    "not_after": grant.not_after.isoformat(),
                    "key_id": grant.key_id,
                },
                "relay": [relay.host, relay.port, relay.user, relay.listen_port, relay.known_hosts],
                "ca": ca_line,
                "home": str(home),
            }
        )
    )


def write_broker_spec(
    path: Path, desk_url: str, token: str, relay: RelayEndpoint, ca_line: str, home: Path
) -> None:
    path.write_text(
        json.dumps(
            {
                "desk": {"url": desk_url, "token": token},
                "relay": [relay.host, relay.port, relay.user, relay.listen_port, relay.known_hosts],
                "ca": ca_line,
                "home": str(home),
            }
        )
    )


class _Approve:
    can_prompt = True

    async def ask(self, req: SessionRequest, timeout_s: float) -> ConsentDecision:
        return ConsentDecision(True, req.scopes, req.minutes, "approved")


async def run_broker(spec: dict[str, Any]) -> None:
    paths = Paths.from_env().ensure()
    home = Path(spec["home"])
    audit = AuditLog.for_paths(paths)
    desk = DeskClient(spec["desk"]["url"], spec["desk"]["token"], timeout=30)
    service = RemoteSessionService(
        paths,
        RemotePolicy(file_roots=(str(home),), allow_root_session=True),
        audit,
        spec["ca"],
        shell="/bin/sh",
        home=home,
    )
    relay = RelayEndpoint(*spec["relay"])
    broker = SessionBroker(
        desk,
        _Approve(),
        RemotePolicy(),
        service,
        audit,
        lambda: frozenset(int(c["case_number"]) for c in desk.list_cases()),
        lambda: datetime.now(UTC),
        relay=lambda: relay,
        on_event=lambda e: print(json.dumps(e, default=str), flush=True),
        poll_wait_s=2,
    )
    print("ready", flush=True)
    await broker.run()


async def main(spec: dict[str, Any]) -> None:
    if "desk" in spec:
        await run_broker(spec)
        return
    paths = Paths.from_env().ensure()
    g = spec["grant"]
    grant = Grant(
        session_id=g["session_id"],
        engineer=g["engineer"],
        case_number=g["case_number"],
        scopes=tuple(Scope.parse(s) for s in g["scopes"]),
        not_before=datetime.fromisoformat(g["not_before"]),
        not_after=datetime.fromisoformat(g["not_after"]),
        key_id=g["key_id"],
    )
    home = Path(spec["home"])
    service = RemoteSessionService(
        paths,
        RemotePolicy(file_roots=(str(home),), allow_root_session=True),
        AuditLog.for_paths(paths),
        spec["ca"],
        shell="/bin/sh",
        home=home,
    )
    await service.start(grant, RelayEndpoint(*spec["relay"]))
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    loop = new_event_loop()
    loop.run_until_complete(main(json.loads(Path(sys.argv[1]).read_text())))
