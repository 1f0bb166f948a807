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

#: what pydantic strips (Unicode White_Space), spelled out: ``\s`` differs between
#: the regex engines of the desk (Rust), the document's readers (ECMA) and Python
_WS = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


_WS_CHARS = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)


def _trim(text: str) -> str:
    return text.strip(_WS_CHARS)


def _text(max_length: int, min_length: int = 1) -> Any:
    """Bounded text without NUL characters (which PostgreSQL cannot store), trimmed
    once it is valid.

    The bounds apply to the text as sent, as the document says; required text must
    hold something besides white space, and the pattern says so too. The checks
    are constraints that run in pydantic-core; only the trim is Python.
    """
    return (
        StringConstraints(
            min_length=min_length,
            max_length=max_length,
            pattern=rf"^[{_WS}]*[^{_WS}\x00][^\x00]*$" if min_length else r"^[^\x00]*$",
        ),
        AfterValidator(_trim),
    )


Line = Annotated[str, *_text(200)]
Phone = Annotated[str, *_text(64)]
LongText = Annotated[str, *_text(20_000)]
Brief = Annotated[str, *_text(BRIEF_MAX)]
Hostname = Annotated[str, *_text(255)]
Code = Annotated[str, *_text(64)]
Reason = Annotated[str, *_text(2000)]
Note = Annotated[str, *_text(2000, 0)]
PublicKey = Annotated[str, *_text(8192)]
OptionalName = Annotated[str, *_text(200, 0)]
OptionalVersion = Annotated[str, *_text(100, 0)]
Email = Annotated[
    str,
    StringConstraints(
        min_length=3,
        max_length=254,
        pattern=rf"^[^@{_WS}\ufeff\x00]+@[^@{_WS}\ufeff\x00]+\.[^@{_WS}\ufeff\x00]+$",
    ),
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


#: what a log file attached to an update may be called: text, by its name
ATTACHMENT_SUFFIXES = ("cfg", "conf", "csv", "ini", "json", "log", "out", "trc", "txt", "xml")


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" for c in word)


class AttachmentIn(_In):
    """A log or text file sent with an update; scrubbed of secrets and size-capped."""

    filename: Annotated[
        str,
        StringConstraints(
            min_length=5,
            max_length=255,
            pattern=r"^[^/\\\x00]*\.(?:" + "|".join(map(_any_case, ATTACHMENT_SUFFIXES)) + ")$",
        ),
        Field(description="a text file's name: " + ", ".join(f".{s}" for s in ATTACHMENT_SUFFIXES)),
    ]
    content_base64: Annotated[
        str,
        StringConstraints(
            max_length=8 * 1024 * 1024,
            pattern=r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
        ),
        Field(description="the file's bytes in base64"),
    ]


class UpdateIn(_In):
    """More information on a case; optionally a new priority and a fresh system report."""

    text: LongText
    priority: PriorityLevel | None = None
    system_report: dict[str, Any] | None = Field(
        default=None,
        description="a fresh system report of the host, as on a new case; "
        "kept with a 'report' event in the case history",
    )
    attachments: Annotated[list[AttachmentIn], Field(max_length=5)] = Field(
        default=[], description="log files; secrets are removed before they are kept"
    )


class EscalateIn(_In):
    to: EscalationTarget
    reason: Reason


class TextIn(_In):
    """A reply, an internal note or a logged call."""

    text: LongText


class AssignIn(_In):
    """The engineer to give the case to, by name; null to take it from whoever has it."""

    engineer: Annotated[str, *_text(100)] | None


class CloseEscalationIn(_In):
    note: Note | None = None


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


class UpdateNotice(BaseModel):
    """The newest agent version the desk knows of; installing it is the administrator's act."""

    latest_version: str
    download_url: str
    notes: str


class EnrollOut(BaseModel):
    """The enrollment answer; later desk versions add keys (kept verbatim by the agent)."""

    model_config = ConfigDict(extra="allow")

    agent_id: str
    token: str
    contract_id: str
    company: str
    #: null or absent when the desk's operator set no ``[updates] latest_version``
    updates: UpdateNotice | None = None


class WhoAmI(BaseModel):
    kind: Literal["agent", "engineer"]
    name: str
    agent_id: str | None
    contract_id: str | None
    company: str | None
    #: null or absent when the desk's operator set no ``[updates] latest_version``
    updates: UpdateNotice | None = None


class Escalation(BaseModel):
    to: EscalationTarget
    reason: str
    at: datetime


class AttachmentOut(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str


class Event(BaseModel):
    """One entry of a case's thread."""

    id: int | None = None
    at: datetime
    kind: str
    author: str
    author_kind: Literal["host", "engineer", "desk"] | None = None
    #: 'internal' events (engineers' notes) never reach a host
    visibility: Literal["customer", "internal"] | None = None
    text: str
    attachments: list[AttachmentOut] | None = None
    system_report: dict[str, Any] | None = Field(
        default=None,
        description="the system report attached with an update (kind 'report'); "
        "only in GET /cases/{number}",
    )


class Deadline(BaseModel):
    state: Literal["met", "due", "breached", "none"]
    text: str


class EscalationRecord(BaseModel):
    id: int
    at: datetime
    by_kind: Literal["host", "engineer", "desk"]
    by_name: str
    to: EscalationTarget
    recipient: str
    reason: str
    closed_at: datetime | None
    closed_by: str | None


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
    escalated: bool = Field(default=False, description="an escalation is open")
    assignee: str | None = None
    first_response_at: datetime | None = None
    first_response_by: str | None = None
    deadline: Deadline | None = Field(
        default=None, description="the response deadline's state: met, due in, breached"
    )
    escalations: list[EscalationRecord] | None = Field(
        default=None, description="every escalation, open and closed; engineers only"
    )
    related: list[CaseOut]
    events: list[Event] | None = Field(
        default=None, description="the case history; only in GET /cases/{number}"
    )
    system_report: dict[str, Any] | None = Field(
        default=None, description="the host's system report; only in GET /cases/{number}"
    )


class CaseList(BaseModel):
    cases: list[CaseOut]


class CaseChanges(BaseModel):
    """What changed on a host's cases since its last look."""

    cursor: int = Field(description="the newest event the host may see; send it as since")
    cases: list[int] = Field(description="the numbers of the cases with something new")


class KbHit(BaseModel):
    """One search answer: where to read it and the passage that matched."""

    id: int
    title: str
    snippet: str
    tags: list[str]
    url: str
    #: the article as a page a person reads (``url`` is its JSON)
    page: str


class KbSearchOut(BaseModel):
    articles: list[KbHit]


class KbSuggestion(BaseModel):
    """An article that may answer what is being typed; ``url`` is its readable page."""

    id: int
    title: str
    snippet: str
    url: str


class KbSuggestOut(BaseModel):
    articles: list[KbSuggestion]


class KbListed(BaseModel):
    """An article without its body."""

    id: int
    title: str
    tags: list[str]
    versions: list[str]
    created_at: datetime
    updated_at: datetime
    url: str


class KbListOut(BaseModel):
    articles: list[KbListed]


class KbArticleOut(BaseModel):
    """An article with its Markdown body."""

    id: int
    title: str
    body: str
    tags: list[str]
    versions: list[str]
    created_at: datetime
    updated_at: datetime
    url: str
