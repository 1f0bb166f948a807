"""The schema comes from the migrations, and the migrations match the models."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from tests.fixtures.postgres import PostgresServer
from vxassist.desk.db import make_engine, upgrade
from vxassist.desk.models import Base, Counter
from vxassist.desk.routes import ROUTERS


def _not_full_text(obj: object, name: str | None, kind: str, *_: object) -> bool:
    """The knowledge base's full-text index is the database's own (no model maps it)."""
    return not (name or "").startswith(("kb_articles_fts", "ix_kb_articles_search")) and not (
        kind == "column" and name == "search"
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.fresh_database()


def test_upgrade_builds_the_models_schema_and_runs_twice(empty_db: str) -> None:
    # every mounted area's tables join the metadata when its routes are imported
    for name in ROUTERS:
        importlib.import_module(name)
    upgrade(empty_db)
    upgrade(empty_db)  # already at head: nothing to do, nothing breaks
    engine = make_engine(empty_db)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": _not_full_text}
            )
            diff = compare_metadata(context, Base.metadata)
            tables = set(inspect(conn).get_table_names())
            counter = conn.execute(select(Counter.value).where(Counter.name == "case_number"))
            assert counter.scalar_one() == 1000
    finally:
        engine.dispose()
    assert diff == []
    assert {"contracts", "agents", "enrollment_codes", "cases", "case_events"} <= tables


def test_agents_table_has_the_agreed_columns(empty_db: str) -> None:
    upgrade(empty_db)
    engine = make_engine(empty_db)
    try:
        with engine.connect() as conn:
            columns = {c["name"]: c for c in inspect(conn).get_columns("agents")}
    finally:
        engine.dispose()
    assert {
        "agent_id",
        "contract_id",
        "hostname",
        "token_hash",
        "host_public_key",
        "enrolled_at",
    } <= set(columns)
    assert columns["host_public_key"]["nullable"] is True


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.sqlite3'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) >= 5000
    finally:
        engine.dispose()
