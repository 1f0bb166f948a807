"""The intake hot path writes through ``Statement``s on the driver's own connection.

What it stores must read back exactly as what SQLAlchemy itself stores (SQLite
keeps times, dates and JSON as text, in SQLAlchemy's formats), and its
transactions must be whole: all of a request, or nothing.
"""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select, text

from tests.desk.conftest import Desk
from vxassist.desk.db import Database, Statement
from vxassist.desk.models import Case, Contract, Counter, IdempotencyRecord, table

CASES = table(Case)
RAW_COLUMNS = ("received_at", "response_due", "updated_at", "system_report", "priority", "status")


def _raw(db: Database, case_id: int) -> dict[str, Any]:
    """A stored case as the database keeps it, before any SQLAlchemy type conversion."""
    columns = ", ".join(RAW_COLUMNS)
    with db.engine.connect() as conn:
        row = conn.execute(text(f"SELECT {columns} FROM cases WHERE id = :id"), {"id": case_id})
        return dict(row.mappings().one())


def test_a_case_from_the_hot_path_is_stored_as_sqlalchemy_stores_it(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    answer = desk.create(host, system_report={"os": {"name": "Windows", "build": 17763}})
    assert answer.status_code == 201, answer.text
    with desk.db.reading() as session:
        ours = session.scalars(select(Case).where(Case.case_number == answer.json()["case_number"]))
        case = ours.one()
        values = {c.key: getattr(case, c.key) for c in CASES.columns if c.key != "id"}
    # the same values, written by SQLAlchemy's own execution
    values.update(case_number=None, reference="R-TWIN00")
    with desk.db.engine.begin() as conn:
        twin_id = conn.execute(insert(CASES).returning(CASES.c.id), values).scalar_one()

    assert _raw(desk.db, case.id) == _raw(desk.db, twin_id)
    with desk.db.reading() as session:
        twin = session.get(Case, twin_id)
        assert twin is not None
        assert twin.received_at == case.received_at and twin.received_at.tzinfo is not None
        assert twin.response_due == case.response_due
        report = {"os": {"name": "Windows", "build": 17763}}
        assert twin.system_report == case.system_report == report


def test_a_statement_reads_back_typed_values(desk: Desk) -> None:
    desk.add_contract()
    terms = Statement(
        select(table(Contract).c.contract_id, table(Contract).c.expires).where(
            table(Contract).c.contract_id == "C-1001"
        )
    )
    with desk.db.driver_writing() as tx:
        rows = tx.run(terms)
    assert [(c, e.isoformat()) for c, e in rows] == [("C-1001", "2027-06-30")]


def _counter(db: Database) -> int:
    with db.engine.connect() as conn:
        value = conn.execute(select(table(Counter).c.value)).scalar_one()
        return int(value)


NEXT = Statement(
    table(Counter)
    .update()
    .values(value=table(Counter).c.value + 1)
    .returning(table(Counter).c.value)
)


def test_an_error_inside_the_transaction_undoes_all_of_it(desk: Desk) -> None:
    before = _counter(desk.db)
    with pytest.raises(RuntimeError), desk.db.driver_writing() as tx:
        assert tx.run(NEXT) == [(before + 1,)]
        raise RuntimeError("the request failed half way")
    assert _counter(desk.db) == before


def test_a_unique_index_refusal_undoes_the_request_and_is_recognised(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    key = uuid.uuid4().hex
    first = desk.create(host, key=key)
    assert first.status_code == 201
    with desk.db.reading() as session:
        record = session.scalars(select(IdempotencyRecord)).one()
    record_again = Statement(
        insert(table(IdempotencyRecord)),
        keys=("agent_id", "key", "request_hash", "status_code", "response_body", "created_at"),
    )
    before = _counter(desk.db)
    with pytest.raises(desk.db.integrity_errors), desk.db.driver_writing() as tx:
        tx.run(NEXT)
        tx.run(
            record_again,
            {
                "agent_id": record.agent_id,
                "key": key,
                "request_hash": "0" * 64,
                "status_code": 201,
                "response_body": "{}",
                "created_at": record.created_at,
            },
        )
    assert _counter(desk.db) == before
    # and the desk still answers the retry with the first answer
    again = desk.create(host, key=key)
    assert again.status_code == 201 and again.json() == first.json()


# SQLite only: PostgreSQL hands each transaction a connection from the pool.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_sqlite_writer_opens_a_new_connection_after_its_own_breaks(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    assert desk.create(host).status_code == 201
    writer = desk.db._writer
    assert writer is not None
    writer.driver_connection.close()
    with pytest.raises(sqlite3.ProgrammingError), desk.db.driver_writing():
        pass
    answer = desk.create(host)
    assert answer.status_code == 201, answer.text


def test_a_value_left_out_is_named_not_sent_as_null(desk: Desk) -> None:
    terms = Statement(
        select(table(Contract).c.company).where(
            table(Contract).c.contract_id == bindparam("contract_id")
        )
    )
    with pytest.raises(KeyError, match="contract_id"), desk.db.driver_writing() as tx:
        tx.run(terms, {})
