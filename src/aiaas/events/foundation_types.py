"""Event types of the foundation (tenancy): tenants, users, API keys and sign-in sessions.

Payloads carry ids, names and roles only; never a password, a key or a token.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from aiaas.events.catalog import event


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


@event("tenancy.tenant.created", 1, "A tenant was created")
class TenantCreated(_Payload):
    tenant_id: UUID
    slug: str
    name: str
    plan: str


@event("tenancy.tenant.updated", 1, "A tenant's name or plan changed")
class TenantUpdated(_Payload):
    tenant_id: UUID
    changed: list[str] = Field(description="Names of the fields that changed")
    name: str | None = None
    plan: str | None = None


@event("tenancy.tenant.disabled", 1, "A tenant was disabled; its requests are refused")
class TenantDisabled(_Payload):
    tenant_id: UUID
    reason: str | None = None


@event("tenancy.tenant.enabled", 1, "A disabled tenant was enabled again")
class TenantEnabled(_Payload):
    tenant_id: UUID


@event("tenancy.user.created", 1, "A user was added to a tenant")
class UserCreated(_Payload):
    user_id: UUID
    email: str
    name: str = ""
    role: str


@event("tenancy.user.updated", 1, "A user's name or role changed")
class UserUpdated(_Payload):
    user_id: UUID
    changed: list[str] = Field(description="Names of the fields that changed")
    name: str | None = None
    role: str | None = None


@event("tenancy.user.deactivated", 1, "A user was deactivated and can no longer sign in")
class UserDeactivated(_Payload):
    user_id: UUID


@event("tenancy.api_key.created", 1, "An API key was issued")
class ApiKeyCreated(_Payload):
    api_key_id: UUID
    name: str
    prefix: str = Field(description="The public prefix of the key, never the key")
    scopes: list[str] = Field(default_factory=list)


@event("tenancy.api_key.revoked", 1, "An API key was revoked")
class ApiKeyRevoked(_Payload):
    api_key_id: UUID
    prefix: str


@event("tenancy.session.started", 1, "A user signed in")
class SessionStarted(_Payload):
    user_id: UUID
    session_id: UUID = Field(description="The refresh-token family of the session")
    method: str = "password"


@event("tenancy.session.revoked", 1, "A user signed out or a session was revoked")
class SessionRevoked(_Payload):
    user_id: UUID
    session_id: UUID
