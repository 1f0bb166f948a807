"""The life of a session request, as pure functions over a frozen record.

::

    pending --decision(approved)--> approved --ended--> ended
       |  \\--decision(denied)----> denied        \\--revoke--> revoked --ended--> ended
       |---revoke (engineer cancels)--> revoked
       \\---nobody answers in time----> expired     (approved past not_after: expired too)

Every function takes ``now``; none reads a clock. A transition that does not
apply raises :class:`SessionConflict` (the HTTP layer turns it into 409), so a
replayed or late decision can never re-open or widen a session.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from vxassist.errors import VxError

#: certificates start this much before the grant, for clock skew
SKEW = timedelta(seconds=30)
#: a host may shift the window it reports by this much from the desk's clock
WINDOW_TOLERANCE = timedelta(minutes=5)
MAX_MINUTES = 24 * 60
MAX_REASON = 2000
MAX_SCOPES = 16
_SESSION_ID = re.compile(r"^[a-z0-9]{12,40}$")
_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$|^\[?[0-9A-Fa-f:]+\]?$")
_CODE_ALPHABET = "ACDEFHJKLMNPRTUVWXY34679"


class SessionError(VxError):
    """A session request or decision the desk cannot accept."""


class SessionInputError(SessionError):
    """Input that is wrong in itself (HTTP 422)."""


class SessionConflict(SessionError):
    """A transition that does not apply to the session's current state (HTTP 409)."""

    def __init__(self, message: str, detail: str = "", code: str = "session_conflict") -> None:
        super().__init__(message, detail)
        self.code = code


class SessionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    REVOKED = "revoked"
    ENDED = "ended"


FINAL = frozenset({SessionStatus.DENIED, SessionStatus.EXPIRED, SessionStatus.ENDED})


@dataclass(frozen=True)
class SessionState:
    """One session as the desk keeps it."""

    session_id: str
    agent_id: str
    engineer: str
    case_number: int
    scopes: tuple[str, ...]  # requested, then granted once approved
    minutes: int
    reason: str
    public_key: str  # the engineer's session key, ``TYPE BASE64``
    key_fingerprint: str
    verification_code: str
    created_at: datetime
    expires_at: datetime  # a pending request nobody answers expires here
    status: SessionStatus = SessionStatus.PENDING
    decided_at: datetime | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    certificate: str | None = None
    note: str = ""
    revoked_by: str = ""
    end_reason: str = ""
    ended_at: datetime | None = None
    summary: Mapping[str, Any] | None = None

    @property
    def key_id(self) -> str:
        return key_id_for(self.engineer, self.case_number, self.session_id)


def key_id_for(engineer: str, case_number: int, session_id: str) -> str:
    """The certificate key id: binds engineer, case and session (the agent checks it)."""
    return f"{engineer}/case-{case_number}/session-{session_id}"


def new_session_id() -> str:
    """A session id: plain enough for a certificate principal and a login name."""
    return secrets.token_hex(8)


def valid_session_id(text: str) -> bool:
    return bool(_SESSION_ID.match(text))


def new_verification_code() -> str:
    """A short code shown to the engineer and the customer; letters that do not look alike."""
    chars = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(6))
    return f"{chars[:3]}-{chars[3:]}"


def normalize_scope(text: str) -> str:
    """``shell``, ``files`` or ``forward:HOST:PORT``, checked; anything else is refused."""
    text = str(text).strip()
    if text in ("shell", "files"):
        return text
    if text.startswith("forward:"):
        host, sep, port = text[len("forward:") :].rpartition(":")
        if (
            sep
            and _HOST.match(host)
            and port.isascii()
            and port.isdigit()
            and 0 < int(port) < 65536
        ):
            return f"forward:{host}:{int(port)}"
    raise SessionInputError(
        f"The scope {text[:60]!r} is not one of shell, files or forward:HOST:PORT; "
        "ask for one of those.",
    )


def normalize_scopes(texts: Iterable[str]) -> tuple[str, ...]:
    """Scopes in the order given, without duplicates; at least one."""
    seen: dict[str, None] = {}
    for text in texts:
        seen.setdefault(normalize_scope(text), None)
    if not seen:
        raise SessionInputError("Ask for at least one scope: shell, files or forward:HOST:PORT.")
    if len(seen) > MAX_SCOPES:
        raise SessionInputError(f"Ask for at most {MAX_SCOPES} scopes in one session.")
    return tuple(seen)


