"""Event types of the router: decisions and their outcomes (analytics shows routing and savings from
these), policy versions, and intent training."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from aiaas.events.catalog import event


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


@event("router.decision.made", 1, "The router chose a workflow and a model tier for a turn")
class DecisionMade(_Payload):
    decision_id: UUID
    conversation_id: str | None = None
    turn: int
    workflow: str
    tier: str
    model: str
    intent: str | None = None
    confidence: float
    early_exit: bool
    explored: bool
    policy_version: int | None = None
    canary: bool = False
    reasons: list[str] = Field(default_factory=list)


@event("router.feedback.received", 1, "The outcome of a routing decision arrived")
class FeedbackReceived(_Payload):
    decision_id: UUID
    tier: str
    quality: float
    reward: float
    cost_micros: int = Field(ge=0)
    cost_weight: float


@event(
    "router.reward.revised",
    1,
    "A decision's reward was re-scored: explicit feedback replaced an inferred outcome, or the turn's"
    " measured cost arrived after the outcome",
)
class RewardRevised(_Payload):
    decision_id: UUID
    tier: str
    source: str = Field(description="explicit or implicit: where the outcome now comes from")
    reason: str = Field(description="explicit_feedback or turn_cost")
    quality: float
    reward: float
    previous_quality: float
    previous_reward: float
    cost_micros: int = Field(ge=0)
    cost_weight: float


@event("router.policy.created", 1, "A new tier policy version started as a canary")
class PolicyCreated(_Payload):
    policy_id: UUID
    version: int
    traffic_share: float
    params: dict[str, object]


@event("router.policy.promoted", 1, "A canary policy became the active one")
class PolicyPromoted(_Payload):
    policy_id: UUID
    version: int
    reason: str


@event("router.policy.rolled_back", 1, "A canary policy did worse than the incumbent and stopped")
class PolicyRolledBack(_Payload):
    policy_id: UUID
    version: int
    reason: str
    canary_mean_reward: float
    incumbent_mean_reward: float


@event("router.settings.updated", 1, "A tenant changed its routing settings")
class SettingsUpdated(_Payload):
    changed: list[str]


@event("router.intent_examples.uploaded", 1, "Labelled intent examples were added")
class IntentExamplesUploaded(_Payload):
    added: int
    replaced: bool


@event("router.intent_training.requested", 1, "Training of an intent classifier was requested")
class IntentTrainingRequested(_Payload):
    model_id: UUID
    version: int
    examples: int


@event("router.intent_model.trained", 1, "An intent classifier finished training")
class IntentModelTrained(_Payload):
    model_id: UUID
    version: int
    status: str
    error: str | None = None


@event("router.intent_model.activated", 1, "An intent classifier version became the active one")
class IntentModelActivated(_Payload):
    model_id: UUID
    version: int
