"""Per-tenant and per-API-key rate limits, with limits read from the tenant's plan."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from aiaas.backends.ratelimit import (
    Limit,
    RateLimitResult,
    rate_limit_header_fields,
    rate_limit_headers,
)
from aiaas.gateway.metrics import RATE_LIMIT_REJECTIONS
from aiaas.kit.errors import RateLimited

if TYPE_CHECKING:
    from aiaas.platform import Platform
    from aiaas.tenancy.permissions import Principal

WINDOW_SECONDS = 60.0
HEADERS_STATE_KEY = "rate_limit_headers"
"""Where a request's ``RateLimit-*`` header fields wait (in ``scope["state"]``) for the response:
the gateway middleware adds them as the response starts, whatever response the handler returns."""


async def enforce_rate_limit(platform: Platform, principal: Principal) -> list[tuple[bytes, bytes]]:
    """Count one request against the tenant's limit and, for an API key, the key's own limit.

    Both buckets are charged in one atomic step (one Redis round trip), all or nothing: a request
    refused by either costs neither. Returns the ``RateLimit-*`` header fields of the tighter
    limit.
    """
    plan = platform.settings.plan(principal.plan or platform.settings.default_plan)
    tenant_id, actor = principal.context_fields
    limits, scopes = _buckets(
        tenant_id,
        actor.id if principal.kind == "api_key" else None,
        plan.requests_per_minute,
        plan.api_key_requests_per_minute,
    )
    results = await platform.limiter.hit_all(limits)
    tightest = results[0]
    for scope, result in zip(scopes, results, strict=True):
        if not result.allowed:
            _reject(principal.tenant_slug or "-", scope, result)
        if result.remaining < tightest.remaining:
            tightest = result
    return rate_limit_header_fields(tightest, WINDOW_SECONDS)


@lru_cache(maxsize=65_536)
def _buckets(
    tenant_id: str | None, api_key_id: str | None, tenant_limit: int, api_key_limit: int
) -> tuple[tuple[Limit, ...], tuple[str, ...]]:
    """The buckets a request is charged to and their scope names (the same on every request of
    a caller, so they are built once; keyed by the ids' text, whose hash Python keeps)."""
    tenant = Limit(f"tenant:{tenant_id}", tenant_limit, WINDOW_SECONDS)
    if api_key_id is None:
        return (tenant,), ("tenant",)
    key = Limit(f"key:{api_key_id}", api_key_limit, WINDOW_SECONDS)
    return (tenant, key), ("tenant", "api_key")


async def enforce_login_limit(platform: Platform, client: str) -> None:
    """Slow down password guessing: a few sign-in attempts per client address per minute."""
    result = await platform.limiter.hit(
        f"login:{client}", platform.settings.auth.login_attempts_per_minute, WINDOW_SECONDS
    )
    if not result.allowed:
        _reject("-", "login", result)


def _reject(tenant: str, scope: str, result: RateLimitResult) -> None:
    RATE_LIMIT_REJECTIONS.labels(tenant=tenant, scope=scope).inc()
    raise RateLimited(
        f"{scope.replace('_', ' ')} rate limit of {result.limit} requests per minute exceeded; "
        f"retry in {result.retry_after:.1f}s",
        headers=rate_limit_headers(result, WINDOW_SECONDS),
        extra={"limit_scope": scope},
    )
