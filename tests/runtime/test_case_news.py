"""Which moved case is news for the customer (``runtime.case_has_news``): pure, no desk."""

from __future__ import annotations

from typing import Any

from vxassist.runtime import case_fingerprint, case_has_news

CASE: dict[str, Any] = {
    "case_number": 7,
    "status": "open",
    "priority": 3,
    "response_due": "2026-12-04T18:30:00Z",
    "escalation": None,
}


def _with(*events: tuple[int, str, str], **fields: Any) -> dict[str, Any]:
    thread = [{"id": i, "kind": kind, "author_kind": who} for i, kind, who in events]
    return {**CASE, **fields, "events": thread}


def test_an_engineers_reply_after_the_cursor_is_news() -> None:
    before = case_fingerprint(CASE)
    replied = _with((3, "received", "host"), (9, "reply", "engineer"))
    assert case_has_news(replied, 8, before)
    assert not case_has_news(replied, 9, before)  # already read


def test_what_the_host_did_itself_is_no_news_unless_the_case_changed() -> None:
    before = case_fingerprint(CASE)
    own = _with((9, "update", "host"))
    assert not case_has_news(own, 8, before)
    # its update put a case that waited on the customer back in the queue: told
    waited = case_fingerprint({**CASE, "status": "waiting_customer"})
    assert case_has_news(own, 8, waited)


def test_a_remote_session_is_told_by_its_own_prompt_not_as_case_news() -> None:
    before = case_fingerprint(CASE)
    session = _with((9, "session", "desk"), (10, "session_summary", "host"))
    assert not case_has_news(session, 8, before)
    assert case_has_news(_with((9, "session", "desk"), (10, "status", "engineer")), 8, before)


def test_a_desk_that_shows_no_thread_tells_only_by_the_watched_fields() -> None:
    assert not case_has_news(CASE, 8, case_fingerprint(CASE))
    assert case_has_news({**CASE, "status": "resolved"}, 8, case_fingerprint(CASE))
    assert case_has_news(CASE, 8, None)  # a case not seen before
