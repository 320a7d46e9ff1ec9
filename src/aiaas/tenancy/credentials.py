"""Verifying credentials on every request: API keys and access tokens, with a short in-process cache.

A verified API key or tenant status is cached for ``auth.credential_cache_ttl_seconds`` so the hot path
does no database round trip. Revoking a key or disabling a tenant drops the entry on this replica at once
and on other replicas within that TTL. Revoked sessions are kept in the shared cache (Redis in
production) so a logout is honoured by every replica immediately.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from aiaas.backends.cache import Cache
from aiaas.config import Settings
from aiaas.kit.clock import as_utc, utcnow
from aiaas.kit.db import Database
from aiaas.kit.errors import TenantDisabled, Unauthorized
from aiaas.kit.security import (
    JwtCodec,
    TokenError,
    constant_time_equals,
    hash_api_key,
    parse_api_key,
    uuid_claim,
)
from aiaas.tenancy.models import Tenant
from aiaas.tenancy.permissions import PLATFORM_ADMIN, ROLE_PERMISSIONS, Principal, Role
from aiaas.tenancy.repository import ApiKeyRepository, TenantRepository

LAST_USED_RESOLUTION_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class TenantInfo:
    id: UUID
    slug: str
    plan: str
    status: str


class _TtlMap:
    """Entries that expire ``ttl`` seconds after they were put, loaded once however many ask.

    When an entry expires under load, every request arriving before it is loaded again would miss
    it; :meth:`get_or_load` lets them wait for the one load in flight instead of each querying the
    database (which slows the query further and lets still more requests miss)."""

    def __init__(self, ttl: float, max_entries: int = 50_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._data: dict[Any, tuple[float, Any]] = {}
        self._loading: dict[Any, asyncio.Task[Any]] = {}

    def get(self, key: Any) -> Any | None:
        hit = self._data.get(key)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            self._data.pop(key, None)
            return None
        return hit[1]

    async def get_or_load(self, key: Any, load: Callable[[], Awaitable[Any]]) -> Any:
        """The cached value, or the value ``load`` returns (cached; shared with every caller
        asking for ``key`` meanwhile). What ``load`` raises reaches each of them, uncached."""
        hit = self.get(key)
        if hit is not None:
            return hit
        task = self._loading.get(key)
        if task is None:
            task = asyncio.ensure_future(load())
            self._loading[key] = task
            task.add_done_callback(lambda done: self._loaded(key, done))
        # Shielded: a caller that goes away must not cancel the load the others wait for.
        return await asyncio.shield(task)

    def _loaded(self, key: Any, task: asyncio.Task[Any]) -> None:
        if self._loading.get(key) is not task:
            return  # dropped while loading (revoked, disabled): what it read may be stale
        del self._loading[key]
        if not task.cancelled() and task.exception() is None:
            self.put(key, task.result())

    def put(self, key: Any, value: Any) -> None:
        if self.ttl <= 0:
            return
        if len(self._data) >= self.max_entries:
            self._data.clear()
        self._data[key] = (time.monotonic() + self.ttl, value)

    def pop(self, key: Any) -> None:
        self._data.pop(key, None)
        self._loading.pop(key, None)

    def pop_where(self, predicate: Any) -> None:
        for key in [k for k, (_, v) in self._data.items() if predicate(v)]:
            self._data.pop(key, None)
        # What is still loading cannot be tested yet: drop it, its callers still get its answer.
        self._loading.clear()


class CredentialCache:
    """Caches of verified credentials and the shared list of revoked sessions."""

    def __init__(self, settings: Settings, cache: Cache) -> None:
        ttl = settings.auth.credential_cache_ttl_seconds
        self.tenants = _TtlMap(ttl)
        self.keys = _TtlMap(ttl)
        # Verified keys are cached under a keyed BLAKE2b of the presented key, which costs a
        # fraction of the HMAC-SHA-256 stored in the database; the key of this hash is random per
        # process, so the cache holds nothing a stored hash could be checked against.
        self._lookup_key = os.urandom(32)
        self.cache = cache
        self.session_ttl = settings.auth.access_token_ttl_seconds + 60

    def clear(self) -> None:
        self.tenants.pop_where(lambda _: True)
        self.keys.pop_where(lambda _: True)

    def forget_tenant(self, slug: str) -> None:
        self.tenants.pop(slug)
        self.keys.pop_where(lambda entry: entry[0].tenant_slug == slug)

    def key_lookup(self, raw: str) -> bytes:
        """Where a presented API key's verified principal is cached."""
        return hashlib.blake2b(raw.encode(), key=self._lookup_key, digest_size=32).digest()

    def forget_key(self, key_id: UUID) -> None:
        self.keys.pop_where(lambda entry: entry[0].id == key_id)

    async def revoke_session(self, family_id: UUID) -> None:
        await self.cache.set(f"revoked-session:{family_id}", b"1", ttl_seconds=self.session_ttl)

    async def is_session_revoked(self, family_id: UUID) -> bool:
        return await self.cache.get(f"revoked-session:{family_id}") is not None


