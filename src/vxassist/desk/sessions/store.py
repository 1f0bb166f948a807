"""The broker's database work: each function runs inside one desk transaction.

The rules live in ``state`` (pure); here they meet the rows. A session a host
decides on must belong to that host; a session an engineer reads or revokes must
be theirs; both get 404 otherwise, so an id never tells a stranger it exists.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vxassist.desk import hostevents, notify
from vxassist.desk.ca import (
    BadPublicKey,
    CaError,
    CertificateAuthority,
    UnknownUserCa,
    parse_public_key,
)
from vxassist.desk.errors import DeskError
from vxassist.desk.models import Agent, Case, CaseEvent
from vxassist.desk.sessions import placement
from vxassist.desk.sessions import state as st
from vxassist.desk.sessions.config import RelayConfig, SessionsConfig
from vxassist.desk.sessions.tables import AgentRelay, RemoteSession, SessionExtension
from vxassist.errors import VxError

log = logging.getLogger(__name__)

#: statuses of a case that end its sessions
CLOSED_CASE_STATUSES = frozenset({"closed"})
MAX_SUMMARY_BYTES = 256 * 1024


@dataclass(frozen=True)
class Runtime:
    """What the broker's routes share in one desk process."""

    config: SessionsConfig
    ca: CertificateAuthority


# -- conversions ----------------------------------------------------------------


def to_state(row: RemoteSession) -> st.SessionState:
    return st.SessionState(
        session_id=row.session_id,
        agent_id=row.agent_id,
        engineer=row.engineer,
        case_number=row.case_number,
        scopes=tuple(str(s) for s in row.scopes),
        minutes=row.minutes,
        reason=row.reason,
        public_key=row.public_key,
        key_fingerprint=row.key_fingerprint,
        verification_code=row.verification_code,
        created_at=row.created_at,
        expires_at=row.expires_at,
        status=st.SessionStatus(row.status),
        decided_at=row.decided_at,
        not_before=row.not_before,
        not_after=row.not_after,
        certificate=row.certificate,
        note=row.note or "",
        revoked_by=row.revoked_by or "",
        end_reason=row.end_reason or "",
        ended_at=row.ended_at,
        summary=row.summary,
    )


def _write_back(row: RemoteSession, s: st.SessionState) -> None:
    row.status = s.status.value
    row.scopes = list(s.scopes)
    row.minutes = s.minutes
    row.decided_at = s.decided_at
    row.not_before = s.not_before
    row.not_after = s.not_after
    row.certificate = s.certificate
    row.note = s.note
    row.revoked_by = s.revoked_by
    row.end_reason = s.end_reason
    row.ended_at = s.ended_at
    row.summary = dict(s.summary) if s.summary is not None else None


def session_json(
    s: st.SessionState, relay: AgentRelay | None, rt: Runtime, now: datetime
) -> dict[str, Any]:
    """The Session object of the API."""
    status = st.effective_status(s, now)
    try:
        cfg: RelayConfig | None = placement.relay_of(rt.config, relay.relay if relay else None)
    except placement.RelayGone:
        cfg = None
    return {
        "session_id": s.session_id,
        "status": status.value,
        "case_number": s.case_number,
        "engineer": s.engineer,
        "scopes": list(s.scopes),
        "minutes": s.minutes,
        "reason": s.reason,
        "verification_code": s.verification_code,
        "key_fingerprint": s.key_fingerprint,
        "created_at": s.created_at.isoformat(),
        "expires_at": s.expires_at.isoformat(),
        "not_before": s.not_before.isoformat() if s.not_before else None,
        "not_after": s.not_after.isoformat() if s.not_after else None,
        "certificate": s.certificate if status is st.SessionStatus.APPROVED else None,
        "relay": None
        if cfg is None
        else {
            "name": cfg.name,
            "host": cfg.host,
            "port": cfg.port,
            "user": cfg.engineer_user,
            "known_hosts": cfg.known_hosts,
        },
        "listen_port": relay.listen_port if relay else None,
        "host_alias": f"vx-{s.agent_id}",
        # every host CA engineers trust now: both while a rotation overlaps
        "host_ca_public_key": rt.ca.host_ca_public_keys,
        "note": s.note,
        "end_reason": s.end_reason,
        "ended_at": s.ended_at.isoformat() if s.ended_at else None,
        "summary": s.summary,
    }


