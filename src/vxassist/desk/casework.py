"""What happens to a case after intake: the one service layer of the API, the CLI
and the web console.

Every function takes an ORM session (the caller's transaction) and the time, and
never a request: the routes, the CLI and the console decide transactions, this
module decides cases. Every change to a case ends in :func:`record`, which writes
the event of the thread and tells whoever must hear of it, in the same transaction.

The workflow: ``open`` (shown as New) -> ``in_progress`` -> ``waiting_customer`` ->
``resolved`` -> ``closed``. A customer's update puts a case that waits on them, or
a resolved one, back to ``open``; a closed case takes nothing more (the customer
opens a new case that continues it). A request without a case number
(``no_contract``) is not worked on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from vxassist.cases.fields import Priority
from vxassist.cases.sla import response_due
from vxassist.cases.status import STATUS_LABELS as STATUS_LABELS  # also read on the host
from vxassist.desk import hostevents, notify
from vxassist.desk.auth import Caller
from vxassist.desk.config import DeskConfig
from vxassist.desk.errors import DeskError
from vxassist.desk.intake import (
    REFERENCE_RE,
    CaseRow,
    case_label,
    is_number,
    render,
    report_text,
    unknown_case,
)
from vxassist.desk.models import (
    Case,
    CaseAttachment,
    CaseEscalation,
    CaseEvent,
    Contract,
    Engineer,
)
from vxassist.desk.schemas import ATTACHMENT_SUFFIXES

Visibility = Literal["customer", "internal"]
AuthorKind = Literal["host", "engineer", "desk"]

#: the statuses an engineer may set, and where each may go next
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"in_progress", "waiting_customer", "resolved", "closed"}),
    "in_progress": frozenset({"open", "waiting_customer", "resolved", "closed"}),
    "waiting_customer": frozenset({"open", "in_progress", "resolved", "closed"}),
    "resolved": frozenset({"open", "in_progress", "closed"}),
    "closed": frozenset(),
}
#: statuses a customer's update puts back in the queue
REOPENED_BY_CUSTOMER = frozenset({"waiting_customer", "resolved"})
#: the API's escalation targets and the level stored for them
LEVELS = {"technical_support_manager": "manager", "sales_manager": "sales"}
TARGETS = {level: target for target, level in LEVELS.items()}
LEVEL_LABELS = {
    "manager": "the Manager of Technical Support",
    "sales": "the local Sales Manager",
}
_MAX_LISTED = 500


# -- the one place a case changes -----------------------------------------------------


def record(
    session: Session,
    case: Case,
    now: datetime,
    *,
    kind: str,
    author: str,
    author_kind: AuthorKind,
    text: str,
    visibility: Visibility = "customer",
    system_report: dict[str, Any] | None = None,
) -> CaseEvent:
    """Write one event of the case's thread; the end of every change to a case."""
    event = CaseEvent(
        case_id=case.id,
        at=now,
        kind=kind,
        author=author,
        author_kind=author_kind,
        visibility=visibility,
        text=text,
        system_report=system_report,
    )
    session.add(event)
    case.updated_at = now
    session.flush()
    notify.on_case_event(session, case, event, now)
    if visibility == "customer":
        # the host's long poll answers with its new case_cursor
        hostevents.publish(session, [case.agent_id])
    return event


# -- finding and showing ----------------------------------------------------------------


def find_case(session: Session, ident: str, who: Caller) -> Case:
    """The case named by number or reference that ``who`` may see; 404 otherwise."""
    query = select(Case)
    if is_number(ident):
        query = query.where(Case.case_number == int(ident))
    elif REFERENCE_RE.match(ident):
        query = query.where(Case.reference == ident)
    else:
        raise unknown_case(ident[:40])
    if who.is_agent:
        query = query.where(Case.agent_id == who.agent_id)
    case = session.scalar(query)
    if case is None:
        raise unknown_case(ident)
    return case


