"""Routing simulation: does the tier policy save money at (nearly) the quality of the strongest tier?

A declared reward model stands in for real customers (it is printed with the results):

* requests are easy, medium or hard (mix ``DIFFICULTY_MIX``); the router never sees the difficulty,
  only the features the platform computes from the message text and context (length, sentiment,
  question form, turn, customer tier, plan, ...);
* a request answered by tier ``t`` succeeds with probability ``SUCCESS[t][difficulty]``;
  quality is 1 on success, 0 otherwise;
* the cost is priced from the platform's model catalog (``LLMSettings().models``): input tokens
  = the message's tokens + ``CONTEXT_TOKENS``, output tokens by difficulty (``OUTPUT_TOKENS``);
* the policy learns reward = quality - lambda x cost (cents), exactly as in production, through
  the same feature extractor, LinUCB and exploration budget the service uses (no database).

Compared: always-strongest, always-cheapest, an oracle that knows the difficulty, and the router
for several lambda values. Reported: quality, cost, cost saved against always-strongest, quality
relative to it, and the router's learning curve.

    python -m eval.router.simulate                     # default: 20,000 requests, 5 seeds
    python -m eval.router.simulate --requests 5000 --seeds 1
    python -m eval.router.simulate --json results.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiaas.backends.llm.config import LLMSettings, ModelInfo
from aiaas.router.bandit import LinUCB
from aiaas.router.features import DIMENSIONS, TurnInput, estimate_tokens, extract, tokenize
from aiaas.router.policy import exploration_allowed, reward

DIFFICULTIES = ("easy", "medium", "hard")
DIFFICULTY_MIX = (0.55, 0.30, 0.15)
SUCCESS = {
    "small": {"easy": 0.92, "medium": 0.70, "hard": 0.35},
    "medium": {"easy": 0.95, "medium": 0.88, "hard": 0.65},
    "large": {"easy": 0.96, "medium": 0.93, "hard": 0.88},
}
CONTEXT_TOKENS = 600
OUTPUT_TOKENS = {"easy": 150, "medium": 300, "hard": 450}
LAMBDAS = (0.0, 0.05, 0.1, 0.2, 0.4, 0.8)
QUALITY_TARGET = 0.95
ALPHA = 0.5
EXPLORATION_SHARE = 0.1
WARMUP = 20
CURVE_WINDOW = 1000

ITEMS = ["jacket", "tent", "backpack", "sleeping bag", "stove", "headlamp", "boots", "kayak"]
COUNTRIES = ["Canada", "Germany", "Spain", "Japan", "Mexico", "Norway"]
EASY = [
    "what are your opening hours?",
    "do you ship to {country}?",
    "how do I reset my password?",
    "where is my order {n}?",
    "can I pay with paypal?",
    "is the {item} waterproof?",
    "thanks!",
    "how long does delivery take?",
]
MEDIUM = [
    "I ordered a {item} last week and the tracking has not updated since Tuesday, can you check "
    "what happened and tell me when it will arrive?",
    "I want to exchange the {item} from order {n} for a bigger size, how does that work and do I "
    "pay for the return shipping?",
    "my discount code did not apply to order {n} and I was charged full price for the {item}, "
    "can you refund the difference?",
    "the {item} I bought has a zip that sticks, is that covered by the warranty or should I send "
    "it back?",
]
HARD = [
    "This is the third time I am writing. Order {n} arrived with a broken {item}, the replacement "
    "never came, I was charged twice and nobody answers. I am furious and want a full refund of "
    "both charges, compensation for the trip I had to cancel, and an explanation today.",
    "I have a business account and we ordered 40 units of the {item} for a school trip to "
    "{country}; half are missing, the invoice is wrong, customs charged us fees you said were "
    "included, and the trip leaves Friday. What exactly will you do and by when?",
    "Your website said the {item} was in stock, I paid express, then got an email that it is "
    "backordered, then the order was cancelled without my consent but the money was not returned. "
    "This is unacceptable and I will dispute it with my bank if it is not fixed.",
]
TEMPLATES = {"easy": EASY, "medium": MEDIUM, "hard": HARD}


def _rng(seed: int) -> random.Random:
    """Seeded, reproducible randomness of the simulated world (not a security decision)."""
    return random.Random(seed)  # noqa: S311


@dataclass(frozen=True)
class Request:
    difficulty: str
    turn: TurnInput


def make_request(rng: random.Random) -> Request:
    difficulty = rng.choices(DIFFICULTIES, weights=DIFFICULTY_MIX)[0]
    text = rng.choice(TEMPLATES[difficulty]).format(
        item=rng.choice(ITEMS), country=rng.choice(COUNTRIES), n=rng.randint(1000, 99999)
    )
    turn = rng.choice((1, 1, 1, 2, 3)) + (2 if difficulty == "hard" and rng.random() < 0.5 else 0)
    return Request(
        difficulty,
        TurnInput(
            text,
            turn=turn,
            customer_tier=rng.choice((None, "standard", "standard", "vip")),
            tenant_plan="pro",
        ),
    )


def tier_prices(models: Sequence[ModelInfo]) -> dict[str, ModelInfo]:
    by_tier: dict[str, ModelInfo] = {}
    for model in models:
        if model.tier in SUCCESS:
            by_tier.setdefault(model.tier, model)
    return by_tier


def cost_micros(model: ModelInfo, request: Request) -> int:
    words = tokenize(request.turn.message)
    tokens_in = estimate_tokens(request.turn.message, len(words)) + CONTEXT_TOKENS
    return model.cost_micros(tokens_in, OUTPUT_TOKENS[request.difficulty])


@dataclass
class Run:
    name: str
    quality: list[float] = field(default_factory=list)
    cost: list[int] = field(default_factory=list)
    tiers: dict[str, int] = field(default_factory=dict)
    explored: int = 0

    @property
    def mean_quality(self) -> float:
        return sum(self.quality) / len(self.quality)

    @property
    def total_cost(self) -> int:
        return sum(self.cost)


Chooser = Callable[[Request], str]


def run_fixed(
    name: str,
    requests: Sequence[Request],
    choose: Chooser,
    models: dict[str, ModelInfo],
    rng: random.Random,
) -> Run:
    run = Run(name)
    for request in requests:
        tier = choose(request)
        _serve(run, tier, request, models, rng)
    return run


def _serve(
    run: Run, tier: str, request: Request, models: dict[str, ModelInfo], rng: random.Random
) -> tuple[float, int]:
    success = rng.random() < SUCCESS[tier][request.difficulty]
    cost = cost_micros(models[tier], request)
    run.quality.append(1.0 if success else 0.0)
    run.cost.append(cost)
    run.tiers[tier] = run.tiers.get(tier, 0) + 1
    return (1.0 if success else 0.0), cost


def run_router(
    requests: Sequence[Request],
    models: dict[str, ModelInfo],
    cost_weight: float,
    rng: random.Random,
) -> Run:
    arms = sorted(models, key=lambda t: models[t].output_price_micros_per_million)
    policy = LinUCB(arms, DIMENSIONS)
    run = Run(f"router lambda={cost_weight}")
    for decisions, request in enumerate(requests, start=1):
        features = extract(request.turn, intent=None, recent_quality=policy.outcomes)
        choice = policy.choose(features.vector, alpha=ALPHA, safe_arm=arms[-1], warmup=WARMUP)
        tier = choice.greedy
        if choice.optimistic != tier and exploration_allowed(
            run.explored, decisions, EXPLORATION_SHARE
        ):
            tier = choice.optimistic
            run.explored += 1
        quality, cost = _serve(run, tier, request, models, rng)
        policy.update(tier, features.vector, reward(quality, cost, cost_weight))
        policy.record_outcome(features.similarity_key, quality)
    return run


def oracle(models: dict[str, ModelInfo], reference: Run, strongest: str) -> Chooser:
    """Knows the difficulty: the cheapest tier whose success is within 5% of the strongest's."""

    def choose(request: Request) -> str:
        target = SUCCESS[strongest][request.difficulty] * QUALITY_TARGET
        for tier in sorted(models, key=lambda t: models[t].output_price_micros_per_million):
            if SUCCESS[tier][request.difficulty] >= target:
                return tier
        return strongest

    return choose


