"""The JSON the desk reads and writes (pydantic), i.e. the OpenAPI contract.

Request models bound every string and integer, so bad input is a 422 with the
field named, never a database error. ``CaseIn`` carries exactly the fields of
``vxassist.cases.fields.CASE_FIELDS`` (a test keeps them in step).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from vxassist.cases.fields import BRIEF_MAX


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


NoNul = AfterValidator(_no_nul)


def _len(max_length: int, min_length: int = 1) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)


Line = Annotated[str, _len(200), NoNul]
Phone = Annotated[str, _len(64), NoNul]
LongText = Annotated[str, _len(20_000), NoNul]
Brief = Annotated[str, _len(BRIEF_MAX), NoNul]
Hostname = Annotated[str, _len(255), NoNul]
Code = Annotated[str, _len(64), NoNul]
Reason = Annotated[str, _len(2000), NoNul]
Note = Annotated[str, _len(2000, 0), NoNul]
PublicKey = Annotated[str, _len(8192), NoNul]
OptionalName = Annotated[str, _len(200, 0), NoNul]
OptionalVersion = Annotated[str, _len(100, 0), NoNul]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    ),
    NoNul,
]
PriorityLevel = Annotated[int, Field(ge=1, le=4, description="1 System Down ... 4 Question")]
CaseNumber = Annotated[int, Field(ge=1, le=2**31 - 1)]

Status = Literal["open", "in_progress", "waiting_customer", "resolved", "closed", "no_contract"]
SettableStatus = Literal["open", "in_progress", "waiting_customer", "resolved", "closed"]
EscalationTarget = Literal["technical_support_manager", "sales_manager"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AlsoIssue(_In):
    """A further issue named in the same request; it becomes a case of its own."""

    brief: Brief
    details: LongText
    steps_taken: LongText
    priority: PriorityLevel


class CaseIn(_In):
    """A support request: the required information of the support policy."""

    company: Line
    install_type: Line
    location: Line
    database_type: Line
    vxtracker_server: Line
    pbx_manufacturer: Line
    pbx_model: Line
    contact_name: Line
    contact_phone: Phone
    contact_email: Email
    brief: Brief
    details: LongText
    steps_taken: LongText
    priority: PriorityLevel
    continues_case: CaseNumber | None = None
    third_party_app: OptionalName | None = None
    third_party_version: OptionalVersion | None = None
    system_report: dict[str, Any] | None = None
    also: Annotated[list[AlsoIssue], Field(max_length=20)] = []


class UpdateIn(_In):
    text: LongText
    priority: PriorityLevel | None = None


class EscalateIn(_In):
    to: EscalationTarget
    reason: Reason


class StatusIn(_In):
    status: SettableStatus
    note: Note | None = None


class EnrollIn(_In):
    code: Code
    hostname: Hostname
    host_public_key: PublicKey | None = None


# -- answers -----------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    detail: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"]


class EnrollOut(BaseModel):
    """The enrollment answer; later desk versions add keys (kept verbatim by the agent)."""

    model_config = ConfigDict(extra="allow")

    agent_id: str
    token: str
    contract_id: str
    company: str


class WhoAmI(BaseModel):
    kind: Literal["agent", "engineer"]
    name: str
    agent_id: str | None
    contract_id: str | None
    company: str | None


class Escalation(BaseModel):
    to: EscalationTarget
    reason: str
    at: datetime


class Event(BaseModel):
    at: datetime
    kind: str
    author: str
    text: str


class CaseOut(BaseModel):
    case_number: int | None
    reference: str
    status: Status
    priority: int
    priority_label: str
    received_at: datetime
    response_due: datetime
    message: str
    contract_id: str | None
    company: str
    install_type: str
    location: str
    database_type: str
    vxtracker_server: str
    pbx_manufacturer: str
    pbx_model: str
    contact_name: str
    contact_phone: str
    contact_email: str
    brief: str
    details: str
    steps_taken: str
    continues_case: int | None
    third_party_app: str | None
    third_party_version: str | None
    escalation: Escalation | None
    related: list[CaseOut]
    events: list[Event] | None = Field(
        default=None, description="the case history; only in GET /cases/{number}"
    )
    system_report: dict[str, Any] | None = Field(
        default=None, description="the host's system report; only in GET /cases/{number}"
    )


class CaseList(BaseModel):
    cases: list[CaseOut]
