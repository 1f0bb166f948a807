"""What the desk's operators do from the command line: contracts, codes, engineers.

Functions over a ``Database`` with the clock passed in, shared by
``vxassist desk ...`` and the tests.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.exc import IntegrityError

from vxassist.desk.config import DeskConfig
from vxassist.desk.db import Database
from vxassist.desk.errors import DeskAdminError
from vxassist.desk.intake import contract_active, local_date
from vxassist.desk.models import Agent, ConsoleSession, Contract, Engineer, EnrollmentCode
from vxassist.desk.passwords import hash_password, password_problem
from vxassist.desk.tokens import (
    ENGINEER_PREFIX,
    new_enrollment_code,
    new_token,
    token_hash,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewContract:
    contract_id: str
    company: str
    expires: date
    contact_name: str
    contact_phone: str
    contact_email: str
    #: whom an escalation briefs (None: the desk-wide default)
    manager_email: str | None = None
    sales_manager_email: str | None = None


def _contract_json(c: Contract, now: datetime, config: DeskConfig) -> dict[str, Any]:
    return {
        "contract_id": c.contract_id,
        "company": c.company,
        "expires": c.expires.isoformat(),
        "active": contract_active(c, now, config.calendar),
        "contact_name": c.contact_name,
        "contact_phone": c.contact_phone,
        "contact_email": c.contact_email,
        "manager_email": c.manager_email,
        "sales_manager_email": c.sales_manager_email,
    }


def _optional_email(value: str | None, flag: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if "@" not in value or len(value) > 254 or any(ch.isspace() for ch in value):
        raise DeskAdminError(f"{flag} must be an e-mail address; fix it and try again.")
    return value


def add_contract(
    db: Database, new: NewContract, now: datetime, config: DeskConfig
) -> dict[str, Any]:
    for name in ("contract_id", "company", "contact_name", "contact_phone", "contact_email"):
        if not str(getattr(new, name)).strip():
            flag = "--" + name.replace("_", "-")
            raise DeskAdminError(f"{flag} must not be empty; give a value and try again.")
    if "@" not in new.contact_email:
        raise DeskAdminError("--contact-email must be an e-mail address; fix it and try again.")
    manager_email = _optional_email(new.manager_email, "--manager-email")
    sales_manager_email = _optional_email(new.sales_manager_email, "--sales-manager-email")
    try:
        with db.writing() as session:
            contract = Contract(
                contract_id=new.contract_id.strip(),
                company=new.company.strip(),
                expires=new.expires,
                contact_name=new.contact_name.strip(),
                contact_phone=new.contact_phone.strip(),
                contact_email=new.contact_email.strip(),
                created_at=now,
                manager_email=manager_email,
                sales_manager_email=sales_manager_email,
            )
            session.add(contract)
            session.flush()
            return _contract_json(contract, now, config)
    except IntegrityError as exc:
        raise DeskAdminError(
            f"A contract {new.contract_id} already exists; choose another contract id.",
            detail=str(exc),
        ) from exc


def list_contracts(db: Database, now: datetime, config: DeskConfig) -> list[dict[str, Any]]:
    with db.reading() as session:
        rows = session.scalars(select(Contract).order_by(Contract.contract_id)).all()
        return [_contract_json(c, now, config) for c in rows]


def _contract(session: Any, contract_id: str) -> Contract:
    contract = session.get(Contract, contract_id)
    if contract is None:
        raise DeskAdminError(
            f"There is no contract {contract_id}; see `vxassist desk contract list`."
        )
    assert isinstance(contract, Contract)
    return contract


def expire_contract(
    db: Database, contract_id: str, now: datetime, config: DeskConfig
) -> dict[str, Any]:
    """End the contract yesterday (desk time zone): from today on, no case numbers."""
    with db.writing() as session:
        contract = _contract(session, contract_id)
        yesterday = local_date(now, config.calendar) - timedelta(days=1)
        contract.expires = min(contract.expires, yesterday)
        return _contract_json(contract, now, config)


def set_contract_managers(
    db: Database,
    contract_id: str,
    manager_email: str | None,
    sales_manager_email: str | None,
    now: datetime,
    config: DeskConfig,
) -> dict[str, Any]:
    """Whom an escalation of this customer's cases briefs (empty: the desk-wide default)."""
    manager = _optional_email(manager_email, "The manager's e-mail")
    sales = _optional_email(sales_manager_email, "The sales manager's e-mail")
    with db.writing() as session:
        contract = _contract(session, contract_id)
        contract.manager_email = manager
        contract.sales_manager_email = sales
        return _contract_json(contract, now, config)


