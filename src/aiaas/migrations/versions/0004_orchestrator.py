"""Orchestrator and tools: tenant workflows and versions, runs, node runs, tool manifests; on
PostgreSQL also the LangGraph checkpointer's tables (the app role may not create tables).

Revision ID: 0004_orchestrator
Revises: 0002_events
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aiaas.kit.db import UTCDateTime
from aiaas.migrations.support import disable_tenant_rls, enable_tenant_rls, is_postgres

revision = "0004_orchestrator"
down_revision = "0002_events"
branch_labels = ("orchestrator",)
depends_on = None

TABLES = ("workflows", "workflow_versions", "workflow_runs", "workflow_node_runs", "tool_manifests")
CHECKPOINT_TABLES = (
    "checkpoint_writes",
    "checkpoint_blobs",
    "checkpoints",
    "checkpoint_migrations",
)


def _id() -> sa.Column:
    return sa.Column("id", sa.Uuid(), primary_key=True)


def _tenant() -> sa.Column:
    return sa.Column(
        "tenant_id",
        sa.Uuid(),
        sa.ForeignKey("tenants.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


def _usage() -> list[sa.Column]:
    return [
        sa.Column("llm_calls", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_micros", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "workflows",
        _id(),
        _tenant(),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("active_revision", sa.Integer(), nullable=True),
        sa.Column("latest_revision", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("tenant_id", "name"),
    )
    op.create_table(
        "workflow_versions",
        _id(),
        _tenant(),
        sa.Column(
            "workflow_id",
            sa.Uuid(),
            sa.ForeignKey("workflows.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.UniqueConstraint("workflow_id", "revision"),
    )
    op.create_table(
        "workflow_runs",
        _id(),
        _tenant(),
        sa.Column("conversation_id", sa.String(128), nullable=False, index=True),
        sa.Column("workflow", sa.String(64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(24), nullable=False, index=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("tool_calls", sa.Integer(), nullable=False),
        *_usage(),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("handoff", sa.JSON(), nullable=True),
        sa.Column("replies", sa.JSON(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
    )
    op.create_index(
        "ix_workflow_runs_tenant_id_conversation", "workflow_runs", ["tenant_id", "conversation_id"]
    )
    op.create_table(
        "workflow_node_runs",
        _id(),
        _tenant(),
        sa.Column(
            "run_id",
            sa.Uuid(),
            sa.ForeignKey("workflow_runs.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("workflow", sa.String(64), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        *_usage(),
        sa.Column("error", sa.JSON(), nullable=True),
    )
    op.create_table(
        "tool_manifests",
        _id(),
        _tenant(),
        sa.Column("name", sa.String(64), nullable=False, index=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.UniqueConstraint("tenant_id", "name", "version"),
    )
    for table in TABLES:
        enable_tenant_rls(table)
    if is_postgres():
        _create_checkpoint_tables()


def _create_checkpoint_tables() -> None:
    """LangGraph's PostgreSQL checkpointer schema, created here by the owner.

    The app role cannot create tables, so ``AsyncPostgresSaver.setup()`` never runs at start-up;
    the same statements run here (indexes without CONCURRENTLY: the tables are new) and their
    versions are recorded so the library sees its schema as current. Threads are keyed by
    ``<tenant>:<conversation>:<workflow>``; the tables hold no ``tenant_id`` column.
    """
    from langgraph.checkpoint.postgres.base import BasePostgresSaver

    for statement in BasePostgresSaver.MIGRATIONS:
        op.execute(statement.replace(" CONCURRENTLY", ""))
    versions = ", ".join(f"({v})" for v in range(len(BasePostgresSaver.MIGRATIONS)))
    # Only integers from range() are interpolated.
    op.execute(
        f"INSERT INTO checkpoint_migrations (v) VALUES {versions} ON CONFLICT DO NOTHING"  # nosec B608
    )


def downgrade() -> None:
    if is_postgres():
        for table in CHECKPOINT_TABLES:
            op.execute(f'DROP TABLE IF EXISTS "{table}"')
    for table in TABLES:
        disable_tenant_rls(table)
    for table in reversed(TABLES):
        op.drop_table(table)
