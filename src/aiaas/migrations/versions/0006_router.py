"""Router: tenant routing settings, tier policy versions, decisions, intent examples and models.

Revision ID: 0006_router
Revises: 0002_events
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aiaas.kit.db import UTCDateTime
from aiaas.migrations.support import disable_tenant_rls, enable_tenant_rls

revision = "0006_router"
down_revision = "0002_events"
branch_labels = ("router",)
depends_on = None

TABLES = (
    "router_settings",
    "router_policies",
    "router_decisions",
    "router_intent_examples",
    "router_intent_models",
)


def _tenant() -> sa.Column:
    return sa.Column(
        "tenant_id",
        sa.Uuid(),
        sa.ForeignKey("tenants.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "router_settings",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _tenant(),
        sa.Column("cost_weight", sa.Float(), nullable=True),
        sa.Column("early_exit_confidence", sa.Float(), nullable=True),
        sa.Column("intent_workflows", sa.JSON(), nullable=False),
        *_timestamps(),
        sa.UniqueConstraint("tenant_id", name="uq_router_settings_tenant_id"),
    )
    op.create_table(
        "router_policies",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _tenant(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("traffic_share", sa.Float(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("decisions", sa.Integer(), nullable=False),
        sa.Column("feedback_count", sa.Integer(), nullable=False),
        sa.Column("reward_sum", sa.Float(), nullable=False),
        sa.Column("baseline_feedback", sa.Integer(), nullable=False),
        sa.Column("baseline_reward_sum", sa.Float(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("end_reason", sa.String(200), nullable=True),
        *_timestamps(),
        sa.UniqueConstraint("tenant_id", "version", name="uq_router_policies_tenant_id"),
    )
    op.create_table(
        "router_decisions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _tenant(),
        sa.Column(
            "policy_id",
            sa.Uuid(),
            sa.ForeignKey("router_policies.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("conversation_id", sa.String(64), nullable=True),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("workflow", sa.String(100), nullable=False),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("intent", sa.String(100), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("early_exit", sa.Boolean(), nullable=False),
        sa.Column("explored", sa.Boolean(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("vector", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("feedback_at", UTCDateTime(), nullable=True),
        sa.Column("quality", sa.Float(), nullable=True),
        sa.Column("reward", sa.Float(), nullable=True),
        sa.Column("cost_micros", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_router_decisions_tenant_id_tier", "router_decisions", ["tenant_id", "tier"])
    op.create_table(
        "router_intent_examples",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _tenant(),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "router_intent_models",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _tenant(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("examples", sa.Integer(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("artifact", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("trained_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("tenant_id", "version", name="uq_router_intent_models_tenant_id"),
    )
    for table in TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in TABLES:
        disable_tenant_rls(table)
    for table in reversed(TABLES):
        op.drop_table(table)