def curve(run: Run, window: int) -> list[dict[str, float]]:
    points = []
    for start in range(0, len(run.quality), window):
        q = run.quality[start : start + window]
        c = run.cost[start : start + window]
        points.append(
            {"requests": start + len(q), "quality": sum(q) / len(q), "cost_micros": sum(c) / len(c)}
        )
    return points


def simulate(requests_n: int, seeds: Sequence[int], lambdas: Sequence[float]) -> dict[str, Any]:
    models = tier_prices(LLMSettings().models)
    strongest = max(models, key=lambda t: models[t].output_price_micros_per_million)
    cheapest = min(models, key=lambda t: models[t].output_price_micros_per_million)
    rows: dict[str, list[dict[str, float]]] = {}
    curves: dict[float, list[list[dict[str, float]]]] = {lam: [] for lam in lambdas}
    for seed in seeds:
        rng = _rng(seed)
        requests = [make_request(rng) for _ in range(requests_n)]
        runs = [
            run_fixed("always strongest", requests, lambda r: strongest, models, _rng(seed + 1)),
            run_fixed("always cheapest", requests, lambda r: cheapest, models, _rng(seed + 1)),
        ]
        runs.append(
            run_fixed(
                "oracle (knows difficulty)",
                requests,
                oracle(models, runs[0], strongest),
                models,
                _rng(seed + 1),
            )
        )
        for lam in lambdas:
            routed = run_router(requests, models, lam, _rng(seed + 1))
            runs.append(routed)
            curves[lam].append(curve(routed, CURVE_WINDOW))
        base = runs[0]
        for run in runs:
            rows.setdefault(run.name, []).append(
                {
                    "quality": run.mean_quality,
                    "cost_per_request_micros": run.total_cost / requests_n,
                    "relative_quality": run.mean_quality / base.mean_quality,
                    "cost_saved": 1 - run.total_cost / base.total_cost,
                    "explored_share": run.explored / requests_n,
                    **{f"share_{t}": run.tiers.get(t, 0) / requests_n for t in models},
                }
            )
    table = {
        name: {key: statistics.fmean(v[key] for v in values) for key in values[0]}
        for name, values in rows.items()
    }
    eligible = [
        (lam, table[f"router lambda={lam}"])
        for lam in lambdas
        if table[f"router lambda={lam}"]["relative_quality"] >= QUALITY_TARGET
    ]
    best = max(eligible, key=lambda item: item[1]["cost_saved"]) if eligible else None
    averaged_curves = {
        str(lam): [
            {key: statistics.fmean(points[i][key] for points in per_seed) for key in per_seed[0][i]}
            for i in range(min(len(p) for p in per_seed))
        ]
        for lam, per_seed in curves.items()
    }
    return {
        "requests": requests_n,
        "seeds": list(seeds),
        "assumptions": {
            "difficulty_mix": dict(zip(DIFFICULTIES, DIFFICULTY_MIX, strict=True)),
            "success": SUCCESS,
            "context_tokens": CONTEXT_TOKENS,
            "output_tokens": OUTPUT_TOKENS,
            "prices_micros_per_million": {
                t: [m.input_price_micros_per_million, m.output_price_micros_per_million]
                for t, m in models.items()
            },
            "alpha": ALPHA,
            "exploration_share": EXPLORATION_SHARE,
            "warmup": WARMUP,
        },
        "table": table,
        "best_lambda_at_95_percent_quality": None if best is None else best[0],
        "curves": averaged_curves,
    }


