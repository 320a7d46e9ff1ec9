"""Reaching the real services for tests: PostgreSQL, Redis and NATS on this machine.

With ``AIAAS_TEST_SERVICES=required`` a missing service fails the run; otherwise the cases that need it skip.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass

import pytest

PG_ADMIN_URL = os.environ.get(
    "AIAAS_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("AIAAS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("AIAAS_TEST_NATS_URL", "nats://127.0.0.1:4222")
REQUIRED = os.environ.get("AIAAS_TEST_SERVICES", "").lower() == "required"


async def _pg_ok() -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL.replace("+asyncpg", ""), timeout=3)
    await conn.close()


async def _redis_ok() -> None:
    import redis.asyncio as redis

    client = redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _nats_ok() -> None:
    import nats

    nc = await nats.connect(
        NATS_URL, connect_timeout=3, max_reconnect_attempts=0, allow_reconnect=False
    )
    try:
        js = nc.jetstream()
        await js.account_info()
    finally:
        await nc.close()


_CHECKS = {"postgresql": _pg_ok, "redis": _redis_ok, "nats": _nats_ok}
_status: dict[str, str | None] = {}


async def missing_services(*names: str) -> list[str]:
    """Names of the services (among ``names``) that do not answer, with the reason."""
    missing = []
    for name in names:
        if name not in _status:
            try:
                await asyncio.wait_for(_CHECKS[name](), 5)
                _status[name] = None
            except Exception as exc:
                _status[name] = f"{name}: {type(exc).__name__}: {exc}"
        if _status[name]:
            missing.append(_status[name])
    return missing


async def need_services(*names: str) -> None:
    """Skip (or fail when services are required) unless every named service answers."""
    missing = await missing_services(*names)
    if missing:
        message = "real services unavailable: " + "; ".join(m for m in missing if m)
        if REQUIRED:
            pytest.fail(message + " (AIAAS_TEST_SERVICES=required)")
        pytest.skip(message)


@dataclass
class ScratchDatabase:
    name: str
    app_role: str
    owner_url: str


async def create_scratch_database() -> ScratchDatabase:
    """A new empty PostgreSQL database and a unique app role name for it."""
    import asyncpg

    suffix = secrets.token_hex(4)
    name, role = f"aiaas_test_{suffix}", f"aiaas_app_{suffix}"
    conn = await asyncpg.connect(PG_ADMIN_URL.replace("+asyncpg", ""))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    owner_url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    return ScratchDatabase(name=name, app_role=role, owner_url=owner_url)


async def drop_scratch_database(db: ScratchDatabase) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL.replace("+asyncpg", ""))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
        await conn.execute(f"""DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{db.app_role}') THEN
              DROP ROLE "{db.app_role}";
            END IF; END $$""")
    finally:
        await conn.close()


async def delete_redis_namespace(url: str, namespace: str) -> None:
    """Delete every key under ``namespace:`` (what a test's platform left in Redis)."""
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{namespace}:*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
