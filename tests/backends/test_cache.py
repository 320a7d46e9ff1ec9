"""The caches: one suite over memory and Redis, plus what only one of them can show."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from aiaas.backends.cache import Cache, CacheValueError
from aiaas.backends.cache.factory import build_cache
from aiaas.backends.cache.memory import MemoryCache
from aiaas.backends.cache.redis import RedisCache
from aiaas.config import Settings
from aiaas.kit.errors import ServiceUnavailable


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def cache(backend_settings: Settings) -> AsyncIterator[Cache]:
    built = build_cache(backend_settings)
    assert built.kind == ("redis" if backend_settings.redis_url else "memory")
    yield built
    await built.close()


@pytest.fixture
async def redis_cache(redis_url: str, redis_namespace: str) -> AsyncIterator[RedisCache]:
    built = RedisCache.from_url(redis_url, namespace=redis_namespace)
    yield built
    await built.close()


def new_key() -> str:
    return f"cache-test:{secrets.token_hex(8)}"


# ---- both backends ----------------------------------------------------------------------------


async def test_set_get_delete(cache: Cache) -> None:
    key = new_key()
    assert await cache.get(key) is None
    await cache.set(key, b"first")
    assert await cache.get(key) == b"first"
    await cache.set(key, b"\x00second\xff")
    assert await cache.get(key) == b"\x00second\xff"
    await cache.delete(key)
    assert await cache.get(key) is None
    await cache.delete(key)  # deleting a missing key is fine


async def test_incr_counts_from_zero(cache: Cache) -> None:
    key = new_key()
    assert await cache.incr(key) == 1
    assert await cache.incr(key, 5) == 6
    assert await cache.incr(key, -10) == -4
    assert await cache.get(key) == b"-4"
    other = new_key()
    await cache.set(other, b"41")
    assert await cache.incr(other) == 42


async def test_concurrent_increments_are_not_lost(cache: Cache) -> None:
    key = new_key()
    results = await asyncio.gather(*(cache.incr(key, ttl_seconds=60) for _ in range(100)))
    assert sorted(results) == list(range(1, 101))
    assert await cache.get(key) == b"100"


@pytest.mark.parametrize(
    "stored", [b"abc", b"1.5", b" 1", b"01", b"-0", b"", b"9223372036854775808"]
)
async def test_incr_of_a_non_integer_is_refused(cache: Cache, stored: bytes) -> None:
    key = new_key()
    await cache.set(key, stored)
    with pytest.raises(CacheValueError) as refused:
        await cache.incr(key)
    assert refused.value.code == "cache_value_not_integer"
    assert await cache.get(key) == stored


async def test_incr_overflow_is_refused(cache: Cache) -> None:
    key = new_key()
    await cache.set(key, b"9223372036854775807")
    with pytest.raises(CacheValueError):
        await cache.incr(key)
    assert await cache.incr(key, -7) == 9223372036854775800


@pytest.mark.parametrize("ttl", [0, -1, -0.5])
async def test_non_positive_ttl_is_refused(cache: Cache, ttl: float) -> None:
    with pytest.raises(ValueError):
        await cache.set(new_key(), b"x", ttl_seconds=ttl)
    with pytest.raises(ValueError):
        await cache.incr(new_key(), ttl_seconds=ttl)


async def test_ping_answers(cache: Cache) -> None:
    await cache.ping()


# ---- expiry: memory on an injected clock --------------------------------------------------------


async def test_memory_entries_expire() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    await cache.set("k", b"v", ttl_seconds=5)
    clock.now += 4.9
    assert await cache.get("k") == b"v"
    clock.now += 0.1
    assert await cache.get("k") is None


async def test_memory_set_without_ttl_clears_the_expiry() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    await cache.set("k", b"v", ttl_seconds=1)
    await cache.set("k", b"w")
    clock.now += 100
    assert await cache.get("k") == b"w"


async def test_memory_incr_sets_the_expiry_only_on_creation() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    assert await cache.incr("k", ttl_seconds=10) == 1
    clock.now += 6
    assert await cache.incr("k", ttl_seconds=10) == 2
    clock.now += 4
    assert await cache.get("k") is None
    assert await cache.incr("k", ttl_seconds=10) == 1


async def test_memory_evicts_the_least_recently_used() -> None:
    cache = MemoryCache(max_entries=3)
    for key in ("a", "b", "c"):
        await cache.set(key, key.encode())
    assert await cache.get("a") == b"a"  # a is now the most recently used
    await cache.set("d", b"d")
    assert len(cache) == 3
    assert await cache.get("b") is None
    assert [await cache.get(k) for k in ("a", "c", "d")] == [b"a", b"c", b"d"]
    await cache.incr("e")
    assert len(cache) == 3
    assert await cache.get("a") is None


async def test_memory_purges_expired_entries_periodically() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock=clock, purge_interval_seconds=10)
    for i in range(50):
        await cache.set(f"short-{i}", b"x", ttl_seconds=1)
    await cache.set("long", b"y", ttl_seconds=100)
    await cache.set("forever", b"z")
    clock.now += 5
    await cache.get("unrelated")
    assert len(cache) == 52  # expired, but not yet purged: reads drop them lazily
    clock.now += 5
    await cache.get("unrelated")
    assert len(cache) == 2
    assert await cache.get("long") == b"y"


# ---- Redis only -------------------------------------------------------------------------------


async def test_redis_keys_are_namespaced(
    redis_cache: RedisCache, redis_client: Redis, redis_namespace: str
) -> None:
    key = new_key()
    await redis_cache.set(key, b"v")
    assert redis_cache.redis_key(key) == f"{redis_namespace}:{key}"
    assert await redis_client.get(f"{redis_namespace}:{key}") == b"v"
    assert await redis_client.exists(key) == 0


async def test_redis_entries_expire(redis_cache: RedisCache, redis_client: Redis) -> None:
    key = new_key()
    await redis_cache.set(key, b"v", ttl_seconds=0.1)
    assert 0 < await redis_client.pttl(redis_cache.redis_key(key)) <= 100
    assert await redis_cache.get(key) == b"v"
    await asyncio.sleep(0.2)
    assert await redis_cache.get(key) is None


async def test_redis_set_without_ttl_clears_the_expiry(
    redis_cache: RedisCache, redis_client: Redis
) -> None:
    key = new_key()
    await redis_cache.set(key, b"v", ttl_seconds=5)
    await redis_cache.set(key, b"w")
    assert await redis_client.pttl(redis_cache.redis_key(key)) == -1


async def test_redis_incr_sets_the_expiry_only_on_creation(
    redis_cache: RedisCache, redis_client: Redis
) -> None:
    key = new_key()
    stored = redis_cache.redis_key(key)
    assert await redis_cache.incr(key, ttl_seconds=30) == 1
    first_ttl = await redis_client.pttl(stored)
    assert 29_000 < first_ttl <= 30_000
    await redis_client.pexpire(stored, 5_000)
    assert await redis_cache.incr(key, 2, ttl_seconds=30) == 3
    assert 0 < await redis_client.pttl(stored) <= 5_000
    plain = new_key()
    await redis_cache.incr(plain)
    assert await redis_client.pttl(redis_cache.redis_key(plain)) == -1


async def test_redis_incr_expires(redis_cache: RedisCache) -> None:
    key = new_key()
    await redis_cache.incr(key, ttl_seconds=0.1)
    await asyncio.sleep(0.2)
    assert await redis_cache.get(key) is None
    assert await redis_cache.incr(key, ttl_seconds=0.1) == 1


async def test_unreachable_redis_raises_service_unavailable() -> None:
    cache = RedisCache.from_url("redis://127.0.0.1:1", namespace="unreachable")
    try:
        with pytest.raises(ServiceUnavailable) as failed:
            await cache.ping()
        assert failed.value.code == "cache_unavailable"
        assert failed.value.status == 503
        with pytest.raises(ServiceUnavailable):
            await cache.get("k")
        with pytest.raises(ServiceUnavailable):
            await cache.incr("k", ttl_seconds=1)
    finally:
        await cache.close()


def test_factory_picks_memory_without_redis_url() -> None:
    assert isinstance(build_cache(Settings(redis_url=None)), MemoryCache)
