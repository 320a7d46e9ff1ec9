"""Choose the rate limiter from settings."""

from __future__ import annotations

from aiaas.backends.ratelimit import RateLimiter
from aiaas.config import Settings


def build_rate_limiter(settings: Settings) -> RateLimiter:
    """The Redis limiter when ``settings.redis_url`` is set (shared by every replica), else in
    memory.

    Redis is imported only when configured, so the embedded mode runs without the ``redis`` package.
    """
    if settings.redis_url:
        from aiaas.backends.ratelimit.redis import RedisRateLimiter

        return RedisRateLimiter.from_url(settings.redis_url, namespace=settings.namespace)
    from aiaas.backends.ratelimit.memory import MemoryRateLimiter

    return MemoryRateLimiter()
