"""Update requests (the policy's "Product updates"): patches and version upgrades.

A patch may be asked for by any customer under contract, with a detailed
description of the problem. A version upgrade goes only to a customer with a
current agreement (the contract not expired), and only from or to the technical
contact named in it. A request that breaks those rules is not lost: it is kept
with status ``refused``, the reason and what to do, so the customer reads why and
an engineer can still see it. Engineers answer (text, an optional download link)
and mark a request ``answered`` or ``closed``; the host reads the answer.

One service for the API, the CLI and the console; the rules are the pure
functions ``refusal`` and ``check_new``, which take the date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vxassist.cases.sla import SupportCalendar
from vxassist.desk import notify
from vxassist.desk.config import DeskConfig
from vxassist.desk.errors import DeskError
from vxassist.desk.intake import local_date
from vxassist.desk.models import Agent, Case, Contract, UpdateRequest
from vxassist.desk.schemas import _WS
from vxassist.desk.schemas import _trim as trim

KINDS = ("patch", "upgrade")
STATUSES = ("requested", "refused", "answered", "closed")
#: what an engineer may set with an answer
ANSWER_STATUSES = ("answered", "closed")
#: a patch request's description must say at least this much about the problem
DESCRIPTION_MIN = 20
DESCRIPTION_MAX = 20_000
VERSION_MAX = 100
URL_MAX = 2000

# The patterns the API's document also states (routes/updates.py), over text already
# trimmed of the same white space, so a request the document allows is never refused
# here. White space is spelled out: ``\s`` differs between regex engines.
_NOT_WS = rf"[^{_WS}\x00]"
#: an e-mail address: something @ a dotted domain
EMAIL_PATTERN = rf"[^@{_WS}\x00]+@[^@{_WS}\x00]+\.[^@{_WS}\x00]+"
#: a download link: http(s), a host, then anything without white space
URL_PATTERN = rf"https?://[^/?#@\[\]{_WS}\x00]+(?:[/?#]{_NOT_WS}*)?"
#: a patch's description: at least DESCRIPTION_MIN characters once trimmed
DESCRIPTION_PATTERN = rf"{_NOT_WS}[^\x00]{{{DESCRIPTION_MIN - 2},}}{_NOT_WS}"

_EMAIL = re.compile(rf"^{EMAIL_PATTERN}$")
_URL = re.compile(rf"^{URL_PATTERN}$")


@dataclass(frozen=True)
class NewUpdateRequest:
    """What a host asks for; ``case_number`` ties it to one of the host's cases."""

    kind: str
    product_version: str
    description: str
    contact_name: str
    contact_email: str
    target_version: str | None = None
    case_number: int | None = None


@dataclass(frozen=True)
class ContractTerms:
    """What the rules read of a contract."""

    contract_id: str
    expires: date
    contact_name: str
    contact_email: str


def _bad(message: str) -> DeskError:
    return DeskError(422, "update_request_invalid", message)


def check_new(new: NewUpdateRequest) -> None:
    """Refuse (DeskError 422, one sentence) a request that is not complete enough to keep."""
    if new.kind not in KINDS:
        raise _bad("Ask for a 'patch' or an 'upgrade'.")
    if not trim(new.product_version):
        raise _bad("Give the product version installed now (e.g. 9.1).")
    if len(new.product_version) > VERSION_MAX:
        raise _bad(f"The product version must be at most {VERSION_MAX} characters.")
    description = trim(new.description)
    if len(new.description) > DESCRIPTION_MAX:
        raise _bad(f"The description must be at most {DESCRIPTION_MAX} characters; shorten it.")
    if new.kind == "patch" and len(description) < DESCRIPTION_MIN:
        raise _bad(
            "A patch request needs a detailed description of the problem: what happens, "
            f"when, and what was tried (at least {DESCRIPTION_MIN} characters)."
        )
    if new.kind == "upgrade":
        target = trim(new.target_version or "")
        if not target:
            raise _bad("Say which version to upgrade to (e.g. 9.2).")
        if len(target) > VERSION_MAX:
            raise _bad(f"The target version must be at most {VERSION_MAX} characters.")
    if not trim(new.contact_name):
        raise _bad("Give the name of the person asking.")
    if not _EMAIL.match(trim(new.contact_email)):
        raise _bad("Give the e-mail address of the person asking, like ann@example.com.")


