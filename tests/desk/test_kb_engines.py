"""Knowledge-base search in each database's own engine (SQLite FTS5, PostgreSQL tsvector):
what a search means (every word before some words, the last word as it is typed, the
title above the body), the FTS5 prefix index rebuilt from the articles already stored
(migration 0009), PostgreSQL's vectors kept in the row (migration 0012)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text as sql_text

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
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated desk database without articles, on each engine."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.fresh_database()
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


@pytest.fixture
def db(empty: Database) -> Database:
    with empty.writing() as session:
        for title, body in ARTICLES:
            tags = ["smdr"] if "SMDR" in title else ["general"]
            kb.add_article(session, kb.ArticleIn(title=title, body=body, tags=tags), NOW)
    return empty


def _articles(db: Database, *articles: tuple[str, str]) -> list[int]:
    with db.writing() as session:
        return [
            kb.add_article(session, kb.ArticleIn(title=title, body=body), NOW)["id"]
            for title, body in articles
        ]


def _found(db: Database, query: str, limit: int = 10) -> list[int]:
    with db.reading() as session:
        return [hit["id"] for hit in kb.search(session, query, limit)]


FILLER = "Check the cabling, the power supply and the operating system's event log first. "


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


def test_articles_with_every_word_come_before_those_with_some(empty: Database) -> None:
    # the title repeats one of the words: ranked over any word, it came first
    one_word, both, neither = _articles(
        empty,
        ("Transceiver transceiver: the transceiver table", "Which transceiver fits which port."),
        ("Link errors", FILLER * 3 + "Reseat the fibre transceiver. " + FILLER * 3),
        ("Licence keys", FILLER),
    )
    _articles(empty, *[(f"Note {n}", FILLER) for n in range(4)])  # the words are rare
    assert _found(empty, "fibre transceiver") == [both, one_word]
    assert _found(empty, "fibre transceiver", limit=1) == [both]
    assert _found(empty, "transceiver fibre") == [both, one_word]  # the order typed is no matter
    # a word no article has (a typing error) leaves the articles with the others
    assert sorted(_found(empty, "fibre transceiver trasnceiver")) == sorted([both, one_word])
    assert neither not in _found(empty, "fibre transceiver")


def test_the_title_outranks_a_body_that_repeats_the_word(empty: Database) -> None:
    long_body, titled, once = _articles(
        empty,
        ("Audio quality", (FILLER + "Compare the codec with the codec of the trunk. ") * 10),
        ("Codec settings", FILLER),
        ("Audio dropouts", FILLER + "Set the codec. " + FILLER),
    )
    # one word: in the title once beats ten times in a long body
    assert _found(empty, "codec")[:2] == [titled, long_body]
    # every word in the title, then every word once in the body ("settings" is
    # stored as "set"), then the article with one of the words
    assert _found(empty, "codec settings") == [titled, once, long_body]
    # words every article has tell none apart: they are not searched
    assert _found(empty, "the codec for the settings") == [titled, once, long_body]
    assert _found(empty, "the") == [] and _found(empty, "and then") == []


def test_the_last_word_matches_as_it_is_typed_the_others_as_words(empty: Database) -> None:
    portal, port = _articles(
        empty,
        ("Portal settings", "The web portal keeps its settings in portal.ini. " + FILLER),
        ("Licence server", FILLER + "Set the port in the settings file. " + FILLER),
    )
    # "port" is finished (a word follows it): it is not the beginning of "portal"
    assert _found(empty, "port settings") == [port, portal]
    # the word being typed is a beginning ...
    assert _found(empty, "settings por") == [portal, port]
    # ... also once it has passed the stored stem: "recordi" is on its way to
    # "recording", stored as "record"; "restartin" to "restarting", stored as "restart"
    recording = _articles(empty, ("Recording stops", "Restart the recording service."))[0]
    for typed in ("rec", "recor", "record", "recordi", "recordin", "recording"):
        assert _found(empty, typed) == [recording], typed
    assert _found(empty, "service restartin") == [recording]
    # a short word is only itself, anywhere in the query
    assert _found(empty, "re") == []
    assert kb.query_words("Port, port  PORTAL port") == ["portal", "port"]
    assert kb.query_words("The port of the portal") == ["port", "portal"]
    # past the most words searched, the last one searched is a finished word
    many = " ".join(f"w{n}" for n in range(kb.QUERY_WORDS_MAX - 1))
    assert _found(empty, f"{many} porta")[:1] == _found(empty, "porta")[:1] == [portal]
    assert _found(empty, f"{many} porta extra") == []


def _migrate(url: str, revision: str, down: bool = False) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    engine = make_engine(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)
    engine.dispose()


def test_prefix_index_is_rebuilt_from_stored_articles(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    _migrate(url, "0008_console_queue")
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


def test_postgres_moves_stored_vectors_into_their_rows(postgres_server: PostgresServer) -> None:
    url = postgres_server.fresh_database()
    _migrate(url, "0011_new_case_notice")
    # a body of a few hundred distinct words: a vector of several KB, which PostgreSQL
    # moved out of the row when its storage was EXTENDED
    body = " ".join(f"w{n}q{i}" for i in range(400) for n in [i % 7])
    articles = [(f"Codec table {n}", body) for n in range(20)]
    db = Database(url)
    with db.writing() as session:
        for title, text in articles:
            kb.add_article(session, kb.ArticleIn(title=title, body=text), NOW)

    def layout() -> tuple[str, bool]:
        with db.reading() as session:
            storage, in_rows = session.execute(
                sql_text(
                    "SELECT (SELECT attstorage FROM pg_attribute WHERE attname = 'search' "
                    "AND attrelid = 'kb_articles'::regclass), "
                    "pg_relation_size('kb_articles') >= "
                    "(SELECT sum(pg_column_size(search)) FROM kb_articles)"
                )
            ).one()
        return str(storage), bool(in_rows)

    try:
        assert layout() == ("x", False)
        upgrade(url)
        assert layout() == ("m", True)  # the stored articles' vectors too
        with db.reading() as session:
            assert len(kb.search(session, "codec w3q10", 50)) == 20
        _migrate(url, "0011_new_case_notice", down=True)
        assert layout()[0] == "x"
    finally:
        db.dispose()
