"""Tenancy logic: tenants (platform level), users and API keys (tenant level). No HTTP here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.config import Settings
from aiaas.events.outbox import record_event
from aiaas.kit.clock import as_utc, utcnow
from aiaas.kit.db import Database
from aiaas.kit.errors import BadRequest, Conflict, Forbidden, NotFound
from aiaas.kit.ids import new_id
from aiaas.kit.pagination import PageParams
from aiaas.kit.security import hash_api_key, hash_password, new_api_key
from aiaas.tenancy.credentials import CredentialCache
from aiaas.tenancy.models import ApiKey, Tenant, User
from aiaas.tenancy.permissions import ROLE_PERMISSIONS, ROLE_RANK, Principal, Role
from aiaas.tenancy.repository import (
    ApiKeyRepository,
    RefreshTokenRepository,
    TenantRepository,
    UserRepository,
)


@dataclass(frozen=True)
class NewTenant:
    slug: str
    name: str
    owner_email: str
    owner_password: str
    plan: str | None = None
    owner_name: str = ""


class TenantService:
    """Platform-level management of tenants (platform admins and the CLI)."""

    def __init__(self, db: Database, settings: Settings, credentials: CredentialCache) -> None:
        self.db = db
        self.settings = settings
        self.credentials = credentials

    def _plan(self, plan: str | None) -> str:
        plan = plan or self.settings.default_plan
        if plan not in self.settings.plans:
            raise BadRequest(
                f"unknown plan {plan!r}; plans: {', '.join(sorted(self.settings.plans))}",
                code="unknown_plan",
            )
        return plan

    async def create(self, new: NewTenant) -> Tenant:
        """Create a tenant with its owner user, in one transaction with their events."""
        tenant_id = new_id()
        plan = self._plan(new.plan)
        try:
            async with self.db.transaction(tenant_id) as session:
                if await TenantRepository(session).by_slug(new.slug):
                    raise Conflict(f"tenant slug {new.slug!r} is taken", code="slug_taken")
                tenant = await TenantRepository(session).add(
                    Tenant(id=tenant_id, slug=new.slug, name=new.name, plan=plan, status="active")
                )
                owner = await UserRepository(session).add(
                    User(
                        email=new.owner_email.lower(),
                        name=new.owner_name,
                        password_hash=await hash_password(new.owner_password),
                        role=Role.OWNER,
                        is_active=True,
                    )
                )
                await record_event(
                    session,
                    "tenancy.tenant.created",
                    {
                        "tenant_id": str(tenant.id),
                        "slug": tenant.slug,
                        "name": tenant.name,
                        "plan": plan,
                    },
                    subject_type="tenant",
                    subject_id=str(tenant.id),
                )
                await record_event(
                    session,
                    "tenancy.user.created",
                    {"user_id": str(owner.id), "email": owner.email, "role": owner.role},
                    subject_type="user",
                    subject_id=str(owner.id),
                )
        except IntegrityError as exc:
            raise Conflict(f"tenant slug {new.slug!r} is taken", code="slug_taken") from exc
        return tenant

    async def list_page(
        self, params: PageParams, status: str | None = None
    ) -> tuple[list[Tenant], str | None]:
        async with self.db.transaction(None) as session:
            return await TenantRepository(session).list_page(params, status)

    async def get(self, tenant_id: UUID) -> Tenant:
        async with self.db.transaction(None) as session:
            tenant = await TenantRepository(session).get(tenant_id)
        if tenant is None:
            raise NotFound("tenant not found", code="tenant_not_found")
        return tenant

    async def get_by_slug(self, slug: str) -> Tenant:
        async with self.db.transaction(None) as session:
            tenant = await TenantRepository(session).by_slug(slug)
        if tenant is None:
            raise NotFound(f"tenant {slug!r} not found", code="tenant_not_found")
        return tenant

    async def update(
        self,
        tenant_id: UUID,
        *,
        name: str | None = None,
        plan: str | None = None,
        status: str | None = None,
    ) -> Tenant:
        async with self.db.transaction(tenant_id) as session:
            tenant = await TenantRepository(session).get(tenant_id)
            if tenant is None:
                raise NotFound("tenant not found", code="tenant_not_found")
            changed: list[str] = []
            if name is not None and name != tenant.name:
                tenant.name = name
                changed.append("name")
            if plan is not None and plan != tenant.plan:
                tenant.plan = self._plan(plan)
                changed.append("plan")
            status_changed = status is not None and status != tenant.status
            if status is not None:
                tenant.status = status
            await session.flush()
            if changed:
                await record_event(
                    session,
                    "tenancy.tenant.updated",
                    {
                        "tenant_id": str(tenant.id),
                        "changed": changed,
                        "name": tenant.name if "name" in changed else None,
                        "plan": tenant.plan if "plan" in changed else None,
                    },
                    subject_type="tenant",
                    subject_id=str(tenant.id),
                )
            if status_changed:
                await record_event(
                    session,
                    "tenancy.tenant.disabled" if status == "disabled" else "tenancy.tenant.enabled",
                    {"tenant_id": str(tenant.id)},
                    subject_type="tenant",
                    subject_id=str(tenant.id),
                )
        self.credentials.forget_tenant(tenant.slug)
        return tenant


class UserService:
    """Users of one tenant; the session is bound to that tenant."""

    def __init__(
        self, session: AsyncSession, settings: Settings, credentials: CredentialCache
    ) -> None:
        self.session = session
        self.settings = settings
        self.credentials = credentials
        self.users = UserRepository(session)

    async def get(self, user_id: UUID) -> User:
        user = await self.users.get(user_id)
        if user is None:
            raise NotFound("user not found", code="user_not_found")
        return user

    async def list_page(self, params: PageParams) -> tuple[list[User], str | None]:
        return await self.users.list_page(params)

    async def create(
        self, actor: Principal, email: str, password: str, role: Role, name: str, plan: str
    ) -> User:
        _check_can_grant(actor, role)
        if await self.users.count_active() >= self.settings.plan(plan).seats:
            raise Conflict(
                f"the {plan} plan allows {self.settings.plan(plan).seats} active users",
                code="seat_limit_reached",
            )
        if await self.users.by_email(email):
            raise Conflict(f"a user with email {email} exists", code="email_taken")
        user = await self.users.add(
            User(
                email=email.lower(),
                name=name,
                password_hash=await hash_password(password),
                role=role,
                is_active=True,
            )
        )
        await record_event(
            self.session,
            "tenancy.user.created",
            {"user_id": str(user.id), "email": user.email, "role": user.role},
            subject_type="user",
            subject_id=str(user.id),
        )
        return user

    async def update(
        self,
        actor: Principal,
        user_id: UUID,
        *,
        name: str | None,
        role: Role | None,
        is_active: bool | None,
        password: str | None,
    ) -> User:
        user = await self.get(user_id)
        _check_can_manage(actor, user)
        changed: list[str] = []
        if name is not None and name != user.name:
            user.name = name
            changed.append("name")
        if role is not None and role != user.role:
            _check_can_grant(actor, role)
            if user.role == Role.OWNER:
                await self._keep_an_owner()
            user.role = role
            changed.append("role")
        if password is not None:
            user.password_hash = await hash_password(password)
            changed.append("password")
        if is_active is not None and is_active != user.is_active:
            if not is_active:
                return await self.deactivate(actor, user_id)
            user.is_active = True
            changed.append("is_active")
        if changed:
            await self.session.flush()
            await record_event(
                self.session,
                "tenancy.user.updated",
                {
                    "user_id": str(user.id),
                    "changed": changed,
                    "name": user.name if "name" in changed else None,
                    "role": user.role if "role" in changed else None,
                },
                subject_type="user",
                subject_id=str(user.id),
            )
        if "password" in changed or "role" in changed:
            await self._revoke_sessions(user)
        return user

    async def deactivate(self, actor: Principal, user_id: UUID) -> User:
        user = await self.get(user_id)
        _check_can_manage(actor, user)
        if actor.id == user.id:
            raise Conflict("you cannot deactivate yourself", code="cannot_deactivate_self")
        if not user.is_active:
            return user
        if user.role == Role.OWNER:
            await self._keep_an_owner()
        user.is_active = False
        await self.session.flush()
        await record_event(
            self.session,
            "tenancy.user.deactivated",
            {"user_id": str(user.id)},
            subject_type="user",
            subject_id=str(user.id),
        )
        await self._revoke_sessions(user)
        return user

    async def _keep_an_owner(self) -> None:
        if await self.users.count_owners() <= 1:
            raise Conflict("a tenant must keep at least one active owner", code="last_owner")

    async def _revoke_sessions(self, user: User) -> None:
        families = await RefreshTokenRepository(self.session).revoke_user(user.id, utcnow())
        for family in families:
            await self.credentials.revoke_session(family)


class ApiKeyService:
    """API keys of one tenant. The full key is returned once, at creation; only its hash is stored."""

    def __init__(
        self, session: AsyncSession, settings: Settings, credentials: CredentialCache
    ) -> None:
        self.session = session
        self.settings = settings
        self.credentials = credentials
        self.keys = ApiKeyRepository(session)

    async def get(self, key_id: UUID) -> ApiKey:
        key = await self.keys.get(key_id)
        if key is None:
            raise NotFound("API key not found", code="api_key_not_found")
        return key

    async def list_page(
        self, params: PageParams, include_revoked: bool
    ) -> tuple[list[ApiKey], str | None]:
        return await self.keys.list_page(params, include_revoked)

    async def create(
        self,
        actor: Principal | None,
        tenant_slug: str,
        name: str,
        scopes: list[str],
        expires_at: datetime | None,
    ) -> tuple[ApiKey, str]:
        if actor is not None:
            beyond = sorted(set(scopes) - actor.permissions)
            if beyond:
                raise Forbidden(
                    f"you cannot grant scopes you do not have: {', '.join(beyond)}",
                    code="scope_not_grantable",
                )
        if expires_at is not None and as_utc(expires_at) <= utcnow():
            raise BadRequest("expires_at is in the past", code="expiry_in_past")
        raw, parts = new_api_key(tenant_slug)
        key = await self.keys.add(
            ApiKey(
                name=name,
                prefix=parts.prefix,
                key_hash=hash_api_key(raw, self.settings.api_key_secret),
                scopes=sorted(set(scopes)),
                expires_at=expires_at,
                created_by_id=actor.id if actor is not None and actor.kind == "user" else None,
            )
        )
        await record_event(
            self.session,
            "tenancy.api_key.created",
            {"api_key_id": str(key.id), "name": name, "prefix": key.prefix, "scopes": key.scopes},
            subject_type="api_key",
            subject_id=str(key.id),
        )
        return key, raw

    async def rename(self, key_id: UUID, name: str) -> ApiKey:
        key = await self.get(key_id)
        key.name = name
        await self.session.flush()
        return key

    async def revoke(self, key_id: UUID) -> ApiKey:
        key = await self.get(key_id)
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            await self.session.flush()
            await record_event(
                self.session,
                "tenancy.api_key.revoked",
                {"api_key_id": str(key.id), "prefix": key.prefix},
                subject_type="api_key",
                subject_id=str(key.id),
            )
        self.credentials.forget_key(key.id)
        return key


def _check_can_grant(actor: Principal, role: Role) -> None:
    """Nobody grants a role above their own; only owners make owners."""
    # API keys holding users:write act as admins.
    actor_rank = ROLE_RANK[Role.ADMIN] if actor.role is None else ROLE_RANK[actor.role]
    if ROLE_RANK[role] > actor_rank or (role == Role.OWNER and actor.role != Role.OWNER):
        raise Forbidden(f"you cannot grant the {role.value} role", code="role_not_grantable")


def _check_can_manage(actor: Principal, user: User) -> None:
    if actor.role != Role.OWNER and Role(user.role) == Role.OWNER:
        raise Forbidden("only owners can change owners", code="owner_protected")


def role_permissions(role: str) -> frozenset[str]:
    return ROLE_PERMISSIONS[Role(role)]
