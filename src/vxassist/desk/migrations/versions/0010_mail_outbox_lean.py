"""the mail outbox: no index on case_id

Nothing looks mail up by its case (the sender claims by ``sent_at``/``next_attempt_at``,
``key`` keeps each mail once), yet every new case with notifications on paid for one
more index entry in its transaction. The column stays, for people reading the table.

Revision ID: 0010_mail_outbox_lean
Revises: 0009_kb_search_prefixes
Create Date: 2026-12-04 06:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0010_mail_outbox_lean"
down_revision = "0009_kb_search_prefixes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_mail_outbox_case_id", table_name="mail_outbox")


def downgrade() -> None:
    op.create_index("ix_mail_outbox_case_id", "mail_outbox", ["case_id"])
