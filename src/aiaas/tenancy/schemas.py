"""Request and response bodies of the tenancy API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    WithJsonSchema,
    field_validator,
)

from aiaas.tenancy.permissions import PERMISSIONS, Role

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
MIN_PASSWORD = 12


def _slug(value: str) -> str:
    if not SLUG_RE.match(value):
        raise ValueError("must be 1-40 characters of a-z, 0-9 and inner hyphens")
    return value


def _password(value: SecretStr) -> SecretStr:
    if len(value.get_secret_value()) < MIN_PASSWORD:
        raise ValueError(f"must be at least {MIN_PASSWORD} characters")
    if len(value.get_secret_value()) > 256:
        raise ValueError("must be at most 256 characters")
    return value


Slug = Annotated[str, AfterValidator(_slug)]
Password = Annotated[SecretStr, AfterValidator(_password)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# ---- auth --------------------------------------------------------------------------------------
class LoginIn(Strict):
    email: EmailStr
    password: SecretStr = Field(max_length=256)
    tenant: str | None = Field(
        None, max_length=40, description="Tenant slug; omit to sign in as a platform admin"
    )


class RefreshIn(Strict):
    refresh_token: str = Field(max_length=4096)


class LogoutIn(Strict):
    refresh_token: str | None = Field(None, max_length=4096)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class MeOut(BaseModel):
    kind: str
    id: UUID
    display: str
    role: str | None
    permissions: list[str]
    tenant_id: UUID | None
    tenant_slug: str | None
    plan: str | None


# The schema lists the names so typed clients know every permission at compile time.
PermissionName = Annotated[
    str,
    WithJsonSchema(
        {"type": "string", "enum": list(PERMISSIONS), "description": "A permission name"}
    ),
]


class PermissionOut(BaseModel):
    name: PermissionName
    description: str = Field(description="What the permission allows, for people")
    domain: str = Field(description="Key of the domain the permission is listed under")
    domain_label: str = Field(description="Display name of the domain")


class RolePermissionsOut(BaseModel):
    role: Role
    permissions: list[PermissionName] = Field(description="Granted permissions, catalogue order")


class PermissionCatalogOut(BaseModel):
    permissions: list[PermissionOut] = Field(description="Every permission, in catalogue order")
    roles: list[RolePermissionsOut]


# ---- tenants -----------------------------------------------------------------------------------
class TenantCreate(Strict):
    slug: Slug
    name: str = Field(min_length=1, max_length=200)
    plan: str | None = Field(None, max_length=40)
    owner_email: EmailStr
    owner_password: Password
    owner_name: str = Field("", max_length=200)


class TenantUpdate(Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    plan: str | None = Field(None, max_length=40)
    status: Literal["active", "disabled"] | None = None


class TenantOut(Out):
    id: UUID
    slug: str
    name: str
    plan: str
    status: str
    created_at: datetime
    updated_at: datetime


class TenantPage(BaseModel):
    items: list[TenantOut]
    next_cursor: str | None


# ---- users -------------------------------------------------------------------------------------
class UserCreate(Strict):
    email: EmailStr
    password: Password
    role: Role = Role.AGENT
    name: str = Field("", max_length=200)


class UserUpdate(Strict):
    name: str | None = Field(None, max_length=200)
    role: Role | None = None
    is_active: bool | None = None
    password: Password | None = None


class UserOut(Out):
    id: UUID
    email: str
    name: str
    role: Role
    is_active: bool
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime


class UserPage(BaseModel):
    items: list[UserOut]
    next_cursor: str | None


# ---- API keys ----------------------------------------------------------------------------------
class ApiKeyCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1, max_length=len(PERMISSIONS))
    expires_at: datetime | None = Field(None, description="Aware UTC time; omit for no expiry")

    @field_validator("scopes")
    @classmethod
    def _known(cls, scopes: list[str]) -> list[str]:
        unknown = sorted(set(scopes) - set(PERMISSIONS))
        if unknown:
            raise ValueError(f"unknown scopes: {', '.join(unknown)}")
        return sorted(set(scopes))

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a timezone")
        return value


class ApiKeyUpdate(Strict):
    name: str = Field(min_length=1, max_length=200)


class ApiKeyOut(Out):
    id: UUID
    name: str
    prefix: str
    scopes: list[str]
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The full key. Shown once; store it now.")


class ApiKeyPage(BaseModel):
    items: list[ApiKeyOut]
    next_cursor: str | None
