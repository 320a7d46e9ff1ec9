"""The GCRA (generic cell rate algorithm) decision, in integer microseconds.

Both limiters run exactly this arithmetic: the in-memory one in Python, the Redis one in a Lua
script that mirrors :func:`decide` line for line. A bucket is one number, its theoretical arrival
time (TAT): the instant at which the bucket would be full again. Each admitted unit of cost pushes
the TAT one emission interval further; a request is admitted while the TAT it would leave stays
within one period (the burst tolerance) of now.

Integer microseconds keep both sides exact: Redis ``TIME`` is in microseconds, and every quantity
here stays far below 2**53, so Lua's doubles hold them without rounding. The emission interval is
rounded up, so a limiter never admits more than ``limit`` per ``period_seconds``; at worst it is
``limit`` microseconds per period stricter than asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from aiaas.backends.ratelimit import CostExceedsLimit, RateLimitResult

MICROS = 1_000_000


@dataclass(frozen=True, slots=True)
class GcraPolicy:
    """``limit`` requests per ``period_seconds`` with a burst of ``limit``, in microseconds."""

    limit: int
    emission_us: int
    """Microseconds one unit of cost occupies (period / limit, rounded up)."""

    @property
    def tolerance_us(self) -> int:
        """How far ahead of now the TAT may run: the burst, ``limit`` emission intervals."""
        return self.emission_us * self.limit


class GcraDecision(NamedTuple):
    allowed: bool
    tat_us: int
    """The TAT to store (unchanged when rejected)."""
    remaining: int
    retry_after_us: int
    reset_after_us: int


@lru_cache(maxsize=1024)
def policy_for(limit: int, period_seconds: float, cost: int) -> GcraPolicy:
    """Validate the arguments of a hit and derive its policy.

    Raises ``ValueError`` for a limit below 1, a non-positive period or a negative cost (caller
    bugs), and :class:`CostExceedsLimit` for a cost that no amount of waiting could admit.
    Policies are immutable and few (one per plan limit), so they are cached.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if not period_seconds > 0:
        raise ValueError(f"period_seconds must be positive, got {period_seconds}")
    if cost < 0:
        raise ValueError(f"cost must not be negative, got {cost}")
    if cost > limit:
        raise CostExceedsLimit(cost=cost, limit=limit)
    period_us = max(1, round(period_seconds * MICROS))
    return GcraPolicy(limit=limit, emission_us=-(-period_us // limit))


def decide(now_us: int, stored_tat_us: int | None, policy: GcraPolicy, cost: int) -> GcraDecision:
    """Admit or reject ``cost`` units at ``now_us`` against a bucket whose TAT is ``stored_tat_us``.

    ``remaining`` counts the unit-cost requests that would be admitted right now (after this one
    when it is admitted); ``retry_after_us`` is the exact wait until a request of the same cost is
    admitted (0 when admitted); ``reset_after_us`` is the time until the bucket is full again.
    A cost of 0 admits without consuming, which reads the state of a bucket.
    """
    tat = now_us if stored_tat_us is None or stored_tat_us < now_us else stored_tat_us
    new_tat = tat + policy.emission_us * cost
    allow_at = new_tat - policy.tolerance_us
    if now_us < allow_at:
        return GcraDecision(
            allowed=False,
            tat_us=tat,
            remaining=(now_us - (tat - policy.tolerance_us)) // policy.emission_us,
            retry_after_us=allow_at - now_us,
            reset_after_us=tat - now_us,
        )
    return GcraDecision(
        allowed=True,
        tat_us=new_tat,
        remaining=(now_us - allow_at) // policy.emission_us,
        retry_after_us=0,
        reset_after_us=new_tat - now_us,
    )


def to_result(decision: GcraDecision, policy: GcraPolicy) -> RateLimitResult:
    """The public result of a decision, times in seconds."""
    return RateLimitResult(
        allowed=decision.allowed,
        limit=policy.limit,
        remaining=decision.remaining,
        retry_after=decision.retry_after_us / MICROS,
        reset_after=decision.reset_after_us / MICROS,
    )
