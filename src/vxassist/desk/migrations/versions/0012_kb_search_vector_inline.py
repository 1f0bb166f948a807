"""knowledge-base search: PostgreSQL keeps each article's search vector in its row

A search ranks every article that matches, and ranking reads the article's whole
``tsvector``. An article of a few hundred words has a vector of about 1.5 KB; with
the body beside it the row passed PostgreSQL's 2 KB threshold and the vector, which
barely compresses, was moved out to the TOAST table: every ranked article cost an
index lookup and a second read there (3,000 matches: 14 ms of 20 only to read them).
With storage MAIN the vector stays in the row and the body, read only for the
passages of the few articles shown, is the one moved out (a vector too big for any
page still goes out, as a last resort). The rows already stored are written again
so their vectors move in (an UPDATE recomputes the generated column). SQLite:
nothing (the FTS5 index is its own table).

Revision ID: 0012_kb_search_vector_inline
Revises: 0011_new_case_notice
Create Date: 2026-12-04 10:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0012_kb_search_vector_inline"
down_revision = "0011_new_case_notice"
branch_labels = None
depends_on = None


def _storage(kind: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE kb_articles ALTER COLUMN search SET STORAGE {kind}")
    op.execute("UPDATE kb_articles SET title = title")


def upgrade() -> None:
    _storage("MAIN")


def downgrade() -> None:
    _storage("EXTENDED")
