"""The reward, the exploration budget and the canary verdict: small pure rules the service applies."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, Field

MICROS_PER_CENT = 10_000

QUALITY_WEIGHTS = {"rating": 0.5, "resolved": 0.3, "no_reask": 0.2}


class PolicyParams(BaseModel):
    """The knobs of one policy version (a canary differs from the incumbent in these)."""

    model_config = {"extra": "forbid"}

    exploration_alpha: float | None = Field(None, ge=0, le=10)
    max_exploration_share: float | None = Field(None, ge=0, le=1)
    warmup_feedback: int | None = Field(None, ge=0, le=100_000)
    allowed_tiers: list[str] | None = Field(
        None, min_length=1, description="Tiers this version may choose (default: all)"
    )
    safe_tier: str | None = None


class PolicyStatus(StrEnum):
    ACTIVE = "active"
    CANARY = "canary"
    RETIRED = "retired"
    ROLLED_BACK = "rolled_back"


class Verdict(StrEnum):
    CONTINUE = "continue"
    PROMOTE = "promote"
    ROLL_BACK = "roll_back"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened after a decision. ``None`` means not known."""

    rating: float | None = None
    """The customer's rating in [0, 1] (thumbs down 0, thumbs up 1)."""
    resolved: bool | None = None
    handoff: bool | None = None
    reask: bool | None = None


def quality(outcome: Outcome) -> float | None:
    """Weighted quality in [0, 1] over the signals that are known; ``None`` when none is."""
    parts: list[tuple[float, float]] = []
    if outcome.rating is not None:
        parts.append((QUALITY_WEIGHTS["rating"], outcome.rating))
    if outcome.resolved is not None or outcome.handoff is not None:
        resolved = bool(outcome.resolved) if outcome.resolved is not None else True
        parts.append(
            (QUALITY_WEIGHTS["resolved"], 1.0 if resolved and not outcome.handoff else 0.0)
        )
    if outcome.reask is not None:
        parts.append((QUALITY_WEIGHTS["no_reask"], 0.0 if outcome.reask else 1.0))
    if not parts:
        return None
    total = sum(w for w, _ in parts)
    return sum(w * v for w, v in parts) / total


def reward(quality_value: float, cost_micros: int, cost_weight: float) -> float:
    """Quality minus lambda x cost, with cost counted in US cents."""
    return quality_value - cost_weight * cost_micros / MICROS_PER_CENT


def in_canary(key: str, share: float) -> bool:
    """A stable coin: the same conversation lands on the same side of the canary split."""
    if share <= 0:
        return False
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def exploration_allowed(explored: int, decisions: int, max_share: float) -> bool:
    """Whether one more exploring decision keeps explored/decisions within ``max_share``."""
    return explored + 1 <= max_share * decisions


@dataclass(frozen=True, slots=True)
class ArmStats:
    feedback: int
    reward_sum: float

    @property
    def mean(self) -> float:
        return self.reward_sum / self.feedback if self.feedback else 0.0


def judge_canary(
    incumbent: ArmStats, canary: ArmStats, *, min_feedback: int, margin: float
) -> Verdict:
    """Roll the canary back when it trails the incumbent by more than ``margin``; promote it once it
    has four times the minimum evidence and does at least as well; otherwise wait."""
    if incumbent.feedback < min_feedback or canary.feedback < min_feedback:
        return Verdict.CONTINUE
    if canary.mean < incumbent.mean - margin:
        return Verdict.ROLL_BACK
    if canary.feedback >= 4 * min_feedback and canary.mean >= incumbent.mean:
        return Verdict.PROMOTE
    return Verdict.CONTINUE