def request_json(s: st.SessionState, brief: str) -> dict[str, Any]:
    """A pending request as the host sees it (``remote.grants.SessionRequest``)."""
    return {
        "session_id": s.session_id,
        "engineer": s.engineer,
        "case_number": s.case_number,
        "case_brief": brief,
        "scopes": list(s.scopes),
        "minutes": s.minutes,
        "reason": s.reason,
        "verification_code": s.verification_code,
        "key_fingerprint": s.key_fingerprint,
        "received_at": s.created_at.isoformat(),
        "expires_at": s.expires_at.isoformat(),
    }


def _event(
    session: Session, case_id: int, at: datetime, kind: str, author: str, text: str
) -> CaseEvent:
    event = CaseEvent(case_id=case_id, at=at, kind=kind, author=author, text=text)
    session.add(event)
    return event


def _not_found() -> DeskError:
    return DeskError(
        404, "session_unknown", "There is no such session for you; check the session id."
    )


def _conflict(exc: st.SessionConflict) -> DeskError:
    return DeskError(409, exc.code, exc.message, exc.detail)


def _invalid(exc: st.SessionError | CaError) -> DeskError:
    return DeskError(422, "session_invalid", exc.message, exc.detail)


# -- settling: expiry and closed cases, written back when seen -------------------


class NeedsWrite(VxError):
    """A reading pass found something to write back; redo the work in a write.

    Internal: the routes catch it; no caller ever sees it.
    """

    def __init__(self, session_id: str) -> None:
        super().__init__("Internal: retry this read as a write.", detail=session_id)


READ_ONLY = "vx_read_only"


def _settle(session: Session, row: RemoteSession, now: datetime) -> st.SessionState:
    """The session as of ``now``: lapsed requests expire, a closed case revokes.

    In a session marked read-only (``session.info[READ_ONLY]``) a needed change
    raises :class:`NeedsWrite` instead, so polls read without taking the write lock.
    """
    s = to_state(row)
    settled = st.settle(s, now)
    if settled.status in (st.SessionStatus.PENDING, st.SessionStatus.APPROVED):
        case_status = session.scalar(select(Case.status).where(Case.id == row.case_id))
        if case_status in CLOSED_CASE_STATUSES:
            if session.info.get(READ_ONLY):
                raise NeedsWrite(row.session_id)
            settled = st.revoke(settled, "desk", "the case was closed", now)
            _event(
                session,
                row.case_id,
                now,
                "session",
                "desk",
                f"Remote session {s.session_id} revoked: the case was closed.",
            )
    if settled != s:
        if session.info.get(READ_ONLY):
            raise NeedsWrite(row.session_id)
        _write_back(row, settled)
        hostevents.publish(session, [row.agent_id])
    return settled


# -- enrollment: a host's relay place and host certificate -----------------------


def enrollment_extra(rt: Runtime, session: Session, agent: Agent, at: datetime) -> dict[str, Any]:
    """Keys added to the enrollment answer: host certificate, relay, CA public keys."""
    answer: dict[str, Any] = {
        "user_ca_public_key": rt.ca.user_ca_public_key,
        "host_ca_public_key": rt.ca.host_ca_public_key,
        "host_principal": f"vx-{agent.agent_id}",
        "host_certificate": None,
        "relay": None,
    }
    if not agent.host_public_key:
        return answer
    try:
        key = parse_public_key(agent.host_public_key)
    except BadPublicKey as exc:
        # enrollment still succeeds (cases need no relay); sessions will say what to do
        log.warning("host %s enrolled with an unusable host key: %s", agent.agent_id, exc.detail)
        return answer
    previous = _supersede(session, agent, key.line)
    principal = f"vx-{agent.agent_id}"
    certificate = rt.ca.sign_host_key(key.line, principal=principal, now=at)
    relay = placement.choose_relay(rt.config, _hosts_per_relay(session), previous)
    # the host trusts the user CA of this answer: its sessions are signed by that one
    trusted = rt.ca.user_ca_fingerprint
    port = _assign_port(
        session, rt.config, relay, agent.agent_id, key.line, certificate, at, trusted
    )
    answer["host_certificate"] = certificate
    answer["relay"] = {
        "name": relay.name,
        "host": relay.host,
        "port": relay.port,
        "user": relay.agent_user,
        "listen_port": port,
        "known_hosts": relay.known_hosts,
    }
    return answer