def new_code(
    db: Database, contract_id: str, now: datetime, config: DeskConfig, days: int | None = None
) -> dict[str, Any]:
    """A one-time enrollment code for ``contract_id``; only its hash is kept."""
    lifetime = config.enrollment_code_days if days is None else days
    if lifetime < 1:
        raise DeskAdminError("--days must be at least 1.")
    code = new_enrollment_code()
    expires_at = now + timedelta(days=lifetime)
    with db.writing() as session:
        _contract(session, contract_id)
        session.add(
            EnrollmentCode(
                code_hash=token_hash(code),
                contract_id=contract_id,
                created_at=now,
                expires_at=expires_at,
            )
        )
    return {
        "code": code,
        "contract_id": contract_id,
        "expires_at": expires_at.isoformat().replace("+00:00", "Z"),
    }


def add_engineer(
    db: Database,
    name: str,
    now: datetime,
    *,
    password: str | None = None,
    manager: bool = False,
) -> dict[str, Any]:
    """Register an engineer; the token is returned here once and never again.

    ``password``: the engineer may sign in to the web console (else not until one is set).
    """
    name = name.strip()
    password_hash = None
    if password is not None:
        problem = password_problem(password)
        if problem:
            raise DeskAdminError(problem)
        password_hash = hash_password(password)
    if not name or len(name) > 100 or any(ch.isspace() for ch in name):
        raise DeskAdminError(
            "An engineer name must be one word of at most 100 characters, e.g. jdoe."
        )
    token = new_token(ENGINEER_PREFIX)
    try:
        with db.writing() as session:
            session.add(
                Engineer(
                    name=name,
                    token_hash=token_hash(token),
                    created_at=now,
                    password_hash=password_hash,
                    is_manager=manager,
                )
            )
    except IntegrityError as exc:
        raise DeskAdminError(
            f"An engineer named {name} already exists; choose another name.", detail=str(exc)
        ) from exc
    return {"name": name, "token": token, "console": password_hash is not None, "manager": manager}


def set_password(
    db: Database, name: str, password: str, now: datetime, *, manager: bool | None = None
) -> dict[str, Any]:
    """Give an engineer a (new) console password; their console sessions end."""
    problem = password_problem(password)
    if problem:
        raise DeskAdminError(problem)
    hashed = hash_password(password)
    with db.writing() as session:
        engineer = session.scalar(select(Engineer).where(Engineer.name == name.strip()))
        if engineer is None:
            raise DeskAdminError(
                f"There is no engineer named {name}; see `vxassist desk engineer list`."
            )
        engineer.password_hash = hashed
        if manager is not None:
            engineer.is_manager = manager
        # a changed password signs out every browser that used the old one
        session.execute(
            delete(ConsoleSession).where(ConsoleSession.engineer_id == engineer.engineer_id)
        )
        log.warning("console password of engineer %s set by the operator", engineer.name)
        return {"name": engineer.name, "console": True, "manager": bool(engineer.is_manager)}


