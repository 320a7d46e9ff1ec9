"""Router decisions: where their outcome came from, the measured cost of their turn, and an index to
find a conversation's decisions.

Revision ID: 0008_router_outcomes
Revises: 0007_merge_domains
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_router_outcomes"
down_revision = "0007_merge_domains"
branch_labels = None
depends_on = None

INDEX = "ix_router_decisions_tenant_id_conversation"


def upgrade() -> None:
    # router_decisions already has row-level security (0006); new columns are covered by it.
    op.add_column("router_decisions", sa.Column("outcome_source", sa.String(16), nullable=True))
    op.add_column("router_decisions", sa.Column("turn_cost_micros", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE router_decisions SET outcome_source = 'explicit' WHERE feedback_at IS NOT NULL"
    )
    op.create_index(
        INDEX, "router_decisions", ["tenant_id", "conversation_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="router_decisions")
    with op.batch_alter_table("router_decisions") as batch:
        batch.drop_column("turn_cost_micros")
        batch.drop_column("outcome_source")
