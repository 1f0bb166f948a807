"""Which e-mails a change of a case causes, written into the outbox with that change.

The rules are pure (:func:`mails_for_event`, :func:`new_case_mails`,
:func:`deadline_mails`, :func:`escalation_mails`): a case, what happened, the
desk's configuration and the time in, ``Mail`` values out. The writers
(:func:`on_case_event`, :func:`write`) put them into ``mail_outbox`` in the
caller's transaction, so a mail exists exactly when its cause committed;
:mod:`vxassist.desk.mailout` sends them later, off the request.

A new case is the exception, because intake is the desk's hot path: its
transaction renders and writes no mail, it only stores that the engineers'
notice is owed (``cases.new_notice_at`` NULL, :func:`owes_new_case_notice`). The
sender writes the notice later, in its own transaction that also stamps
``new_notice_at`` (guarded by ``IS NULL``: once, whatever the number of desk
processes), and finds owed notices of cases committed while no sender ran.

Each mail has a ``key`` (its cause and its recipient): written twice, it is
stored once.

- the customer's technical contact (the ``contact_email`` the request named,
  the contract's when the case has none) hears of an engineer's reply, a status
  change made by the desk or an engineer, and a remote session's summary;
  internal notes never leave the desk;
- the engineers (``[mail] engineers``) hear of a new case, a case nearing its
  response deadline and a breached one; priority 1 and 2 out of support hours
  go to ``[mail] on_call`` instead (the policy's four-hour promise);
- an escalation's recipient gets a briefing: case, company, priority, age,
  deadline state, the reason, and a link to the case in the console.

The desk's configuration is registered per database (:func:`configure`, done by
``create_app``); a database with no configuration, or one whose ``[mail]`` has
no SMTP server, writes no mail at all (notifications are off).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from vxassist.cases.fields import Priority
from vxassist.desk.config import DeskConfig
from vxassist.desk.db import DriverTransaction
from vxassist.desk.models import Case, CaseEscalation, CaseEvent, Contract, MailOutbox

log = logging.getLogger(__name__)

#: statuses in which a case still waits for its first response
WAITING_STATUSES = frozenset({"open", "new", "in_progress"})
#: event kinds that tell the customer something (with who may have caused them)
_CUSTOMER_KINDS = {
    "reply": ("engineer",),
    "status": ("engineer", "desk"),
    "session_summary": ("host", "engineer", "desk"),
}
_ESCALATION_KINDS = frozenset({"escalated", "escalation", "escalate"})
_MAX_SUBJECT = 300
_WRITTEN = "vx_mail_written"


@dataclass(frozen=True)
class Mail:
    """One e-mail the desk owes: written once per ``key``."""

    key: str
    to: str
    subject: str
    body: str
    case_id: int | None = None


class DeadlineState(Enum):
    """Where a case stands against its response deadline."""

    MET = "met"
    DUE = "due"
    NEARING = "nearing"
    BREACHED = "breached"
    #: no deadline runs (no case number, or resolved/closed before a response)
    NONE = "none"


class Notice(Enum):
    """What the deadline watcher owes the engineers about a case now."""

    NEARING = "nearing"
    BREACH = "breach"
    #: a breach older than the notice horizon: marked as noticed, not mailed
    STALE_BREACH = "stale_breach"


# -- pure rules ------------------------------------------------------------------


def deadline_state(case: Any, now: datetime, warn_before: timedelta) -> DeadlineState:
    """Met, due, nearing (within ``warn_before`` of the deadline) or breached, at ``now``."""
    if getattr(case, "first_response_at", None) is not None:
        return DeadlineState.MET
    if case.case_number is None or case.status not in WAITING_STATUSES:
        return DeadlineState.NONE
    if now >= case.response_due:
        return DeadlineState.BREACHED
    if now >= case.response_due - warn_before:
        return DeadlineState.NEARING
    return DeadlineState.DUE


def notice_due(
    case: Any, now: datetime, warn_before: timedelta, horizon: timedelta
) -> Notice | None:
    """The notice the watcher should give now, given what was already given (the case's
    ``deadline_warned_at`` and ``breach_noticed_at``); None when nothing is owed."""
    state = deadline_state(case, now, warn_before)
    if state is DeadlineState.BREACHED and case.breach_noticed_at is None:
        if now - case.response_due > horizon:
            return Notice.STALE_BREACH
        return Notice.BREACH
    if state is DeadlineState.NEARING and case.deadline_warned_at is None:
        return Notice.NEARING
    return None


def _clean(text: str) -> str:
    """One line (a header): no line breaks for a customer's brief to smuggle headers in."""
    return " ".join(str(text).split())


