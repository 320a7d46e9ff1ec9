"""The tier policy on its own: convergence in a synthetic world, exploration bound, persistence."""

from __future__ import annotations

import random

import numpy as np
import pytest

from aiaas.router.bandit import LinUCB
from aiaas.router.features import DIMENSIONS, TurnInput, extract
from aiaas.router.policy import exploration_allowed, reward
from tests.router.support import EASY, HARD, SyntheticWorld

ARMS = ["small", "medium", "large"]
COST_WEIGHT = 0.5
WORLD = SyntheticWorld(
    success={
        "small": {"easy": 0.95, "hard": 0.30},
        "medium": {"easy": 0.90, "hard": 0.80},
        "large": {"easy": 0.97, "hard": 0.93},
    },
    cost_micros={"small": 400, "medium": 1_100, "large": 7_000},
)


def _vector(message: str) -> np.ndarray:
    return extract(TurnInput(message), intent=None, recent_quality={}).vector


def _expected(tier: str, hard: bool) -> float:
    p = WORLD.success[tier]["hard" if hard else "easy"]
    return reward(p, WORLD.cost_micros[tier], COST_WEIGHT)


def _run(steps: int, seed: int, share: float = 0.1) -> tuple[LinUCB, list[bool], int]:
    rng = random.Random(seed)
    policy = LinUCB(ARMS, DIMENSIONS)
    explored = 0
    optimal: list[bool] = []
    for decisions in range(1, steps + 1):
        hard = rng.random() < 0.4
        x = _vector(rng.choice(HARD if hard else EASY))
        choice = policy.choose(x, alpha=1.0, safe_arm="large", warmup=20)
        tier = choice.greedy
        if choice.optimistic != choice.greedy and exploration_allowed(explored, decisions, share):
            tier = choice.optimistic
            explored += 1
        success = WORLD.outcome(tier, hard, rng)
        policy.update(tier, x, reward(float(success), WORLD.cost_micros[tier], COST_WEIGHT))
        best = max(ARMS, key=lambda t: _expected(t, hard))
        optimal.append(tier == best)
    return policy, optimal, explored


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_converges_to_the_best_tier_per_difficulty(seed: int) -> None:
    policy, optimal, _ = _run(2500, seed)
    for message in EASY:
        assert (
            policy.choose(_vector(message), alpha=0, safe_arm="large", warmup=0).greedy == "small"
        )
    for message in HARD:
        assert (
            policy.choose(_vector(message), alpha=0, safe_arm="large", warmup=0).greedy == "medium"
        )
    assert sum(optimal[-500:]) / 500 >= 0.85


@pytest.mark.parametrize("share", [0.0, 0.05, 0.2])
def test_exploration_stays_within_its_bound(share: float) -> None:
    _, _, explored = _run(1500, seed=7, share=share)
    assert explored <= share * 1500
    if share:
        assert explored > 0  # the bound is reached, not trivially satisfied


def test_exploration_allowed_is_a_running_bound() -> None:
    explored = 0
    for decisions in range(1, 1001):
        if exploration_allowed(explored, decisions, 0.1):
            explored += 1
        assert explored <= 0.1 * decisions
    assert explored == 100


def test_cold_policy_keeps_the_safe_tier_until_warm() -> None:
    policy = LinUCB(ARMS, DIMENSIONS)
    x = _vector(EASY[0])
    assert policy.choose(x, alpha=1.0, safe_arm="large", warmup=3).greedy == "large"
    for _ in range(3):
        policy.update("small", x, 0.9)
    assert policy.choose(x, alpha=0, safe_arm="large", warmup=3).greedy == "small"


def test_state_round_trips_and_follows_the_catalog() -> None:
    policy, _, _ = _run(300, seed=5)
    policy.record_outcome("intent:refund", 0.2)
    loaded = LinUCB.from_dict(policy.to_dict(), ARMS, DIMENSIONS)
    x = _vector(HARD[0])
    means, bonuses = policy.estimate(x, ARMS)
    loaded_means, loaded_bonuses = loaded.estimate(x, ARMS)
    assert loaded_means == pytest.approx(means) and loaded_bonuses == pytest.approx(bonuses)
    assert loaded.counts == policy.counts and loaded.outcomes == {"intent:refund": 0.2}
    grown = LinUCB.from_dict(policy.to_dict(), [*ARMS, "xl"], DIMENSIONS)
    assert grown.counts["xl"] == 0 and grown.counts["small"] == policy.counts["small"]
    reset = LinUCB.from_dict(policy.to_dict(), ARMS, DIMENSIONS + 1)
    assert reset.feedback == 0


def test_restricted_arms_and_allowed_subset() -> None:
    policy = LinUCB(ARMS, DIMENSIONS)
    choice = policy.choose(
        _vector(EASY[0]), alpha=1.0, allowed=["small"], safe_arm="large", warmup=0
    )
    assert choice.greedy == choice.optimistic == "small"


def test_revise_equals_learning_the_revised_reward() -> None:
    rng = random.Random(7)
    history = [
        (rng.choice(ARMS), _vector(rng.choice(EASY + HARD)), rng.random()) for _ in range(40)
    ]
    revised_at, change = 17, -0.75
    learnt, direct = LinUCB(ARMS, DIMENSIONS), LinUCB(ARMS, DIMENSIONS)
    for i, (arm, x, r) in enumerate(history):
        learnt.update(arm, x, r)
        direct.update(arm, x, r + change if i == revised_at else r)
    arm, x, _ = history[revised_at]
    learnt.revise(arm, x, change)
    probe = _vector(HARD[0])
    assert learnt.counts == direct.counts
    for got, want in zip(learnt.estimate(probe, ARMS), direct.estimate(probe, ARMS), strict=True):
        assert got == pytest.approx(want, abs=1e-9)
    before = learnt.to_dict()
    learnt.revise("no-such-arm", x, 1.0)
    learnt.revise(arm, x[:-1], 1.0)  # a context of another dimension is not this policy's
    learnt.revise(arm, x, 0.0)
    assert learnt.to_dict() == before


def test_revise_outcome_moves_the_smoothed_quality_within_bounds() -> None:
    policy = LinUCB(ARMS, DIMENSIONS)
    policy.record_outcome("k", 0.5)
    policy.record_outcome("k", 1.0)
    smoothed = policy.outcomes["k"]
    policy.revise_outcome("k", -1.0)
    assert policy.outcomes["k"] == pytest.approx(smoothed - 0.1)
    policy.revise_outcome("k", -100.0)
    assert policy.outcomes["k"] == 0.0
    policy.revise_outcome("missing", 1.0)
    assert "missing" not in policy.outcomes
