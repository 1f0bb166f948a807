"""cases.new_notice_at: the engineers' "new case" notice is written by the mail sender

Intake used to render and write the engineers' mail in the create transaction (a
row of ~1 KB and two index entries per case, on the desk's hot path). Now intake
stores only that the notice is owed (``new_notice_at`` NULL); the sender writes it
in its own transaction and stamps the case. The partial index holds just the owed
cases, so finding them costs nothing however many cases there are.

Cases already stored had their notice written (or owed none): they are stamped.

Revision ID: 0011_new_case_notice
Revises: 0010_mail_outbox_lean
Create Date: 2026-12-04 10:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_new_case_notice"
down_revision = "0010_mail_outbox_lean"
branch_labels = None
depends_on = None

_OWED = sa.text("new_notice_at IS NULL")


def upgrade() -> None:
    op.add_column("cases", sa.Column("new_notice_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE cases SET new_notice_at = received_at")
    op.create_index(
        "ix_cases_notice_owed", "cases", ["id"], sqlite_where=_OWED, postgresql_where=_OWED
    )


def downgrade() -> None:
    op.drop_index("ix_cases_notice_owed", table_name="cases")
    # in place (SQLite >= 3.35 drops a column itself): a batch copy of ``cases`` would
    # drop the table, which the case events' foreign key refuses once cases exist
    op.drop_column("cases", "new_notice_at")