def _print(result: dict[str, Any]) -> None:
    print(f"requests per run: {result['requests']}, seeds: {result['seeds']}")
    print(json.dumps(result["assumptions"], indent=1))
    header = (
        f"{'policy':<28} {'quality':>8} {'rel.q':>7} {'cost/req $':>11} {'saved':>7} {'explore':>8}"
    )
    print(header)
    for name, row in result["table"].items():
        print(
            f"{name:<28} {row['quality']:8.4f} {row['relative_quality']:7.3f}"
            f" {row['cost_per_request_micros'] / 1e6:11.6f} {row['cost_saved']:7.1%}"
            f" {row['explored_share']:8.1%}"
        )
    lam = result["best_lambda_at_95_percent_quality"]
    print(f"best lambda with >= {QUALITY_TARGET:.0%} of always-strongest quality: {lam}")
    if lam is not None:
        print(f"learning curve (lambda={lam}, window {CURVE_WINDOW}):")
        for point in result["curves"][str(lam)]:
            print(
                f"  {int(point['requests']):>6} requests: quality {point['quality']:.3f},"
                f" cost/request ${point['cost_micros'] / 1e6:.6f}"
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--json", type=str, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = simulate(args.requests, range(args.seeds), LAMBDAS)
    result["seconds"] = round(time.perf_counter() - started, 1)
    _print(result)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
