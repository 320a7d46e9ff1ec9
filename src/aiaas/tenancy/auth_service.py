"""Dashboard sign-in: access + refresh tokens, refresh rotation with reuse detection, logout."""

from __future__ import annotations

from datetime import timedelta
from typing import NoReturn
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.config import Settings
from aiaas.events.outbox import record_event
from aiaas.kit.clock import as_utc, utcnow
from aiaas.kit.db import Database
from aiaas.kit.errors import Unauthorized
from aiaas.kit.ids import new_id
from aiaas.kit.security import JwtCodec, TokenError, uuid_claim, verify_password
from aiaas.tenancy.credentials import Authenticator, CredentialCache
from aiaas.tenancy.models import PlatformAdmin, PlatformRefreshToken, RefreshToken, User
from aiaas.tenancy.permissions import PLATFORM_ADMIN, ROLE_PERMISSIONS, Principal, Role
from aiaas.tenancy.repository import (
    PlatformAdminRepository,
    PlatformRefreshTokenRepository,
    RefreshTokenRepository,
    UserRepository,
)
from aiaas.tenancy.schemas import TokenPair

_BAD_LOGIN = "invalid email, password or tenant"


class AuthService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        authenticator: Authenticator,
        credentials: CredentialCache,
        codec: JwtCodec,
    ) -> None:
        self.db = db
        self.settings = settings
        self.authenticator = authenticator
        self.credentials = credentials
        self.codec = codec

    async def login(self, email: str, password: str, tenant_slug: str | None) -> TokenPair:
        if tenant_slug is None:
            return await self._platform_login(email, password)
        try:
            tenant = await self.authenticator.tenant_by_slug(tenant_slug)  # 403 when disabled
        except Unauthorized:
            await verify_password(None, password)  # same time as a wrong password: no oracle
            raise Unauthorized(_BAD_LOGIN, code="invalid_credentials") from None
        async with self.db.transaction(tenant.id) as session:
            user = await UserRepository(session).by_email(email)
            if (
                not await verify_password(user.password_hash if user else None, password)
                or user is None
            ):
                raise Unauthorized(_BAD_LOGIN, code="invalid_credentials")
            if not user.is_active:
                raise Unauthorized("user is deactivated", code="user_deactivated")
            user.last_login_at = utcnow()
            family = new_id()
            refresh = await self._issue_refresh(session, user, family)
            await record_event(
                session,
                "tenancy.session.started",
                {"user_id": str(user.id), "session_id": str(family)},
                subject_type="user",
                subject_id=str(user.id),
            )
        return self._pair(self._user_principal(user, tenant.slug, family), user.email, refresh)

    async def refresh(self, refresh_token: str) -> TokenPair:
        claims = self._decode_refresh(refresh_token)
        jti, family = uuid_claim(claims, "jti"), uuid_claim(claims, "sid")
        if jti is None or family is None:
            raise Unauthorized("invalid refresh token", code="invalid_token")
        if claims.get("role") == PLATFORM_ADMIN:
            return await self._platform_refresh(jti, family)
        tenant_id = uuid_claim(claims, "tid")
        tenant = await self.authenticator.tenant_by_id(tenant_id) if tenant_id else None
        if tenant is None:
            raise Unauthorized("invalid refresh token", code="invalid_token")
        async with self.db.transaction(tenant.id) as session:
            row = await RefreshTokenRepository(session).get(jti)
            if not _check_rotation(row, family):
                await RefreshTokenRepository(session).revoke_family(family, utcnow())
            else:
                assert row is not None
                user = await UserRepository(session).get(row.user_id)
                if user is None or not user.is_active:
                    raise Unauthorized("user is deactivated", code="user_deactivated")
                row.used_at = utcnow()
                refresh = await self._issue_refresh(session, user, family)
                return self._pair(
                    self._user_principal(user, tenant.slug, family), user.email, refresh
                )
        await self._reused(family)

    async def logout(self, principal: Principal) -> None:
        """End the caller's session: its refresh tokens stop working and its access tokens too."""
        if principal.session_id is None:
            return
        now = utcnow()
        if principal.is_platform_admin:
            async with self.db.transaction(None) as session:
                await PlatformRefreshTokenRepository(session).revoke_family(
                    principal.session_id, now
                )
        else:
            async with self.db.transaction(principal.tenant_id) as session:
                await RefreshTokenRepository(session).revoke_family(principal.session_id, now)
                await record_event(
                    session,
                    "tenancy.session.revoked",
                    {"user_id": str(principal.id), "session_id": str(principal.session_id)},
                    subject_type="user",
                    subject_id=str(principal.id),
                )
        await self.credentials.revoke_session(principal.session_id)

    # ---- internals -----------------------------------------------------------------------------
    async def _platform_login(self, email: str, password: str) -> TokenPair:
        async with self.db.transaction(None) as session:
            admin = await PlatformAdminRepository(session).by_email(email)
            if (
                not await verify_password(admin.password_hash if admin else None, password)
                or admin is None
            ):
                raise Unauthorized(_BAD_LOGIN, code="invalid_credentials")
            if not admin.is_active:
                raise Unauthorized("account is deactivated", code="user_deactivated")
            family = new_id()
            refresh = await self._issue_platform_refresh(session, admin, family)
        return self._pair(_admin_principal(admin, family), admin.email, refresh)

    async def _platform_refresh(self, jti: UUID, family: UUID) -> TokenPair:
        async with self.db.transaction(None) as session:
            row = await PlatformRefreshTokenRepository(session).get(jti)
            if not _check_rotation(row, family):
                await PlatformRefreshTokenRepository(session).revoke_family(family, utcnow())
            else:
                assert row is not None
                admin = await PlatformAdminRepository(session).get(row.admin_id)
                if admin is None or not admin.is_active:
                    raise Unauthorized("account is deactivated", code="user_deactivated")
                row.used_at = utcnow()
                refresh = await self._issue_platform_refresh(session, admin, family)
                return self._pair(_admin_principal(admin, family), admin.email, refresh)
        await self._reused(family)

    async def _reused(self, family: UUID) -> NoReturn:
        await self.credentials.revoke_session(family)
        raise Unauthorized("refresh token reused; session revoked", code="refresh_token_reused")

    def _decode_refresh(self, token: str) -> dict[str, object]:
        try:
            return self.codec.decode(token, typ="refresh")
        except TokenError as exc:
            raise Unauthorized(str(exc), code="invalid_token") from exc

    def _refresh_ttl(self) -> timedelta:
        return timedelta(seconds=self.settings.auth.refresh_token_ttl_seconds)

    async def _issue_refresh(self, session: AsyncSession, user: User, family: UUID) -> str:
        token, jti, expires = self.codec.encode(
            {"sub": str(user.id), "sid": str(family), "tid": str(user.tenant_id)},
            self._refresh_ttl(),
            typ="refresh",
        )
        await RefreshTokenRepository(session).add(
            RefreshToken(id=UUID(jti), family_id=family, user_id=user.id, expires_at=expires)
        )
        return token

    async def _issue_platform_refresh(
        self, session: AsyncSession, admin: PlatformAdmin, family: UUID
    ) -> str:
        token, jti, expires = self.codec.encode(
            {"sub": str(admin.id), "sid": str(family), "role": PLATFORM_ADMIN},
            self._refresh_ttl(),
            typ="refresh",
        )
        await PlatformRefreshTokenRepository(session).add(
            PlatformRefreshToken(
                id=UUID(jti), family_id=family, admin_id=admin.id, expires_at=expires
            )
        )
        return token

    def _user_principal(self, user: User, slug: str, family: UUID) -> Principal:
        role = Role(user.role)
        return Principal(
            kind="user",
            id=user.id,
            display=user.email,
            permissions=ROLE_PERMISSIONS[role],
            tenant_id=user.tenant_id,
            tenant_slug=slug,
            role=role,
            session_id=family,
        )

    def _pair(self, principal: Principal, email: str, refresh: str) -> TokenPair:
        access, ttl = self.authenticator.access_token(principal, email)
        return TokenPair(access_token=access, refresh_token=refresh, expires_in=ttl)


def _admin_principal(admin: PlatformAdmin, family: UUID) -> Principal:
    return Principal(
        kind=PLATFORM_ADMIN,
        id=admin.id,
        display=admin.email,
        permissions=frozenset(),
        session_id=family,
    )


def _check_rotation(row: RefreshToken | PlatformRefreshToken | None, family: UUID) -> bool:
    """True when the token may be rotated; False when it was used before (a leak: end the session)."""
    if row is None or row.family_id != family:
        raise Unauthorized("invalid refresh token", code="invalid_token")
    if row.revoked_at is not None:
        raise Unauthorized("session revoked", code="session_revoked")
    if as_utc(row.expires_at) <= utcnow():
        raise Unauthorized("refresh token expired", code="invalid_token")
    return row.used_at is None
