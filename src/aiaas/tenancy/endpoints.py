"""HTTP routes of the tenancy domain: auth, tenants, users, API keys."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status

from aiaas.gateway.ratelimit import enforce_login_limit
from aiaas.kit.context import current_context
from aiaas.kit.errors import Forbidden
from aiaas.kit.pagination import PageParams, page_params
from aiaas.kit.routing import GuardedRoute
from aiaas.tenancy.dependencies import (
    CurrentPrincipal,
    PlatformDep,
    TenantSession,
    public,
    require,
    require_platform_admin,
)
from aiaas.tenancy.permissions import (
    DOMAINS,
    PERMISSION_CATALOG,
    Principal,
    Role,
    role_permissions_in_order,
)
from aiaas.tenancy.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    ApiKeyPage,
    ApiKeyUpdate,
    LoginIn,
    LogoutIn,
    MeOut,
    PermissionCatalogOut,
    PermissionOut,
    RefreshIn,
    RolePermissionsOut,
    TenantCreate,
    TenantOut,
    TenantPage,
    TenantUpdate,
    TokenPair,
    UserCreate,
    UserOut,
    UserPage,
    UserUpdate,
)
from aiaas.tenancy.service import ApiKeyService, NewTenant, UserService

Page = Annotated[PageParams, Depends(page_params)]


async def _users(session: TenantSession, platform: PlatformDep) -> UserService:
    return UserService(session, platform.settings, platform.credentials)


async def _keys(session: TenantSession, platform: PlatformDep) -> ApiKeyService:
    return ApiKeyService(session, platform.settings, platform.credentials)


Users = Annotated[UserService, Depends(_users)]
Keys = Annotated[ApiKeyService, Depends(_keys)]

auth_router = APIRouter(route_class=GuardedRoute, prefix="/auth", tags=["auth"])
tenants_router = APIRouter(route_class=GuardedRoute, prefix="/tenants", tags=["tenants"])
tenant_router = APIRouter(route_class=GuardedRoute, prefix="/tenant", tags=["tenants"])
users_router = APIRouter(route_class=GuardedRoute, prefix="/users", tags=["users"])
api_keys_router = APIRouter(route_class=GuardedRoute, prefix="/api-keys", tags=["api-keys"])


# ---- auth --------------------------------------------------------------------------------------
@auth_router.post("/login", response_model=TokenPair)
@public
async def login(body: LoginIn, request: Request, platform: PlatformDep) -> TokenPair:
    """Sign in to the dashboard. With ``tenant``: a tenant user; without: a platform admin."""
    await enforce_login_limit(platform, current_context().client_ip or "unknown")
    return await platform.auth.login(body.email, body.password.get_secret_value(), body.tenant)


@auth_router.post("/refresh", response_model=TokenPair)
@public
async def refresh(body: RefreshIn, platform: PlatformDep) -> TokenPair:
    """Trade a refresh token for a new pair. Each refresh token works once; reuse ends the session."""
    return await platform.auth.refresh(body.refresh_token)


@auth_router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    principal: CurrentPrincipal, platform: PlatformDep, body: LogoutIn | None = None
) -> Response:
    """End the current session (its refresh and access tokens stop working)."""
    await platform.auth.logout(principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@auth_router.get("/me", response_model=MeOut)
async def me(principal: CurrentPrincipal) -> MeOut:
    """Who the presented credential belongs to and what it may do."""
    return MeOut(
        kind=principal.kind,
        id=principal.id,
        display=principal.display,
        role=principal.role.value if principal.role else None,
        permissions=sorted(principal.permissions),
        tenant_id=principal.tenant_id,
        tenant_slug=principal.tenant_slug,
        plan=principal.plan,
    )


# Any credential may read it: the catalogue is the same for everyone and holds no tenant data.
@auth_router.get("/permissions", response_model=PermissionCatalogOut)
async def permission_catalog(principal: CurrentPrincipal) -> PermissionCatalogOut:
    """Every permission with what it allows and its domain, and the permissions of each role."""
    return PermissionCatalogOut(
        permissions=[
            PermissionOut(
                name=p.name,
                description=p.description,
                domain=p.domain,
                domain_label=DOMAINS.get(p.domain, p.domain),
            )
            for p in PERMISSION_CATALOG
        ],
        roles=[
            RolePermissionsOut(role=role, permissions=role_permissions_in_order(role))
            for role in Role
        ],
    )


# ---- tenants (platform admins) -----------------------------------------------------------------
@tenants_router.post(
    "",
    response_model=TenantOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[require_platform_admin],
)
async def create_tenant(body: TenantCreate, platform: PlatformDep) -> TenantOut:
    tenant = await platform.tenants.create(
        NewTenant(
            slug=body.slug,
            name=body.name,
            plan=body.plan,
            owner_email=str(body.owner_email),
            owner_password=body.owner_password.get_secret_value(),
            owner_name=body.owner_name,
        )
    )
    return TenantOut.model_validate(tenant)


@tenants_router.get("", response_model=TenantPage, dependencies=[require_platform_admin])
async def list_tenants(
    platform: PlatformDep,
    page: Page,
    status_: Annotated[str | None, Query(alias="status", pattern="^(active|disabled)$")] = None,
) -> TenantPage:
    rows, cursor = await platform.tenants.list_page(page, status_)
    return TenantPage(items=[TenantOut.model_validate(t) for t in rows], next_cursor=cursor)


@tenants_router.get("/{tenant_id}", response_model=TenantOut, dependencies=[require_platform_admin])
async def get_tenant(tenant_id: UUID, platform: PlatformDep) -> TenantOut:
    return TenantOut.model_validate(await platform.tenants.get(tenant_id))


@tenants_router.patch(
    "/{tenant_id}", response_model=TenantOut, dependencies=[require_platform_admin]
)
async def update_tenant(tenant_id: UUID, body: TenantUpdate, platform: PlatformDep) -> TenantOut:
    tenant = await platform.tenants.update(
        tenant_id, name=body.name, plan=body.plan, status=body.status
    )
    return TenantOut.model_validate(tenant)


@tenants_router.post(
    "/{tenant_id}/disable", response_model=TenantOut, dependencies=[require_platform_admin]
)
async def disable_tenant(tenant_id: UUID, platform: PlatformDep) -> TenantOut:
    return TenantOut.model_validate(await platform.tenants.update(tenant_id, status="disabled"))


@tenants_router.post(
    "/{tenant_id}/enable", response_model=TenantOut, dependencies=[require_platform_admin]
)
async def enable_tenant(tenant_id: UUID, platform: PlatformDep) -> TenantOut:
    return TenantOut.model_validate(await platform.tenants.update(tenant_id, status="active"))


@tenant_router.get("", response_model=TenantOut)
async def current_tenant(
    principal: Annotated[Principal, require("tenant:read")], platform: PlatformDep
) -> TenantOut:
    """The caller's own tenant."""
    assert principal.tenant_id is not None
    return TenantOut.model_validate(await platform.tenants.get(principal.tenant_id))


