"""Conversations, messages, feedback, idempotent sends, channel settings and outbound deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aiaas.kit.clock import utcnow
from aiaas.kit.db import Base, IdMixin, TenantMixin, TimestampMixin

OPEN, WAITING, WITH_HUMAN, RESOLVED, CLOSED = (
    "open",
    "waiting_for_human",
    "with_human",
    "resolved",
    "closed",
)
STATUSES = (OPEN, WAITING, WITH_HUMAN, RESOLVED, CLOSED)
ROLES = ("customer", "assistant", "agent", "system")


class Conversation(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "chat_conversations"
    __table_args__ = (
        Index("ix_chat_conversations_tenant_id_status", "tenant_id", "status", "waiting_since"),
    )

    channel: Mapped[str] = mapped_column(String(32))
    end_user_id: Mapped[str] = mapped_column(String(200))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    status: Mapped[str] = mapped_column(String(32), default=OPEN)
    workflow: Mapped[str | None] = mapped_column(String(100), default=None)
    assigned_agent: Mapped[str | None] = mapped_column(String(200), default=None)
    waiting_since: Mapped[datetime | None] = mapped_column(default=None)
    handoff_reason: Mapped[str | None] = mapped_column(Text, default=None)
    last_message_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)


class Message(IdMixin, TenantMixin, Base):
    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_conversation", "conversation_id", "id"),)

    conversation_id: Mapped[UUID] = mapped_column(
        ForeignKey("chat_conversations.id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32), default="text")
    author: Mapped[str | None] = mapped_column(String(200), default=None)
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_micros: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Feedback(IdMixin, TenantMixin, Base):
    __tablename__ = "chat_feedback"

    conversation_id: Mapped[UUID] = mapped_column(
        ForeignKey("chat_conversations.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[UUID | None] = mapped_column(default=None)
    thumbs: Mapped[int | None] = mapped_column(Integer, default=None)
    csat: Mapped[int | None] = mapped_column(Integer, default=None)
    resolved: Mapped[bool | None] = mapped_column(default=None)
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotentSend(IdMixin, TenantMixin, Base):
    """One ``Idempotency-Key``: claimed before the turn runs, answered after; a retry reads it."""

    __tablename__ = "chat_idempotency"
    __table_args__ = (UniqueConstraint("tenant_id", "key", name="uq_chat_idempotency_key"),)

    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[UUID] = mapped_column(
        ForeignKey("chat_conversations.id", ondelete="CASCADE")
    )
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelSettings(IdMixin, TenantMixin, TimestampMixin, Base):
    """A tenant's channels: the public widget key and origins, inbound and outbound webhooks."""

    __tablename__ = "chat_channel_settings"
    __table_args__ = (UniqueConstraint("tenant_id", name="uq_chat_channel_settings_tenant"),)

    widget_key: Mapped[str] = mapped_column(String(64), unique=True)
    allowed_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    inbound_secret: Mapped[str] = mapped_column(String(128))
    outbound_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    outbound_secret: Mapped[str] = mapped_column(String(128))


class WebhookDelivery(IdMixin, TenantMixin, Base):
    """A reply sent to the tenant's outbound webhook; ``dead`` once its attempts are spent."""

    __tablename__ = "chat_webhook_deliveries"
    __table_args__ = (Index("ix_chat_webhook_deliveries_state", "status", "next_attempt_at"),)

    conversation_id: Mapped[UUID] = mapped_column(
        ForeignKey("chat_conversations.id", ondelete="CASCADE")
    )
    message_id: Mapped[UUID]
    url: Mapped[str] = mapped_column(String(2000))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
