"""FastAPI dependencies: who is calling, what they may do, and the tenant-bound database session.

Every route declares its need with ``require(...)``, ``require_platform_admin`` or ``public``; a test walks
all routes and fails on one that declares nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.gateway.ratelimit import HEADERS_STATE_KEY, enforce_rate_limit
from aiaas.kit.context import bind_caller
from aiaas.kit.errors import Forbidden, Unauthorized
from aiaas.kit.routing import request_guard
from aiaas.platform import Platform
from aiaas.tenancy.permissions import Principal

API_KEY_HEADER = "x-api-key"
PRINCIPAL_STATE_KEY = "principal"
"""Where the request's caller is kept (``scope["state"]``) once authenticated."""


async def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def _credential(request: Request) -> str:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized(
                "use 'Authorization: Bearer <token or API key>'", code="invalid_authorization"
            )
        return value.strip()
    key = request.headers.get(API_KEY_HEADER)
    if key:
        return key.strip()
    raise Unauthorized("authentication required", code="unauthenticated")


async def authenticate(request: Request) -> Principal:
    """Resolve the caller (API key or access token), bind it to the request and apply rate limits.

    Once per request: a later call (another dependency that needs the caller) gets the same
    principal without charging the rate limits again.
    """
    # request.state is this dict behind attribute access; every request comes through here.
    state: dict[str, Any] = request.scope.setdefault("state", {})
    known: Principal | None = state.get(PRINCIPAL_STATE_KEY)
    if known is not None:
        return known
    platform = await get_platform(request)
    credential = _credential(request)
    if credential.startswith("ak_"):
        principal = await platform.authenticator.from_api_key(credential)
    else:
        principal = await platform.authenticator.from_access_token(credential)
    state[PRINCIPAL_STATE_KEY] = principal
    state["tenant_slug"] = principal.tenant_slug or "-"
    tenant_id, actor = principal.context_fields
    bind_caller(tenant_id, principal.tenant_slug, actor)
    if principal.tenant_id is not None:
        state[HEADERS_STATE_KEY] = await enforce_rate_limit(platform, principal)
    return principal


# On a GuardedRoute these run before any other dependency, outside FastAPI's injection.
request_guard(authenticate, authenticate)

CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def _guard(rule: Callable[[Principal], Principal], declared: tuple[str, ...]) -> Any:
    """A dependency giving the caller once ``rule`` admits it, declaring ``declared``.

    It reads the caller straight from :func:`authenticate` (once per request), so FastAPI has no
    level to resolve for it, and a :class:`~aiaas.kit.routing.GuardedRoute` runs it first.
    """

    async def check(request: Request) -> Principal:
        return rule(await authenticate(request))

    check.required_permissions = declared  # type: ignore[attr-defined]
    request_guard(check, check)
    return check


def require(*permissions: str) -> Any:
    """Dependency: a tenant principal holding every one of ``permissions``."""

    def allowed(principal: Principal) -> Principal:
        if principal.tenant_id is None:
            raise Forbidden(
                "this endpoint acts on a tenant; sign in as a tenant user", code="tenant_required"
            )
        missing = [p for p in permissions if not principal.can(p)]
        if missing:
            raise Forbidden(
                f"missing permission: {', '.join(missing)}", code="insufficient_permissions"
            )
        return principal

    return Depends(_guard(allowed, permissions))


def _admin_only(principal: Principal) -> Principal:
    if not principal.is_platform_admin:
        raise Forbidden("platform admins only", code="platform_admin_required")
    return principal


require_platform_admin: Any = Depends(_guard(_admin_only, ("platform_admin",)))


def public(func: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a route handler as deliberately unauthenticated."""
    func.public_route = True  # type: ignore[attr-defined]
    return func


def _tenant_session(*, write: bool) -> Callable[..., AsyncIterator[AsyncSession]]:
    # The caller and the platform straight from the request: each dependency level FastAPI
    # resolves costs it more than both lookups.
    async def tenant_session(request: Request) -> AsyncIterator[AsyncSession]:
        principal = await authenticate(request)
        if principal.tenant_id is None:
            raise Forbidden("this endpoint acts on a tenant", code="tenant_required")
        platform = await get_platform(request)
        async with platform.db.transaction(principal.tenant_id, write=write) as session:
            yield session

    return tenant_session


# Deferred on SQLite: services may open their own (write) transactions inside a request.
TenantSession = Annotated[AsyncSession, Depends(_tenant_session(write=False), scope="function")]
"""A session bound to the caller's tenant, committed when the handler returns."""

TenantWriteSession = Annotated[AsyncSession, Depends(_tenant_session(write=True), scope="function")]
"""As :data:`TenantSession`, for a handler that reads and then writes in its transaction: on
SQLite it takes the write lock at once, so it waits for other writers instead of failing with
"database is locked" when one of them commits after its first read."""
