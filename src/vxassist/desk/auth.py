"""Who is calling: an enrolled host (agent) or a support engineer, by bearer token."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import bindparam, select

from vxassist.desk.config import DeskConfig
from vxassist.desk.db import Database
from vxassist.desk.errors import DeskError
from vxassist.desk.models import Agent, Contract, Engineer, table
from vxassist.desk.tokens import AGENT_PREFIX, ENGINEER_PREFIX, token_hash

bearer = HTTPBearer(auto_error=False, description="a host token (enrollment) or engineer token")


@dataclass(frozen=True)
class Caller:
    kind: str  # "agent" | "engineer"
    name: str
    agent_id: str | None = None
    contract_id: str | None = None
    company: str | None = None
    #: the last day of the host's contract (an agent's)
    contract_expires: date | None = None

    @property
    def is_agent(self) -> bool:
        return self.kind == "agent"


async def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


_AGENTS, _CONTRACTS, _ENGINEERS = table(Agent), table(Contract), table(Engineer)
_AGENT_BY_TOKEN = (
    select(
        _AGENTS.c.agent_id,
        _AGENTS.c.hostname,
        _AGENTS.c.contract_id,
        _CONTRACTS.c.company,
        _CONTRACTS.c.expires,
    )
    .join(_CONTRACTS, _CONTRACTS.c.contract_id == _AGENTS.c.contract_id)
    .where(_AGENTS.c.token_hash == bindparam("digest"))
)
_HOSTS = select(
    _AGENTS.c.token_hash,
    _AGENTS.c.agent_id,
    _AGENTS.c.hostname,
    _AGENTS.c.contract_id,
    _CONTRACTS.c.company,
    _CONTRACTS.c.expires,
).join(_CONTRACTS, _CONTRACTS.c.contract_id == _AGENTS.c.contract_id)
_ENGINEER_BY_TOKEN = select(_ENGINEERS.c.name).where(_ENGINEERS.c.token_hash == bindparam("digest"))


class CallerCache:
    """Recently verified tokens, for a few seconds: a request then costs no lookup.

    Only identities are kept (who, which host, which contract), never whether the
    contract is active, which intake reads fresh in its own transaction. A token
    removed from the database stops working within ``ttl_s``. Hosts' identities may
    be kept longer (``host_ttl_s``) where the desk hears of every change to a host
    (the session broker's host events call :meth:`forget_agents`): an idle fleet's
    long polls then cost no token lookup either.
    """

    def __init__(self, ttl_s: float = 5.0, size: int = 100_000, host_ttl_s: float = 0.0) -> None:
        self.ttl_s = ttl_s
        self.host_ttl_s = host_ttl_s
        self.size = size
        self._seen: dict[str, tuple[float, Caller]] = {}
        self._by_agent: dict[str, str] = {}
        #: bumped by every forget: an identity looked up before it is kept only briefly
        self.generation = 0

    def get(self, digest: str) -> Caller | None:
        hit = self._seen.get(digest)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, digest: str, who: Caller, generation: int | None = None) -> None:
        """Keep ``who``; ``generation`` is :attr:`generation` from before the lookup."""
        if len(self._seen) >= self.size:
            self._seen.clear()
            self._by_agent.clear()
        ttl = self.ttl_s
        if who.agent_id is not None and generation == self.generation and ttl > 0:
            ttl = max(ttl, self.host_ttl_s)
            self._by_agent[who.agent_id] = digest
        self._seen[digest] = (time.monotonic() + ttl, who)

    def forget_agents(self, agent_ids: Iterable[str] | None) -> None:
        """These hosts changed (None: any host may have): look their tokens up again."""
        self.generation += 1
        if agent_ids is None:
            self._seen.clear()
            self._by_agent.clear()
            return
        for agent_id in agent_ids:
            digest = self._by_agent.pop(agent_id, None)
            if digest is not None:
                self._seen.pop(digest, None)


def remember_hosts(db: Database, cache: CallerCache) -> int:
    """Keep every host's identity in ``cache`` (one read for the whole fleet, blocking):
    a fleet coming back after a desk restart then costs no token lookup per host.
    Kept like any lookup: as long as this process hears of host changes."""
    generation = cache.generation
    with db.engine.connect() as conn:
        rows = conn.execute(_HOSTS.limit(cache.size // 2)).all()
    for row in rows:
        who = Caller("agent", row.hostname, row.agent_id, row.contract_id, row.company, row.expires)
        cache.put(row.token_hash, who, generation)
    return len(rows)


def _lookup(db: Database, digest: str, token: str) -> Caller | None:
    if token.startswith(AGENT_PREFIX):
        with db.engine.connect() as conn:
            row = conn.execute(_AGENT_BY_TOKEN, {"digest": digest}).first()
        if row is not None:
            return Caller(
                "agent", row.hostname, row.agent_id, row.contract_id, row.company, row.expires
            )
    elif token.startswith(ENGINEER_PREFIX):
        with db.engine.connect() as conn:
            name = conn.execute(_ENGINEER_BY_TOKEN, {"digest": digest}).scalar()
        if name is not None:
            return Caller("engineer", str(name))
    return None


def _unauthorized(message: str) -> DeskError:
    return DeskError(401, "unauthorized", message)


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def _verified(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized(
            "This request needs a bearer token; enroll the host or log in as an engineer."
        )
    db: Database = request.app.state.db
    cache: CallerCache = request.app.state.callers
    token = credentials.credentials
    digest = token_hash(token)
    found = cache.get(digest)
    if found is None:
        generation = cache.generation
        found = await db.run(lambda: _lookup(db, digest, token))
        if found is not None:
            cache.put(digest, found, generation)
    if found is not None:
        _check_contract(request, found)
        return found
    raise _unauthorized("The desk does not know this token; enroll again or ask for a new one.")


def host_token_ended(who: Caller, now: datetime, config: DeskConfig) -> bool:
    """Whether the host's contract ended more than ``config.expired_host_days`` ago."""
    if not who.is_agent or who.contract_expires is None or config.expired_host_days is None:
        return False
    today = now.astimezone(ZoneInfo(config.calendar.tz)).date()
    return today > who.contract_expires + timedelta(days=config.expired_host_days)


def _check_contract(request: Request, who: Caller) -> None:
    config: DeskConfig = request.app.state.config
    if host_token_ended(who, request.app.state.clock(), config):
        raise _unauthorized(
            f"The maintenance contract of this host ended on {who.contract_expires}, so its "
            f"token no longer works; renew the contract, then enroll the host again."
        )


# One dependency level each (not agent -> caller -> bearer): FastAPI's cost per request
# grows with every level it solves.


async def caller(request: Request, credentials: Credentials) -> Caller:
    """The verified caller; 401 with a sentence for a missing or unknown token."""
    return await _verified(request, credentials)


async def agent(request: Request, credentials: Credentials) -> Caller:
    """The verified caller, who must be an enrolled host (403 otherwise)."""
    who = await _verified(request, credentials)
    if not who.is_agent:
        raise DeskError(403, "agent_only", "Only an enrolled host can do this; use a host token.")
    return who


async def engineer(request: Request, credentials: Credentials) -> Caller:
    """The verified caller, who must be a support engineer (403 otherwise)."""
    who = await _verified(request, credentials)
    if who.is_agent:
        raise DeskError(
            403, "engineer_only", "Only a support engineer can do this; use an engineer token."
        )
    return who


CallerDep = Annotated[Caller, Depends(caller)]
AgentDep = Annotated[Caller, Depends(agent)]
EngineerDep = Annotated[Caller, Depends(engineer)]
DatabaseDep = Annotated[Database, Depends(database)]