def check_request(minutes: int, reason: str) -> None:
    """The parts of a request that do not need the database."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise SessionInputError(f"Ask for between 1 and {MAX_MINUTES} minutes.")
    if not reason.strip():
        raise SessionInputError("Give a reason: the customer sees it before deciding.")
    if len(reason) > MAX_REASON:
        raise SessionInputError(f"Keep the reason under {MAX_REASON} characters.")


def effective_status(state: SessionState, now: datetime) -> SessionStatus:
    """The status as of ``now``: a pending request or a grant past its time has expired."""
    if state.status is SessionStatus.PENDING and now >= state.expires_at:
        return SessionStatus.EXPIRED
    if (
        state.status is SessionStatus.APPROVED
        and state.not_after is not None
        and now >= state.not_after
    ):
        return SessionStatus.EXPIRED
    return state.status


def is_live(state: SessionState, now: datetime) -> bool:
    """Whether the grant lets the engineer through the relay right now."""
    return (
        effective_status(state, now) is SessionStatus.APPROVED
        and state.not_before is not None
        and state.not_before - SKEW <= now
    )


def settle(state: SessionState, now: datetime) -> SessionState:
    """The record with a lapsed request or grant marked expired (for writing back)."""
    if state.status is SessionStatus.PENDING and now >= state.expires_at:
        return replace(state, status=SessionStatus.EXPIRED, end_reason="nobody answered in time")
    if effective_status(state, now) is SessionStatus.EXPIRED:
        return replace(state, status=SessionStatus.EXPIRED, end_reason="the grant ran out")
    return state


@dataclass(frozen=True)
class Decision:
    """A host's answer to a request, as it arrived."""

    approved: bool
    scopes: tuple[str, ...]
    not_before: datetime | None
    not_after: datetime | None
    note: str = ""


def decide(state: SessionState, decision: Decision, now: datetime) -> SessionState:
    """Apply a host's decision; approval may narrow the request, never widen it.

    The certificate is signed by the caller after this returns an approved state.
    """
    status = effective_status(state, now)
    if status is not SessionStatus.PENDING:
        raise SessionConflict(
            f"This session is {status.value}; a decision is no longer accepted.",
            detail=f"session {state.session_id} is {status.value}",
            code="session_not_pending",
        )
    note = decision.note[:MAX_REASON]
    if not decision.approved:
        return replace(state, status=SessionStatus.DENIED, decided_at=now, note=note)
    if not decision.scopes:
        raise SessionInputError("An approval must keep at least one of the requested scopes.")
    granted = normalize_scopes(decision.scopes)
    extra = [s for s in granted if s not in state.scopes]
    if extra:
        raise SessionInputError(
            "An approval can only keep scopes the engineer asked for; "
            f"{', '.join(extra)} was not asked for.",
        )
    nb, na = decision.not_before, decision.not_after
    if nb is None or na is None or nb.tzinfo is None or na.tzinfo is None:
        raise SessionInputError("An approval needs not_before and not_after with a time zone.")
    if na <= nb:
        raise SessionInputError("not_after must come after not_before.")
    if na - nb > timedelta(minutes=state.minutes) + timedelta(seconds=1):
        raise SessionInputError(
            f"The approved window is longer than the {state.minutes} minutes asked for; "
            "approve the same or a shorter time.",
        )
    if nb < now - WINDOW_TOLERANCE or nb > now + WINDOW_TOLERANCE or na <= now:
        raise SessionInputError(
            "The approved window does not start now; check the host's clock and decide again.",
            detail=f"not_before {nb} not_after {na} desk now {now}",
        )
    return replace(
        state,
        status=SessionStatus.APPROVED,
        scopes=granted,
        minutes=max(1, round((na - nb).total_seconds() / 60)),
        decided_at=now,
        not_before=nb,
        not_after=na,
        note=note,
    )


def revoke(state: SessionState, by: str, reason: str, now: datetime) -> SessionState:
    """Take a session back; a request not yet answered is withdrawn the same way.

    Revoking twice is harmless; a session already over stays as it was.
    """
    status = effective_status(state, now)
    if status in (SessionStatus.PENDING, SessionStatus.APPROVED):
        return replace(
            state,
            status=SessionStatus.REVOKED,
            revoked_by=by,
            end_reason=reason[:MAX_REASON] or "revoked",
            ended_at=now if status is SessionStatus.PENDING else state.ended_at,
        )
    return state


def needs_teardown_notice(state: SessionState, now: datetime) -> bool:
    """Whether the host must still hear that this approved session was revoked."""
    return (
        state.status is SessionStatus.REVOKED
        and state.decided_at is not None
        and state.ended_at is None
    )


def end(
    state: SessionState, reason: str, summary: Mapping[str, Any], now: datetime
) -> SessionState:
    """The host reports the session over (revoked, ran out, ended by the customer);
    its summary is kept once."""
    open_states = (SessionStatus.APPROVED, SessionStatus.REVOKED, SessionStatus.EXPIRED)
    if state.status not in open_states or state.decided_at is None:
        raise SessionConflict(
            f"This session is {state.status.value} and was never open; nothing to end.",
            code="session_not_open",
        )
    if state.ended_at is not None or state.summary is not None:
        raise SessionConflict(
            "This session's end was already reported.", code="session_already_ended"
        )
    return replace(
        state,
        status=SessionStatus.ENDED,
        end_reason=(state.end_reason or reason)[:MAX_REASON],
        ended_at=now,
        summary=dict(summary),
    )


def visible_to_engineer(state: SessionState, engineer: str, is_admin: bool = False) -> bool:
    return is_admin or state.engineer == engineer


def scopes_text(scopes: Sequence[str]) -> str:
    return ", ".join(scopes) if scopes else "nothing"