def _hosts_per_relay(session: Session) -> dict[str | None, int]:
    counts: dict[str | None, int] = {}
    for name in session.scalars(select(AgentRelay.relay)):
        counts[name] = counts.get(name, 0) + 1
    return counts


def _supersede(session: Session, agent: Agent, key: str) -> str | None:
    """One host key, one relay place: a host enrolling again gives up its old place
    (the name of its relay is returned, so it stays there).

    A host key already enrolled under another contract is refused: public keys are
    not secret, and a customer must not move another customer's host off its port.
    """
    previous = ""
    for old in session.scalars(select(AgentRelay).where(AgentRelay.host_key == key)).all():
        contract = session.scalar(select(Agent.contract_id).where(Agent.agent_id == old.agent_id))
        if contract != agent.contract_id:
            raise DeskError(
                409,
                "host_key_in_use",
                "This host key is enrolled for another customer; ask support to release it "
                "before enrolling this host.",
                detail=f"key of agent {old.agent_id}",
            )
        log.info("host key re-enrolled: agent %s replaces %s", agent.agent_id, old.agent_id)
        previous = old.relay or ""
        session.delete(old)
    session.flush()
    return previous or None


def _relay_is_here(host: str) -> bool:
    """Whether the relay listens on this machine's loopback (the demo, a one-box install)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _port_busy_here(port: int) -> bool:
    """Whether something on this machine already listens on loopback ``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _assign_port(
    session: Session,
    cfg: SessionsConfig,
    relay: RelayConfig,
    agent_id: str,
    key: str,
    cert: str,
    at: datetime,
    user_ca: str | None = None,
) -> int:
    """The lowest free relay port; a unique index settles a race between workers.

    When the relay runs on this machine, a port something else listens on (another
    desk's host, as with two demos on one machine) is skipped too: the relay would
    refuse that host's tunnel. Ports are unique across all relays (one index).
    """
    here = _relay_is_here(relay.host)
    for _attempt in range(20):
        used = set(session.scalars(select(AgentRelay.listen_port)))
        port = next(
            (
                p
                for p in range(relay.port_min, relay.port_max + 1)
                if p not in used and not (here and _port_busy_here(p))
            ),
            None,
        )
        if port is None:
            raise DeskError(
                507,
                "relay_ports_exhausted",
                "The relay has no free port for another host; ask the desk's operator "
                "to widen relay.port_min/port_max.",
            )
        try:
            with session.begin_nested():
                session.add(
                    AgentRelay(
                        agent_id=agent_id,
                        listen_port=port,
                        host_key=key,
                        host_certificate=cert,
                        assigned_at=at,
                        relay=relay.name,
                        user_ca=user_ca,
                    )
                )
            return port
        except IntegrityError:
            log.info("relay port %s taken meanwhile; trying the next", port)
    raise DeskError(503, "desk_busy", "The desk is busy enrolling hosts; retry in a minute.")


# -- the engineer's side ---------------------------------------------------------


@dataclass(frozen=True)
class NewRequest:
    case_number: int
    scopes: tuple[str, ...]
    minutes: int
    reason: str
    public_key: str


