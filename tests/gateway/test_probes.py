"""Liveness, readiness (database, Redis, NATS) and the Prometheus metrics the platform exports."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from aiaas.app import create_app
from aiaas.migrations import runner
from tests.conftest import Stack, make_settings
from tests.factories import make_tenant


async def test_healthz_and_readyz(env: Stack) -> None:
    assert (await env.client.get("/healthz")).json() == {"status": "ok"}
    ready = await env.client.get("/readyz")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    expected = {"database", "redis", "nats"} if env.name == "real" else {"database"}
    assert set(checks) == expected and set(checks.values()) == {"ok"}


async def test_readyz_reports_an_unreachable_dependency(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, redis_url="redis://127.0.0.1:1/0")
    await asyncio.to_thread(runner.upgrade, settings)
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["redis"].startswith("error")


async def test_metrics_cover_requests_limits_and_events(env: Stack) -> None:
    tenant = await make_tenant(env)
    await env.client.get("/api/v1/tenant", headers=tenant.key_auth)
    text = (await env.client.get("/metrics")).text
    for name in (
        "aiaas_http_requests_total",
        "aiaas_http_request_duration_seconds_bucket",
        "aiaas_rate_limit_rejections_total",
        "aiaas_outbox_lag_seconds",
        "aiaas_outbox_pending",
        "aiaas_consumer_lag",
        "aiaas_dead_letters_total",
    ):
        assert name in text, name
    labels = f'method="GET",route="/api/v1/tenant",status="200",tenant="{tenant.slug}"'
    assert f"aiaas_http_requests_total{{{labels}}} 1.0" in text
