"""Knowledge-base search in each database's own engine (SQLite FTS5, PostgreSQL tsvector),
and the FTS5 prefix index rebuilt from the articles already stored (migration 0009)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config

from tests.fixtures.postgres import PostgresServer
from vxassist.desk import kb
from vxassist.desk.db import MIGRATIONS, Database, make_engine, upgrade

NOW = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
ARTICLES = (
    ("Recordings missing after upgrade", "Calls were not recorded after the upgrade. " * 5),
    ("SMDR port settings", "The SMDR feed needs the port of the PBX and a firewall rule."),
    ("Licence server", "A licence server answers on port 5054; restart it after a change."),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.fresh_database()
    upgrade(url)
    database = Database(url)
    with database.writing() as session:
        for title, body in ARTICLES:
            tags = ["smdr"] if "SMDR" in title else ["general"]
            kb.add_article(session, kb.ArticleIn(title=title, body=body, tags=tags), NOW)
    yield database
    database.dispose()


def test_search_ranks_by_words_and_cuts_a_passage_from_the_best(db: Database) -> None:
    with db.reading() as session:
        found = kb.search(session, "recor upgrade", 10)
        assert [hit["title"] for hit in found][:1] == ["Recordings missing after upgrade"]
        assert "recorded" in found[0]["snippet"]
        by_port = kb.search(session, "port", 10)
        assert {hit["title"] for hit in by_port} == {"SMDR port settings", "Licence server"}
        assert all("port" in hit["snippet"].lower() for hit in by_port)
        assert [h["title"] for h in kb.search(session, "port", 10, tag="SMDR")] == [
            "SMDR port settings"
        ]
        assert len(kb.search(session, "port", 1)) == 1
        assert kb.search(session, "nothingmatches", 10) == []
        suggested = kb.suggest(session, "smdr feed")
        assert suggested[0]["title"] == "SMDR port settings"
        assert suggested[0]["url"] == kb.PAGE_PATH.format(id=suggested[0]["id"])


def test_prefix_index_is_rebuilt_from_stored_articles(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    engine = make_engine(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0008_console_queue")
    engine.dispose()
    db = Database(url)
    with db.writing() as session:
        kb.add_article(session, kb.ArticleIn(title="Codec table", body="Which codecs."), NOW)
    db.dispose()
    upgrade(url)
    db = Database(url)
    try:
        with db.reading() as session:
            sql = session.connection().exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'kb_articles_fts'"
            )
            assert "prefix='3 4'" in sql.scalar_one()
            assert [hit["title"] for hit in kb.search(session, "cod", 10)] == ["Codec table"]
        with db.writing() as session:  # the triggers still keep the rebuilt index
            kb.add_article(session, kb.ArticleIn(title="Codec list", body="More."), NOW)
        with db.reading() as session:
            assert len(kb.search(session, "code", 10)) == 2
    finally:
        db.dispose()