def related(session: Session, case: Case) -> list[Case]:
    """The other cases split from the same request."""
    if case.group_id is None:
        return []
    rows = session.scalars(
        select(Case).where(Case.group_id == case.group_id, Case.id != case.id).order_by(Case.id)
    )
    return list(rows)


def thread(session: Session, case: Case, who: Caller) -> list[CaseEvent]:
    """The events of a case in order; a host never sees the internal ones."""
    query = select(CaseEvent).where(CaseEvent.case_id == case.id)
    if who.is_agent:
        query = query.where(CaseEvent.visibility == "customer")
    return list(session.scalars(query.order_by(CaseEvent.id)))


def show(session: Session, ident: str, who: Caller, now: datetime) -> dict[str, Any]:
    """One case with its thread (internal notes only for engineers) and attachments."""
    return render_full(session, find_case(session, ident, who), who, now)


def render_full(session: Session, case: Case, who: Caller, now: datetime) -> dict[str, Any]:
    events = thread(session, case, who)
    files: dict[int, list[dict[str, Any]]] = {}
    if events:
        rows = session.execute(
            select(
                CaseAttachment.id,
                CaseAttachment.event_id,
                CaseAttachment.filename,
                CaseAttachment.content_type,
                CaseAttachment.size,
                CaseAttachment.sha256,
            )
            .where(CaseAttachment.case_id == case.id)
            .order_by(CaseAttachment.id)
        )
        for row in rows:
            files.setdefault(row.event_id, []).append(
                {
                    "id": row.id,
                    "filename": row.filename,
                    "content_type": row.content_type,
                    "size": row.size,
                    "sha256": row.sha256,
                }
            )
    data = render(case, related(session, case), events, now=now, attachments=files)
    data["system_report"] = case.system_report
    if not who.is_agent:
        data["escalations"] = [_render_escalation(e) for e in escalations(session, case)]
    return data


def escalations(session: Session, case: Case) -> list[CaseEscalation]:
    return list(
        session.scalars(
            select(CaseEscalation)
            .where(CaseEscalation.case_id == case.id)
            .order_by(CaseEscalation.id)
        )
    )


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


def _render_escalation(e: CaseEscalation) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": _iso(e.at),
        "by_kind": e.by_kind,
        "by_name": e.by_name,
        "to": TARGETS.get(e.level, "technical_support_manager"),
        "recipient": e.recipient,
        "reason": e.reason,
        "closed_at": _iso(e.closed_at),
        "closed_by": e.closed_by,
    }


def list_for_agent(session: Session, who: Caller, now: datetime) -> dict[str, Any]:
    rows = session.scalars(
        select(Case)
        .where(Case.agent_id == who.agent_id)
        .order_by(Case.id.desc())
        .limit(_MAX_LISTED)
    ).all()
    return {"cases": [render(c, now=now) for c in rows]}


@dataclass(frozen=True)
class QueueFilter:
    """What an engineer's queue shows; every field None means everything."""

    status: str | None = None
    priority: int | None = None
    company: str | None = None
    #: an engineer's name; "" for cases nobody took
    assignee: str | None = None
    escalated: bool | None = None
    breached: bool | None = None


def queue(session: Session, now: datetime, wanted: QueueFilter | None = None) -> list[Case]:
    """Cases for engineers, the soonest response due first, filtered."""
    f = wanted or QueueFilter()
    query = select(Case)
    if f.status is not None:
        query = query.where(Case.status == f.status)
    if f.priority is not None:
        query = query.where(Case.priority == f.priority)
    if f.company is not None:
        query = query.where(func.lower(Case.company).contains(f.company.lower(), autoescape=True))
    if f.assignee is not None:
        query = query.where(
            Case.assignee.is_(None) if f.assignee == "" else Case.assignee == f.assignee
        )
    if f.escalated is not None:
        is_open = (
            select(CaseEscalation.id)
            .where(CaseEscalation.case_id == Case.id, CaseEscalation.closed_at.is_(None))
            .exists()
        )
        query = query.where(is_open if f.escalated else ~is_open)
    if f.breached is not None:
        late = (Case.first_response_at.is_not(None)) & (Case.first_response_at > Case.response_due)
        missed = (Case.first_response_at.is_(None)) & (Case.response_due < now)
        breached = and_(Case.status != "no_contract", late | missed)
        query = query.where(breached if f.breached else ~breached)
    rows = session.scalars(query.order_by(Case.response_due, Case.id).limit(_MAX_LISTED))
    return list(rows)


