"""The desk's SQLite write-ahead log is checkpointed by a thread, not by committing requests."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from vxassist.desk import db as desk_db
from vxassist.desk.db import Database


def _write(db: Database, n: int) -> None:
    for i in range(n):
        with db.writing_connection() as conn:
            conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": "x" * 5000 + str(i)})


def test_background_checkpoints_keep_commits_from_checkpointing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the thread's first round comes after the test: what happens is the commits' doing
    monkeypatch.setattr(desk_db, "CHECKPOINT_INTERVAL_S", 3600.0)
    db = Database(f"sqlite:///{tmp_path / 'bg.sqlite3'}", background_checkpoints=True)
    try:
        with db.writing_connection() as conn:
            conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        # far more than the 1000 pages at which a committing connection would checkpoint
        _write(db, 1500)
        wal = tmp_path / "bg.sqlite3-wal"
        with db.engine.connect() as conn:
            page = conn.exec_driver_sql("PRAGMA page_size").scalar()
        # no commit restarted the log: it holds every page written since it was created
        assert wal.stat().st_size > 2500 * page
        db.checkpoint()
        with db.engine.connect() as conn:
            busy, logged, moved = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        assert busy == 0 and logged > 2500 and moved == logged
    finally:
        db.dispose()
    assert db._checkpointer is None
    reopened = Database(f"sqlite:///{tmp_path / 'bg.sqlite3'}")
    try:
        with reopened.reading() as session:
            assert session.execute(text("SELECT count(*) FROM t")).scalar() == 1500
    finally:
        reopened.dispose()


def test_without_background_checkpoints_sqlite_checkpoints_itself(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'auto.sqlite3'}")
    try:
        with db.writing_connection() as conn:
            conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
        assert db._checkpointer is None
        _write(db, 1500)
        with db.engine.connect() as conn:
            page = conn.exec_driver_sql("PRAGMA page_size").scalar()
        # the log restarted after each automatic checkpoint instead of growing
        assert (tmp_path / "auto.sqlite3-wal").stat().st_size < 1500 * page
    finally:
        db.dispose()
