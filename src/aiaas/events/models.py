"""Tables of the events backbone. All are tenant-owned (row-level security on PostgreSQL)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aiaas.kit.clock import utcnow
from aiaas.kit.db import Base, IdMixin, TenantMixin


class OutboxEvent(TenantMixin, Base):
    """An event written in the same transaction as the change it describes, waiting for the relay.

    ``published_at`` is set only while the in-process bus still holds the event (see ``relay``).
    """

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_tenant_id_id", "tenant_id", "id"),)

    id: Mapped[UUID] = mapped_column(primary_key=True)  # = the event id
    type: Mapped[str] = mapped_column(String(128))
    envelope: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    published_at: Mapped[datetime | None] = mapped_column(default=None)


class InboxEntry(TenantMixin, Base):
    """One event a consumer has handled: a redelivery finds it and has no second effect."""

    __tablename__ = "inbox_entries"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[UUID] = mapped_column(primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class DeadLetter(IdMixin, TenantMixin, Base):
    """An event a consumer gave up on after bounded retries (also on ``<ns>.dlq.<consumer>``)."""

    __tablename__ = "dead_letters"
    __table_args__ = (UniqueConstraint("consumer", "event_id"),)

    consumer: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[UUID]
    type: Mapped[str] = mapped_column(String(128))
    envelope: Mapped[dict[str, Any]]
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditLogEntry(IdMixin, TenantMixin, Base):
    """Who did what to which object, when, in which request. Append-only."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_tenant_id_occurred_at", "tenant_id", "occurred_at"),
        Index("ix_audit_log_tenant_id_action", "tenant_id", "action"),
        Index("ix_audit_log_tenant_id_actor_id", "tenant_id", "actor_id"),
        Index("ix_audit_log_tenant_id_object", "tenant_id", "object_type", "object_id"),
    )

    event_id: Mapped[UUID] = mapped_column(unique=True)
    occurred_at: Mapped[datetime]
    actor_type: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str | None] = mapped_column(String(128))
    actor_display: Mapped[str | None] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(128))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(128))
    request_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]]
