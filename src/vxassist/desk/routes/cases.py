"""Case intake for enrolled hosts: create, list, show, update, escalate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, Response

from vxassist.desk import intake
from vxassist.desk.auth import AgentDep, CallerDep, DatabaseDep
from vxassist.desk.errors import DeskError
from vxassist.desk.idempotency import dump, request_hash, run_once, run_once_on_driver
from vxassist.desk.routes.common import config, errors, json_response, now
from vxassist.desk.schemas import CaseIn, CaseList, CaseOut, EscalateIn, UpdateIn

router = APIRouter(prefix="/api/v1", tags=["cases"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="a client-made key; a retry with the same key and body replays the answer",
    ),
]
CaseIdent = Annotated[
    str,
    Path(
        min_length=1,
        max_length=32,
        description="the case number, or the reference of a request without one",
    ),
]


@router.post(
    "/cases",
    status_code=201,
    response_model=CaseOut,
    responses=errors(400, 401, 403, 404, 409),
)
async def create_case(
    body: CaseIn,
    request: Request,
    who: AgentDep,
    db: DatabaseDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Open one case per issue (``also`` splits); numbers only under an active contract."""
    if idempotency_key is None:
        raise DeskError(
            400,
            "idempotency_key_missing",
            "Send an Idempotency-Key header with every new case, and the same key on retries.",
        )
    at = now(request)
    cfg = config(request)
    assert who.agent_id is not None
    fingerprint = request_hash("/cases", body.model_dump(mode="json"))
    key, agent_id = idempotency_key, who.agent_id
    status, answer = await db.run(
        lambda: run_once_on_driver(
            db,
            agent_id,
            key,
            fingerprint,
            at,
            lambda tx: intake.create_cases(tx, who, body, at, cfg),
        )
    )
    return json_response(status, answer)


@router.get("/cases", response_model=CaseList, responses=errors(401, 403))
def list_cases(who: AgentDep, db: DatabaseDep) -> Response:
    """This host's cases, newest first."""
    with db.reading() as session:
        return json_response(200, dump(intake.list_for_agent(session, who)))


@router.get("/cases/{number}", response_model=CaseOut, responses=errors(401, 404))
def show_case(number: CaseIdent, who: CallerDep, db: DatabaseDep) -> Response:
    """One case with its history (a host sees only its own)."""
    with db.reading() as session:
        return json_response(200, dump(intake.show(session, number, who)))


@router.post(
    "/cases/{number}/updates",
    response_model=CaseOut,
    responses=errors(401, 403, 404, 409),
)
def update_case(
    number: CaseIdent,
    body: UpdateIn,
    request: Request,
    who: AgentDep,
    db: DatabaseDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Add to a case: more detail, optionally a new priority and a fresh system report."""
    at = now(request)
    cfg = config(request)
    assert who.agent_id is not None
    fingerprint = request_hash(f"/cases/{number}/updates", body.model_dump(mode="json"))
    status, answer = run_once(
        db,
        who.agent_id,
        idempotency_key,
        fingerprint,
        at,
        lambda session: intake.add_update(session, number, who, body, at, cfg),
    )
    return json_response(status, answer)


@router.post(
    "/cases/{number}/escalate",
    response_model=CaseOut,
    responses=errors(401, 403, 404, 409),
)
def escalate_case(
    number: CaseIdent, body: EscalateIn, request: Request, who: AgentDep, db: DatabaseDep
) -> Response:
    """Ask that a case go to the Manager of Technical Support or the local Sales Manager."""
    at = now(request)
    assert who.agent_id is not None
    status, answer = run_once(
        db,
        who.agent_id,
        None,
        "",
        at,
        lambda session: intake.escalate(session, number, who, body, at),
    )
    return json_response(status, answer)
