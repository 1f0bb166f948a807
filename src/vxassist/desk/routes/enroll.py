"""Enrollment: a one-time code from the desk's operator makes a host an agent.

Other areas add keys to the answer (host certificate, relay, CA keys) by
appending a function to ``app.state.enrollment_extras``; each is called inside
the enrolling transaction with the session, the new agent and the time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import update
from sqlalchemy.orm import Session

from vxassist.desk.auth import CallerDep, DatabaseDep
from vxassist.desk.errors import DeskError
from vxassist.desk.idempotency import dump
from vxassist.desk.models import Agent, Contract, EnrollmentCode
from vxassist.desk.routes.common import errors, json_response, now
from vxassist.desk.schemas import EnrollIn, EnrollOut, UpdateNotice, WhoAmI
from vxassist.desk.throttle import FailureThrottle
from vxassist.desk.tokens import AGENT_PREFIX, new_agent_id, new_token, normalize_code, token_hash

log = logging.getLogger(__name__)

EnrollmentExtra = Callable[[Session, Agent, datetime], Mapping[str, Any]]

router = APIRouter(prefix="/api/v1", tags=["enrollment"])


@router.post(
    "/enroll",
    status_code=201,
    response_model=EnrollOut,
    responses=errors(404, 409, 410, 429),
)
def enroll(body: EnrollIn, request: Request, db: DatabaseDep) -> Response:
    """Trade a one-time enrollment code for this host's token.

    Failed attempts are logged and counted per source address; too many within
    the window are answered 429 with ``Retry-After``.
    """
    at = now(request)
    throttle: FailureThrottle = request.app.state.enrollment_throttle
    source = request.client.host if request.client else "unknown"
    wait = throttle.retry_after(source, at.timestamp())
    if wait is not None:
        log.warning("enrollment refused: %s made too many failed attempts", source)
        raise DeskError(
            429,
            "enrollment_rate_limited",
            f"Too many failed enrollment attempts from this address; wait {int(wait) + 1} "
            "seconds, then check the code and try again.",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    try:
        return _enroll(body, request, db, at)
    except DeskError as exc:
        count = throttle.failed(source, at.timestamp())
        log.warning(
            "enrollment failed from %s (%s, %d in the window, host name %r)",
            source,
            exc.code,
            count,
            body.hostname[:60],
        )
        raise


def _enroll(body: EnrollIn, request: Request, db: DatabaseDep, at: datetime) -> Response:
    digest = token_hash(normalize_code(body.code))
    extras: list[EnrollmentExtra] = getattr(request.app.state, "enrollment_extras", [])
    with db.writing() as session:
        code = session.get(EnrollmentCode, digest)
        if code is None:
            raise DeskError(
                404,
                "enrollment_code_unknown",
                "This enrollment code is unknown; check it, or ask support for a new one.",
            )
        if code.used_at is not None:
            raise DeskError(
                409,
                "enrollment_code_used",
                "This enrollment code was already used; ask support for a new one.",
            )
        if code.expires_at <= at:
            raise DeskError(
                410,
                "enrollment_code_expired",
                "This enrollment code has expired; ask support for a new one.",
            )
        agent_id = new_agent_id()
        # Only one request may spend the code, even when two arrive at once.
        spent = session.execute(
            update(EnrollmentCode)
            .where(EnrollmentCode.code_hash == digest, EnrollmentCode.used_at.is_(None))
            .values(used_at=at, used_by=agent_id)
        )
        if getattr(spent, "rowcount", 0) != 1:
            raise DeskError(
                409,
                "enrollment_code_used",
                "This enrollment code was already used; ask support for a new one.",
            )
        token = new_token(AGENT_PREFIX)
        agent = Agent(
            agent_id=agent_id,
            contract_id=code.contract_id,
            hostname=body.hostname,
            token_hash=token_hash(token),
            host_public_key=body.host_public_key,
            enrolled_at=at,
        )
        session.add(agent)
        session.flush()
        contract = session.get(Contract, code.contract_id)
        assert contract is not None
        answer: dict[str, Any] = {
            "agent_id": agent_id,
            "token": token,
            "contract_id": contract.contract_id,
            "company": contract.company,
        }
        for extra in extras:
            answer.update(extra(session, agent, at))
    return json_response(201, dump(answer))


@router.get("/whoami", response_model=WhoAmI, responses=errors(401))
def whoami(who: CallerDep, request: Request) -> WhoAmI:
    """Who the desk takes the caller's token for, and the newest agent version it knows."""
    notice = request.app.state.config.updates.answer()
    return WhoAmI(
        kind="agent" if who.is_agent else "engineer",
        name=who.name,
        agent_id=who.agent_id,
        contract_id=who.contract_id,
        company=who.company,
        updates=UpdateNotice(**notice) if notice else None,
    )