def refusal(new: NewUpdateRequest, contract: ContractTerms, today: date) -> str | None:
    """Why the request cannot be granted as asked, with what to do; None when it can.

    ``today`` is the date in the desk's time zone; a contract is current up to and
    including its ``expires`` day.
    """
    if today > contract.expires:
        what = "Version upgrades need" if new.kind == "upgrade" else "Patches need"
        return (
            f"{what} a current maintenance agreement, and contract {contract.contract_id} "
            f"expired on {contract.expires.isoformat()}; ask your account manager to renew "
            "it, then ask again."
        )
    if new.kind == "upgrade":
        asking = trim(new.contact_email).casefold()
        if asking != trim(contract.contact_email).casefold():
            return (
                "Version upgrades go to the technical contact named in your agreement, "
                f"{contract.contact_name}; ask them to request it, or ask your account "
                "manager to change the contact."
            )
    return None


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


def request_json(
    row: UpdateRequest,
    case_number: int | None = None,
    company: str | None = None,
    hostname: str | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": row.id,
        "kind": row.kind,
        "status": row.status,
        "product_version": row.product_version,
        "target_version": row.target_version,
        "description": row.description,
        "contact_name": row.requester_name,
        "contact_email": row.requester_email,
        "case_number": case_number,
        "contract_id": row.contract_id,
        "reason": row.reason,
        "answer": row.answer,
        "download_url": row.download_url,
        "answered_by": row.answered_by,
        "created_at": _iso(row.created_at),
        "answered_at": _iso(row.answered_at),
    }
    if company is not None:
        data["company"] = company
    if hostname is not None:
        data["hostname"] = hostname
    return data


