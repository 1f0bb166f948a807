"""What support engineers do with cases: the queue and status changes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from vxassist.desk import intake
from vxassist.desk.auth import DatabaseDep, EngineerDep
from vxassist.desk.idempotency import dump
from vxassist.desk.routes.cases import CaseIdent
from vxassist.desk.routes.common import errors, json_response, now
from vxassist.desk.schemas import CaseList, CaseOut, Status, StatusIn

router = APIRouter(prefix="/api/v1/engineer", tags=["engineer"])


@router.get("/cases", response_model=CaseList, responses=errors(401, 403))
def queue(
    request: Request,
    who: EngineerDep,
    db: DatabaseDep,
    status: Annotated[Status | None, Query(description="only cases in this status")] = None,
) -> Response:
    """Every host's cases, the soonest response due first."""
    unknown = sorted(set(request.query_params) - {"status"})
    if unknown:
        # a misspelt filter (?stauts=open) must not silently list everything
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": "Extra inputs are not permitted",
                    "input": request.query_params[name],
                }
                for name in unknown
            ]
        )
    with db.reading() as session:
        return json_response(200, dump(intake.list_for_engineer(session, status)))


@router.post(
    "/cases/{number}/status",
    response_model=CaseOut,
    responses=errors(401, 403, 404, 409),
)
def change_status(
    number: CaseIdent, body: StatusIn, request: Request, who: EngineerDep, db: DatabaseDep
) -> Response:
    """Move a case along (open, in_progress, waiting_customer, resolved, closed)."""
    at = now(request)
    with db.writing() as session:
        answer = intake.set_status(session, number, who, body, at)
    return json_response(200, dump(answer))
