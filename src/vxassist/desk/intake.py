"""Case intake: numbers under an active contract, one case per issue, history.

Everything here runs inside a transaction handed in by the route (an ORM
session; for new cases, the hot path, a ``DriverTransaction``), with the receipt
time passed in; the routes decide transactions, this module decides cases.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, insert, select, update

from vxassist.cases.fields import FIELD_NAMES, Priority
from vxassist.cases.sla import SupportCalendar, response_due
from vxassist.desk import hostevents, notify
from vxassist.desk.auth import Caller
from vxassist.desk.config import DeskConfig
from vxassist.desk.db import DriverTransaction, Statement
from vxassist.desk.errors import DeskError
from vxassist.desk.models import Case, CaseEvent, Contract, Counter, table
from vxassist.desk.schemas import CaseIn
from vxassist.desk.tokens import new_reference

#: a stored case, or the values of one just inserted
CaseRow = Case | SimpleNamespace
#: a Contract, or a row with its contract_id, company and expires
ContractTerms = Any

REFERENCE_RE = re.compile(r"^R-[A-Z0-9]{6}$")
#: how many of an attached report's section names its history line lists, and how long
_MAX_NAMED = 40
_MAX_NAME = 64


def local_date(at: datetime, calendar: SupportCalendar) -> date:
    return at.astimezone(ZoneInfo(calendar.tz)).date()


def contract_active(
    contract: ContractTerms | None, at: datetime, calendar: SupportCalendar
) -> bool:
    """Active on the receipt date (desk time zone) up to and including ``expires``."""
    return contract is not None and local_date(at, calendar) <= contract.expires


def _when(at: datetime, calendar: SupportCalendar) -> str:
    return at.astimezone(ZoneInfo(calendar.tz)).strftime("%a %d %b %Y %H:%M %Z")


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


# The hot path's statements: compiled once per dialect, run on the driver's connection.
_COUNTERS = table(Counter)
_NEXT_NUMBER = Statement(
    update(_COUNTERS)
    .where(_COUNTERS.c.name == "case_number")
    .values(value=_COUNTERS.c.value + 1)
    .returning(_COUNTERS.c.value)
)
_CONTRACTS = table(Contract)
_CONTRACT_TERMS = Statement(
    select(_CONTRACTS.c.contract_id, _CONTRACTS.c.company, _CONTRACTS.c.expires).where(
        _CONTRACTS.c.contract_id == bindparam("contract_id")
    )
)
_CASES = table(Case)
#: what intake writes; the rest (assignment, first response, notices) comes after
_AFTER_INTAKE = {
    "id",
    "assignee",
    "first_response_at",
    "first_response_by",
    "deadline_warned_at",
    "breach_noticed_at",
}
_CASE_COLUMNS = tuple(c.key for c in _CASES.columns if c.key not in _AFTER_INTAKE)
_INSERT_CASE = Statement(insert(_CASES).returning(_CASES.c.id), keys=_CASE_COLUMNS)
_SET_GROUP = Statement(
    update(_CASES).where(_CASES.c.id == bindparam("case_id")).values(group_id=bindparam("group")),
)
_EVENTS = table(CaseEvent)
_INSERT_EVENT = Statement(
    insert(_EVENTS),
    keys=("case_id", "at", "kind", "author", "author_kind", "visibility", "text"),
)
_CONTRACT_CASE_BY_NUMBER = Statement(
    select(_CASES.c.id).where(
        _CASES.c.case_number == bindparam("number"),
        _CASES.c.contract_id == bindparam("contract_id"),
    )
)
_CONTRACT_CASE_BY_REFERENCE = Statement(
    select(_CASES.c.id).where(
        _CASES.c.reference == bindparam("reference"),
        _CASES.c.contract_id == bindparam("contract_id"),
    )
)


def _message(case: CaseRow, contract: ContractTerms | None, config: DeskConfig) -> str:
    cal = config.calendar
    if case.case_number is not None:
        return (
            f"Case {case.case_number} is open at priority {case.priority} "
            f"({Priority(case.priority).label}); a response is due by "
            f"{_when(case.response_due, cal)}. Quote case {case.case_number} in every follow-up."
        )
    if contract is None:
        why = "this host is not under a maintenance contract"
    else:
        why = (
            f"the maintenance contract {contract.contract_id} of {contract.company} "
            f"expired on {contract.expires.isoformat()}"
        )
    support = config.support
    return (
        f"No case number was assigned because {why}; your request is kept under reference "
        f"{case.reference}. Renew the maintenance contract, or contact support at "
        f"{support.email} or {support.phone} quoting {case.reference}."
    )


def report_text(report: dict[str, Any]) -> str:
    """The history line of a report attached to an update: which sections it holds."""
    sections = report.get("sections")
    names = [str(name)[:_MAX_NAME] for name in sections] if isinstance(sections, dict) else []
    files = report.get("files")
    text = "A fresh system report was attached"
    if names:
        shown = names[:_MAX_NAMED]
        more = len(names) - len(shown)
        text += " with the sections " + ", ".join(shown)
        if more:
            text += f" and {more} more"
    else:
        text += " without any section"
    if isinstance(files, list) and files:
        text += f", and {len(files)} file{'s' if len(files) != 1 else ''}"
    return text + "."


def render(
    case: CaseRow,
    related: Sequence[CaseRow] = (),
    events: Sequence[CaseEvent] | None = None,
    *,
    now: datetime | None = None,
    attachments: Mapping[int, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The Case object of the API (with the deadline's state when ``now`` is given)."""
    data: dict[str, Any] = {
        "case_number": case.case_number,
        "reference": case.reference,
        "status": case.status,
        "priority": case.priority,
        "priority_label": Priority(case.priority).label,
        "received_at": _iso(case.received_at),
        "response_due": _iso(case.response_due),
        "message": case.message,
        "contract_id": case.contract_id,
    }
    for name in FIELD_NAMES:
        data.setdefault(name, getattr(case, name))
    data["escalation"] = (
        {
            "to": case.escalated_to,
            "reason": case.escalation_reason,
            "at": _iso(case.escalated_at),
        }
        if case.escalated_to and case.escalated_at is not None
        else None
    )
    data["escalated"] = data["escalation"] is not None
    data["assignee"] = getattr(case, "assignee", None)
    first = getattr(case, "first_response_at", None)
    data["first_response_at"] = None if first is None else _iso(first)
    data["first_response_by"] = getattr(case, "first_response_by", None)
    if now is not None:
        from vxassist.desk.casework import deadline_state

        state = deadline_state(case, now)
        data["deadline"] = {"state": state.state, "text": state.text}
    data["related"] = [render(other, now=now) for other in related]
    if events is not None:
        files = attachments or {}
        data["events"] = [_render_event(e, files.get(e.id, [])) for e in events]
    return data


