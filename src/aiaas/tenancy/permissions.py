"""Roles and permissions. Every route declares the permission it needs; API key scopes are permissions."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    AGENT = "agent"
    VIEWER = "viewer"


ROLE_RANK = {Role.VIEWER: 0, Role.AGENT: 1, Role.ADMIN: 2, Role.OWNER: 3}

PERMISSIONS: dict[str, str] = {
    "tenant:read": "Read the tenant's profile and plan",
    "tenant:write": "Change the tenant's profile",
    "users:read": "List and read users",
    "users:write": "Invite, change and deactivate users",
    "api_keys:read": "List API keys (never their secrets)",
    "api_keys:write": "Create and revoke API keys",
    "audit:read": "Read the audit log",
    "events:read": "Read the event catalog",
    "chat:read": "Read conversations",
    "chat:write": "Start conversations and send messages",
    "inbox:write": "Claim and answer conversations waiting for a human",
    "knowledge:read": "Search and read knowledge documents",
    "knowledge:write": "Upload, replace and delete knowledge documents",
    "workflows:read": "Read workflows and runs",
    "workflows:write": "Change workflows, start and cancel runs",
    "tools:read": "Read tool manifests",
    "tools:write": "Register tools and make test calls",
    "router:read": "Read routing decisions and statistics",
    "router:write": "Ask for routing decisions, send feedback, train intents",
    "analytics:read": "Read analytics",
    "billing:read": "Read usage, plans and invoices",
    "billing:write": "Change budgets",
}

_READ = {p for p in PERMISSIONS if p.endswith(":read")}
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.VIEWER: frozenset(_READ - {"users:read", "api_keys:read", "audit:read", "billing:read"}),
    Role.AGENT: frozenset(
        (_READ - {"api_keys:read", "audit:read", "billing:read"}) | {"chat:write", "inbox:write"}
    ),
    Role.ADMIN: frozenset(set(PERMISSIONS) - {"billing:write"}),
    Role.OWNER: frozenset(PERMISSIONS),
}

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

    @property
    def is_platform_admin(self) -> bool:
        return self.kind == PLATFORM_ADMIN

    def can(self, permission: str) -> bool:
        return permission in self.permissions
