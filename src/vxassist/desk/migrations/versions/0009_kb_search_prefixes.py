"""knowledge-base search: prefix indexes for the words being typed

Every query word of three letters or more is also searched as a prefix. Without a
prefix index FTS5 finds a prefix by walking every term that starts with it and
merging their lists; with ``prefix='3 4'`` the index holds the 3- and 4-letter
beginnings of each word, so the shortest (widest) prefixes are one lookup. The FTS
table is rebuilt with the option and refilled from the articles already stored (an
external-content table: ``rebuild`` reads ``kb_articles``). The triggers name the
table, not its options, and stay. PostgreSQL: nothing (its GIN index serves ``:*``).

Revision ID: 0009_kb_search_prefixes
Revises: 0008_console_queue
Create Date: 2026-12-04 06:15:00
"""

from __future__ import annotations

from alembic import op

revision = "0009_kb_search_prefixes"
down_revision = "0008_console_queue"
branch_labels = None
depends_on = None

_FTS = (
    "CREATE VIRTUAL TABLE kb_articles_fts USING fts5("
    "title, body, content='kb_articles', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2'{options})"
)


def _recreate(options: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TABLE IF EXISTS kb_articles_fts")
    op.execute(_FTS.format(options=options))
    op.execute("INSERT INTO kb_articles_fts(kb_articles_fts) VALUES ('rebuild')")


def upgrade() -> None:
    _recreate(", prefix='3 4'")


def downgrade() -> None:
    _recreate("")