def create(
    session: Session, rt: Runtime, engineer: str, req: NewRequest, now: datetime
) -> dict[str, Any]:
    try:
        scopes = st.normalize_scopes(req.scopes)
        st.check_request(req.minutes, req.reason)
        key = parse_public_key(req.public_key)
    except (st.SessionError, CaError) as exc:
        raise _invalid(exc) from exc
    case = session.scalar(select(Case).where(Case.case_number == req.case_number))
    if case is None:
        raise DeskError(404, "case_unknown", "There is no case with this number; check it.")
    if case.status in CLOSED_CASE_STATUSES:
        raise DeskError(
            409, "case_closed", "This case is closed; reopen it before asking for a session."
        )
    relay = session.get(AgentRelay, case.agent_id)
    if relay is None:
        raise DeskError(
            409,
            "host_not_reachable",
            "The host of this case has no place on the relay; it must enroll again "
            "(with its host key) before a session is possible.",
        )
    try:
        placement.relay_of(rt.config, relay.relay)
    except placement.RelayGone as exc:
        raise DeskError(
            409,
            "host_relay_gone",
            f"The host of this case is on relay {relay.relay!r}, which the desk no longer "
            "knows; the host must enroll again to get another relay.",
        ) from exc
    try:
        rt.ca.user_ca_for(relay.user_ca)
    except UnknownUserCa as exc:
        raise DeskError(409, "host_ca_retired", exc.message, exc.detail) from exc
    _check_key_and_load(session, engineer, key.line, case.id, now)
    sid = st.new_session_id()
    s = st.SessionState(
        session_id=sid,
        agent_id=case.agent_id,
        engineer=engineer,
        case_number=req.case_number,
        scopes=scopes,
        minutes=req.minutes,
        reason=req.reason.strip(),
        public_key=key.line,
        key_fingerprint=key.fingerprint,
        verification_code=st.new_verification_code(),
        created_at=now,
        expires_at=now + timedelta(seconds=rt.config.request_timeout_s),
    )
    row = RemoteSession(
        session_id=sid,
        agent_id=s.agent_id,
        case_id=case.id,
        case_number=s.case_number,
        engineer=engineer,
        scopes=list(s.scopes),
        minutes=s.minutes,
        reason=s.reason,
        public_key=s.public_key,
        key_fingerprint=s.key_fingerprint,
        verification_code=s.verification_code,
        status=s.status.value,
        created_at=now,
        expires_at=s.expires_at,
        note="",
        revoked_by="",
        end_reason="",
    )
    session.add(row)
    hostevents.publish(session, [case.agent_id])
    _event(
        session,
        case.id,
        now,
        "session",
        engineer,
        f"Remote session {sid} requested: {st.scopes_text(scopes)} for {s.minutes} min. "
        f"Reason: {s.reason}",
    )
    session.flush()
    return session_json(s, relay, rt, now)


#: requests one case may have waiting at once (a host's customer answers each)
MAX_PENDING_PER_CASE = 5


def _check_key_and_load(
    session: Session, engineer: str, key: str, case_id: int, now: datetime
) -> None:
    """A session key belongs to one engineer; a case is not flooded with requests."""
    owners = set(
        session.scalars(
            select(RemoteSession.engineer).where(RemoteSession.public_key == key).distinct()
        )
    )
    if owners - {engineer} or session.scalar(
        select(AgentRelay.agent_id).where(AgentRelay.host_key == key)
    ):
        raise DeskError(
            409,
            "public_key_in_use",
            "This public key is already in use elsewhere; let vxassist make a fresh key "
            "for each session.",
        )
    pending = session.scalars(
        select(RemoteSession.expires_at).where(
            RemoteSession.case_id == case_id,
            RemoteSession.status == st.SessionStatus.PENDING.value,
        )
    ).all()
    if sum(1 for expires in pending if expires > now) >= MAX_PENDING_PER_CASE:
        raise DeskError(
            409,
            "too_many_pending",
            "This case already has several session requests waiting for the customer; "
            "wait for an answer or withdraw one first.",
        )


def _own(
    session: Session, session_id: str, engineer: str | None, agent_id: str | None
) -> RemoteSession:
    if not st.valid_session_id(session_id):
        raise _not_found()
    row = session.get(RemoteSession, session_id)
    if row is None:
        raise _not_found()
    if engineer is not None and row.engineer != engineer:
        raise _not_found()
    if agent_id is not None and row.agent_id != agent_id:
        raise _not_found()
    return row


def get_for_engineer(
    session: Session, rt: Runtime, engineer: str | None, session_id: str, now: datetime
) -> tuple[dict[str, Any], bool]:
    """The Session object and whether it is still pending (for the long poll)."""
    row = _own(session, session_id, engineer, None)
    s = _settle(session, row, now)
    relay = session.get(AgentRelay, row.agent_id)
    return session_json(s, relay, rt, now), st.effective_status(s, now) is st.SessionStatus.PENDING


