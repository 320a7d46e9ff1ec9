"""Features of a turn and the small rules of the policy (reward, canary verdict, split)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from aiaas.router.features import (
    DIMENSIONS,
    FeatureCache,
    TurnInput,
    detect_language,
    extract,
    sentiment,
    tokenize,
)
from aiaas.router.policy import (
    ArmStats,
    Outcome,
    Verdict,
    in_canary,
    judge_canary,
    quality,
    reward,
)


@dataclass
class Prediction:
    label: str
    confidence: float
    out_of_scope: bool


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Where is my order? I have been waiting for a week", "en"),
        ("¿Dónde está mi pedido? Lo necesito para el lunes", "es"),
        ("Je voudrais savoir pourquoi ma commande est en retard", "fr"),
        ("Ich habe meine Bestellung nicht bekommen, bitte helfen Sie mir", "de"),
        ("12345 67890", "unknown"),
    ],
)
def test_language(text: str, language: str) -> None:
    assert detect_language(tokenize(text))[0] == language


def test_sentiment_with_negation() -> None:
    assert sentiment(tokenize("thanks, this was great and helpful")) > 0.5
    assert sentiment(tokenize("terrible service, my parcel is damaged and late")) < -0.5
    assert sentiment(tokenize("the app is not good")) < 0
    assert sentiment(tokenize("order 1234")) == 0.0


def test_vector_is_bounded_and_named() -> None:
    turn = TurnInput(
        "I am furious!!! " * 200,
        turn=40,
        customer_tier="VIP",
        tenant_plan="enterprise",
        retrieval_confidence=0.7,
    )
    features = extract(
        turn, intent=Prediction("complaint", 0.92, False), recent_quality={"intent:complaint": 0.3}
    )
    assert features.vector.shape == (DIMENSIONS,)
    assert np.all(features.vector <= 1.0) and np.all(features.vector >= -1.0)
    values = features.values
    assert values["intent"] == "complaint" and values["recent_quality"] == 0.3
    assert values["customer_tier"] == "VIP" and values["turn"] == 40
    assert values["tokens"] >= values["words"] > 0 and values["sentiment"] < 0
    assert features.similarity_key == "intent:complaint"


def test_out_of_scope_messages_are_similar_by_shape_not_label() -> None:
    features = extract(
        TurnInput("what is the meaning of life"),
        intent=Prediction("refund", 0.1, True),
        recent_quality={},
    )
    assert features.out_of_scope and features.similarity_key.startswith("shape:en:")


def test_feature_cache_is_bounded_lru() -> None:
    cache = FeatureCache(2)
    first = extract(TurnInput("a"), intent=None, recent_quality={})
    keys = [FeatureCache.key("t", None, TurnInput(m)) for m in ("a", "b", "c")]
    for key in keys:
        cache.put(key, first)
    assert len(cache) == 2 and cache.get(keys[0]) is None and cache.get(keys[2]) is first
    assert FeatureCache.key("t", None, TurnInput("a", turn=2)) != keys[0]


def test_quality_weighs_known_signals_only() -> None:
    assert quality(Outcome()) is None
    assert quality(Outcome(rating=1.0)) == 1.0
    assert quality(Outcome(resolved=True, handoff=True)) == 0.0
    assert quality(Outcome(rating=1.0, reask=True)) == pytest.approx(0.5 / 0.7)
    assert quality(Outcome(rating=0.0, resolved=True, reask=False)) == pytest.approx(0.5)


def test_reward_counts_cost_in_cents() -> None:
    assert reward(1.0, 10_000, 0.2) == pytest.approx(0.8)
    assert reward(0.5, 0, 3.0) == 0.5


def test_canary_verdicts() -> None:
    good = ArmStats(40, 40 * 0.8)
    assert judge_canary(good, ArmStats(10, 0.0), min_feedback=30, margin=0.05) is Verdict.CONTINUE
    assert judge_canary(good, ArmStats(30, 30 * 0.5), min_feedback=30, margin=0.05) is (
        Verdict.ROLL_BACK
    )
    assert judge_canary(good, ArmStats(30, 30 * 0.78), min_feedback=30, margin=0.05) is (
        Verdict.CONTINUE
    )
    assert judge_canary(good, ArmStats(120, 120 * 0.82), min_feedback=30, margin=0.05) is (
        Verdict.PROMOTE
    )


def test_canary_split_is_stable_and_proportional() -> None:
    keys = [f"conversation-{i}" for i in range(4000)]
    share = sum(in_canary(k, 0.25) for k in keys) / len(keys)
    assert 0.22 < share < 0.28
    assert [in_canary(k, 0.25) for k in keys[:50]] == [in_canary(k, 0.25) for k in keys[:50]]
    assert not any(in_canary(k, 0.0) for k in keys)