def file_request(
    session: Session,
    agent_id: str,
    new: NewUpdateRequest,
    now: datetime,
    calendar: SupportCalendar,
) -> dict[str, Any]:
    """Keep a host's request: ``requested``, or ``refused`` with the reason and what to do."""
    check_new(new)
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise DeskError(401, "unknown_host", "This host is not enrolled; enroll it again.")
    contract = session.get(Contract, agent.contract_id)
    if contract is None:
        raise DeskError(403, "no_contract", "This host has no maintenance contract.")
    case_id: int | None = None
    if new.case_number is not None:
        case_id = session.scalar(
            select(Case.id).where(Case.case_number == new.case_number, Case.agent_id == agent_id)
        )
        if case_id is None:
            raise DeskError(
                404,
                "case_not_found",
                f"This host has no case {new.case_number}; check the number or leave it out.",
            )
    terms = ContractTerms(
        contract.contract_id, contract.expires, contract.contact_name, contract.contact_email
    )
    reason = refusal(new, terms, local_date(now, calendar))
    row = UpdateRequest(
        agent_id=agent_id,
        contract_id=contract.contract_id,
        case_id=case_id,
        kind=new.kind,
        product_version=trim(new.product_version),
        target_version=trim(new.target_version or "") or None,
        description=trim(new.description),
        requester_name=trim(new.contact_name),
        requester_email=trim(new.contact_email),
        status="refused" if reason else "requested",
        reason=reason,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return request_json(row, new.case_number)


def _joined() -> Any:
    return (
        select(UpdateRequest, Case.case_number, Contract.company, Agent.hostname)
        .outerjoin(Case, Case.id == UpdateRequest.case_id)
        .join(Contract, Contract.contract_id == UpdateRequest.contract_id)
        .join(Agent, Agent.agent_id == UpdateRequest.agent_id)
    )


def list_for_host(session: Session, agent_id: str) -> list[dict[str, Any]]:
    """The host's own requests, newest first."""
    rows = session.execute(
        _joined().where(UpdateRequest.agent_id == agent_id).order_by(UpdateRequest.id.desc())
    ).all()
    return [request_json(r[0], r[1]) for r in rows]


def get_for_host(session: Session, agent_id: str, request_id: int) -> dict[str, Any]:
    row = session.execute(
        _joined().where(UpdateRequest.id == request_id, UpdateRequest.agent_id == agent_id)
    ).first()
    if row is None:
        raise _not_found(request_id)
    return request_json(row[0], row[1])


def list_for_engineer(session: Session, status: str | None = None) -> list[dict[str, Any]]:
    """Every host's requests: those waiting for an answer first, then the newest."""
    statement = _joined()
    if status is not None:
        statement = statement.where(UpdateRequest.status == status)
    waiting = (UpdateRequest.status != "requested").asc()
    rows = session.execute(statement.order_by(waiting, UpdateRequest.id.desc())).all()
    return [request_json(r[0], r[1], r[2], r[3]) for r in rows]


def get_for_engineer(session: Session, request_id: int) -> dict[str, Any]:
    row = session.execute(_joined().where(UpdateRequest.id == request_id)).first()
    if row is None:
        raise _not_found(request_id)
    return request_json(row[0], row[1], row[2], row[3])


def _not_found(request_id: int) -> DeskError:
    return DeskError(
        404, "update_request_not_found", f"There is no update request {request_id}; list them."
    )


def check_download_url(url: str) -> str:
    """The link as kept: http or https only (it is shown to customers as a link)."""
    url = trim(url)
    if len(url) > URL_MAX or not _URL.match(url):
        raise _bad(
            f"The download link must be an http:// or https:// address of at most "
            f"{URL_MAX} characters."
        )
    return url


def answer(
    session: Session,
    request_id: int,
    engineer: str,
    text: str,
    now: datetime,
    download_url: str | None = None,
    status: str = "answered",
) -> dict[str, Any]:
    """An engineer's answer, read by the host; ``closed`` when nothing more will follow."""
    if status not in ANSWER_STATUSES:
        raise _bad("An answer leaves the request 'answered' or 'closed'.")
    text = trim(text)
    if not text:
        raise _bad("Write the answer's text.")
    if len(text) > DESCRIPTION_MAX:
        raise _bad(f"The answer must be at most {DESCRIPTION_MAX} characters; shorten it.")
    link = check_download_url(download_url) if download_url and trim(download_url) else None
    row = session.get(UpdateRequest, request_id, with_for_update=True)
    if row is None:
        raise _not_found(request_id)
    row.answer = text
    row.download_url = link
    row.answered_by = engineer
    row.answered_at = now
    row.status = status
    session.flush()
    config = notify.config_for(session)
    if config is not None and config.mail.enabled:
        notify.write(session, [answer_mail(row, config)], now)
    return get_for_engineer(session, request_id)


def answer_mail(row: UpdateRequest, config: DeskConfig) -> notify.Mail:
    """The answer, mailed to whoever asked (written with the answer, sent by the outbox)."""
    what = (
        f"patch for {row.product_version}"
        if row.kind == "patch"
        else f"upgrade from {row.product_version} to {row.target_version}"
    )
    lines = [
        f"{row.requester_name},",
        "",
        f"your request {row.id} ({what}) was answered by {row.answered_by}:",
        "",
        row.answer or "",
    ]
    if row.download_url:
        lines += ["", f"Download: {row.download_url}"]
    if row.status == "closed":
        lines += ["", "The request is closed."]
    support = config.support
    lines += ["", "-- ", "vxassist support desk", f"{support.email} · {support.phone}"]
    answered = _iso(row.answered_at) or ""
    return notify.Mail(
        key=f"update-request:{row.id}:answer:{answered}",
        to=row.requester_email,
        subject=f"Update request {row.id}: {what}, {row.status}"[:300],
        body="\n".join(lines) + "\n",
    )
