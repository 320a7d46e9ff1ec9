"""Roles and permissions. Every route declares the permission it needs; API key scopes are permissions."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID

from aiaas.kit.context import Actor


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    AGENT = "agent"
    VIEWER = "viewer"


ROLE_RANK = {Role.VIEWER: 0, Role.AGENT: 1, Role.ADMIN: 2, Role.OWNER: 3}

# Domains group permissions for people (the dashboard's scope picker); catalogue order.
DOMAINS: dict[str, str] = {
    "tenant": "Tenant",
    "users": "Users",
    "api_keys": "API keys",
    "audit": "Audit",
    "events": "Events",
    "chat": "Chat",
    "knowledge": "Knowledge",
    "workflows": "Workflows",
    "tools": "Tools",
    "router": "Routing",
    "analytics": "Analytics",
    "billing": "Billing",
}


@dataclass(frozen=True, slots=True)
class PermissionInfo:
    """One permission as people see it: what it allows and the domain it is listed under."""

    name: str
    description: str
    domain: str


def _permission(name: str, description: str, domain: str | None = None) -> PermissionInfo:
    # The domain is the part before the colon unless the permission belongs with another domain.
    return PermissionInfo(name, description, domain or name.split(":", 1)[0])


PERMISSION_CATALOG: tuple[PermissionInfo, ...] = (
    _permission("tenant:read", "Read the tenant's profile and plan"),
    _permission("tenant:write", "Change the tenant's profile"),
    _permission("users:read", "List and read users"),
    _permission("users:write", "Invite, change and deactivate users"),
    _permission("api_keys:read", "List API keys (never their secrets)"),
    _permission("api_keys:write", "Create and revoke API keys"),
    _permission("audit:read", "Read the audit log"),
    _permission("events:read", "Read the event catalog"),
    _permission("chat:read", "Read conversations"),
    _permission("chat:write", "Start conversations and send messages"),
    _permission("inbox:write", "Claim and answer conversations waiting for a human", "chat"),
    _permission("knowledge:read", "Search and read knowledge documents"),
    _permission("knowledge:write", "Upload, replace and delete knowledge documents"),
    _permission("workflows:read", "Read workflows and runs"),
    _permission("workflows:write", "Change workflows, start and cancel runs"),
    _permission("tools:read", "Read tool manifests"),
    _permission("tools:write", "Register tools and make test calls"),
    _permission("router:read", "Read routing decisions and statistics"),
    _permission("router:write", "Ask for routing decisions, send feedback, train intents"),
    _permission("analytics:read", "Read analytics"),
    _permission("billing:read", "Read usage, plans and invoices"),
    _permission("billing:write", "Change budgets"),
)

# Permission name -> description, in catalogue order.
PERMISSIONS: dict[str, str] = {p.name: p.description for p in PERMISSION_CATALOG}

_READ = {p for p in PERMISSIONS if p.endswith(":read")}
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.VIEWER: frozenset(_READ - {"users:read", "api_keys:read", "audit:read", "billing:read"}),
    Role.AGENT: frozenset(
        (_READ - {"api_keys:read", "audit:read", "billing:read"}) | {"chat:write", "inbox:write"}
    ),
    Role.ADMIN: frozenset(set(PERMISSIONS) - {"billing:write"}),
    Role.OWNER: frozenset(PERMISSIONS),
}


def role_permissions_in_order(role: Role) -> list[str]:
    """The permissions a role grants, in catalogue order."""
    granted = ROLE_PERMISSIONS[role]
    return [name for name in PERMISSIONS if name in granted]


PLATFORM_ADMIN = "platform_admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a tenant user, a tenant API key or a platform admin."""

    kind: str  # "user" | "api_key" | "platform_admin"
    id: UUID
    display: str
    permissions: frozenset[str]
    tenant_id: UUID | None = None
    tenant_slug: str | None = None
    plan: str | None = None
    role: Role | None = None
    session_id: UUID | None = None
    context_fields: tuple[str | None, Actor] = field(init=False, repr=False, compare=False)
    """The tenant id and actor as the request context carries them, made once per principal
    (a cached API key's principal serves every request made with the key)."""

    def __post_init__(self) -> None:
        tenant_id = str(self.tenant_id) if self.tenant_id else None
        actor = Actor(type=self.kind, id=str(self.id), display=self.display)
        object.__setattr__(self, "context_fields", (tenant_id, actor))

    @property
    def is_platform_admin(self) -> bool:
        return self.kind == PLATFORM_ADMIN

    def can(self, permission: str) -> bool:
        return permission in self.permissions
