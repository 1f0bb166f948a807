"""a system report attached to a case update, kept on the case event that says so

Revision ID: 0004_update_reports
Revises: 0003_extensions
Create Date: 2026-12-04 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_update_reports"
down_revision = "0003_extensions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("system_report", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.drop_column("system_report")
