"""The desk's tables (SQLAlchemy 2). Migrations in ``migrations/`` follow this file.

Times are stored in UTC; ``UTCDateTime`` hands them back timezone-aware on
SQLite (which keeps no zone) as on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import false, text
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime in, an aware UTC datetime out, on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the desk stores aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Contract(Base):
    """A customer's maintenance contract."""

    __tablename__ = "contracts"

    contract_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    company: Mapped[str] = mapped_column(String(200))
    expires: Mapped[date] = mapped_column(Date)
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_phone: Mapped[str] = mapped_column(String(64))
    contact_email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: whom an escalation briefs for this customer (else the desk-wide default)
    manager_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    sales_manager_email: Mapped[str | None] = mapped_column(String(254), nullable=True)


class EnrollmentCode(Base):
    """A one-time code that lets one host join a contract (stored hashed)."""

    __tablename__ = "enrollment_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.contract_id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    used_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Agent(Base):
    """An enrolled host; its bearer token is stored as a sha256 hash."""

    __tablename__ = "agents"

    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.contract_id"), index=True)
    hostname: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    host_public_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Engineer(Base):
    """A support engineer; the token is shown once and stored as a sha256 hash."""

    __tablename__ = "engineers"

    engineer_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: scrypt hash for the web console; no console sign-in until one is set
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: managers also edit contracts and engineers in the console
    is_manager: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Counter(Base):
    """Named counters (the case number), bumped with a row-locking UPDATE."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class Case(Base):
    """One issue from one host. ``case_number`` only under an active contract."""

    __tablename__ = "cases"
    __table_args__ = (
        #: the console's queue order: it walks this index and stops after one page
        Index("ix_cases_queue", "response_due", "priority", "id"),
        #: the cases whose engineers' notice the mail sender still owes (few, and short-lived)
        Index(
            "ix_cases_notice_owed",
            "id",
            sqlite_where=text("new_notice_at IS NULL"),
            postgresql_where=text("new_notice_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_number: Mapped[int | None] = mapped_column(Integer, unique=True, nullable=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.agent_id"), index=True)
    contract_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: the first case of the request this one was split from (itself if first)
    group_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    priority: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    response_due: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    message: Mapped[str] = mapped_column(Text)

    company: Mapped[str] = mapped_column(String(200))
    install_type: Mapped[str] = mapped_column(String(200))
    location: Mapped[str] = mapped_column(String(200))
    database_type: Mapped[str] = mapped_column(String(200))
    vxtracker_server: Mapped[str] = mapped_column(String(200))
    pbx_manufacturer: Mapped[str] = mapped_column(String(200))
    pbx_model: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_phone: Mapped[str] = mapped_column(String(64))
    contact_email: Mapped[str] = mapped_column(String(254))
    brief: Mapped[str] = mapped_column(String(200))
    details: Mapped[str] = mapped_column(Text)
    steps_taken: Mapped[str] = mapped_column(Text)
    continues_case: Mapped[int | None] = mapped_column(Integer, nullable=True)
    third_party_app: Mapped[str | None] = mapped_column(String(200), nullable=True)
    third_party_version: Mapped[str | None] = mapped_column(String(100), nullable=True)
    system_report: Mapped[Any | None] = mapped_column(JSON, nullable=True)

    escalated_to: Mapped[str | None] = mapped_column(String(64), nullable=True)
    escalation_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    #: the engineer working the case (a name: engineers can be removed, the case stays)
    assignee: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    #: the first engineer response (a reply or a logged call), against ``response_due``
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_response_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    #: when the desk told engineers the deadline was near, and that it was missed
    deadline_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    breach_noticed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: when the engineers' "new case" notice was written, or found not owed (no case
    #: number, notifications off); NULL while the mail sender owes it
    new_notice_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CaseEvent(Base):
    """The history of a case: received, updates, escalation, status changes.

    A ``report`` event keeps the system report a host attached to an update.
    """

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    author: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    system_report: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    #: 'customer' (the host sees it) or 'internal' (engineers' notes)
    visibility: Mapped[str] = mapped_column(
        String(16), default="customer", server_default="customer"
    )
    #: who wrote it: 'host', 'engineer' or 'desk'
    author_kind: Mapped[str] = mapped_column(String(16), default="desk", server_default="desk")


class CaseAttachment(Base):
    """A file that came with a case event (a log, a report), scrubbed and size-capped."""

    __tablename__ = "case_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("case_events.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CaseEscalation(Base):
    """An escalation to a manager; open until an engineer closes it."""

    __tablename__ = "case_escalations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: 'host' (the customer asked), 'engineer' or 'desk' (a breach, as configured)
    by_kind: Mapped[str] = mapped_column(String(16))
    by_name: Mapped[str] = mapped_column(String(255))
    #: 'manager' (Manager of Technical Support) or 'sales' (the local Sales Manager)
    level: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(254))
    reason: Mapped[str] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


class UpdateRequest(Base):
    """A customer's request for a patch or a version upgrade, and the answer."""

    __tablename__ = "update_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.agent_id"), index=True)
    contract_id: Mapped[str] = mapped_column(String(64), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    #: 'patch' or 'upgrade'
    kind: Mapped[str] = mapped_column(String(16))
    product_version: Mapped[str] = mapped_column(String(100))
    target_version: Mapped[str | None] = mapped_column(String(100), nullable=True)
    description: Mapped[str] = mapped_column(Text)
    requester_name: Mapped[str] = mapped_column(String(200))
    requester_email: Mapped[str] = mapped_column(String(254))
    #: 'requested', 'refused' (with ``reason``), 'answered', 'closed'
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    download_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    answered_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MailOutbox(Base):
    """An e-mail the desk owes someone, written in the transaction that caused it.

    ``key`` makes each notification once (the cause and the recipient); the sender
    marks ``sent_at`` after the SMTP server took it, and backs off on failure.
    """

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_due", "sent_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    to_addr: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    #: no index: nothing looks a mail up by its case (migration 0010)
    case_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class ConsoleSession(Base):
    """An engineer signed in to the web console (the cookie's token, hashed).

    Deleted with the engineer: a removed engineer loses the console at once.
    """

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    engineer_id: Mapped[int] = mapped_column(
        ForeignKey("engineers.engineer_id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdempotencyRecord(Base):
    """The first answer to a host's request under an ``Idempotency-Key``."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("agent_id", "key", name="uq_idempotency_keys_agent_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.agent_id"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


def table(model: type[Base]) -> Table:
    """The Core table of a model, for the hot paths that skip the ORM."""
    return cast(Table, model.__table__)


class KbArticle(Base):
    """A knowledge-base article: Markdown written by engineers, readable by anyone.

    The full-text index lives beside it, kept by the database itself (migration
    0005): an FTS5 table with triggers on SQLite, a generated ``tsvector`` column
    with a GIN index on PostgreSQL (not mapped here: only searches read it).
    """

    __tablename__ = "kb_articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON)
    versions: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