class Authenticator:
    """Turns a presented credential into a :class:`Principal`, or raises 401/403."""

    def __init__(
        self, db: Database, settings: Settings, credentials: CredentialCache, codec: JwtCodec
    ) -> None:
        self.db = db
        self.settings = settings
        self.credentials = credentials
        self.codec = codec
        self._touched: dict[UUID, float] = {}
        self._background: set[asyncio.Task[None]] = set()

    async def tenant_by_slug(self, slug: str) -> TenantInfo:
        """The active tenant with this slug (cached); 401 when unknown, 403 when disabled."""

        async def load() -> TenantInfo:
            async with self.db.transaction(None, write=False) as session:
                return _admitted(await TenantRepository(session).by_slug(slug))

        info: TenantInfo = await self.credentials.tenants.get_or_load(slug, load)
        return _active(info)

    async def tenant_by_id(self, tenant_id: UUID) -> TenantInfo:
        """The active tenant with this id, read once and cached under its slug."""
        async with self.db.transaction(None, write=False) as session:
            info = _admitted(await TenantRepository(session).get(tenant_id))
        self.credentials.tenants.put(info.slug, info)
        return _active(info)

    async def from_api_key(self, raw: str) -> Principal:
        parts = parse_api_key(raw)
        if parts is None:
            raise Unauthorized("malformed API key", code="invalid_api_key")
        tenant = await self.tenant_by_slug(parts.tenant_slug)
        lookup = self.credentials.key_lookup(raw)

        async def load() -> tuple[Principal, datetime | None]:
            digest = hash_api_key(raw, self.settings.api_key_secret)
            async with self.db.transaction(tenant.id, write=False) as session:
                key = await ApiKeyRepository(session).by_prefix(parts.prefix)
            if key is None or not constant_time_equals(key.key_hash, digest):
                raise Unauthorized("invalid API key", code="invalid_api_key")
            if key.revoked_at is not None:
                raise Unauthorized("API key revoked", code="api_key_revoked")
            principal = Principal(
                kind="api_key",
                id=key.id,
                display=f"key {key.prefix} ({key.name})",
                permissions=frozenset(key.scopes),
                tenant_id=tenant.id,
                tenant_slug=tenant.slug,
                plan=tenant.plan,
                role=None,
            )
            return principal, key.expires_at

        principal, expires_at = await self.credentials.keys.get_or_load(lookup, load)
        if expires_at is not None and as_utc(expires_at) <= utcnow():
            self.credentials.keys.pop(lookup)
            raise Unauthorized("API key expired", code="api_key_expired")
        if principal.plan != tenant.plan:
            principal = _with_plan(principal, tenant.plan)
        self._touch_later(principal)
        return principal

    async def from_access_token(self, token: str) -> Principal:
        try:
            claims = self.codec.decode(token, typ="access")
            subject = uuid_claim(claims, "sub")
            session_id = uuid_claim(claims, "sid")
            tenant_id = uuid_claim(claims, "tid")
        except TokenError as exc:
            raise Unauthorized(str(exc), code="invalid_token") from exc
        if subject is None:
            raise Unauthorized("token has no subject", code="invalid_token")
        if session_id is not None and await self.credentials.is_session_revoked(session_id):
            raise Unauthorized("session revoked", code="session_revoked")
        if claims.get("role") == PLATFORM_ADMIN:
            return Principal(
                kind=PLATFORM_ADMIN,
                id=subject,
                display=str(claims.get("email", "")),
                permissions=frozenset(),
                session_id=session_id,
            )
        slug = claims.get("ten")
        if tenant_id is None or not isinstance(slug, str):
            raise Unauthorized("token has no tenant", code="invalid_token")
        tenant = await self.tenant_by_slug(slug)
        if tenant.id != tenant_id:
            raise Unauthorized("token tenant mismatch", code="invalid_token")
        try:
            role = Role(str(claims.get("role")))
        except ValueError as exc:
            raise Unauthorized("token has no valid role", code="invalid_token") from exc
        return Principal(
            kind="user",
            id=subject,
            display=str(claims.get("email", "")),
            permissions=ROLE_PERMISSIONS[role],
            tenant_id=tenant.id,
            tenant_slug=tenant.slug,
            plan=tenant.plan,
            role=role,
            session_id=session_id,
        )

    def access_token(self, principal: Principal, email: str) -> tuple[str, int]:
        claims: dict[str, Any] = {
            "sub": str(principal.id),
            "email": email,
            "sid": str(principal.session_id) if principal.session_id else None,
        }
        if principal.is_platform_admin:
            claims["role"] = PLATFORM_ADMIN
        else:
            claims.update(
                tid=str(principal.tenant_id),
                ten=principal.tenant_slug,
                role=principal.role.value if principal.role else None,
            )
        ttl = self.settings.auth.access_token_ttl_seconds
        token, _, _ = self.codec.encode(claims, timedelta(seconds=ttl), typ="access")
        return token, ttl

    def _touch_later(self, principal: Principal) -> None:
        """Record last use at most once a minute per key, off the request path."""
        now = time.monotonic()
        if now - self._touched.get(principal.id, 0.0) < LAST_USED_RESOLUTION_SECONDS:
            return
        self._touched[principal.id] = now
        task = asyncio.get_running_loop().create_task(self._touch(principal))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _touch(self, principal: Principal) -> None:
        try:
            async with self.db.transaction(principal.tenant_id) as session:
                await ApiKeyRepository(session).touch(principal.id, utcnow())
        except Exception:
            self._touched.pop(principal.id, None)

    async def drain(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)


def _admitted(tenant: Tenant | None) -> TenantInfo:
    if tenant is None:
        raise Unauthorized("invalid credentials", code="invalid_credentials")
    return TenantInfo(id=tenant.id, slug=tenant.slug, plan=tenant.plan, status=tenant.status)


def _active(info: TenantInfo) -> TenantInfo:
    if info.status != "active":
        raise TenantDisabled(f"tenant {info.slug} is disabled")
    return info


def _with_plan(principal: Principal, plan: str) -> Principal:
    return replace(principal, plan=plan)
