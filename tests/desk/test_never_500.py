"""Bad input is a 4xx naming the field, and a database in trouble is a 503: never a 500."""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

import pytest

from tests.desk.conftest import Desk, case_body


def _post_raw(desk: Desk, headers: dict[str, str], raw: str | bytes) -> Any:
    return desk.client.post(
        "/api/v1/cases",
        content=raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw,
        headers={
            **headers,
            "Idempotency-Key": uuid.uuid4().hex,
            "Content-Type": "application/json",
        },
    )


def _names(answer: Any, *field: str) -> None:
    assert 400 <= answer.status_code < 500, answer.text
    locs = [tuple(str(p) for p in e["loc"]) for e in answer.json()["detail"]]
    assert any(loc[1 : 1 + len(field)] == field for loc in locs), (field, answer.text)


@pytest.mark.parametrize("ident", ["²", "1²", "١٠٠١", "𝟏𝟎𝟎𝟏"])
def test_unicode_digits_in_a_case_number_are_unknown_cases(desk: Desk, ident: str) -> None:
    desk.add_contract()
    agent = desk.enroll()
    assert desk.create(agent).status_code == 201
    shown = desk.client.get(f"/api/v1/cases/{ident}", headers=agent)
    assert shown.status_code == 404, shown.text
    assert shown.json()["detail"]["code"] == "case_unknown"
    updated = desk.client.post(f"/api/v1/cases/{ident}/updates", json={"text": "x"}, headers=agent)
    assert updated.status_code == 404, updated.text


def test_lone_surrogates_are_refused_with_the_field_named(desk: Desk) -> None:
    desk.add_contract()
    agent = desk.enroll()
    body = json.dumps(case_body(brief="calls \ud800 lost"))  # ensure_ascii: sent as \ud800
    _names(_post_raw(desk, agent, body), "brief")
    deep = json.dumps(case_body(system_report={"logs": ["ok", {"tail": "x\udfffy"}]}))
    _names(_post_raw(desk, agent, deep), "system_report", "logs", "1", "tail")
    key = json.dumps(case_body(system_report={"\ud83d": 1}))
    _names(_post_raw(desk, agent, key), "system_report")
    update = desk.client.post(
        "/api/v1/cases/1001/updates",
        content=b'{"text": "a \\udc00 b"}',
        headers={**agent, "Content-Type": "application/json"},
    )
    _names(update, "text")


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_non_finite_numbers_are_refused_anywhere(desk: Desk, number: str) -> None:
    desk.add_contract()
    agent = desk.enroll()
    raw = json.dumps(case_body(system_report={"disk": {"free": 0}}))
    _names(_post_raw(desk, agent, raw.replace('"free": 0', f'"free": {number}')), "system_report")
    raw = json.dumps(case_body(priority=0)).replace('"priority": 0', f'"priority": {number}')
    _names(_post_raw(desk, agent, raw), "priority")


def test_a_report_nested_hundreds_of_levels_deep_is_refused(desk: Desk) -> None:
    desk.add_contract()
    agent = desk.enroll()
    for depth in (300, 900, 5000):
        nested: Any = "leaf"
        for _ in range(depth):
            nested = {"a": nested}
        raw = '{"a":' * depth + '"leaf"' + "}" * depth
        body = json.dumps(case_body(system_report={"x": 1})).replace('{"x": 1}', raw)
        answer = _post_raw(desk, agent, body)
        _names(answer, "system_report")
        assert "deep" in json.dumps(answer.json())
    # a report of ordinary depth still goes through
    assert desk.create(agent, system_report={"a": {"b": {"c": [1, 2.5, None]}}}).status_code == 201


def test_a_body_that_is_not_json_is_a_400_in_the_desk_shape(desk: Desk) -> None:
    desk.add_contract()
    agent = desk.enroll()
    for raw in (b"{not json", b"\xff\xfe", b"[1, 2"):
        answer = _post_raw(desk, agent, raw)
        assert answer.status_code == 400, answer.text
        assert answer.json()["detail"]["code"] == "body_not_json"


