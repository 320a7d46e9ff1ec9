"""In-process GCRA rate limiter for the embedded mode (one process, no Redis)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from aiaas.backends.ratelimit import Limit, RateLimitResult
from aiaas.backends.ratelimit.gcra import MICROS, decide, policy_for, to_result


class MemoryRateLimiter:
    """GCRA buckets in a dict, with the exact arithmetic of the Redis limiter.

    Atomic under asyncio concurrency: a hit reads and writes its bucket without awaiting in between,
    so no other task runs in the middle. It is not meant to be shared across threads.

    Memory stays bounded: a bucket whose TAT has passed is full, which is the same as absent, so
    such idle buckets are dropped as they are met at the cold end of the recency order and by a full
    sweep every ``sweep_interval_seconds``. Beyond ``max_keys`` live buckets the least recently used
    one is dropped, which forgets what that key had consumed; size ``max_keys`` well above the
    number of keys active within one period.
    """

    kind = "memory"

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
        sweep_interval_seconds: float = 60.0,
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._clock = clock
        self._max_keys = max_keys
        self._sweep_interval_us = max(1, round(sweep_interval_seconds * MICROS))
        self._tats: OrderedDict[str, int] = OrderedDict()
        self._next_sweep_us: int | None = None

    def __len__(self) -> int:
        """Number of buckets currently held."""
        return len(self._tats)

    async def hit(
        self, key: str, limit: int, period_seconds: float, cost: int = 1
    ) -> RateLimitResult:
        """Count ``cost`` requests against ``limit`` per ``period_seconds`` for ``key``."""
        policy = policy_for(limit, period_seconds, cost)
        now_us = self._now_us()
        decision = decide(now_us, self._tats.get(key), policy, cost)
        if decision.allowed and cost > 0:
            self._tats[key] = decision.tat_us
            self._tats.move_to_end(key)
            self._evict(now_us)
        elif key in self._tats:
            self._tats.move_to_end(key)
        self._maybe_sweep(now_us)
        return to_result(decision, policy)

    async def hit_all(self, limits: Sequence[Limit], cost: int = 1) -> list[RateLimitResult]:
        """Charge every bucket or none, atomically (no await between the reads and the writes)."""
        now_us = self._now_us()
        buckets = self._tats
        checked = []
        admitted = cost > 0
        for item in limits:
            policy = policy_for(item.limit, item.period_seconds, cost)
            decision = decide(now_us, buckets.get(item.key), policy, cost)
            admitted = admitted and decision.allowed
            checked.append((item.key, policy, decision))
        if admitted:
            for key, _, decision in checked:
                buckets[key] = decision.tat_us
                buckets.move_to_end(key)
            self._evict(now_us)
        self._maybe_sweep(now_us)
        return [to_result(decision, policy) for _, policy, decision in checked]

    async def ping(self) -> None:
        """Always reachable."""

    async def close(self) -> None:
        """Forget every bucket."""
        self._tats.clear()

    def _now_us(self) -> int:
        # Rounding (not truncating) keeps a fake clock advanced by a decimal number of seconds on
        # the microsecond it means, despite binary floating point.
        return round(self._clock() * MICROS)

    def _evict(self, now_us: int) -> None:
        buckets = self._tats
        while buckets:
            oldest_key, oldest_tat = next(iter(buckets.items()))
            if oldest_tat > now_us:
                break
            del buckets[oldest_key]
        while len(buckets) > self._max_keys:
            buckets.popitem(last=False)

    def _maybe_sweep(self, now_us: int) -> None:
        if self._next_sweep_us is None:
            self._next_sweep_us = now_us + self._sweep_interval_us
        if now_us < self._next_sweep_us:
            return
        self._next_sweep_us = now_us + self._sweep_interval_us
        idle = [key for key, tat in self._tats.items() if tat <= now_us]
        for key in idle:
            del self._tats[key]
