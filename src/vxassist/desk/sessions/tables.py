"""The broker's tables: each host's relay port and key, and the sessions themselves.

Kept beside the desk's own tables (same ``Base``); the migration
``0002_remote_sessions`` creates them, ``0003_session_extensions`` the extensions,
``0007_relay_placement`` the relay a host is on and the engineer CA it trusts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vxassist.desk.models import Base, UTCDateTime


class AgentRelay(Base):
    """A host's place on the relay: its own loopback port and the key that may listen there."""

    __tablename__ = "agent_relays"

    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.agent_id"), primary_key=True)
    listen_port: Mapped[int] = mapped_column(Integer, unique=True)
    #: the host key, normalized to ``TYPE BASE64`` (what sshd hands relay-keys)
    host_key: Mapped[str] = mapped_column(Text, index=True)
    host_certificate: Mapped[str] = mapped_column(Text)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: the relay the host is placed on (``[[relays]]`` name); None: the first one
    relay: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    #: fingerprint of the user CA the host was told to trust; None: the original CA
    user_ca: Mapped[str | None] = mapped_column(String(100), nullable=True)


class RemoteSession(Base):
    """One engineer's request for one case, and what became of it."""

    __tablename__ = "remote_sessions"

    session_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.agent_id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    case_number: Mapped[int] = mapped_column(Integer)
    engineer: Mapped[str] = mapped_column(String(100), index=True)
    scopes: Mapped[Any] = mapped_column(JSON)
    minutes: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    #: the engineer's session key, ``TYPE BASE64`` (what sshd hands relay-keys)
    public_key: Mapped[str] = mapped_column(Text, index=True)
    key_fingerprint: Mapped[str] = mapped_column(String(100))
    verification_code: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    certificate: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    revoked_by: Mapped[str] = mapped_column(String(100), default="")
    end_reason: Mapped[str] = mapped_column(Text, default="")
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    summary: Mapped[Any | None] = mapped_column(JSON, nullable=True)


class SessionExtension(Base):
    """One request for more minutes on a session, and the customer's answer."""

    __tablename__ = "session_extensions"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("remote_sessions.session_id"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.agent_id"), index=True)
    engineer: Mapped[str] = mapped_column(String(100))
    minutes: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    previous_not_after: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
