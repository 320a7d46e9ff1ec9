"""Redis fixtures: the shared server, and a key namespace per test session, removed at the end."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from tests.services import REDIS_URL, need_services


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
    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{namespace}:*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    """A plain client to look at what the backends wrote."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()
