"""Cases for enrolled hosts: create, list, show the thread, update, escalate, changes."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from sqlalchemy.orm import Session

from vxassist.desk import casework, intake
from vxassist.desk.auth import AgentDep, CallerDep, DatabaseDep
from vxassist.desk.errors import DeskError
from vxassist.desk.idempotency import dump, request_hash, run_once, run_once_on_driver
from vxassist.desk.routes.common import (
    config,
    errors,
    json_response,
    now,
    refuse_unknown_query,
)
from vxassist.desk.schemas import (
    AttachmentIn,
    CaseChanges,
    CaseIn,
    CaseList,
    CaseOut,
    EscalateIn,
    UpdateIn,
)

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
def list_cases(request: Request, who: AgentDep, db: DatabaseDep) -> Response:
    """This host's cases, newest first."""
    at = now(request)
    with db.reading() as session:
        return json_response(200, dump(casework.list_for_agent(session, who, at)))


@router.get("/cases/changes", response_model=CaseChanges, responses=errors(401, 403))
def case_changes(
    request: Request,
    who: AgentDep,
    db: DatabaseDep,
    since: Annotated[
        int, Query(ge=0, le=2**53, description="the cursor of the host's last look; 0 at first")
    ] = 0,
) -> Response:
    """Which of this host's cases have something new it may read since ``since``."""
    refuse_unknown_query(request, {"since"})
    with db.reading() as session:
        return json_response(200, dump(casework.changes(session, who, since)))


@router.get("/cases/{number}", response_model=CaseOut, responses=errors(401, 404))
def show_case(number: CaseIdent, request: Request, who: CallerDep, db: DatabaseDep) -> Response:
    """One case with its thread (a host sees only its own, without engineers' notes)."""
    at = now(request)
    with db.reading() as session:
        return json_response(200, dump(casework.show(session, number, who, at)))


def uploads(files: list[AttachmentIn]) -> list[casework.Upload]:
    """The files of an update, decoded (the document's pattern lets only base64 through)."""
    return [
        casework.Upload(filename=f.filename, data=base64.b64decode(f.content_base64)) for f in files
    ]


@router.post(
    "/cases/{number}/updates",
    response_model=CaseOut,
    responses=errors(401, 403, 404, 409, 413),
)
def update_case(
    number: CaseIdent,
    body: UpdateIn,
    request: Request,
    who: AgentDep,
    db: DatabaseDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Add to a case: more detail, optionally a new priority, a fresh system report and
    log files (scrubbed of secrets, size-capped). A resolved case, or one waiting on
    the customer, goes back to New."""
    at = now(request)
    cfg = config(request)
    assert who.agent_id is not None
    files = uploads(body.attachments)
    fingerprint = request_hash(f"/cases/{number}/updates", body.model_dump(mode="json"))

    def work(session: Session) -> tuple[int, dict[str, Any]]:
        case = casework.find_case(session, number, who)
        casework.customer_update(
            session,
            case,
            who,
            body.text,
            at,
            cfg,
            priority=body.priority,
            system_report=body.system_report,
            files=files,
        )
        return 200, intake.render(case, casework.related(session, case), now=at)

    status, answer = run_once(db, who.agent_id, idempotency_key, fingerprint, at, work)
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
    cfg = config(request)
    assert who.agent_id is not None

    def work(session: Session) -> tuple[int, dict[str, Any]]:
        case = casework.find_case(session, number, who)
        casework.escalate(session, case, who, body.to, body.reason, at, cfg)
        return 200, intake.render(case, casework.related(session, case), now=at)

    status, answer = run_once(db, who.agent_id, None, "", at, work)
    return json_response(status, answer)