@tenant_router.patch("", response_model=TenantOut)
async def rename_current_tenant(
    body: TenantUpdate,
    principal: Annotated[Principal, require("tenant:write")],
    platform: PlatformDep,
) -> TenantOut:
    """Owners and admins may rename their tenant; plan and status belong to platform admins."""
    if body.plan is not None or body.status is not None:
        raise Forbidden(
            "plan and status are managed by the platform", code="platform_admin_required"
        )
    assert principal.tenant_id is not None
    return TenantOut.model_validate(
        await platform.tenants.update(principal.tenant_id, name=body.name)
    )


# ---- users -------------------------------------------------------------------------------------
@users_router.get("", response_model=UserPage)
async def list_users(
    principal: Annotated[Principal, require("users:read")],
    users: Users,
    page: Page,
) -> UserPage:
    rows, cursor = await users.list_page(page)
    return UserPage(items=[UserOut.model_validate(u) for u in rows], next_cursor=cursor)


@users_router.post("", response_model=UserOut, status_code=status.HTTP_201_CREATED)
async def create_user(
    body: UserCreate,
    principal: Annotated[Principal, require("users:write")],
    users: Users,
    platform: PlatformDep,
) -> UserOut:
    user = await users.create(
        principal,
        str(body.email),
        body.password.get_secret_value(),
        body.role,
        body.name,
        principal.plan or platform.settings.default_plan,
    )
    return UserOut.model_validate(user)