@pytest.mark.parametrize("blank", ["   ", "\t\n", "\u00a0\u3000"])
def test_whitespace_only_text_is_refused(desk: Desk, blank: str) -> None:
    desk.add_contract()
    agent = desk.enroll()
    _names(desk.create(agent, brief=blank), "brief")


def test_a_case_is_filed_under_the_contracts_company(desk: Desk) -> None:
    desk.add_contract()
    agent = desk.enroll()
    made = desk.create(agent, company="Evil Corp (not us)")
    assert made.status_code == 201, made.text
    assert made.json()["company"] == "Acme Telecom"
    shown = desk.client.get(f"/api/v1/cases/{made.json()['case_number']}", headers=agent)
    assert shown.json()["company"] == "Acme Telecom"


def _busy(answer: Any) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.json()["detail"]["code"] == "desk_busy"
    assert int(answer.headers["Retry-After"]) > 0


def test_a_create_on_a_full_disk_is_a_503_desk_busy(desk: Desk) -> None:
    desk.add_contract()
    agent = desk.enroll()
    assert desk.create(agent).status_code == 201
    if desk.db.dialect == "sqlite":
        # the desk keeps one writer connection: a page limit on it is a full disk to SQLite
        writer = desk.db._writer.driver_connection
        pages = writer.execute("PRAGMA page_count").fetchone()[0]
        writer.execute(f"PRAGMA max_page_count={pages}")
        big = {"blob": "x" * 200_000}
        _busy(desk.create(agent, system_report=big))
        writer.execute("PRAGMA max_page_count=1073741823")
    else:
        pytest.skip("a full disk is a SQLite-side test; PostgreSQL is the next test")
    assert desk.create(agent).status_code == 201  # and the desk recovers


def test_a_create_while_the_database_does_not_answer_is_a_503(desk: Desk) -> None:
    desk.add_contract()
    agent = desk.enroll()
    assert desk.create(agent).status_code == 201
    if desk.db.dialect == "sqlite":
        # another process holds the write lock and the wait runs out
        writer = desk.db._writer.driver_connection
        writer.execute("PRAGMA busy_timeout=50")
        holder = sqlite3.connect(desk.url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            _busy(desk.create(agent))
        finally:
            holder.execute("ROLLBACK")
            holder.close()
            writer.execute("PRAGMA busy_timeout=30000")
    else:
        import psycopg

        url = desk.url.replace("postgresql+psycopg://", "postgresql://")
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" SET lock_timeout = 100')
        desk.db.engine.dispose()  # new connections take the setting
        with psycopg.connect(url) as holder:
            holder.execute("SELECT value FROM counters WHERE name = 'case_number' FOR UPDATE")
            _busy(desk.create(agent))
            holder.rollback()
    assert desk.create(agent).status_code == 201


@pytest.mark.parametrize("scope", ["forward:127.0.0.1:²", "forward:localhost:３３８９"])
def test_unicode_digits_in_a_forward_port_are_refused_with_a_sentence(scope: str) -> None:
    from vxassist.desk.sessions.state import SessionInputError, normalize_scope

    with pytest.raises(SessionInputError, match="not one of shell, files or forward"):
        normalize_scope(scope)


def test_an_integer_too_long_to_convert_is_a_422_and_escaped_backslashes_are_text(
    desk: Desk,
) -> None:
    desk.add_contract()
    agent = desk.enroll()
    raw = json.dumps(case_body(priority=0)).replace('"priority": 0', '"priority": 1' + "0" * 5000)
    answer = _post_raw(desk, agent, raw)
    assert answer.status_code == 422, answer.text
    assert "too long" in answer.json()["detail"][0]["msg"]
    # a backslash before "ud800" is just text, and NaN inside a string is just text
    fine = desk.create(agent, details="path C:\\ud800\\logs, value NaN, 1e400")
    assert fine.status_code == 201, fine.text
    assert fine.json()["details"] == "path C:\\ud800\\logs, value NaN, 1e400"


def test_every_busy_answer_says_when_to_retry(desk: Desk) -> None:
    from vxassist.desk.errors import DeskError

    def busy() -> None:
        raise DeskError(503, "desk_busy", "The desk could not store the request; retry.")

    desk.app.add_api_route("/test-busy", busy)
    _busy(desk.client.get("/test-busy"))
