"""session extensions: more minutes on a live session, each with the customer's answer

Revision ID: 0003_extensions
Revises: 0002_sessions
Create Date: 2026-12-04 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_extensions"
down_revision = "0002_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_extensions",
        sa.Column("session_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("engineer", sa.String(length=100), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("previous_not_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.agent_id"], name=op.f("fk_session_extensions_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["remote_sessions.session_id"],
            name=op.f("fk_session_extensions_session_id_remote_sessions"),
        ),
        sa.PrimaryKeyConstraint("session_id", "number", name=op.f("pk_session_extensions")),
    )
    with op.batch_alter_table("session_extensions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_extensions_agent_id"), ["agent_id"])
        batch_op.create_index(batch_op.f("ix_session_extensions_status"), ["status"])


def downgrade() -> None:
    with op.batch_alter_table("session_extensions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_extensions_status"))
        batch_op.drop_index(batch_op.f("ix_session_extensions_agent_id"))
    op.drop_table("session_extensions")
