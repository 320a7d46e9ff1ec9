"""Router tables, all tenant-owned: settings, policy versions, decisions, intent examples and models."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from aiaas.kit.clock import utcnow
from aiaas.kit.db import Base, IdMixin, TenantMixin, TimestampMixin


class RouterTenantSettings(IdMixin, TimestampMixin, TenantMixin, Base):
    """A tenant's routing choices; no row means the platform defaults."""

    __tablename__ = "router_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    cost_weight: Mapped[float | None] = mapped_column(Float, default=None)
    early_exit_confidence: Mapped[float | None] = mapped_column(Float, default=None)
    intent_workflows: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RouterPolicy(IdMixin, TimestampMixin, TenantMixin, Base):
    """One version of a tenant's tier policy, with its learned state and its reward so far."""

    __tablename__ = "router_policies"
    __table_args__ = (UniqueConstraint("tenant_id", "version"),)

    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    traffic_share: Mapped[float] = mapped_column(Float, default=1.0)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    decisions: Mapped[int] = mapped_column(Integer, default=0)
    feedback_count: Mapped[int] = mapped_column(Integer, default=0)
    reward_sum: Mapped[float] = mapped_column(Float, default=0.0)
    baseline_feedback: Mapped[int] = mapped_column(Integer, default=0)
    baseline_reward_sum: Mapped[float] = mapped_column(Float, default=0.0)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    end_reason: Mapped[str | None] = mapped_column(String(200), default=None)


OUTCOME_EXPLICIT, OUTCOME_IMPLICIT = "explicit", "implicit"


class RouterDecision(IdMixin, TenantMixin, Base):
    """A routing decision and, once known, its outcome."""

    __tablename__ = "router_decisions"
    __table_args__ = (
        Index("ix_router_decisions_tenant_id_tier", "tenant_id", "tier"),
        Index(
            "ix_router_decisions_tenant_id_conversation",
            "tenant_id",
            "conversation_id",
            "created_at",
        ),
    )

    policy_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("router_policies.id", ondelete="SET NULL"), default=None
    )
    conversation_id: Mapped[str | None] = mapped_column(String(64), default=None)
    turn: Mapped[int] = mapped_column(Integer, default=1)
    workflow: Mapped[str] = mapped_column(String(100))
    tier: Mapped[str] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    intent: Mapped[str | None] = mapped_column(String(100), default=None)
    confidence: Mapped[float] = mapped_column(Float)
    early_exit: Mapped[bool] = mapped_column(Boolean, default=False)
    explored: Mapped[bool] = mapped_column(Boolean, default=False)
    features: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    vector: Mapped[list[float]] = mapped_column(JSON, default=list)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    feedback_at: Mapped[datetime | None] = mapped_column(default=None)
    quality: Mapped[float | None] = mapped_column(Float, default=None)
    reward: Mapped[float | None] = mapped_column(Float, default=None)
    cost_micros: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """The cost the reward was charged with."""
    outcome_source: Mapped[str | None] = mapped_column(String(16), default=None)
    """``explicit`` (customer or caller feedback) or ``implicit`` (inferred from the conversation)."""
    turn_cost_micros: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """The measured cost of the turn this decision routed, once the turn completed."""


class IntentExample(IdMixin, TenantMixin, Base):
    """A labelled message a tenant uploaded to train its intent classifier."""

    __tablename__ = "router_intent_examples"

    text: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IntentModelVersion(IdMixin, TenantMixin, Base):
    """One trained (or training) intent classifier of a tenant; at most one is active."""

    __tablename__ = "router_intent_models"
    __table_args__ = (UniqueConstraint("tenant_id", "version"),)

    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    examples: Mapped[int] = mapped_column(Integer, default=0)
    labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    artifact: Mapped[bytes | None] = mapped_column(LargeBinary, default=None, deferred=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    trained_at: Mapped[datetime | None] = mapped_column(default=None)