def list_for_engineer(
    session: Session, rt: Runtime, engineer: str | None, now: datetime
) -> list[dict[str, Any]]:
    query = select(RemoteSession).order_by(RemoteSession.created_at.desc()).limit(200)
    if engineer is not None:
        query = query.where(RemoteSession.engineer == engineer)
    out = []
    for row in session.scalars(query).all():
        s = _settle(session, row, now)
        out.append(session_json(s, session.get(AgentRelay, row.agent_id), rt, now))
    return out


def revoke(
    session: Session,
    rt: Runtime,
    by: str,
    engineer: str | None,
    session_id: str,
    reason: str,
    now: datetime,
) -> dict[str, Any]:
    """Revoke as the engineer who holds the session (``engineer``) or as an admin (None)."""
    row = _own(session, session_id, engineer, None)
    before = _settle(session, row, now)
    after = st.revoke(before, by, reason or f"revoked by {by}", now)
    if after != before:
        _write_back(row, after)
        hostevents.publish(session, [row.agent_id])
        _event(
            session,
            row.case_id,
            now,
            "session",
            by,
            f"Remote session {session_id} revoked by {by}: {after.end_reason}",
        )
    return session_json(after, session.get(AgentRelay, row.agent_id), rt, now)


# -- the host's side -------------------------------------------------------------


#: the statuses that put something in a host's poll answer (see :func:`poll_for_agent`)
_IN_ANSWER = (
    st.SessionStatus.PENDING.value,
    st.SessionStatus.APPROVED.value,
    st.SessionStatus.REVOKED.value,
)


def poll_for_agent(session: Session, agent_id: str, now: datetime) -> dict[str, Any]:
    """Pending requests for this host's cases, and revocations it must act on."""
    rows = session.scalars(
        select(RemoteSession)
        .where(RemoteSession.agent_id == agent_id, RemoteSession.status.in_(_IN_ANSWER))
        .order_by(RemoteSession.created_at)
    ).all()
    requests, revoked = [], []
    live: dict[str, st.SessionState] = {}
    for row in rows:
        s = _settle(session, row, now)
        if st.effective_status(s, now) is st.SessionStatus.PENDING:
            brief = session.scalar(select(Case.brief).where(Case.id == row.case_id)) or ""
            requests.append(request_json(s, brief))
        elif st.needs_teardown_notice(s, now):
            revoked.append({"session_id": s.session_id, "reason": s.end_reason})
        elif st.is_live(s, now):
            live[s.session_id] = s
    extensions = []
    for ext_row in session.scalars(
        select(SessionExtension)
        .where(
            SessionExtension.agent_id == agent_id,
            SessionExtension.status == st.ExtensionStatus.PENDING.value,
        )
        .order_by(SessionExtension.created_at)
    ).all():
        holder = live.get(ext_row.session_id)
        e = ext_to_state(ext_row)
        if holder is not None and st.extension_status(e, holder, now) is st.ExtensionStatus.PENDING:
            extensions.append(extension_request_json(e, holder))
    return {
        "requests": requests,
        "revoked": revoked,
        "extensions": extensions,
        "case_cursor": case_cursor(session, agent_id),
    }


def quiet_answers(session: Session) -> dict[str, dict[str, Any]]:
    """The poll answer of every host with no session or extension in play, in three
    statements for the whole fleet: what :func:`poll_for_agent` would answer each.

    A desk that starts (a restart) remembers these, so a fleet coming back is
    answered without a read per host. Hosts with a pending, approved or revoked
    session, or a pending extension, are left out: their answer is read as usual.
    """
    busy = set(
        session.scalars(
            select(RemoteSession.agent_id).where(RemoteSession.status.in_(_IN_ANSWER)).distinct()
        )
    )
    busy.update(
        session.scalars(
            select(SessionExtension.agent_id)
            .where(SessionExtension.status == st.ExtensionStatus.PENDING.value)
            .distinct()
        )
    )
    cursors: dict[str, int] = {
        str(agent_id): int(newest)
        for agent_id, newest in session.execute(
            select(Case.agent_id, func.max(CaseEvent.id))
            .join(Case, Case.id == CaseEvent.case_id)
            .where(CaseEvent.visibility == "customer")
            .group_by(Case.agent_id)
        )
    }
    return {
        agent_id: {
            "requests": [],
            "revoked": [],
            "extensions": [],
            "case_cursor": cursors.get(agent_id, 0),
        }
        for agent_id in session.scalars(select(Agent.agent_id))
        if agent_id not in busy
    }


