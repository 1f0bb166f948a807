"""Who is calling: an enrolled host (agent) or a support engineer, by bearer token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select

from vxassist.desk.db import Database
from vxassist.desk.errors import DeskError
from vxassist.desk.models import Agent, Contract, Engineer
from vxassist.desk.tokens import AGENT_PREFIX, ENGINEER_PREFIX, token_hash

bearer = HTTPBearer(auto_error=False, description="a host token (enrollment) or engineer token")


@dataclass(frozen=True)
class Caller:
    kind: str  # "agent" | "engineer"
    name: str
    agent_id: str | None = None
    contract_id: str | None = None
    company: str | None = None

    @property
    def is_agent(self) -> bool:
        return self.kind == "agent"


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _unauthorized(message: str) -> DeskError:
    return DeskError(401, "unauthorized", message)


def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The verified caller; 401 with a sentence for a missing or unknown token."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized(
            "This request needs a bearer token; enroll the host or log in as an engineer."
        )
    token = credentials.credentials
    digest = token_hash(token)
    db = database(request)
    with db.reading() as session:
        if token.startswith(AGENT_PREFIX):
            row = session.execute(
                select(Agent.agent_id, Agent.hostname, Agent.contract_id, Contract.company)
                .join(Contract, Contract.contract_id == Agent.contract_id)
                .where(Agent.token_hash == digest)
            ).first()
            if row is not None:
                return Caller("agent", row.hostname, row.agent_id, row.contract_id, row.company)
        elif token.startswith(ENGINEER_PREFIX):
            name = session.scalar(select(Engineer.name).where(Engineer.token_hash == digest))
            if name is not None:
                return Caller("engineer", name)
    raise _unauthorized("The desk does not know this token; enroll again or ask for a new one.")


def agent(who: Annotated[Caller, Depends(caller)]) -> Caller:
    if not who.is_agent:
        raise DeskError(403, "agent_only", "Only an enrolled host can do this; use a host token.")
    return who


def engineer(who: Annotated[Caller, Depends(caller)]) -> Caller:
    if who.is_agent:
        raise DeskError(
            403, "engineer_only", "Only a support engineer can do this; use an engineer token."
        )
    return who


CallerDep = Annotated[Caller, Depends(caller)]
AgentDep = Annotated[Caller, Depends(agent)]
EngineerDep = Annotated[Caller, Depends(engineer)]
DatabaseDep = Annotated[Database, Depends(database)]
