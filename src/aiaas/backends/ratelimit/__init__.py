"""Rate limiting with GCRA (generic cell rate algorithm): atomic Lua on Redis, the same maths in memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RateLimitResult:
    allowed: bool
    limit: int
    remaining: int
    retry_after: float
    """Seconds until one more request would be admitted (0 when allowed)."""
    reset_after: float
    """Seconds until the bucket is completely full again."""


class RateLimiter(Protocol):
    kind: str

    async def hit(self, key: str, limit: int, period_seconds: float, cost: int = 1) -> RateLimitResult:
        """Count ``cost`` requests against ``limit`` per ``period_seconds`` for ``key``, atomically."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
