"""What support engineers do with cases: the queue, the thread, the workflow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session

from vxassist.desk import casework
from vxassist.desk.auth import Caller, DatabaseDep, EngineerDep
from vxassist.desk.idempotency import dump
from vxassist.desk.models import Case
from vxassist.desk.routes.cases import CaseIdent
from vxassist.desk.routes.common import (
    config,
    errors,
    json_response,
    now,
    refuse_unknown_query,
)
from vxassist.desk.schemas import (
    AssignIn,
    CaseList,
    CaseOut,
    CloseEscalationIn,
    EscalateIn,
    PriorityLevel,
    Status,
    StatusIn,
    TextIn,
)

router = APIRouter(prefix="/api/v1/engineer", tags=["engineer"])

_FILTERS = {"status", "priority", "company", "assignee", "escalated", "breached"}


@router.get("/cases", response_model=CaseList, responses=errors(401, 403))
def queue(
    request: Request,
    who: EngineerDep,
    db: DatabaseDep,
    status: Annotated[Status | None, Query(description="only cases in this status")] = None,
    priority: Annotated[PriorityLevel | None, Query(description="only this priority")] = None,
    company: Annotated[
        str | None,
        Query(max_length=200, pattern=r"^[^\x00]*$", description="company name contains this"),
    ] = None,
    assignee: Annotated[
        str | None,
        Query(
            max_length=100,
            pattern=r"^[^\x00]*$",
            description="only this engineer's cases; empty for nobody's",
        ),
    ] = None,
    escalated: Annotated[bool | None, Query(description="an escalation is open")] = None,
    breached: Annotated[bool | None, Query(description="the response deadline was missed")] = None,
) -> Response:
    """Every host's cases, the soonest response due first, with the deadline's state."""
    refuse_unknown_query(request, _FILTERS)
    wanted = casework.QueueFilter(
        status=status,
        priority=priority,
        company=company,
        assignee=assignee,
        escalated=escalated,
        breached=breached,
    )
    at = now(request)
    with db.reading() as session:
        return json_response(200, dump(casework.list_for_engineer(session, at, wanted)))


def _change(
    request: Request,
    db: DatabaseDep,
    who: Caller,
    number: str,
    work: Callable[[Session, Case], Any],
) -> Response:
    """Do ``work`` on case ``number`` in one transaction; answer the case with its thread."""
    at = now(request)
    with db.writing() as session:
        case = casework.find_case(session, number, who)
        work(session, case)
        answer = casework.render_full(session, case, who, at)
    return json_response(200, dump(answer))


@router.post(
    "/cases/{number}/status",
    response_model=CaseOut,
    responses=errors(401, 403, 404, 409),
)
def change_status(
    number: CaseIdent, body: StatusIn, request: Request, who: EngineerDep, db: DatabaseDep
) -> Response:
    """Move a case along: open (New), in_progress, waiting_customer, resolved, closed."""
    at = now(request)
    return _change(
        request,
        db,
        who,
        number,
        lambda s, case: casework.set_status(s, case, who, body.status, body.note, at),
    )


@router.post(
    "/cases/{number}/replies",
    response_model=CaseOut,
    responses=errors(401, 403, 404, 409),
)
def reply(
    number: CaseIdent, body: TextIn, request: Request, who: EngineerDep, db: DatabaseDep
) -> Response:
    """Answer the customer (the host reads it); the first answer meets the deadline."""
    at = now(request)
    return _change(
        request, db, who, number, lambda s, case: casework.reply(s, case, who, body.text, at)
    )


@router.post(
    "/cases/{number}/notes",
    response_model=CaseOut,
    responses=errors(401, 403, 404, 409),
)
def note(
    number: CaseIdent, body: TextIn, request: Request, who: EngineerDep, db: DatabaseDep
) -> Response:
    """An internal note: engineers read it, the host never does."""
    at = now(request)
    return _change(
        request, db, who, number, lambda s, case: casework.note(s, case, who, body.text, at)
    )


@router.post(
    "/cases/{number}/calls",
    response_model=CaseOut,
    responses=errors(401, 403, 404, 409),
)
def log_call(
    number: CaseIdent, body: TextIn, request: Request, who: EngineerDep, db: DatabaseDep
) -> Response:
    """Log a telephone call with the customer (a first response, like a reply)."""
    at = now(request)
    return _change(
        request, db, who, number, lambda s, case: casework.log_call(s, case, who, body.text, at)
    )


@router.post(
    "/cases/{number}/assign",
    response_model=CaseOut,
    responses=errors(401, 403, 404, 409),
)
def assign(
    number: CaseIdent, body: AssignIn, request: Request, who: EngineerDep, db: DatabaseDep
) -> Response:
    """Give the case to an engineer of this desk, or to nobody (null)."""
    at = now(request)
    return _change(
        request,
        db,
        who,
        number,
        lambda s, case: casework.assign(s, case, who, body.engineer, at),
    )


@router.post(
    "/cases/{number}/escalations",
    response_model=CaseOut,
    responses=errors(401, 403, 404, 409),
)
def escalate(
    number: CaseIdent, body: EscalateIn, request: Request, who: EngineerDep, db: DatabaseDep
) -> Response:
    """Escalate to the Manager of Technical Support or the local Sales Manager."""
    at = now(request)
    cfg = config(request)
    return _change(
        request,
        db,
        who,
        number,
        lambda s, case: casework.escalate(s, case, who, body.to, body.reason, at, cfg),
    )


@router.post(
    "/cases/{number}/escalations/{escalation_id}/close",
    response_model=CaseOut,
    responses=errors(401, 403, 404, 409),
)
def close_escalation(
    number: CaseIdent,
    escalation_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: CloseEscalationIn,
    request: Request,
    who: EngineerDep,
    db: DatabaseDep,
) -> Response:
    """Close an open escalation (it stops showing on the case)."""
    at = now(request)
    return _change(
        request,
        db,
        who,
        number,
        lambda s, case: casework.close_escalation(s, case, who, escalation_id, body.note, at),
    )


@router.get(
    "/cases/{number}/attachments/{attachment_id}",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **errors(401, 403, 404),
    },
)
def download_attachment(
    number: CaseIdent,
    attachment_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    who: EngineerDep,
    db: DatabaseDep,
) -> Response:
    """A file a host attached to the case, as kept (secrets removed)."""
    with db.reading() as session:
        case = casework.find_case(session, number, who)
        found = casework.attachment(session, case, attachment_id)
        data, name, kind = found.data, found.filename, found.content_type
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    return Response(
        content=data,
        media_type=kind,
        headers={
            "Content-Disposition": f'attachment; filename="{safe or "attachment.txt"}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
