"""knowledge-base articles, with a full-text index kept by the database itself

SQLite: an external-content FTS5 table (porter stemming) filled by triggers, so
every insert, update and delete of an article changes the index in the same
transaction. PostgreSQL: a generated ``tsvector`` column (title weighted above
body) with a GIN index.

Revision ID: 0005_kb_articles
Revises: 0004_update_reports
Create Date: 2026-12-04 02:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_kb_articles"
down_revision = "0004_update_reports"
branch_labels = None
depends_on = None

_SQLITE_INDEX = (
    "CREATE VIRTUAL TABLE kb_articles_fts USING fts5("
    "title, body, content='kb_articles', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER kb_articles_ai AFTER INSERT ON kb_articles BEGIN "
    "INSERT INTO kb_articles_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END",
    "CREATE TRIGGER kb_articles_ad AFTER DELETE ON kb_articles BEGIN "
    "INSERT INTO kb_articles_fts(kb_articles_fts, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); END",
    "CREATE TRIGGER kb_articles_au AFTER UPDATE ON kb_articles BEGIN "
    "INSERT INTO kb_articles_fts(kb_articles_fts, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); "
    "INSERT INTO kb_articles_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END",
)

_POSTGRES_INDEX = (
    "ALTER TABLE kb_articles ADD COLUMN search tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(body, '')), 'B')) STORED",
    "CREATE INDEX ix_kb_articles_search ON kb_articles USING gin (search)",
)


def upgrade() -> None:
    op.create_table(
        "kb_articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_articles")),
    )
    name = op.get_bind().dialect.name
    for statement in _SQLITE_INDEX if name == "sqlite" else _POSTGRES_INDEX:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("kb_articles_ai", "kb_articles_ad", "kb_articles_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS kb_articles_fts")
    op.drop_table("kb_articles")
