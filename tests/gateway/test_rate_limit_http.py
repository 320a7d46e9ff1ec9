"""Rate limits through HTTP: plan limits per tenant and per key, 429 with Retry-After and RateLimit-*."""

from __future__ import annotations

import asyncio

from tests.conftest import TINY_PLAN, Stack
from tests.factories import make_tenant


async def test_api_key_limit_then_429_with_headers(env: Stack) -> None:
    tenant = await make_tenant(env, plan="tiny")
    key_limit = TINY_PLAN["api_key_requests_per_minute"]
    responses = [
        await env.client.get("/api/v1/tenant", headers=tenant.key_auth)
        for _ in range(key_limit + 1)
    ]
    assert [r.status_code for r in responses[:key_limit]] == [200] * key_limit
    ok = responses[0]
    assert ok.headers["RateLimit-Limit"] == str(key_limit)
    assert ok.headers["RateLimit-Policy"] == f"{key_limit};w=60"
    assert int(ok.headers["RateLimit-Remaining"]) == key_limit - 1
    refused = responses[-1]
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    body = refused.json()
    assert body["code"] == "rate_limited" and body["limit_scope"] == "api_key"
    # one request frees up every 60/limit seconds: Retry-After never promises less than that wait
    assert int(refused.headers["Retry-After"]) >= int(60 / key_limit) - 1
    assert refused.headers["RateLimit-Remaining"] == "0"


async def test_tenant_limit_covers_every_credential_and_spares_other_tenants(env: Stack) -> None:
    tiny = await make_tenant(env, plan="tiny")
    other = await make_tenant(env, plan="tiny")
    tenant_limit = TINY_PLAN["requests_per_minute"]
    # make_tenant itself spent one tenant request (creating the key); the owner's token spends the rest
    statuses = [
        (await env.client.get("/api/v1/tenant", headers=tiny.auth)).status_code
        for _ in range(tenant_limit)
    ]
    assert statuses.count(200) == tenant_limit - 1 and statuses[-1] == 429
    refused = await env.client.get("/api/v1/tenant", headers=tiny.key_auth)
    assert refused.status_code == 429 and refused.json()["limit_scope"] == "tenant"
    assert (await env.client.get("/api/v1/tenant", headers=other.auth)).status_code == 200


async def test_concurrent_requests_admit_exactly_the_key_limit(env: Stack) -> None:
    tenant = await make_tenant(env, plan="tiny")
    key_limit = TINY_PLAN["api_key_requests_per_minute"]
    responses = await asyncio.gather(
        *(env.client.get("/api/v1/tenant", headers=tenant.key_auth) for _ in range(40))
    )
    assert sum(r.status_code == 200 for r in responses) == key_limit
    assert all(r.status_code in (200, 429) for r in responses)


async def test_a_request_is_charged_once_however_many_dependencies_need_the_caller(
    env: Stack,
) -> None:
    # Listing users takes the caller three ways: its permission guard, the tenant session, and
    # the service built on that session.
    tenant = await make_tenant(env, plan="tiny")
    key_limit = TINY_PLAN["api_key_requests_per_minute"]
    remaining = []
    for _ in range(2):
        response = await env.client.get("/api/v1/users", headers=tenant.key_auth)
        assert response.status_code == 200
        remaining.append(int(response.headers["RateLimit-Remaining"]))
    assert remaining == [key_limit - 1, key_limit - 2]