def _valid(addr: str) -> bool:
    _name, parsed = parseaddr(addr or "")
    return "@" in parsed and not any(c in addr for c in "\r\n,")


def label(case: Any) -> str:
    return f"Case {case.case_number}" if case.case_number else f"Request {case.reference}"


def subject(case: Any, what: str) -> str:
    """``[Case N] brief: what`` (the policy: the brief is the subject, the number in it)."""
    tag = f"[Case {case.case_number}]" if case.case_number else f"[{case.reference}]"
    return _clean(f"{tag} {case.brief}: {what}")[:_MAX_SUBJECT]


def case_link(case: Any, config: DeskConfig) -> str:
    ident = case.case_number if case.case_number else case.reference
    return f"{config.public_url}/console/cases/{ident}"


def _when(at: datetime, config: DeskConfig) -> str:
    return at.astimezone(ZoneInfo(config.calendar.tz)).strftime("%a %d %b %Y %H:%M %Z")


def _span(delta: timedelta) -> str:
    minutes = int(abs(delta).total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d"] if days else []
    if hours or days:
        parts.append(f"{hours} h")
    parts.append(f"{minutes} min")
    return " ".join(parts)


def deadline_line(case: Any, now: datetime, config: DeskConfig) -> str:
    """The deadline state as a person reads it: met, due in, or breached by."""
    warn = timedelta(minutes=config.deadlines.warn_minutes)
    state = deadline_state(case, now, warn)
    due = _when(case.response_due, config)
    if state is DeadlineState.MET:
        met = "met" if case.first_response_at <= case.response_due else "responded late"
        return f"first response {met} ({_when(case.first_response_at, config)}; due {due})"
    if state is DeadlineState.BREACHED:
        return f"BREACHED by {_span(now - case.response_due)} (was due {due})"
    if state is DeadlineState.NONE:
        return f"no response clock running (status {case.status})"
    return f"due in {_span(case.response_due - now)} ({due})"


def _priority(case: Any) -> str:
    try:
        return f"{case.priority} ({Priority(case.priority).label})"
    except ValueError:
        return str(case.priority)


def contact_address(case: Any, contract: Any | None) -> str:
    """The technical contact of the request; the contract's when the request names none."""
    for addr in (getattr(case, "contact_email", ""), getattr(contract, "contact_email", "")):
        if addr and _valid(addr):
            return str(addr)
    return ""


def engineer_addresses(case: Any, at: datetime, config: DeskConfig) -> tuple[str, ...]:
    """Who among engineers hears of ``case`` at ``at``: the on-call address for priority 1
    and 2 outside support hours (when one is configured), the engineers otherwise."""
    mail = config.mail
    urgent = case.priority in config.calendar.urgent_priorities
    if urgent and mail.on_call and not config.calendar.is_open(at):
        return mail.on_call
    return mail.engineers


def _case_facts(case: Any, now: datetime, config: DeskConfig) -> str:
    return "\n".join(
        [
            f"{label(case)}: {_clean(case.brief)}",
            f"Company: {case.company} ({case.location})",
            f"Priority: {_priority(case)}",
            f"Received: {_when(case.received_at, config)} ({_span(now - case.received_at)} ago)",
            f"Response: {deadline_line(case, now, config)}",
            f"Contact: {case.contact_name}, {case.contact_phone}, {case.contact_email}",
            f"Open it: {case_link(case, config)}",
        ]
    )


def _sign(config: DeskConfig) -> str:
    support = config.support
    return f"\n\n-- \nvxassist support desk\n{support.email} · {support.phone}\n"


def mails_for_event(
    case: Any, event: Any, contract: Any | None, config: DeskConfig, now: datetime
) -> list[Mail]:
    """The customer's mails an event of the thread causes (internal events cause none)."""
    if not config.mail.enabled or (event.visibility or "customer") != "customer":
        return []
    authors = _CUSTOMER_KINDS.get(event.kind)
    if authors is None or (event.author_kind or "desk") not in authors:
        return []
    to = contact_address(case, contract)
    if not to:
        return []
    quote = f"Quote {label(case).lower()} in every follow-up."
    if event.kind == "reply":
        what = f"reply from {_clean(event.author)}"
        body = f"{event.author} wrote on {label(case).lower()}:\n\n{event.text}\n\n{quote}"
    elif event.kind == "status":
        what = f"status now {case.status}"
        body = f"{label(case)} changed status: {event.text}\n\n{quote}"
    else:
        what = "remote session summary"
        body = f"A remote session on {label(case).lower()} ended.\n\n{event.text}\n\n{quote}"
    return [
        Mail(
            key=f"event:{event.id}:{to.lower()}",
            to=to,
            subject=subject(case, what),
            body=f"Hello {case.contact_name},\n\n{body}{_sign(config)}",
            case_id=case.id,
        )
    ]


def owes_new_case_notice(case: Any, config: DeskConfig) -> bool:
    """Whether a case just taken in owes the engineers a "new case" notice (a case number,
    and notifications on): intake stores the answer with the case (``new_notice_at``
    NULL), and the sender writes the notice later
    (:func:`vxassist.desk.mailout.write_new_case_notices`)."""
    return config.mail.enabled and case.case_number is not None


def new_case_mails(case: Any, config: DeskConfig, now: datetime | None = None) -> list[Mail]:
    """The engineers' mail of a new case (none for a request without a case number).

    Who hears of it depends on when the case came in (on call for priority 1 and 2
    out of hours); the facts (age, deadline state) are as of ``now`` (default: receipt).
    """
    if not config.mail.enabled or case.case_number is None:
        return []
    received = case.received_at
    now = received if now is None else now
    out_of_hours = not config.calendar.is_open(received)
    what = f"new at priority {case.priority}" + (" (out of hours)" if out_of_hours else "")
    body = _case_facts(case, now, config) + f"\n\n{_clean(case.details)}"
    return [
        Mail(f"case:{case.id}:new:{to.lower()}", to, subject(case, what), body, case.id)
        for to in engineer_addresses(case, received, config)
        if _valid(to)
    ]


def deadline_mails(case: Any, notice: Notice, config: DeskConfig, now: datetime) -> list[Mail]:
    """The engineers' mail of a case nearing its deadline, or of a breach."""
    if not config.mail.enabled or notice is Notice.STALE_BREACH:
        return []
    if notice is Notice.NEARING:
        what = f"response due in {_span(case.response_due - now)}"
        lead = "No engineer has responded yet, and the response deadline is near."
    else:
        what = "response deadline BREACHED"
        lead = "The response deadline passed without a first response."
    body = f"{lead}\n\n{_case_facts(case, now, config)}"
    return [
        Mail(f"case:{case.id}:{notice.value}:{to.lower()}", to, subject(case, what), body, case.id)
        for to in engineer_addresses(case, now, config)
        if _valid(to)
    ]


def escalation_recipient(level: str, contract: Any | None, config: DeskConfig) -> str:
    """Who an escalation of ``level`` ('manager' or 'sales') goes to: the contract's own
    manager, else the desk-wide one; "" when neither is configured."""
    if level == "sales":
        own, desk = "sales_manager_email", config.escalation.sales_manager_email
    else:
        own, desk = "manager_email", config.escalation.manager_email
    return str(getattr(contract, own, None) or desk or "")


def escalation_mails(case: Any, escalation: Any, config: DeskConfig, now: datetime) -> list[Mail]:
    """The briefing an escalation's recipient gets."""
    to = escalation.recipient
    if not config.mail.enabled or not _valid(to):
        return []
    who = {"host": "the customer", "engineer": "an engineer", "desk": "the desk"}.get(
        escalation.by_kind, escalation.by_kind
    )
    level = "Manager of Technical Support" if escalation.level != "sales" else "Sales Manager"
    body = (
        f"{label(case)} is escalated to you ({level}) by {who} ({escalation.by_name}).\n\n"
        f"Reason: {escalation.reason}\n\n{_case_facts(case, now, config)}\n\n"
        "The escalation shows on the case until an engineer closes it."
    )
    return [
        Mail(
            key=f"escalation:{escalation.id}:{to.lower()}",
            to=to,
            subject=subject(case, f"escalated ({_clean(escalation.reason)[:80]})"),
            body=body,
            case_id=case.id,
        )
    ]


# -- which configuration applies: one per database, registered by the app ---------

_configs: dict[str, DeskConfig] = {}
_wakers: dict[str, list[Callable[[], None]]] = {}
_lock = threading.Lock()


def _key(url: Any) -> str:
    return str(make_url(url).render_as_string(hide_password=True))


def configure(db_url: Any, config: DeskConfig) -> None:
    """Use ``config`` for mails written to the database at ``db_url`` in this process."""
    with _lock:
        _configs[_key(db_url)] = config


def config_for(session: Session) -> DeskConfig | None:
    return _configs.get(_key(session.get_bind().engine.url))


def configured(db_url: Any) -> DeskConfig | None:
    """The configuration registered for the database at ``db_url`` in this process."""
    return _configs.get(_key(db_url))


def add_waker(db_url: Any, wake: Callable[[], None]) -> None:
    """Call ``wake`` (thread-safe) after a transaction that wrote mails commits."""
    with _lock:
        _wakers.setdefault(_key(db_url), []).append(wake)


def remove_waker(wake: Callable[[], None]) -> None:
    with _lock:
        for wakers in _wakers.values():
            if wake in wakers:
                wakers.remove(wake)


def wake(db_url: Any) -> None:
    with _lock:
        wakers = list(_wakers.get(_key(db_url), ()))
    for waker in wakers:
        waker()


@sa_event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    url = session.info.pop(_WRITTEN, None)
    if url is not None:
        wake(url)


@sa_event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_WRITTEN, None)


