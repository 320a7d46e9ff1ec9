"""Rate limiting with GCRA (generic cell rate algorithm): atomic Lua on Redis, same maths in memory.

A limit of ``limit`` requests per ``period_seconds`` admits a burst of ``limit`` back-to-back
requests on a fresh key, then one more every ``period_seconds / limit``. Both implementations answer
with the same :class:`RateLimitResult`, field for field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, Protocol

from aiaas.kit.errors import BadRequest


class RateLimitResult(NamedTuple):
    # A named tuple: built on every request, and a tuple is the cheapest immutable record.
    allowed: bool
    limit: int
    remaining: int
    """Unit-cost requests that would be admitted right now (after this one, if it was)."""
    retry_after: float
    """Exact seconds until a request of the same cost would be admitted (0 when allowed)."""
    reset_after: float
    """Seconds until the bucket is completely full again."""


@dataclass(frozen=True, slots=True)
class Limit:
    """One bucket to check: ``limit`` requests per ``period_seconds`` under ``key``."""

    key: str
    limit: int
    period_seconds: float


class RateLimiter(Protocol):
    kind: str

    async def hit_all(self, limits: Sequence[Limit], cost: int = 1) -> list[RateLimitResult]:
        """Count ``cost`` against every bucket in one atomic step, all or nothing.

        When any bucket rejects, none is charged; the results come back in the order given. On
        Redis this is one round trip, however many buckets.
        """
        ...

    async def hit(
        self, key: str, limit: int, period_seconds: float, cost: int = 1
    ) -> RateLimitResult:
        """Count ``cost`` requests against ``limit`` per ``period_seconds`` for ``key``, atomically.

        A rejected hit consumes nothing; ``cost=0`` reads the bucket without consuming. Raises
        ``ValueError`` for ``limit < 1``, ``period_seconds <= 0`` or ``cost < 0``, and
        :class:`CostExceedsLimit` when ``cost > limit``.
        """
        ...

    async def ping(self) -> None:
        """Raise ``ServiceUnavailable`` when the backend cannot be reached."""
        ...

    async def close(self) -> None: ...


class CostExceedsLimit(BadRequest):
    """A single request costs more than the limit admits in a whole period: waiting cannot help."""

    code = "rate_limit_cost_exceeds_limit"
    title = "Request exceeds the rate limit"

    def __init__(self, *, cost: int, limit: int) -> None:
        super().__init__(
            f"this request costs {cost} but the limit admits at most {limit} per period",
            extra={"cost": cost, "limit": limit},
        )


def rate_limit_headers(result: RateLimitResult, period_seconds: float) -> dict[str, str]:
    """HTTP headers for ``result``: ``RateLimit-*`` fields and, when rejected, ``Retry-After``.

    Times are whole seconds rounded up, so a client that waits as told is never turned away early;
    ``Retry-After`` is at least 1.
    """
    headers = {
        "RateLimit-Limit": str(result.limit),
        "RateLimit-Remaining": str(max(0, result.remaining)),
        "RateLimit-Reset": str(math.ceil(result.reset_after)),
        "RateLimit-Policy": f"{result.limit};w={max(1, math.ceil(period_seconds))}",
    }
    if not result.allowed:
        headers["Retry-After"] = str(max(1, math.ceil(result.retry_after)))
    return headers


def rate_limit_header_fields(
    result: RateLimitResult, period_seconds: float
) -> list[tuple[bytes, bytes]]:
    """The headers of :func:`rate_limit_headers` as ASGI header fields, in the same order.

    Names are lower-case and values latin-1 bytes, ready to append to a response's headers: this
    runs on every authenticated request, so the fields that depend only on the limit are built
    once per limit.
    """
    limit_field, policy_field = _fixed_fields(result.limit, max(1, math.ceil(period_seconds)))
    fields = [
        limit_field,
        (b"ratelimit-remaining", b"%d" % max(0, result.remaining)),
        (b"ratelimit-reset", b"%d" % math.ceil(result.reset_after)),
        policy_field,
    ]
    if not result.allowed:
        fields.append((b"retry-after", b"%d" % max(1, math.ceil(result.retry_after))))
    return fields


@lru_cache(maxsize=1024)
def _fixed_fields(limit: int, window: int) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
    return (b"ratelimit-limit", b"%d" % limit), (b"ratelimit-policy", b"%d;w=%d" % (limit, window))


__all__ = [
    "CostExceedsLimit",
    "Limit",
    "RateLimitResult",
    "RateLimiter",
    "rate_limit_header_fields",
    "rate_limit_headers",
]