def list_for_engineer(
    session: Session, now: datetime, wanted: QueueFilter | None = None
) -> dict[str, Any]:
    return {"cases": [render(c, now=now) for c in queue(session, now, wanted)]}


def changes(session: Session, who: Caller, since: int) -> dict[str, Any]:
    """What changed on this host's cases since ``since``: the numbers, and a new cursor.

    The cursor is the newest customer-visible event id of the host's cases.
    """
    visible = (
        select(CaseEvent.id, Case.case_number)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(Case.agent_id == who.agent_id, CaseEvent.visibility == "customer")
    )
    newest = session.scalar(
        select(func.max(CaseEvent.id))
        .join(Case, Case.id == CaseEvent.case_id)
        .where(Case.agent_id == who.agent_id, CaseEvent.visibility == "customer")
    )
    numbers: set[int] = set()
    if newest is not None and newest > since:
        for _event_id, number in session.execute(visible.where(CaseEvent.id > since)):
            if number is not None:
                numbers.add(int(number))
    return {"cursor": int(newest or 0), "cases": sorted(numbers)}


# -- the deadline ---------------------------------------------------------------------


@dataclass(frozen=True)
class DeadlineState:
    """Where a case stands against its response deadline."""

    #: 'met', 'due' (no response yet, time left), 'breached' (late or missed), 'none'
    state: str
    due: datetime
    #: seconds until due (negative once past); None once answered
    left_s: float | None
    text: str


