"""Choose the cache from settings."""

from __future__ import annotations

from aiaas.backends.cache import Cache
from aiaas.config import Settings


def build_cache(settings: Settings) -> Cache:
    """The Redis cache when ``settings.redis_url`` is set (shared by every replica), else in memory.

    Redis is imported only when configured, so the embedded mode runs without the ``redis`` package.
    """
    if settings.redis_url:
        from aiaas.backends.cache.redis import RedisCache

        return RedisCache.from_url(settings.redis_url, namespace=settings.namespace)
    from aiaas.backends.cache.memory import MemoryCache

    return MemoryCache()
