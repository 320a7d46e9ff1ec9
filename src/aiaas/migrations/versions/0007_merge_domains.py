"""Join the domain branches (ingestion, orchestrator, chat, router) into one head.

Revision ID: 0007_merge_domains
Revises: 0003_ingestion, 0004_orchestrator, 0005_chat, 0006_router
Create Date: 2026-11-27
"""

from __future__ import annotations

revision = "0007_merge_domains"
down_revision = ("0003_ingestion", "0004_orchestrator", "0005_chat", "0006_router")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: this revision only joins the branches."""


def downgrade() -> None:
    """Nothing to change: this revision only joins the branches."""
