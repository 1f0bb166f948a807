"""several relays and CA rotation: which relay a host is placed on, and which
engineer CA it was told to trust

``agent_relays.relay`` names the relay (``[[relays]]`` ``name`` in desk.toml);
NULL, for hosts placed before this revision, means the first relay configured.
``agent_relays.user_ca`` is the SHA256 fingerprint of the user CA key the host
received at enrollment; NULL means the CA of before any rotation.

Revision ID: 0007_relay_placement
Revises: 0006_service_platform
Create Date: 2026-12-04 05:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_relay_placement"
down_revision = "0006_service_platform"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agent_relays", schema=None) as batch_op:
        batch_op.add_column(sa.Column("relay", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("user_ca", sa.String(100), nullable=True))
        batch_op.create_index("ix_agent_relays_relay", ["relay"])


def downgrade() -> None:
    with op.batch_alter_table("agent_relays", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_relays_relay")
        batch_op.drop_column("user_ca")
        batch_op.drop_column("relay")