def _span(seconds: float) -> str:
    minutes = max(0, int(seconds // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins} min"
    return f"{mins} min"


def deadline_state(case: CaseRow, now: datetime) -> DeadlineState:
    """Met, due in X, or breached: a pure function of the case and the time.

    Met when the first response came by the deadline; breached when it came late,
    or when none came and the deadline is past.
    """
    due: datetime = case.response_due
    first: datetime | None = getattr(case, "first_response_at", None)
    if case.status == "no_contract":
        return DeadlineState("none", due, None, "no deadline (no contract)")
    if first is not None:
        if first <= due:
            return DeadlineState("met", due, None, "met")
        late = _span((first - due).total_seconds())
        return DeadlineState("breached", due, None, f"breached (answered {late} late)")
    left = (due - now).total_seconds()
    if now > due:
        return DeadlineState("breached", due, left, f"breached {_span(-left)} ago")
    return DeadlineState("due", due, left, f"due in {_span(left)}")


# -- changes by engineers ---------------------------------------------------------------


def _refuse_closed(case: Case, action: str) -> None:
    if case.status == "closed":
        raise DeskError(
            409,
            "case_closed",
            f"{case_label(case).capitalize()} is closed, so it cannot be {action}; open a new case "
            f"that continues it.",
        )


def _refuse_without_contract(case: Case) -> None:
    if case.status == "no_contract":
        raise DeskError(
            409,
            "case_without_contract",
            f"Request {case.reference} has no case number (no active maintenance contract); "
            "renew the contract before working on it.",
        )


def _first_response(case: Case, who: Caller, now: datetime) -> None:
    if case.first_response_at is None:
        case.first_response_at = now
        case.first_response_by = who.name


def reply(session: Session, case: Case, who: Caller, text: str, now: datetime) -> CaseEvent:
    """An engineer's answer the customer reads; the first one meets the deadline."""
    _refuse_without_contract(case)
    _refuse_closed(case, "answered")
    _first_response(case, who, now)
    return record(
        session, case, now, kind="reply", author=who.name, author_kind="engineer", text=text
    )


def note(session: Session, case: Case, who: Caller, text: str, now: datetime) -> CaseEvent:
    """An internal note: engineers read it, the host never does."""
    return record(
        session,
        case,
        now,
        kind="note",
        author=who.name,
        author_kind="engineer",
        text=text,
        visibility="internal",
    )


def log_call(session: Session, case: Case, who: Caller, text: str, now: datetime) -> CaseEvent:
    """A telephone call with the customer, logged: a first response like a reply."""
    _refuse_without_contract(case)
    _refuse_closed(case, "updated")
    _first_response(case, who, now)
    return record(
        session,
        case,
        now,
        kind="call",
        author=who.name,
        author_kind="engineer",
        text=f"Call with the customer: {text}",
    )


def set_status(
    session: Session, case: Case, who: Caller, status: str, note_text: str | None, now: datetime
) -> CaseEvent:
    """Move a case along the workflow (see ``TRANSITIONS``)."""
    _refuse_without_contract(case)
    _refuse_closed(case, "changed")
    old = case.status
    if status == old:
        raise DeskError(
            409,
            "status_unchanged",
            f"{case_label(case).capitalize()} is already {STATUS_LABELS.get(old, old)}; "
            "choose another status.",
        )
    if status not in TRANSITIONS.get(old, frozenset()):
        raise DeskError(
            409,
            "status_not_allowed",
            f"{case_label(case).capitalize()} cannot go from {STATUS_LABELS.get(old, old)} to "
            f"{STATUS_LABELS.get(status, status)}; see the case's status for what may follow.",
        )
    case.status = status
    text = f"{old} -> {status}"
    if note_text:
        text += f": {note_text}"
    return record(
        session, case, now, kind="status", author=who.name, author_kind="engineer", text=text
    )


def assign(
    session: Session, case: Case, who: Caller, engineer: str | None, now: datetime
) -> CaseEvent:
    """Give the case to an engineer of the desk by name, or to nobody (``None``)."""
    _refuse_closed(case, "assigned")
    name = (engineer or "").strip() or None
    if name is not None:
        found = session.scalar(select(Engineer.name).where(Engineer.name == name))
        if found is None:
            raise DeskError(
                404,
                "engineer_unknown",
                f"There is no engineer named {name[:100]} at this desk; check the name.",
            )
    old = case.assignee
    case.assignee = name
    if name is None:
        text = f"Unassigned (was {old})." if old else "Unassigned."
    else:
        text = f"Assigned to {name}" + (f" (was {old})." if old and old != name else ".")
    return record(
        session,
        case,
        now,
        kind="assigned",
        author=who.name,
        author_kind="engineer",
        text=text,
        visibility="internal",
    )


def unassign_engineer(session: Session, name: str, now: datetime) -> int:
    """Clear ``assignee`` on every case of an engineer leaving the desk, each in its
    history; how many."""
    cases = session.scalars(select(Case).where(Case.assignee == name)).all()
    for case in cases:
        case.assignee = None
        record(
            session,
            case,
            now,
            kind="assigned",
            author="desk",
            author_kind="desk",
            text=f"Unassigned: engineer {name} was removed from the desk.",
            visibility="internal",
        )
    return len(cases)


# -- escalation -------------------------------------------------------------------------


def recipient(session: Session, case: Case, level: str, config: DeskConfig) -> str:
    """Whom an escalation of ``level`` briefs: the contract's manager, else the desk's.

    The desk-wide ``[escalation]`` addresses come next, and the support address
    last, so a customer's escalation always reaches someone at the vendor.
    """
    contract = session.get(Contract, case.contract_id) if case.contract_id is not None else None
    field = "manager_email" if level == "manager" else "sales_manager_email"
    found = getattr(contract, field, None) if contract is not None else None
    if not found:
        found = getattr(config.escalation, field)
    if not found:
        found = config.support.email
    if not found:
        raise DeskError(
            409,
            "escalation_unconfigured",
            f"Nobody is configured to receive an escalation to {LEVEL_LABELS[level]}; "
            "contact support by telephone.",
        )
    return str(found)


def escalate(
    session: Session,
    case: Case,
    who: Caller,
    target: str,
    reason: str,
    now: datetime,
    config: DeskConfig,
    *,
    by_kind: AuthorKind | None = None,
) -> CaseEscalation:
    """Escalate to the Manager of Technical Support or the local Sales Manager.

    ``target`` is the API's word (``technical_support_manager``, ``sales_manager``)
    or the level (``manager``, ``sales``). Open until an engineer closes it.
    """
    _refuse_closed(case, "escalated")
    level = LEVELS.get(target, target)
    if level not in LEVEL_LABELS:
        raise DeskError(
            422, "escalation_level", "Escalate to the manager or to sales; nothing else."
        )
    kind: AuthorKind = by_kind or ("host" if who.is_agent else "engineer")
    to = recipient(session, case, level, config)
    escalation = CaseEscalation(
        case_id=case.id,
        at=now,
        by_kind=kind,
        by_name=who.name,
        level=level,
        recipient=to,
        reason=reason,
    )
    session.add(escalation)
    case.escalated_to = TARGETS[level]
    case.escalation_reason = reason
    case.escalated_at = now
    asked = "asked" if kind == "host" else "made"
    record(
        session,
        case,
        now,
        kind="escalated",
        author=who.name,
        author_kind=kind,
        text=f"Escalation to {LEVEL_LABELS[level]} {asked}: {reason}",
        visibility="customer" if kind == "host" else "internal",
    )
    return escalation


def close_escalation(
    session: Session,
    case: Case,
    who: Caller,
    escalation_id: int | None,
    note_text: str | None,
    now: datetime,
) -> CaseEscalation:
    """Close one open escalation of the case (the newest when ``escalation_id`` is None)."""
    query = select(CaseEscalation).where(
        CaseEscalation.case_id == case.id, CaseEscalation.closed_at.is_(None)
    )
    if escalation_id is not None:
        query = query.where(CaseEscalation.id == escalation_id)
    found = session.scalars(query.order_by(CaseEscalation.id.desc())).first()
    if found is None:
        raise DeskError(
            404,
            "escalation_unknown",
            f"{case_label(case).capitalize()} has no open escalation"
            + (f" {escalation_id}" if escalation_id is not None else "")
            + "; see the case's escalations.",
        )
    found.closed_at = now
    found.closed_by = who.name
    still_open = session.scalars(
        select(CaseEscalation)
        .where(CaseEscalation.case_id == case.id, CaseEscalation.closed_at.is_(None))
        .order_by(CaseEscalation.id.desc())
    ).first()
    if still_open is None:
        case.escalated_to = None
        case.escalation_reason = None
        case.escalated_at = None
    else:
        case.escalated_to = TARGETS[still_open.level]
        case.escalation_reason = still_open.reason
        case.escalated_at = still_open.at
    text = f"Escalation to {LEVEL_LABELS.get(found.level, found.level)} closed"
    text += f": {note_text}" if note_text else "."
    record(
        session,
        case,
        now,
        kind="escalation_closed",
        author=who.name,
        author_kind="engineer",
        text=text,
        visibility="customer" if found.by_kind == "host" else "internal",
    )
    return found


# -- the customer's side -----------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """A file sent with an update, as received (before scrubbing)."""

    filename: str
    data: bytes
    content_type: str = "text/plain"


def customer_update(
    session: Session,
    case: Case,
    who: Caller,
    text: str,
    now: datetime,
    config: DeskConfig,
    *,
    priority: int | None = None,
    system_report: dict[str, Any] | None = None,
    files: Sequence[Upload] = (),
) -> CaseEvent:
    """The host adds to its case: text, a fresh report, log files, a new priority.

    A case waiting on the customer, or resolved, goes back to ``open``.
    """
    _refuse_closed(case, "updated")
    cleaned = [clean_upload(f, config) for f in files]
    event = record(
        session, case, now, kind="update", author=who.name, author_kind="host", text=text
    )
    for upload, (data, scrubbed) in zip(files, cleaned, strict=True):
        attach(session, case, event, upload, data, scrubbed, now)
    if system_report is not None:
        record(
            session,
            case,
            now,
            kind="report",
            author=who.name,
            author_kind="host",
            text=report_text(system_report),
            system_report=system_report,
        )
    if priority is not None and priority != case.priority:
        old = case.priority
        case.priority = priority
        if case.status != "no_contract":
            case.response_due = min(case.response_due, response_due(priority, now, config.calendar))
        record(
            session,
            case,
            now,
            kind="priority",
            author=who.name,
            author_kind="host",
            text=f"Priority changed from {old} to {priority} ({Priority(priority).label}).",
        )
    if case.status in REOPENED_BY_CUSTOMER:
        old_status = case.status
        case.status = "open"
        record(
            session,
            case,
            now,
            kind="status",
            author=who.name,
            author_kind="host",
            text=f"{old_status} -> open (customer update)",
        )
    return event


def attachment_cap(config: DeskConfig) -> int:
    return config.attachment_max_bytes


def clean_upload(upload: Upload, config: DeskConfig) -> tuple[bytes, int]:
    """The file's text with secrets masked, and how many; refused with a sentence if it
    is too large or not a text log."""
    from vxassist.redact import scrub_config

    name = upload.filename.strip()
    cap = attachment_cap(config)
    if len(upload.data) > cap:
        raise DeskError(
            413,
            "attachment_too_large",
            f"The file {name[:100]} is {len(upload.data):,} bytes, over the desk's limit of "
            f"{cap:,} bytes; send the end of the log only, or split it.",
        )
    suffix = name[name.rfind(".") + 1 :].lower() if "." in name else ""
    if suffix not in ATTACHMENT_SUFFIXES:
        raise DeskError(
            415,
            "attachment_type",
            f"The file {name[:100]} is not a text log; attach log or text files only "
            f"({', '.join('.' + s for s in ATTACHMENT_SUFFIXES)}).",
        )
    data = upload.data
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace")  # Windows writes some logs so
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
    # a NUL is no text (and PostgreSQL keeps none in text): a log's stray ones go
    text = text.replace("\x00", "")
    cleaned, count = scrub_config(text)
    return cleaned.encode("utf-8"), count


def attach(
    session: Session,
    case: Case,
    event: CaseEvent,
    upload: Upload,
    data: bytes,
    scrubbed: int,
    now: datetime,
) -> CaseAttachment:
    row = CaseAttachment(
        case_id=case.id,
        event_id=event.id,
        filename=upload.filename.strip()[:255],
        content_type="text/plain; charset=utf-8",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        created_at=now,
    )
    session.add(row)
    session.flush()
    masked = f", {scrubbed} secret{'s' if scrubbed != 1 else ''} removed" if scrubbed else ""
    record(
        session,
        case,
        now,
        kind="attachment",
        author=event.author,
        author_kind="host" if event.author_kind == "host" else "engineer",
        text=f"Attached {row.filename} ({row.size:,} bytes{masked}).",
        visibility="customer" if event.visibility == "customer" else "internal",
    )
    return row


def attachment(session: Session, case: Case, attachment_id: int) -> CaseAttachment:
    found = session.scalar(
        select(CaseAttachment).where(
            CaseAttachment.id == attachment_id, CaseAttachment.case_id == case.id
        )
    )
    if found is None:
        raise DeskError(
            404,
            "attachment_unknown",
            f"{case_label(case).capitalize()} has no attachment {attachment_id}; "
            "see the case's thread.",
        )
    return found