def case_cursor(session: Session, agent_id: str) -> int:
    """The newest customer-visible event of this host's cases (0: none): the host asks
    for its case changes only when this moved."""
    newest = session.scalar(
        select(func.max(CaseEvent.id))
        .join(Case, Case.id == CaseEvent.case_id)
        .where(Case.agent_id == agent_id, CaseEvent.visibility == "customer")
    )
    return int(newest or 0)


def _with_certificate(
    rt: Runtime, after: st.SessionState, session: Session | None = None
) -> st.SessionState:
    """The approved session with the engineer's key signed for its whole window: the
    session id as the only principal, so the certificate opens this grant and no other.
    Signed by the user CA the host was told to trust (both are kept while a rotation
    overlaps)."""
    assert after.not_before is not None and after.not_after is not None
    place = session.get(AgentRelay, after.agent_id) if session is not None else None
    certificate = rt.ca.sign_user_key(
        after.public_key,
        key_id=after.key_id,
        principals=[after.session_id],
        not_before=after.not_before,
        not_after=after.not_after,
        scopes=after.scopes,
        ca=rt.ca.user_ca_for(place.user_ca if place else None),
    )
    return replace(after, certificate=certificate)


def decide(
    session: Session,
    rt: Runtime,
    agent_id: str,
    session_id: str,
    decision: st.Decision,
    now: datetime,
) -> dict[str, Any]:
    row = _own(session, session_id, None, agent_id)
    before = _settle(session, row, now)
    try:
        after = st.decide(before, decision, now)
        if after.status is st.SessionStatus.APPROVED:
            after = _with_certificate(rt, after, session)
    except st.SessionConflict as exc:
        raise _conflict(exc) from exc
    except (st.SessionError, CaError) as exc:
        raise _invalid(exc) from exc
    _write_back(row, after)
    hostevents.publish(session, [row.agent_id])
    if after.status is st.SessionStatus.APPROVED:
        text = (
            f"Remote session {session_id} approved by the customer: "
            f"{st.scopes_text(after.scopes)} until {_iso(after.not_after)}."
        )
    else:
        text = f"Remote session {session_id} denied by the customer."
    if after.note:
        text += f" Note: {after.note}"
    _event(session, row.case_id, now, "session", "customer", text)
    return session_json(after, session.get(AgentRelay, row.agent_id), rt, now)


