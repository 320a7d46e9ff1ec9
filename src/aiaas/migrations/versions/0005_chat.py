"""Chat: conversations, messages, feedback, idempotent sends, channel settings, webhook deliveries.

Revision ID: 0005_chat
Revises: 0002_events
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aiaas.kit.db import UTCDateTime
from aiaas.migrations.support import disable_tenant_rls, enable_tenant_rls

revision = "0005_chat"
down_revision = "0002_events"
branch_labels = ("chat",)
depends_on = None

TABLES = (
    "chat_conversations",
    "chat_messages",
    "chat_feedback",
    "chat_idempotency",
    "chat_channel_settings",
    "chat_webhook_deliveries",
)


def _tenant() -> sa.Column:
    return sa.Column(
        "tenant_id",
        sa.Uuid(),
        sa.ForeignKey("tenants.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


def _conversation(index: bool = False) -> sa.Column:
    return sa.Column(
        "conversation_id",
        sa.Uuid(),
        sa.ForeignKey("chat_conversations.id", ondelete="CASCADE"),
        nullable=False,
        index=index,
    )


def upgrade() -> None:
    op.create_table(
        "chat_conversations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _tenant(),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("end_user_id", sa.String(200), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("workflow", sa.String(100), nullable=True),
        sa.Column("assigned_agent", sa.String(200), nullable=True),
        sa.Column("waiting_since", UTCDateTime(), nullable=True),
        sa.Column("handoff_reason", sa.Text(), nullable=True),
        sa.Column("last_message_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_chat_conversations_tenant_id_status",
        "chat_conversations",
        ["tenant_id", "status", "waiting_since"],
    )
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _tenant(),
        _conversation(),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("author", sa.String(200), nullable=True),
        sa.Column("citations", sa.JSON(), nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_micros", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_chat_messages_conversation", "chat_messages", ["conversation_id", "id"])
    op.create_table(
        "chat_feedback",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _tenant(),
        _conversation(index=True),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("thumbs", sa.Integer(), nullable=True),
        sa.Column("csat", sa.Integer(), nullable=True),
        sa.Column("resolved", sa.Boolean(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "chat_idempotency",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _tenant(),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        _conversation(),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("tenant_id", "key", name="uq_chat_idempotency_key"),
    )
    op.create_table(
        "chat_channel_settings",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _tenant(),
        sa.Column("widget_key", sa.String(64), nullable=False, unique=True),
        sa.Column("allowed_origins", sa.JSON(), nullable=False),
        sa.Column("inbound_secret", sa.String(128), nullable=False),
        sa.Column("outbound_url", sa.String(2000), nullable=True),
        sa.Column("outbound_secret", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("tenant_id", name="uq_chat_channel_settings_tenant"),
    )
    op.create_table(
        "chat_webhook_deliveries",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _tenant(),
        _conversation(),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
    )
    op.create_index(
        "ix_chat_webhook_deliveries_state",
        "chat_webhook_deliveries",
        ["status", "next_attempt_at"],
    )
    for table in TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in TABLES:
        disable_tenant_rls(table)
    for table in reversed(TABLES):
        op.drop_table(table)
