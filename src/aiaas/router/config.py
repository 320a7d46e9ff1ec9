"""Router settings (mounted as ``Settings.router``; env ``AIAAS_ROUTER__COST_WEIGHT`` ...)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

# Hybrid intent models: where the sparse scorer's calibrated confidence reaches this, its answer
# stands and the sentence encoder is not run. Chosen on a validation part of BANKING77's train
# split: 0.9 lets about three messages in four skip the encoder for 0.1 point of accuracy
# (eval/README.md)
DEFAULT_SKIP_ENCODER_CONFIDENCE = 0.9


class RouterSettings(BaseModel):
    """How the router picks workflows and model tiers and how it learns from outcomes."""

    model_config = {"extra": "forbid"}

    default_workflow: str = Field(
        "customer_support", description="Workflow for messages no intent mapping claims"
    )
    fallback_workflow: str = Field(
        "human", description="Workflow for out-of-scope messages (a human agent by default)"
    )
    cost_weight: float = Field(
        0.2,
        ge=0,
        le=100,
        description="Default lambda: reward lost per US cent of model cost (tenants may override)",
    )
    exploration_alpha: float = Field(
        0.5, ge=0, le=10, description="Width of the LinUCB confidence bonus"
    )
    max_exploration_share: float = Field(
        0.1, ge=0, le=1, description="Largest share of decisions that may explore"
    )
    warmup_feedback: int = Field(
        20, ge=0, description="Feedback a tenant needs before the policy leaves the safe tier"
    )
    safe_tier: str | None = Field(
        None, description="Tier used on cold start (default: the dearest tier of the catalog)"
    )
    early_exit_confidence: float = Field(
        0.85,
        ge=0,
        le=1.01,
        description="Knowledge retrieval confidence at which the knowledge base answers alone",
    )
    canary_min_feedback: int = Field(
        30, ge=1, description="Feedback both policies need before a canary is judged"
    )
    canary_margin: float = Field(
        0.05, ge=0, description="A canary this far below the incumbent's mean reward is rolled back"
    )
    state_cache_seconds: float = Field(
        2.0, gt=0, description="How long a replica trusts its in-process copy of a tenant's policy"
    )
    feature_cache_size: int = Field(4096, ge=16, description="Turns whose features are kept")
    reask_window_seconds: float = Field(
        300,
        gt=0,
        description="How soon after the customer's previous message a near-repeat is a re-ask",
    )
    reask_similarity: float = Field(
        0.6,
        ge=0,
        le=1,
        description="Jaccard similarity of the content words at which two messages are the same"
        " question (a re-ask: the answer before it did not help)",
    )
    intent_method: Literal["auto", "sparse", "hybrid"] = Field(
        "auto",
        description="Intent classifier to train: sparse (fast), hybrid (sentence embeddings), auto",
    )
    intent_skip_encoder_confidence: float = Field(
        DEFAULT_SKIP_ENCODER_CONFIDENCE,
        gt=0,
        le=1.01,
        description="Hybrid intent models: the sparse scorer's calibrated confidence at which its"
        " answer stands without the sentence encoder (above 1: encode every message)",
    )
