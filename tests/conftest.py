"""Shared fixtures: the platform on both backends.

``stack`` is parametrized over ``embedded`` (SQLite file + in-process bus, cache and limiter) and ``real``
(PostgreSQL with the migrations' RLS and app role, Redis, NATS JetStream). Each test starts from empty
tables; the databases, roles, key prefixes and streams are created per run and removed afterwards.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from aiaas.app import create_app
from aiaas.config import Settings
from aiaas.kit.db import Base
from aiaas.migrations import runner
from aiaas.platform import Platform, build_platform
from tests.services import (
    NATS_URL,
    REDIS_URL,
    ScratchDatabase,
    create_scratch_database,
    delete_redis_namespace,
    drop_scratch_database,
    need_services,
)

BACKENDS = ["embedded", "real"]


TINY_PLAN = {"requests_per_minute": 6, "api_key_requests_per_minute": 4, "seats": 2, "documents": 3}


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    plans = {
        name: plan.model_dump()
        for name, plan in Settings.model_fields["plans"].default_factory().items()
    }  # type: ignore[misc]
    plans["tiny"] = TINY_PLAN
    base: dict[str, Any] = {
        "plans": plans,
        "env": "test",
        "data_dir": data_dir,
        "auth": {"login_attempts_per_minute": 10_000, "credential_cache_ttl_seconds": 5.0},
        "telemetry": {"log_level": "WARNING"},
    }
    base.update(overrides)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


@dataclass
class Stack:
    name: str
    settings: Settings
    platform: Platform
    app: FastAPI
    client: httpx.AsyncClient
    owner_engine: AsyncEngine
    scratch: ScratchDatabase | None = None
    _lifespan: Any = field(default=None, repr=False)

    @property
    def is_postgres(self) -> bool:
        return self.settings.is_postgres

    async def reset(self) -> None:
        """Empty every table (as the owner) and forget cached credentials."""
        tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
        async with self.owner_engine.begin() as conn:
            if self.is_postgres:
                existing = {
                    r[0]
                    for r in await conn.execute(
                        text("SELECT tablename FROM pg_tables WHERE schemaname='public'")
                    )
                }
                names = ", ".join(f'"{t}"' for t in tables if t in existing)
                if names:
                    await conn.execute(text(f"TRUNCATE {names} CASCADE"))
            else:
                for table in tables:
                    await conn.execute(text(f'DELETE FROM "{table}"'))
        self.platform.credentials.clear()


async def _build_stack(name: str, tmp: Path) -> Stack:
    scratch = None
    if name == "real":
        await need_services("postgresql", "redis", "nats")
        scratch = await create_scratch_database()
        ns = "t" + secrets.token_hex(4)
        settings = make_settings(
            tmp,
            database_url=scratch.owner_url,
            database_app_role=scratch.app_role,
            redis_url=REDIS_URL,
            nats_url=NATS_URL,
            namespace=ns,
            events={"stream": ns.upper(), "relay_sweep_seconds": 0.5},
        )
    else:
        settings = make_settings(tmp, events={"relay_sweep_seconds": 0.5})
    await asyncio.to_thread(runner.upgrade, settings)
    platform = build_platform(settings)
    await platform.start(events=False)
    app = create_app(settings, platform=platform)
    lifespan = LifespanManager(app)
    await lifespan.__aenter__()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    owner_engine = create_async_engine(settings.owner_database_url)
    return Stack(name, settings, platform, app, client, owner_engine, scratch, lifespan)


@pytest.fixture(scope="session", params=BACKENDS)
async def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    built = await _build_stack(request.param, tmp_path_factory.mktemp(f"stack-{request.param}"))
    try:
        yield built
    finally:
        await built.client.aclose()
        await built._lifespan.__aexit__(None, None, None)
        await built.platform.stop()
        await built.owner_engine.dispose()
        if built.platform.bus.kind == "nats":
            await _delete_stream(built.settings)
        if built.settings.redis_url is not None:
            await delete_redis_namespace(built.settings.redis_url, built.settings.namespace)
        if built.scratch is not None:
            await drop_scratch_database(built.scratch)


async def _delete_stream(settings: Settings) -> None:
    import nats

    nc = await nats.connect(settings.nats_url)
    try:
        await nc.jetstream().delete_stream(settings.events.stream)
    except Exception:
        pass
    finally:
        await nc.close()


@pytest.fixture
async def env(stack: Stack) -> AsyncIterator[Stack]:
    """The stack with empty tables for this test."""
    await stack.reset()
    yield stack
