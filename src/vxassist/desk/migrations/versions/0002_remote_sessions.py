"""remote sessions: each host's relay port and key, and the session broker's sessions

Revision ID: 0002_sessions
Revises: 0001
Create Date: 2026-11-26 04:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_sessions"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_relays",
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("listen_port", sa.Integer(), nullable=False),
        sa.Column("host_key", sa.Text(), nullable=False),
        sa.Column("host_certificate", sa.Text(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.agent_id"], name=op.f("fk_agent_relays_agent_id_agents")
        ),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_agent_relays")),
        sa.UniqueConstraint("listen_port", name=op.f("uq_agent_relays_listen_port")),
    )
    with op.batch_alter_table("agent_relays", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_relays_host_key"), ["host_key"], unique=False)

    op.create_table(
        "remote_sessions",
        sa.Column("session_id", sa.String(length=40), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("case_number", sa.Integer(), nullable=False),
        sa.Column("engineer", sa.String(length=100), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=100), nullable=False),
        sa.Column("verification_code", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("certificate", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("revoked_by", sa.String(length=100), nullable=False),
        sa.Column("end_reason", sa.Text(), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.agent_id"], name=op.f("fk_remote_sessions_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_remote_sessions_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_remote_sessions")),
    )
    with op.batch_alter_table("remote_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_remote_sessions_agent_id"), ["agent_id"])
        batch_op.create_index(batch_op.f("ix_remote_sessions_case_id"), ["case_id"])
        batch_op.create_index(batch_op.f("ix_remote_sessions_engineer"), ["engineer"])
        batch_op.create_index(batch_op.f("ix_remote_sessions_public_key"), ["public_key"])
        batch_op.create_index(batch_op.f("ix_remote_sessions_status"), ["status"])


def downgrade() -> None:
    with op.batch_alter_table("remote_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_remote_sessions_status"))
        batch_op.drop_index(batch_op.f("ix_remote_sessions_public_key"))
        batch_op.drop_index(batch_op.f("ix_remote_sessions_engineer"))
        batch_op.drop_index(batch_op.f("ix_remote_sessions_case_id"))
        batch_op.drop_index(batch_op.f("ix_remote_sessions_agent_id"))
    op.drop_table("remote_sessions")
    with op.batch_alter_table("agent_relays", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_relays_host_key"))
    op.drop_table("agent_relays")
