"""Events backbone: outbox, consumer inbox, dead letters, append-only audit log.

Revision ID: 0002_events
Revises: 0001_tenancy
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aiaas.kit.db import UTCDateTime
from aiaas.migrations.support import app_role, disable_tenant_rls, enable_tenant_rls, is_postgres

revision = "0002_events"
down_revision = "0001_tenancy"
branch_labels = None
depends_on = None

TABLES = ("outbox_events", "inbox_entries", "dead_letters", "audit_log")


def _tenant() -> sa.Column:
    return sa.Column(
        "tenant_id",
        sa.Uuid(),
        sa.ForeignKey("tenants.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


def upgrade() -> None:
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _tenant(),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_outbox_events_tenant_id_id", "outbox_events", ["tenant_id", "id"])
    op.create_table(
        "inbox_entries",
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.Uuid(), primary_key=True),
        _tenant(),
        sa.Column("processed_at", UTCDateTime(), nullable=False, index=True),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _tenant(),
        sa.Column("consumer", sa.String(64), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("consumer", "event_id"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _tenant(),
        sa.Column("event_id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("actor_type", sa.String(32), nullable=False),
        sa.Column("actor_id", sa.String(128), nullable=True),
        sa.Column("actor_display", sa.String(320), nullable=True),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("object_type", sa.String(64), nullable=False),
        sa.Column("object_id", sa.String(128), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_log_tenant_id_occurred_at", "audit_log", ["tenant_id", "occurred_at"])
    op.create_index("ix_audit_log_tenant_id_action", "audit_log", ["tenant_id", "action"])
    op.create_index("ix_audit_log_tenant_id_actor_id", "audit_log", ["tenant_id", "actor_id"])
    op.create_index(
        "ix_audit_log_tenant_id_object", "audit_log", ["tenant_id", "object_type", "object_id"]
    )
    for table in TABLES:
        enable_tenant_rls(table)
    if is_postgres():
        # Append-only for the app: it may read and add audit entries, never change or remove them.
        op.execute(f'REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM "{app_role()}"')


def downgrade() -> None:
    for table in TABLES:
        disable_tenant_rls(table)
    for table in reversed(TABLES):
        op.drop_table(table)
