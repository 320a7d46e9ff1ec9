"""Redis fixtures: the shared server, and a key namespace per test session, removed at the end."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from tests.services import REDIS_URL, delete_redis_namespace, need_services

from aiaas.config import Settings


@pytest.fixture(scope="session")
async def redis_url() -> str:
    """The test Redis URL; skips (or fails, with AIAAS_TEST_SERVICES=required) when it is down."""
    await need_services("redis")
    return REDIS_URL


@pytest.fixture(scope="session")
async def redis_namespace(redis_url: str) -> AsyncIterator[str]:
    """A random key namespace for this session; every key under it is deleted at the end."""
    namespace = "t" + secrets.token_hex(6)
    yield namespace
    await delete_redis_namespace(redis_url, namespace)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    """A plain client to look at what the backends wrote."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
def backend_settings(request: pytest.FixtureRequest) -> Settings:
    """Settings for the in-memory backend and for Redis (the Redis case skips or fails without it)."""
    # Synchronous, so that the Redis fixtures are only set up (or skipped) for the Redis case.
    if request.param == "memory":
        return Settings(redis_url=None)
    return Settings(
        redis_url=request.getfixturevalue("redis_url"),
        namespace=request.getfixturevalue("redis_namespace"),
    )
