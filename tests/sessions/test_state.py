"""Session transitions with the clock passed in: no replay, no widening, no re-opening."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from vxassist.desk.sessions.state import (
    Decision,
    SessionConflict,
    SessionInputError,
    SessionState,
    SessionStatus,
    decide,
    effective_status,
    end,
    is_live,
    needs_teardown_notice,
    new_session_id,
    new_verification_code,
    normalize_scopes,
    revoke,
    settle,
    valid_session_id,
)

T0 = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def _pending(**kw: object) -> SessionState:
    base = SessionState(
        session_id="0123456789abcdef",
        agent_id="a1",
        engineer="alice",
        case_number=7,
        scopes=("shell", "files"),
        minutes=30,
        reason="check the CDR link",
        public_key="ssh-ed25519 AAAA",
        key_fingerprint="SHA256:x",
        verification_code="ACD-EFH",
        created_at=T0,
        expires_at=T0 + 3 * MIN,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def _approve(state: SessionState, now: datetime, minutes: int = 30, **kw: object) -> SessionState:
    d = Decision(True, kw.pop("scopes", state.scopes), now, now + minutes * MIN)  # type: ignore[arg-type]
    return decide(state, d, now)


def test_approval_narrows_and_sets_the_window() -> None:
    s = decide(_pending(), Decision(True, ("files",), T0 + MIN, T0 + 11 * MIN), T0 + MIN)
    assert s.status is SessionStatus.APPROVED
    assert s.scopes == ("files",)
    assert s.minutes == 10
    assert s.key_id == "alice/case-7/session-0123456789abcdef"
    assert is_live(s, T0 + 2 * MIN)
    assert not is_live(s, T0 + 11 * MIN)
    assert effective_status(s, T0 + 11 * MIN) is SessionStatus.EXPIRED


def test_approval_cannot_widen_scopes_or_time() -> None:
    with pytest.raises(SessionInputError):
        decide(_pending(), Decision(True, ("shell", "forward:127.0.0.1:22"), T0, T0 + MIN), T0)
    with pytest.raises(SessionInputError):
        decide(_pending(), Decision(True, ("shell",), T0, T0 + 31 * MIN), T0)
    with pytest.raises(SessionInputError):
        decide(_pending(), Decision(True, (), T0, T0 + MIN), T0)
    with pytest.raises(SessionInputError):  # a window in the past
        decide(_pending(), Decision(True, ("shell",), T0 - 60 * MIN, T0 - 40 * MIN), T0)


def test_replayed_or_late_decision_is_a_conflict() -> None:
    approved = _approve(_pending(), T0)
    with pytest.raises(SessionConflict):
        decide(approved, Decision(True, ("shell",), T0, T0 + MIN), T0)
    with pytest.raises(SessionConflict):
        decide(approved, Decision(False, (), None, None), T0)
    with pytest.raises(SessionConflict):  # nobody answered in time
        _approve(_pending(), T0 + 3 * MIN)
    assert settle(_pending(), T0 + 3 * MIN).status is SessionStatus.EXPIRED
    denied = decide(_pending(), Decision(False, (), None, None, "not now"), T0)
    assert denied.status is SessionStatus.DENIED and not is_live(denied, T0)
    with pytest.raises(SessionConflict):
        _approve(denied, T0)


def test_revoke_pending_and_approved_and_twice() -> None:
    withdrawn = revoke(_pending(), "alice", "not needed", T0)
    assert withdrawn.status is SessionStatus.REVOKED
    assert not needs_teardown_notice(withdrawn, T0)  # the host never opened it
    with pytest.raises(SessionConflict):
        _approve(withdrawn, T0)

    live = _approve(_pending(), T0)
    gone = revoke(live, "admin", "customer asked", T0 + MIN)
    assert not is_live(gone, T0 + MIN)
    assert needs_teardown_notice(gone, T0 + MIN)
    assert revoke(gone, "alice", "again", T0 + 2 * MIN) == gone

    ended = end(gone, "revoked by desk", {"commands": 3}, T0 + 2 * MIN)
    assert ended.status is SessionStatus.ENDED
    assert ended.end_reason == "customer asked"
    assert not needs_teardown_notice(ended, T0 + 2 * MIN)
    with pytest.raises(SessionConflict):
        end(ended, "again", {}, T0 + 3 * MIN)


def test_a_session_never_opened_cannot_be_ended() -> None:
    with pytest.raises(SessionConflict):
        end(_pending(), "x", {}, T0)
    with pytest.raises(SessionConflict):
        end(revoke(_pending(), "alice", "", T0), "x", {}, T0)


def test_scopes_are_checked_and_deduplicated() -> None:
    assert normalize_scopes(["shell", "shell", "forward:127.0.0.1:03389"]) == (
        "shell",
        "forward:127.0.0.1:3389",
    )
    for bad in (["root"], [], ["forward:127.0.0.1:0"], ["forward:a b:22"], ["forward:h:x"]):
        with pytest.raises(SessionInputError):
            normalize_scopes(bad)


def test_ids_and_codes() -> None:
    ids = {new_session_id() for _ in range(50)}
    assert len(ids) == 50 and all(valid_session_id(i) for i in ids)
    assert not valid_session_id("../etc/passwd")
    code = new_verification_code()
    assert len(code) == 7 and code[3] == "-"


def test_a_grant_that_ran_out_is_settled_and_can_still_be_reported() -> None:
    live = _approve(_pending(), T0, minutes=10)
    assert settle(live, T0 + 5 * MIN) == live
    over = settle(live, T0 + 10 * MIN)
    assert over.status is SessionStatus.EXPIRED and over.end_reason == "the grant ran out"
    assert not is_live(over, T0 + 10 * MIN)
    assert revoke(over, "alice", "late", T0 + 11 * MIN) == over
    ended = end(over, "deadline", {"commands": []}, T0 + 11 * MIN)
    assert ended.status is SessionStatus.ENDED and ended.summary == {"commands": []}
    never_answered = settle(_pending(), T0 + 3 * MIN)
    with pytest.raises(SessionConflict):
        end(never_answered, "x", {}, T0 + 4 * MIN)