@users_router.get("/{user_id}", response_model=UserOut)
async def get_user(
    user_id: UUID,
    principal: Annotated[Principal, require("users:read")],
    users: Users,
) -> UserOut:
    return UserOut.model_validate(await users.get(user_id))


@users_router.patch("/{user_id}", response_model=UserOut)
async def update_user(
    user_id: UUID,
    body: UserUpdate,
    principal: Annotated[Principal, require("users:write")],
    users: Users,
) -> UserOut:
    user = await users.update(
        principal,
        user_id,
        name=body.name,
        role=body.role,
        is_active=body.is_active,
        password=body.password.get_secret_value() if body.password else None,
    )
    return UserOut.model_validate(user)


@users_router.delete("/{user_id}", response_model=UserOut)
async def deactivate_user(
    user_id: UUID,
    principal: Annotated[Principal, require("users:write")],
    users: Users,
) -> UserOut:
    """Deactivate a user (kept for the audit trail; their sessions end)."""
    user = await users.deactivate(principal, user_id)
    return UserOut.model_validate(user)


# ---- API keys ----------------------------------------------------------------------------------
@api_keys_router.get("", response_model=ApiKeyPage)
async def list_api_keys(
    principal: Annotated[Principal, require("api_keys:read")],
    keys: Keys,
    page: Page,
    include_revoked: bool = False,
) -> ApiKeyPage:
    rows, cursor = await keys.list_page(page, include_revoked)
    return ApiKeyPage(items=[ApiKeyOut.model_validate(k) for k in rows], next_cursor=cursor)


@api_keys_router.post("", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
async def create_api_key(
    body: ApiKeyCreate,
    principal: Annotated[Principal, require("api_keys:write")],
    keys: Keys,
) -> ApiKeyCreated:
    """Create a key. The response holds the full key once; only a hash is kept."""
    assert principal.tenant_slug is not None
    key, raw = await keys.create(
        principal, principal.tenant_slug, body.name, body.scopes, body.expires_at
    )
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=raw)


@api_keys_router.get("/{key_id}", response_model=ApiKeyOut)
async def get_api_key(
    key_id: UUID,
    principal: Annotated[Principal, require("api_keys:read")],
    keys: Keys,
) -> ApiKeyOut:
    return ApiKeyOut.model_validate(await keys.get(key_id))


@api_keys_router.patch("/{key_id}", response_model=ApiKeyOut)
async def rename_api_key(
    key_id: UUID,
    body: ApiKeyUpdate,
    principal: Annotated[Principal, require("api_keys:write")],
    keys: Keys,
) -> ApiKeyOut:
    return ApiKeyOut.model_validate(await keys.rename(key_id, body.name))


@api_keys_router.delete("/{key_id}", response_model=ApiKeyOut)
async def revoke_api_key(
    key_id: UUID,
    principal: Annotated[Principal, require("api_keys:write")],
    keys: Keys,
) -> ApiKeyOut:
    """Revoke a key; it stops working at once."""
    return ApiKeyOut.model_validate(await keys.revoke(key_id))


routers = [auth_router, tenants_router, tenant_router, users_router, api_keys_router]