# -- extensions: more minutes on a live session, with a new customer approval -----------
#
#   pending --decision(approved)--> approved   (the session's not_after moves)
#      |\\--decision(refused)----> refused
#      \\---nobody answers in time, or the session is no longer live--> expired


class ExtensionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    EXPIRED = "expired"


@dataclass(frozen=True)
class ExtensionState:
    """One request for more minutes on a session, and what became of it."""

    session_id: str
    number: int  # 1, 2, ... within the session
    engineer: str
    minutes: int
    reason: str
    created_at: datetime
    expires_at: datetime
    status: ExtensionStatus = ExtensionStatus.PENDING
    decided_at: datetime | None = None
    #: the session's end before and after an approval
    previous_not_after: datetime | None = None
    not_after: datetime | None = None
    note: str = ""


def extension_status(ext: ExtensionState, session: SessionState, now: datetime) -> ExtensionStatus:
    """As of ``now``: a pending extension lapses at its expiry or with its session."""
    if ext.status is ExtensionStatus.PENDING and (
        now >= ext.expires_at or not is_live(session, now)
    ):
        return ExtensionStatus.EXPIRED
    return ext.status


def settle_extension(ext: ExtensionState, session: SessionState, now: datetime) -> ExtensionState:
    """The record with a lapsed extension marked expired (for writing back)."""
    status = extension_status(ext, session, now)
    if status is not ext.status:
        reason = "nobody answered in time" if is_live(session, now) else "the session is over"
        return replace(ext, status=status, note=ext.note or reason)
    return ext


def new_extension(
    session: SessionState,
    engineer: str,
    minutes: int,
    reason: str,
    latest: ExtensionState | None,
    timeout: timedelta,
    now: datetime,
) -> ExtensionState:
    """A new extension request, if the session and its history allow one now.

    Only the engineer who holds the session asks (the caller has checked that),
    only while it is live, one at a time, and never beyond ``MAX_MINUTES`` in all.
    """
    status = effective_status(session, now)
    if not is_live(session, now):
        raise SessionConflict(
            f"This session is {status.value}, not live, so it cannot be extended; "
            "ask for a new session instead.",
            detail=f"session {session.session_id} is {status.value}",
            code="session_not_live",
        )
    if latest is not None and extension_status(latest, session, now) is ExtensionStatus.PENDING:
        raise SessionConflict(
            "This session already has an extension waiting for the customer; "
            "wait for that answer first.",
            detail=f"extension {latest.number} of session {session.session_id}",
            code="extension_pending",
        )
    if not 1 <= minutes <= MAX_MINUTES:
        raise SessionInputError(f"Ask for between 1 and {MAX_MINUTES} more minutes.")
    if len(reason) > MAX_REASON:
        raise SessionInputError(f"Keep the reason under {MAX_REASON} characters.")
    assert session.not_before is not None and session.not_after is not None
    if session.not_after + timedelta(minutes=minutes) - session.not_before > timedelta(
        minutes=MAX_MINUTES
    ):
        raise SessionInputError(
            f"A session lasts at most {MAX_MINUTES} minutes in all; ask for fewer minutes."
        )
    return ExtensionState(
        session_id=session.session_id,
        number=(latest.number + 1) if latest is not None else 1,
        engineer=engineer,
        minutes=minutes,
        reason=reason.strip(),
        created_at=now,
        expires_at=min(now + timeout, session.not_after),
    )


def decide_extension(
    session: SessionState,
    ext: ExtensionState,
    approved: bool,
    not_after: datetime | None,
    note: str,
    now: datetime,
) -> tuple[SessionState, ExtensionState]:
    """Apply a host's answer; an approval moves the session's end, never by more than asked.

    The certificate is signed again by the caller for the new window.
    """
    status = extension_status(ext, session, now)
    if status is not ExtensionStatus.PENDING:
        raise SessionConflict(
            f"This extension is {status.value}; a decision is no longer accepted.",
            detail=f"extension {ext.number} of session {session.session_id}",
            code="extension_not_pending",
        )
    note = note[:MAX_REASON]
    if not approved:
        return session, replace(
            ext, status=ExtensionStatus.REFUSED, decided_at=now, note=note or "refused"
        )
    assert session.not_before is not None and session.not_after is not None
    if not_after is None or not_after.tzinfo is None:
        raise SessionInputError("An approved extension needs the new not_after with a time zone.")
    if not_after <= session.not_after:
        raise SessionInputError("The new not_after must come after the session's present end.")
    if not_after - session.not_after > timedelta(minutes=ext.minutes) + timedelta(seconds=1):
        raise SessionInputError(
            f"The approved extension is longer than the {ext.minutes} minutes asked for; "
            "approve the same or a shorter time.",
        )
    longer = replace(
        session,
        not_after=not_after,
        minutes=max(1, round((not_after - session.not_before).total_seconds() / 60)),
    )
    return longer, replace(
        ext,
        status=ExtensionStatus.APPROVED,
        decided_at=now,
        previous_not_after=session.not_after,
        not_after=not_after,
        note=note,
    )