# -- writers: in the caller's transaction -------------------------------------------


def outbox_row(mail: Mail, now: datetime) -> dict[str, Any]:
    """The ``mail_outbox`` row of ``mail``, due at ``now``."""
    return {
        "key": mail.key[:255],
        "to_addr": mail.to,
        "subject": mail.subject,
        "body": mail.body,
        "case_id": mail.case_id,
        "created_at": now,
        "attempts": 0,
        "next_attempt_at": now,
    }


def insert_once(dialect: str) -> Any:
    """``INSERT INTO mail_outbox ... ON CONFLICT (key) DO NOTHING`` for ``dialect``."""
    maker: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return maker(MailOutbox).on_conflict_do_nothing(index_elements=["key"])


def write(session: Session, mails: Sequence[Mail], now: datetime) -> None:
    """Put ``mails`` into the outbox in ``session``'s transaction; a key already there
    is left as it is (each notification once)."""
    if not mails:
        return
    bind = session.get_bind()
    statement = insert_once(bind.dialect.name)
    session.execute(statement, [outbox_row(m, now) for m in mails])
    session.info[_WRITTEN] = _key(bind.engine.url)


def on_case_event(session: Session, case: Case, event: CaseEvent, now: datetime) -> None:
    """The mails an event of a case's thread causes, written in the same transaction.

    The one hook of ``casework.record``: replies, status changes and session
    summaries to the customer; escalation briefings to the escalation's recipient.
    """
    config = config_for(session)
    if config is None or not config.mail.enabled:
        return
    if event.id is None:
        session.flush()
    mails: list[Mail] = []
    if (event.visibility or "customer") == "customer" and event.kind in _CUSTOMER_KINDS:
        contract = session.get(Contract, case.contract_id) if case.contract_id else None
        mails += mails_for_event(case, event, contract, config, now)
    if event.kind in _ESCALATION_KINDS:
        open_ones = session.scalars(
            select(CaseEscalation).where(
                CaseEscalation.case_id == case.id, CaseEscalation.closed_at.is_(None)
            )
        )
        for escalation in open_ones:
            mails += escalation_mails(case, escalation, config, now)
    write(session, mails, now)


def on_escalation(session: Session, case: Case, escalation: CaseEscalation, now: datetime) -> None:
    """The briefing of one escalation, written in the same transaction."""
    config = config_for(session)
    if config is None:
        return
    if escalation.id is None:
        session.flush()
    write(session, escalation_mails(case, escalation, config, now), now)


def session_summary(session: Session, case_id: int | None, event: CaseEvent, now: datetime) -> None:
    """A remote session ended: its summary (the event) goes to the case's contact."""
    if case_id is None:
        return
    config = config_for(session)
    if config is None or not config.mail.enabled:
        return
    case = session.get(Case, case_id)
    if case is not None:
        on_case_event(session, case, event, now)


def on_new_cases(tx: DriverTransaction, cases: Iterable[Any]) -> None:
    """Intake's hot path writes no mail: a case that owes the engineers' notice is stored
    with ``new_notice_at`` NULL (:func:`owes_new_case_notice`), and the sender, woken
    once the transaction commits, writes the notice and sends it
    (:func:`vxassist.desk.mailout.write_new_case_notices`)."""
    if tx.url is not None and any(case.new_notice_at is None for case in cases):
        url = tx.url
        tx.after_commit.append(lambda: wake(url))
