"""All SQL of the tenancy domain."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select, update

from aiaas.kit.pagination import PageParams
from aiaas.kit.repository import Repository
from aiaas.tenancy.models import (
    ApiKey,
    PlatformAdmin,
    PlatformRefreshToken,
    RefreshToken,
    Tenant,
    User,
)


class TenantRepository(Repository[Tenant]):
    model = Tenant

    async def by_slug(self, slug: str) -> Tenant | None:
        return await self.one_or_none(self.select().where(Tenant.slug == slug))

    async def list_page(
        self, params: PageParams, status: str | None = None
    ) -> tuple[list[Tenant], str | None]:
        stmt = self.select()
        if status:
            stmt = stmt.where(Tenant.status == status)
        return await self.page(stmt, params)

    async def active_ids(self) -> list[UUID]:
        result = await self.session.execute(select(Tenant.id).order_by(Tenant.id))
        return list(result.scalars().all())


class UserRepository(Repository[User]):
    model = User

    async def by_email(self, email: str) -> User | None:
        return await self.one_or_none(self.select().where(func.lower(User.email) == email.lower()))

    async def count_active(self) -> int:
        return await self.count(self.select().where(User.is_active.is_(True)))

    async def count_owners(self) -> int:
        return await self.count(self.select().where(User.is_active.is_(True), User.role == "owner"))

    async def list_page(self, params: PageParams) -> tuple[list[User], str | None]:
        return await self.page(self.select(), params)


class ApiKeyRepository(Repository[ApiKey]):
    model = ApiKey

    async def by_prefix(self, prefix: str) -> ApiKey | None:
        return await self.one_or_none(self.select().where(ApiKey.prefix == prefix))

    async def list_page(
        self, params: PageParams, include_revoked: bool
    ) -> tuple[list[ApiKey], str | None]:
        stmt = self.select()
        if not include_revoked:
            stmt = stmt.where(ApiKey.revoked_at.is_(None))
        return await self.page(stmt, params)

    async def touch(self, key_id: UUID, when: datetime) -> None:
        await self.session.execute(
            update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=when)
        )


class RefreshTokenRepository(Repository[RefreshToken]):
    model = RefreshToken

    async def revoke_family(self, family_id: UUID, when: datetime) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=when)
        )

    async def revoke_user(self, user_id: UUID, when: datetime) -> list[UUID]:
        families = await self.session.execute(
            select(RefreshToken.family_id)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .distinct()
        )
        ids = list(families.scalars().all())
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=when)
        )
        return ids


class PlatformAdminRepository(Repository[PlatformAdmin]):
    model = PlatformAdmin

    async def by_email(self, email: str) -> PlatformAdmin | None:
        return await self.one_or_none(
            self.select().where(func.lower(PlatformAdmin.email) == email.lower())
        )


class PlatformRefreshTokenRepository(Repository[PlatformRefreshToken]):
    model = PlatformRefreshToken

    async def revoke_family(self, family_id: UUID, when: datetime) -> None:
        await self.session.execute(
            update(PlatformRefreshToken)
            .where(
                PlatformRefreshToken.family_id == family_id,
                PlatformRefreshToken.revoked_at.is_(None),
            )
            .values(revoked_at=when)
        )
