"""Helpers of the router tests: a synthetic routing environment and HTTP shortcuts."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import httpx

from tests.factories import TenantHandle

DECIDE = "/api/v1/router/decide"
FEEDBACK = "/api/v1/router/feedback"


@dataclass(frozen=True)
class SyntheticWorld:
    """Requests are easy or hard; each tier succeeds with a known probability per difficulty."""

    success: dict[str, dict[str, float]]
    cost_micros: dict[str, int]

    def outcome(self, tier: str, hard: bool, rng: random.Random) -> bool:
        return rng.random() < self.success[tier]["hard" if hard else "easy"]


WORLD = SyntheticWorld(
    success={
        "small": {"easy": 0.95, "hard": 0.35},
        "medium": {"easy": 0.96, "hard": 0.80},
        "large": {"easy": 0.97, "hard": 0.93},
    },
    cost_micros={"small": 400, "medium": 1_100, "large": 7_000},
)

EASY = ["where is my order?", "thanks, that works", "what are your opening hours?"]
HARD = [
    "I was charged twice for order 1234 and the refund you promised never arrived, this is "
    "ridiculous and I want an explanation of every charge on my account since March",
    "my product arrived damaged and missing parts, the replacement was also broken, I am "
    "furious and want to cancel everything and complain to someone in charge",
]


async def decide(
    client: httpx.AsyncClient, tenant: TenantHandle, message: str, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        DECIDE, headers=tenant.key_auth, json={"message": message, **extra}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def feedback(
    client: httpx.AsyncClient, tenant: TenantHandle, decision_id: str, **signals: Any
) -> httpx.Response:
    return await client.post(
        FEEDBACK, headers=tenant.key_auth, json={"decision_id": decision_id, **signals}
    )
