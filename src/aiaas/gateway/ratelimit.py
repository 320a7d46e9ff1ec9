"""Per-tenant and per-API-key rate limits, with limits read from the tenant's plan."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiaas.backends.ratelimit import RateLimitResult, rate_limit_headers
from aiaas.gateway.metrics import RATE_LIMIT_REJECTIONS
from aiaas.kit.errors import RateLimited

if TYPE_CHECKING:
    from aiaas.platform import Platform
    from aiaas.tenancy.permissions import Principal

WINDOW_SECONDS = 60.0


async def enforce_rate_limit(platform: Platform, principal: Principal) -> dict[str, str]:
    """Count one request against the API key's and the tenant's limits; raise 429 when over either.

    The key is checked first so a key at its own limit does not spend its tenant's allowance.
    Returns the ``RateLimit-*`` headers of the tighter of the two limits.
    """
    plan = platform.settings.plan(principal.plan or platform.settings.default_plan)
    tenant = principal.tenant_slug or "-"
    results: list[tuple[str, RateLimitResult]] = []
    if principal.kind == "api_key":
        key_result = await platform.limiter.hit(
            f"key:{principal.id}", plan.api_key_requests_per_minute, WINDOW_SECONDS
        )
        results.append(("api_key", key_result))
        if not key_result.allowed:
            _reject(tenant, "api_key", key_result)
    tenant_result = await platform.limiter.hit(
        f"tenant:{principal.tenant_id}", plan.requests_per_minute, WINDOW_SECONDS
    )
    results.append(("tenant", tenant_result))
    if not tenant_result.allowed:
        _reject(tenant, "tenant", tenant_result)
    _, tightest = min(results, key=lambda item: item[1].remaining)
    return rate_limit_headers(tightest, WINDOW_SECONDS)


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