def _render_event(event: CaseEvent, files: list[dict[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": event.id,
        "at": _iso(event.at),
        "kind": event.kind,
        "author": event.author,
        "author_kind": event.author_kind,
        "visibility": event.visibility,
        "text": event.text,
    }
    if event.system_report is not None:
        data["system_report"] = event.system_report
    if files:
        data["attachments"] = files
    return data


def create_cases(
    tx: DriverTransaction, who: Caller, body: CaseIn, now: datetime, config: DeskConfig
) -> tuple[int, dict[str, Any]]:
    """Store the request as one case per issue; numbers only under an active contract.

    The hot path of the desk: prepared statements on the driver's connection
    (``Statement``), no ORM and no SQLAlchemy execution per statement.
    """
    assert who.agent_id is not None
    found = tx.run(_CONTRACT_TERMS, {"contract_id": who.contract_id}) if who.contract_id else []
    contract = (
        SimpleNamespace(contract_id=found[0][0], company=found[0][1], expires=found[0][2])
        if found
        else None
    )
    active = contract_active(contract, now, config.calendar)
    original_id = None
    if body.continues_case is not None:
        original_id = _contract_case_id(tx, str(body.continues_case), who)

    common = body.model_dump(exclude={"also", "system_report"})
    if contract is not None:
        # the company is the contract's, not whatever the host writes in the form
        common["company"] = contract.company
    issues = [common] + [
        {**common, **issue.model_dump(), "continues_case": None} for issue in body.also
    ]
    rows: list[SimpleNamespace] = []
    for issue in issues:
        row = SimpleNamespace(
            **issue,
            case_number=tx.run(_NEXT_NUMBER)[0][0] if active else None,
            reference=new_reference(),
            agent_id=who.agent_id,
            contract_id=who.contract_id,
            group_id=None,
            status="open" if active else "no_contract",
            received_at=now,
            updated_at=now,
            response_due=response_due(issue["priority"], now, config.calendar),
            system_report=body.system_report,
            escalated_to=None,
            escalation_reason=None,
            escalated_at=None,
        )
        row.message = _message(row, contract, config)
        # the engineers' notice is owed (NULL) or not; the mail sender writes it later
        row.new_notice_at = None if notify.owes_new_case_notice(row, config) else now
        row.id = tx.run(_INSERT_CASE, vars(row))[0][0]
        rows.append(row)
    first = rows[0]
    if len(rows) > 1:
        for row in rows:
            row.group_id = first.id
            tx.run(_SET_GROUP, {"case_id": row.id, "group": first.id})
    for row in rows:
        text = f"Received from {who.name} at priority {row.priority}."
        if row is not first:
            text += f" Split from {case_label(first)} (one case per issue)."
        tx.run(
            _INSERT_EVENT,
            {
                "case_id": row.id,
                "at": now,
                "kind": "received",
                "author": who.name,
                "author_kind": "host",
                "visibility": "customer",
                "text": text,
            },
        )
    if original_id is not None:
        tx.run(
            _INSERT_EVENT,
            {
                "case_id": original_id,
                "at": now,
                "kind": "continued",
                "author": who.name,
                "author_kind": "host",
                "visibility": "customer",
                "text": f"Continued by {case_label(first)}.",
            },
        )
    notify.on_new_cases(tx, rows)
    # the host's case cursor moved (the "received" events): its remembered poll answer
    # is read again, in every desk process
    hostevents.publish_in(tx, [who.agent_id])
    return 201, render(first, rows[1:])


def _contract_case_id(tx: DriverTransaction, ident: str, who: Caller) -> int:
    """The id of the case ``ident`` (number or reference) under the caller's contract; 404."""
    values: dict[str, Any] = {"contract_id": who.contract_id}
    if is_number(ident):
        found = tx.run(_CONTRACT_CASE_BY_NUMBER, {**values, "number": int(ident)})
    elif REFERENCE_RE.match(ident):
        found = tx.run(_CONTRACT_CASE_BY_REFERENCE, {**values, "reference": ident})
    else:
        raise unknown_case(ident[:40])
    if not found:
        raise unknown_case(ident)
    return int(found[0][0])


def is_number(ident: str) -> bool:
    """ASCII digits of a case number in range (``str.isdigit`` also takes ``²`` and ``١``)."""
    return ident.isascii() and ident.isdigit() and 0 < int(ident) < 2**31


def case_label(case: CaseRow) -> str:
    return f"case {case.case_number}" if case.case_number else f"request {case.reference}"


def unknown_case(ident: str) -> DeskError:
    return DeskError(
        404,
        "case_unknown",
        f"There is no case {ident} for you; check the case number, or list your cases.",
    )
