"""the service platform: a case's thread and workflow, escalations, update requests,
the desk's mail outbox, and engineers' console sign-in

Revision ID: 0006_service_platform
Revises: 0005_kb_articles
Create Date: 2026-12-04 05:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_service_platform"
down_revision = "0005_kb_articles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("manager_email", sa.String(254), nullable=True))
        batch_op.add_column(sa.Column("sales_manager_email", sa.String(254), nullable=True))

    with op.batch_alter_table("engineers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_hash", sa.String(255), nullable=True))
        batch_op.add_column(
            sa.Column("is_manager", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assignee", sa.String(100), nullable=True))
        batch_op.add_column(sa.Column("first_response_by", sa.String(100), nullable=True))
        for column in ("first_response_at", "deadline_warned_at", "breach_noticed_at"):
            batch_op.add_column(sa.Column(column, sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_cases_assignee", ["assignee"])

    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("visibility", sa.String(16), nullable=False, server_default="customer")
        )
        batch_op.add_column(
            sa.Column("author_kind", sa.String(16), nullable=False, server_default="desk")
        )

    op.create_table(
        "case_attachments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("event_id", sa.Integer(), sa.ForeignKey("case_events.id"), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_case_attachments_case_id", "case_attachments", ["case_id"])
    op.create_index("ix_case_attachments_event_id", "case_attachments", ["event_id"])

    op.create_table(
        "case_escalations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by_kind", sa.String(16), nullable=False),
        sa.Column("by_name", sa.String(255), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(100), nullable=True),
    )
    op.create_index("ix_case_escalations_case_id", "case_escalations", ["case_id"])

    op.create_table(
        "update_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.agent_id"), nullable=False),
        sa.Column("contract_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("product_version", sa.String(100), nullable=False),
        sa.Column("target_version", sa.String(100), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("requester_name", sa.String(200), nullable=False),
        sa.Column("requester_email", sa.String(254), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("download_url", sa.String(2000), nullable=True),
        sa.Column("answered_by", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_update_requests_agent_id", "update_requests", ["agent_id"])
    op.create_index("ix_update_requests_contract_id", "update_requests", ["contract_id"])
    op.create_index("ix_update_requests_status", "update_requests", ["status"])

    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("to_addr", sa.String(254), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.UniqueConstraint("key", name="uq_mail_outbox_key"),
    )
    op.create_index("ix_mail_outbox_case_id", "mail_outbox", ["case_id"])
    op.create_index("ix_mail_outbox_due", "mail_outbox", ["sent_at", "next_attempt_at"])

    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "engineer_id",
            sa.Integer(),
            sa.ForeignKey("engineers.engineer_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_console_sessions_engineer_id", "console_sessions", ["engineer_id"])


def downgrade() -> None:
    op.drop_table("console_sessions")
    op.drop_table("mail_outbox")
    op.drop_table("update_requests")
    op.drop_table("case_escalations")
    op.drop_table("case_attachments")
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.drop_column("author_kind")
        batch_op.drop_column("visibility")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_assignee")
        for column in (
            "breach_noticed_at",
            "deadline_warned_at",
            "first_response_by",
            "first_response_at",
            "assignee",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("engineers", schema=None) as batch_op:
        batch_op.drop_column("is_manager")
        batch_op.drop_column("password_hash")
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_column("sales_manager_email")
        batch_op.drop_column("manager_email")
