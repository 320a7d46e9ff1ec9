"""Router decision latency in process.

Two figures, each p50/p99 over many decisions on a warm policy:

* ``compute``: what a decision computes - the turn's features (language, sentiment, tokens, ...)
  and the LinUCB choice with its exploration budget - with the tenant's state already loaded (the
  steady state: the state is cached per replica and refreshed every ``state_cache_seconds``);
* ``compute_with_<method>_intents``: the same with an intent model trained on BANKING77's train
  split predicting every message (``sparse``; ``hybrid`` where the router-embeddings extra is
  installed);
* ``decide``: the whole ``RouterService.decide`` call including its transaction on the embedded
  database (SQLite): the decision row and its ``router.decision.made`` event are written and
  committed;
* ``encoders`` (with ``--encoders``): the hybrid model's ONNX sentence encoder against the same
  depth pooling its last layer only and the torch encoder it replaced, one BANKING77 test
  message at a time, alternating.

    python -m bench.router_decide [--decisions 20000] [--intents sparse,hybrid] [--encoders]
    taskset -c 0 python -m bench.router_decide --encoders --intents hybrid --decisions 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, cast
from uuid import UUID

from aiaas.config import Settings
from aiaas.migrations import runner
from aiaas.platform import build_platform
from aiaas.router.bandit import LinUCB
from aiaas.router.features import DIMENSIONS, TurnInput, extract
from aiaas.router.policy import exploration_allowed
from aiaas.tenancy.service import NewTenant
from bench.harness import cpu_model

RESULTS = Path(__file__).parent / "results"
MESSAGES = [
    "where is my order 12345?",
    "what are your opening hours?",
    "I was charged twice for my order and the refund never arrived, this is unacceptable",
    "¿Dónde está mi pedido? Lo necesito para el lunes",
    "the zip of the jacket I bought sticks, is that covered by the warranty?",
    "thanks, that works!",
]


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))] * 1000,
        "mean_ms": statistics.fmean(ordered) * 1000,
    }


def bench_compute(decisions: int, rounds: int = 5) -> dict[str, float]:
    """Median over ``rounds`` of each round's percentiles (the machine is shared and noisy)."""
    results = [_compute_round(decisions // rounds, seed) for seed in range(rounds)]
    merged = {key: statistics.median(r[key] for r in results) for key in results[0]}
    merged["worst_round_p99_ms"] = max(r["p99_ms"] for r in results)
    return merged


def _compute_round(decisions: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    arms = ["small", "medium", "large"]
    policy = LinUCB(arms, DIMENSIONS)
    for _ in range(2000):  # a warm policy
        x = extract(TurnInput(rng.choice(MESSAGES)), intent=None, recent_quality={}).vector
        policy.update(rng.choice(arms), x, rng.random())
    explored = 0
    samples = []
    for n in range(1, decisions + 1):
        message = f"{rng.choice(MESSAGES)} #{n}"  # distinct text: no feature cache hits
        started = time.perf_counter()
        features = extract(
            TurnInput(message, turn=n % 7 + 1, customer_tier="vip", tenant_plan="pro"),
            intent=None,
            recent_quality=policy.outcomes,
        )
        choice = policy.choose(features.vector, alpha=0.5, safe_arm="large", warmup=20)
        if choice.optimistic != choice.greedy and exploration_allowed(explored, n, 0.1):
            explored += 1
        samples.append(time.perf_counter() - started)
    return _percentiles(samples)


BANKING77 = Path(__file__).resolve().parents[2] / "shared" / "data" / "banking77"


def _banking77(split: str) -> list[tuple[str, str]]:
    import csv

    with (BANKING77 / f"{split}.csv").open(newline="", encoding="utf-8") as handle:
        return [(r["text"], r["category"]) for r in csv.DictReader(handle)]


def bench_with_intents(
    decisions: int, method: Literal["sparse", "hybrid"]
) -> dict[str, float] | None:
    """Features + choice with an intent model trained on BANKING77 (77 intents, 10k examples)
    predicting every message (test-split messages, which it was not trained on); ``None`` when
    the data set is not present or the method cannot run here."""
    from aiaas.router.classifier import train_model
    from aiaas.router.intent import IntentClassifier

    if not (BANKING77 / "train.csv").exists():
        return None
    if method not in IntentClassifier.available_methods():
        return None
    model = train_model(_banking77("train"), lambda _f, _s: None, 0, method)
    texts = [text for text, _ in _banking77("test")]
    for text in texts[:50]:  # warm up
        model.predict(text)
    policy = LinUCB(["small", "medium", "large"], DIMENSIONS)
    samples = []
    for n in range(decisions):
        message = texts[n % len(texts)]
        started = time.perf_counter()
        prediction = model.predict(message)
        features = extract(TurnInput(message), intent=prediction, recent_quality=policy.outcomes)
        policy.choose(features.vector, alpha=0.5, safe_arm="large", warmup=20)
        samples.append(time.perf_counter() - started)
    return _percentiles(samples)


def bench_encoders(messages: int = 400, rounds: int = 3) -> dict[str, dict[str, float]] | None:
    """One message at a time through the ONNX encoder and the torch reference, alternating;
    ``None`` without the data set or either encoder."""
    from aiaas.router.intent_encoder import (
        DEFAULT_SPEC,
        EncoderSpec,
        encoder_available,
        shared_encoder,
    )
    from aiaas.router.intent_encoder_reference import ReferenceSentenceEncoder, reference_available

    if not (BANKING77 / "test.csv").exists() or not encoder_available():
        return None
    texts = [text for text, _ in _banking77("test")][:messages]
    pooled = "_".join(map(str, DEFAULT_SPEC.pooled))
    encoders: dict[str, Callable[[list[str]], object]] = {
        f"onnx_int8_{DEFAULT_SPEC.layers}_layers_pooled_{pooled}": shared_encoder(
            DEFAULT_SPEC
        ).encode
    }
    last_only = EncoderSpec(layers=DEFAULT_SPEC.layers, max_tokens=DEFAULT_SPEC.max_tokens)
    if last_only != DEFAULT_SPEC:  # the same depth pooling its last layer only, for comparison
        encoders[f"onnx_int8_{last_only.layers}_layers_pooled_{last_only.layers}"] = shared_encoder(
            last_only
        ).encode
    if reference_available():
        encoders["torch_float32_6_layers"] = ReferenceSentenceEncoder().encode
    samples: dict[str, list[float]] = {name: [] for name in encoders}
    for encode in encoders.values():  # warm up
        for text in texts[:20]:
            encode([text])
    for _ in range(rounds):
        for text in texts:
            for name, encode in encoders.items():
                started = time.perf_counter()
                encode([text])
                samples[name].append(time.perf_counter() - started)
    return {name: _percentiles(values) for name, values in samples.items()}


async def bench_decide(decisions: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, env="test", data_dir=Path(tmp))
        await asyncio.to_thread(runner.upgrade, settings)
        platform = build_platform(settings)
        await platform.start(events=False)
        try:
            tenant = await platform.tenants.create(
                NewTenant(
                    slug="bench",
                    name="Bench",
                    owner_email="owner@bench.example",
                    owner_password="bench-password-123",
                    plan="pro",
                )
            )
            tenant_id: UUID = tenant.id
            service = platform.router
            rng = random.Random(2)
            samples = []
            for n in range(decisions):
                message = f"{rng.choice(MESSAGES)} #{n}"
                started = time.perf_counter()
                async with platform.db.transaction(tenant_id) as session:
                    await service.decide(session, tenant_id, message, turn=n % 5 + 1)
                samples.append(time.perf_counter() - started)
            return _percentiles(samples[50:])  # the first calls create the policy, warm caches
        finally:
            await platform.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--db-decisions", type=int, default=2_000)
    parser.add_argument("--intents", default="sparse,hybrid", help="intent methods, or none")
    parser.add_argument("--encoders", action="store_true", help="also time the encoders")
    args = parser.parse_args()
    result: dict[str, object] = {
        "at": datetime.now(UTC).isoformat(),
        "cpu": cpu_model(),
        "load_average": os.getloadavg(),
        "compute": bench_compute(args.decisions),
    }
    for method in [m.strip() for m in args.intents.split(",") if m.strip() not in ("", "none")]:
        result[f"compute_with_{method}_intents"] = bench_with_intents(
            min(args.decisions, 5_000), cast(Literal["sparse", "hybrid"], method)
        )
    if args.encoders:
        for name, figures in (bench_encoders() or {}).items():
            result[f"encoder_{name}"] = figures
    if args.db_decisions:
        result["decide_sqlite"] = asyncio.run(bench_decide(args.db_decisions))
    result["load_average_end"] = os.getloadavg()
    for name, value in result.items():
        if not isinstance(value, dict):
            continue
        print(
            f"{name:<36} p50 {value['p50_ms']:.3f} ms  p99 {value['p99_ms']:.3f} ms"
            f"  mean {value['mean_ms']:.3f} ms"
        )
    print(f"load average {result['load_average']} at start, {result['load_average_end']} at end")
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"router_decide-{stamp}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