def list_engineers(db: Database) -> list[dict[str, Any]]:
    with db.reading() as session:
        rows = session.scalars(select(Engineer).order_by(Engineer.name)).all()
        return [
            {
                "name": e.name,
                "created_at": e.created_at.isoformat().replace("+00:00", "Z"),
                "console": e.password_hash is not None,
                "manager": bool(e.is_manager),
            }
            for e in rows
        ]


#: session states that still need the host to hear of a revoke
_LIVE_SESSION_STATES = ("pending", "approved")


def _revoke_sessions(
    session: Any, rt: Any, column: Any, value: str, reason: str, now: datetime
) -> list[str]:
    """Revoke every live remote session whose ``column`` is ``value``; their ids."""
    from vxassist.desk.sessions import store
    from vxassist.desk.sessions.broker import CHANNEL
    from vxassist.desk.sessions.tables import RemoteSession

    ids = list(
        session.scalars(
            select(RemoteSession.session_id).where(
                column == value, RemoteSession.status.in_(_LIVE_SESSION_STATES)
            )
        )
    )
    for session_id in ids:
        store.revoke(session, rt, "admin", None, session_id, reason, now)
    if ids and session.get_bind().dialect.name == "postgresql":
        # every desk worker's broker wakes the host's long poll (delivered at commit)
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
    return ids


def revoke_host(db: Database, agent_id: str, now: datetime, rt: Any) -> dict[str, Any]:
    """End a host's token (a desk that runs stops taking it within seconds, the time its
    token cache keeps an identity) and revoke its live remote sessions."""
    from vxassist.desk.sessions.tables import AgentRelay, RemoteSession

    with db.writing() as session:
        agent = session.get(Agent, agent_id.strip())
        if agent is None:
            raise DeskAdminError(
                f"There is no host {agent_id}; see `vxassist desk host list` for host ids."
            )
        # nobody knows the token behind this hash: the old token matches nothing
        agent.token_hash = token_hash(new_token("revoked-"))
        # and its key line leaves the relay (relay-keys serves agent lines from this table)
        session.execute(delete(AgentRelay).where(AgentRelay.agent_id == agent.agent_id))
        revoked = _revoke_sessions(
            session, rt, RemoteSession.agent_id, agent.agent_id, "the host's token was revoked", now
        )
        log.warning("host %s (%s) revoked by the operator", agent.agent_id, agent.hostname)
        return {
            "agent_id": agent.agent_id,
            "hostname": agent.hostname,
            "contract_id": agent.contract_id,
            "revoked_sessions": revoked,
        }


def list_hosts(db: Database) -> list[dict[str, Any]]:
    with db.reading() as session:
        rows = session.scalars(select(Agent).order_by(Agent.enrolled_at, Agent.agent_id)).all()
        return [
            {
                "agent_id": a.agent_id,
                "hostname": a.hostname,
                "contract_id": a.contract_id,
                "enrolled_at": a.enrolled_at.isoformat().replace("+00:00", "Z"),
            }
            for a in rows
        ]


def remove_engineer(db: Database, name: str, now: datetime, rt: Any) -> dict[str, Any]:
    """Remove an engineer: the token stops working and their live sessions are revoked."""
    from vxassist.desk.sessions.tables import RemoteSession

    with db.writing() as session:
        engineer = session.scalar(select(Engineer).where(Engineer.name == name.strip()))
        if engineer is None:
            raise DeskAdminError(
                f"There is no engineer named {name}; see `vxassist desk engineer list`."
            )
        revoked = _revoke_sessions(
            session,
            rt,
            RemoteSession.engineer,
            engineer.name,
            f"engineer {engineer.name} was removed from the desk",
            now,
        )
        from vxassist.desk.casework import unassign_engineer

        # the cases stay; nobody holds them now (they show as unassigned in the queue)
        unassigned = unassign_engineer(session, engineer.name, now)
        session.delete(engineer)
        log.warning("engineer %s removed by the operator", engineer.name)
        return {"name": engineer.name, "revoked_sessions": revoked, "unassigned_cases": unassigned}
