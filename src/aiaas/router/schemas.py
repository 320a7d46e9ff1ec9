"""Request and response bodies of the router API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\- ]{0,99}$"
WORKFLOW_PATTERN = r"^[a-z][a-z0-9_-]{0,99}$"


class DecideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=16_000)
    conversation_id: str | None = Field(None, max_length=64)
    turn: int = Field(1, ge=1, le=10_000)
    customer_tier: str | None = Field(None, max_length=40)
    retrieval_confidence: float | None = Field(None, ge=0, le=1)


class DecisionOut(BaseModel):
    id: UUID
    workflow: str
    tier: str
    model: str | None
    confidence: float
    early_exit: bool
    explored: bool
    intent: str | None = None
    policy_version: int | None = None
    canary: bool = False
    features: dict[str, Any]
    reasons: list[str]


class DecisionRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    conversation_id: str | None
    turn: int
    workflow: str
    tier: str
    model: str | None
    intent: str | None
    confidence: float
    early_exit: bool
    explored: bool
    features: dict[str, Any]
    reasons: list[str]
    created_at: datetime
    feedback_at: datetime | None
    quality: float | None
    reward: float | None
    cost_micros: int | None = Field(description="The cost the reward was charged with")
    outcome_source: str | None = Field(
        description="Where the outcome came from: explicit (feedback) or implicit (inferred from"
        " the conversation); none before an outcome"
    )
    turn_cost_micros: int | None = Field(
        description="The measured cost of the turn this decision routed, once it completed"
    )


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision_id: UUID
    rating: float | None = Field(None, ge=0, le=1, description="0 thumbs down .. 1 thumbs up")
    resolved: bool | None = Field(None, description="The customer's problem was solved")
    handoff: bool | None = Field(None, description="The conversation went to a human")
    reask: bool | None = Field(None, description="The customer asked the same thing again")
    cost_micros: int | None = Field(None, ge=0, description="Actual cost; else from tokens")
    input_tokens: int | None = Field(None, ge=0)
    output_tokens: int | None = Field(None, ge=0)


class FeedbackOut(BaseModel):
    decision_id: UUID
    tier: str
    quality: float
    reward: float
    cost_micros: int
    policy_events: list[str]


class TierStats(BaseModel):
    tier: str
    decisions: int
    share: float
    feedback: int
    explored: int
    early_exits: int
    mean_reward: float | None
    mean_quality: float | None
    cost_micros: int


class PolicyStats(BaseModel):
    id: UUID
    version: int
    status: str
    traffic_share: float
    feedback: int
    mean_reward: float | None


class StatsOut(BaseModel):
    decisions: int
    tiers: list[TierStats]
    policies: list[PolicyStats]


class SettingsOut(BaseModel):
    cost_weight: float = Field(description="Lambda: reward lost per US cent of model cost")
    early_exit_confidence: float
    intent_workflows: dict[str, str]
    tiers: list[str] = Field(description="Tiers the policy chooses among, cheapest first")
    safe_tier: str


class SettingsIn(BaseModel):
    """Fields to change; an explicit ``null`` returns a field to the platform default."""

    model_config = ConfigDict(extra="forbid")

    cost_weight: float | None = Field(None, ge=0, le=100)
    early_exit_confidence: float | None = Field(None, ge=0, le=1.01)
    intent_workflows: dict[str, str] | None = Field(None, max_length=500)

    @field_validator("intent_workflows")
    @classmethod
    def _names(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for label, workflow in (value or {}).items():
            if not re.match(LABEL_PATTERN, label):
                raise ValueError(f"intent {label!r} is not a valid label")
            if not re.match(WORKFLOW_PATTERN, workflow):
                raise ValueError(f"workflow {workflow!r} is not a valid workflow name")
        return value


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    traffic_share: float = Field(0.1, gt=0, lt=1, description="Share of conversations it serves")
    exploration_alpha: float | None = Field(None, ge=0, le=10)
    max_exploration_share: float | None = Field(None, ge=0, le=1)
    warmup_feedback: int | None = Field(None, ge=0, le=100_000)
    allowed_tiers: list[str] | None = Field(None, min_length=1, max_length=20)
    safe_tier: str | None = None


class PolicyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    version: int
    status: str
    params: dict[str, Any]
    traffic_share: float
    feedback_count: int
    reward_sum: float
    created_at: datetime
    ended_at: datetime | None
    end_reason: str | None


class PolicyList(BaseModel):
    items: list[PolicyOut]


class ExampleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=2_000)
    label: str = Field(pattern=LABEL_PATTERN)


class ExamplesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    examples: list[ExampleIn] = Field(min_length=1, max_length=50_000)
    replace: bool = Field(False, description="Replace the stored set instead of adding to it")


class ExamplesOut(BaseModel):
    total: int
    labels: dict[str, int]


class IntentModelOut(BaseModel):
    id: UUID
    version: int
    status: str
    progress: float
    stage: str | None = None
    active: bool
    examples: int
    labels: list[str]
    metrics: dict[str, Any]
    error: str | None
    created_at: datetime
    trained_at: datetime | None


class IntentModelList(BaseModel):
    items: list[IntentModelOut]
    next_cursor: str | None = None