def ended(
    session: Session,
    rt: Runtime,
    agent_id: str,
    session_id: str,
    reason: str,
    summary: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    row = _own(session, session_id, None, agent_id)
    if len(json.dumps(summary, default=str)) > MAX_SUMMARY_BYTES:
        raise DeskError(413, "summary_too_large", "The session summary is too large; shorten it.")
    before = to_state(row)
    try:
        after = st.end(before, reason, summary, now)
    except st.SessionConflict as exc:
        raise _conflict(exc) from exc
    _write_back(row, after)
    hostevents.publish(session, [row.agent_id])
    told = _event(session, row.case_id, now, "session_summary", "host", summary_text(after))
    notify.session_summary(session, row.case_id, told, now)  # the summary, mailed
    return session_json(after, session.get(AgentRelay, row.agent_id), rt, now)


def audit_head_for_agent(session: Session, agent_id: str) -> dict[str, Any]:
    """The highest audit position (seq, hash) this host reported in a session summary."""
    best: dict[str, Any] = {"seq": None, "hash": None, "session_id": None}
    for session_id, summary in session.execute(
        select(RemoteSession.session_id, RemoteSession.summary).where(
            RemoteSession.agent_id == agent_id, RemoteSession.summary.is_not(None)
        )
    ).all():
        audit = summary.get("audit") if isinstance(summary, dict) else None
        if not isinstance(audit, dict):
            continue
        seq, digest = audit.get("seq"), audit.get("hash")
        reported = isinstance(seq, int) and not isinstance(seq, bool) and isinstance(digest, str)
        if reported and (best["seq"] is None or seq > best["seq"]):
            best = {"seq": seq, "hash": digest, "session_id": session_id}
    return best


# -- extensions: more minutes on a live session --------------------------------------


def ext_to_state(row: SessionExtension) -> st.ExtensionState:
    return st.ExtensionState(
        session_id=row.session_id,
        number=row.number,
        engineer=row.engineer,
        minutes=row.minutes,
        reason=row.reason,
        created_at=row.created_at,
        expires_at=row.expires_at,
        status=st.ExtensionStatus(row.status),
        decided_at=row.decided_at,
        previous_not_after=row.previous_not_after,
        not_after=row.not_after,
        note=row.note or "",
    )


def _ext_write_back(row: SessionExtension, e: st.ExtensionState) -> None:
    row.status = e.status.value
    row.decided_at = e.decided_at
    row.previous_not_after = e.previous_not_after
    row.not_after = e.not_after
    row.note = e.note


def extension_json(
    e: st.ExtensionState,
    s: st.SessionState,
    relay: AgentRelay | None,
    rt: Runtime,
    now: datetime,
) -> dict[str, Any]:
    """The Extension object of the API, with the session as it now is."""
    return {
        "session_id": e.session_id,
        "number": e.number,
        "status": st.extension_status(e, s, now).value,
        "engineer": e.engineer,
        "minutes": e.minutes,
        "reason": e.reason,
        "created_at": e.created_at.isoformat(),
        "expires_at": e.expires_at.isoformat(),
        "decided_at": e.decided_at.isoformat() if e.decided_at else None,
        "previous_not_after": _iso_or_none(e.previous_not_after),
        "not_after": _iso_or_none(e.not_after),
        "note": e.note,
        "session": session_json(s, relay, rt, now),
    }


def extension_request_json(e: st.ExtensionState, s: st.SessionState) -> dict[str, Any]:
    """A pending extension as the host sees it (``remote.grants.ExtensionRequest``)."""
    return {
        "session_id": e.session_id,
        "number": e.number,
        "engineer": e.engineer,
        "case_number": s.case_number,
        "minutes": e.minutes,
        "reason": e.reason,
        "not_after": _iso_or_none(s.not_after),
        "received_at": e.created_at.isoformat(),
        "expires_at": e.expires_at.isoformat(),
    }


def _iso_or_none(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _extension_row(
    session: Session, session_id: str, number: int | None
) -> SessionExtension | None:
    """Extension ``number`` of the session, or its latest when ``number`` is None."""
    query = select(SessionExtension).where(SessionExtension.session_id == session_id)
    if number is not None:
        query = query.where(SessionExtension.number == number)
    return session.scalars(query.order_by(SessionExtension.number.desc()).limit(1)).first()


def _settle_extension(
    session: Session,
    row: RemoteSession,
    ext_row: SessionExtension,
    s: st.SessionState,
    now: datetime,
) -> st.ExtensionState:
    """The extension as of ``now``; a lapse is written back and noted on the case."""
    e = ext_to_state(ext_row)
    settled = st.settle_extension(e, s, now)
    if settled != e:
        if session.info.get(READ_ONLY):
            raise NeedsWrite(row.session_id)
        _ext_write_back(ext_row, settled)
        hostevents.publish(session, [row.agent_id])
        _event(
            session,
            row.case_id,
            now,
            "session",
            "desk",
            f"Extension {e.number} of remote session {e.session_id} lapsed: {settled.note}.",
        )
    return settled


def request_extension(
    session: Session,
    rt: Runtime,
    engineer: str,
    session_id: str,
    minutes: int,
    reason: str,
    now: datetime,
) -> dict[str, Any]:
    """The engineer who holds a live session asks its host for more minutes."""
    row = _own(session, session_id, engineer, None)
    s = _settle(session, row, now)
    latest_row = _extension_row(session, session_id, None)
    latest = _settle_extension(session, row, latest_row, s, now) if latest_row else None
    try:
        e = st.new_extension(
            s,
            engineer,
            minutes,
            reason,
            latest,
            timedelta(seconds=rt.config.request_timeout_s),
            now,
        )
    except st.SessionConflict as exc:
        raise _conflict(exc) from exc
    except st.SessionError as exc:
        raise _invalid(exc) from exc
    session.add(
        SessionExtension(
            session_id=e.session_id,
            number=e.number,
            agent_id=row.agent_id,
            engineer=e.engineer,
            minutes=e.minutes,
            reason=e.reason,
            status=e.status.value,
            created_at=e.created_at,
            expires_at=e.expires_at,
            note="",
        )
    )
    hostevents.publish(session, [row.agent_id])
    why = f" Reason: {e.reason}" if e.reason else ""
    _event(
        session,
        row.case_id,
        now,
        "session",
        engineer,
        f"Extension {e.number} of remote session {session_id} requested: "
        f"{e.minutes} more min.{why}",
    )
    session.flush()
    return extension_json(e, s, session.get(AgentRelay, row.agent_id), rt, now)


def get_extension_for_engineer(
    session: Session,
    rt: Runtime,
    engineer: str | None,
    session_id: str,
    number: int,
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """The Extension object and whether it still waits for the customer (long poll)."""
    row = _own(session, session_id, engineer, None)
    s = _settle(session, row, now)
    ext_row = _extension_row(session, session_id, number)
    if ext_row is None:
        raise DeskError(
            404,
            "extension_unknown",
            "This session has no extension with that number; check it.",
        )
    e = _settle_extension(session, row, ext_row, s, now)
    answer = extension_json(e, s, session.get(AgentRelay, row.agent_id), rt, now)
    return answer, st.extension_status(e, s, now) is st.ExtensionStatus.PENDING


def decide_extension(
    session: Session,
    rt: Runtime,
    agent_id: str,
    session_id: str,
    number: int,
    approved: bool,
    not_after: datetime | None,
    note: str,
    now: datetime,
) -> dict[str, Any]:
    """The customer's answer to an extension; an approval moves the session's end and
    signs the engineer's key again for the new window."""
    row = _own(session, session_id, None, agent_id)
    before = _settle(session, row, now)
    ext_row = _extension_row(session, session_id, number)
    if ext_row is None:
        raise DeskError(
            404, "extension_unknown", "This session has no extension with that number; check it."
        )
    e = ext_to_state(ext_row)
    try:
        after, decided = st.decide_extension(before, e, approved, not_after, note, now)
        if decided.status is st.ExtensionStatus.APPROVED:
            after = _with_certificate(rt, after, session)
    except st.SessionConflict as exc:
        raise _conflict(exc) from exc
    except (st.SessionError, CaError) as exc:
        raise _invalid(exc) from exc
    _write_back(row, after)
    _ext_write_back(ext_row, decided)
    hostevents.publish(session, [row.agent_id])
    if decided.status is st.ExtensionStatus.APPROVED:
        text = (
            f"Extension {number} of remote session {session_id} approved by the customer: "
            f"now until {_iso(after.not_after)} (was {_iso(before.not_after)})."
        )
    else:
        text = f"Extension {number} of remote session {session_id} refused by the customer."
    if decided.note and decided.note != "refused":
        text += f" Note: {decided.note}"
    _event(session, row.case_id, now, "session", "customer", text)
    return extension_json(decided, after, session.get(AgentRelay, row.agent_id), rt, now)


#: summary keys the event's first lines already state
_SHOWN_ABOVE = frozenset(
    {"session_id", "engineer", "case_number", "scopes", "not_before", "not_after"}
)


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else "?"


def summary_text(s: st.SessionState) -> str:
    """The session summary as a case event: who, when, scopes, then what the host reported."""
    lines = [
        f"Remote session {s.session_id} ended ({s.end_reason or 'ended'}).",
        f"Engineer: {s.engineer}; scopes: {st.scopes_text(s.scopes)}.",
        f"Window: {_iso(s.not_before)} to {_iso(s.not_after)}; ended {_iso(s.ended_at)}.",
    ]
    for key, value in (s.summary or {}).items():
        if key in _SHOWN_ABOVE:
            continue
        shown = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
        lines.append(f"{key}: {shown}")
    return "\n".join(lines)
