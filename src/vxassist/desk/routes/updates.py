"""Update requests: a host asks for a patch or a version upgrade; engineers answer.

A request the rules refuse is still kept (201) with status ``refused``, the reason
and what to do; see ``vxassist.desk.updates``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from vxassist.desk import updates
from vxassist.desk.auth import AgentDep, DatabaseDep, EngineerDep
from vxassist.desk.idempotency import dump
from vxassist.desk.routes.common import config, errors, json_response, now
from vxassist.desk.schemas import _WS, Line, LongText, _text, _trim

router = APIRouter(prefix="/api/v1", tags=["updates"])

RequestId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the update request's number")]
Version = Annotated[str, *_text(updates.VERSION_MAX)]
Email = Annotated[
    str,
    StringConstraints(
        min_length=3, max_length=254, pattern=rf"^[{_WS}]*{updates.EMAIL_PATTERN}[{_WS}]*$"
    ),
    AfterValidator(_trim),
]
Detailed = Annotated[
    str,
    StringConstraints(
        max_length=updates.DESCRIPTION_MAX,
        pattern=rf"^[{_WS}]*{updates.DESCRIPTION_PATTERN}[{_WS}]*$",
    ),
    AfterValidator(_trim),
]
DownloadUrl = Annotated[
    str,
    StringConstraints(
        max_length=updates.URL_MAX, pattern=rf"^[{_WS}]*(?:{updates.URL_PATTERN})?[{_WS}]*$"
    ),
    AfterValidator(_trim),
]


class _RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_version: Version = Field(description="the version installed now")
    contact_name: Line = Field(description="who asks")
    contact_email: Email = Field(
        description="who asks; upgrades go only to the contract's technical contact"
    )
    case_number: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="one of this host's cases it concerns"
    )


class PatchRequestIn(_RequestIn):
    """A patch, with a detailed description of the problem (what happens, when, what
    was tried)."""

    kind: Literal["patch"]
    description: Detailed = Field(
        description=f"the problem in detail, at least {updates.DESCRIPTION_MIN} characters"
    )


class UpgradeRequestIn(_RequestIn):
    """A version upgrade: only under a current agreement, only for its technical contact."""

    kind: Literal["upgrade"]
    target_version: Version = Field(description="the version wanted")
    description: LongText = Field(description="why, or anything the engineer should know")


UpdateRequestIn = Annotated[PatchRequestIn | UpgradeRequestIn, Field(discriminator="kind")]


class UpdateAnswerIn(BaseModel):
    """An engineer's answer; the host reads it with the optional download link."""

    model_config = ConfigDict(extra="forbid")

    answer: LongText
    download_url: DownloadUrl | None = Field(
        default=None, description="http(s) link to the update; empty for none"
    )
    status: Literal["answered", "closed"] = "answered"


class UpdateRequestOut(BaseModel):
    id: int
    kind: Literal["patch", "upgrade"]
    status: Literal["requested", "refused", "answered", "closed"]
    product_version: str
    target_version: str | None
    description: str
    contact_name: str
    contact_email: str
    case_number: int | None
    contract_id: str
    #: why it was refused and what to do (status 'refused')
    reason: str | None
    answer: str | None
    download_url: str | None
    answered_by: str | None
    created_at: str
    answered_at: str | None
    company: str | None = None
    hostname: str | None = None


class UpdateRequestList(BaseModel):
    update_requests: list[UpdateRequestOut]


@router.post(
    "/update-requests",
    status_code=201,
    response_model=UpdateRequestOut,
    responses=errors(400, 401, 403, 404),
)
def file_request(
    body: UpdateRequestIn, request: Request, who: AgentDep, db: DatabaseDep
) -> Response:
    """Ask for a patch or a version upgrade. A request the rules refuse is kept with
    status ``refused`` and the reason, which says what to do."""
    assert who.agent_id is not None
    new = updates.NewUpdateRequest(
        kind=body.kind,
        product_version=body.product_version,
        target_version=body.target_version if isinstance(body, UpgradeRequestIn) else None,
        description=body.description,
        contact_name=body.contact_name,
        contact_email=body.contact_email,
        case_number=body.case_number,
    )
    at, calendar = now(request), config(request).calendar
    with db.writing() as session:
        answer = updates.file_request(session, who.agent_id, new, at, calendar)
    return json_response(201, dump(answer))


@router.get("/update-requests", response_model=UpdateRequestList, responses=errors(401, 403))
def host_requests(who: AgentDep, db: DatabaseDep) -> Response:
    """This host's update requests with their answers, the newest first."""
    assert who.agent_id is not None
    with db.reading() as session:
        found = updates.list_for_host(session, who.agent_id)
    return json_response(200, dump({"update_requests": found}))


@router.get(
    "/update-requests/{request_id}",
    response_model=UpdateRequestOut,
    responses=errors(401, 403, 404),
)
def host_request(request_id: RequestId, who: AgentDep, db: DatabaseDep) -> Response:
    """One of this host's update requests, with the answer and download link."""
    assert who.agent_id is not None
    with db.reading() as session:
        found = updates.get_for_host(session, who.agent_id, request_id)
    return json_response(200, dump(found))


@router.get(
    "/engineer/update-requests",
    response_model=UpdateRequestList,
    responses=errors(401, 403),
)
def engineer_requests(
    request: Request,
    who: EngineerDep,
    db: DatabaseDep,
    status: Annotated[
        Literal["requested", "refused", "answered", "closed"] | None,
        Query(description="only requests in this status"),
    ] = None,
) -> Response:
    """Every host's update requests: those waiting for an answer first."""
    unknown = sorted(set(request.query_params) - {"status"})
    if unknown:
        # a misspelt filter must not silently list everything
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
        found = updates.list_for_engineer(session, status)
    return json_response(200, dump({"update_requests": found}))


@router.get(
    "/engineer/update-requests/{request_id}",
    response_model=UpdateRequestOut,
    responses=errors(401, 403, 404),
)
def engineer_request(request_id: RequestId, who: EngineerDep, db: DatabaseDep) -> Response:
    """One update request, with the host and company it came from."""
    with db.reading() as session:
        found = updates.get_for_engineer(session, request_id)
    return json_response(200, dump(found))


@router.post(
    "/engineer/update-requests/{request_id}/answer",
    response_model=UpdateRequestOut,
    responses=errors(400, 401, 403, 404),
)
def answer_request(
    request_id: RequestId,
    body: UpdateAnswerIn,
    request: Request,
    who: EngineerDep,
    db: DatabaseDep,
) -> Response:
    """Answer a request (text, an optional download link), ``answered`` or ``closed``."""
    at = now(request)
    with db.writing() as session:
        found = updates.answer(
            session, request_id, who.name, body.answer, at, body.download_url, body.status
        )
    return json_response(200, dump(found))
