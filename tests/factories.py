"""Helpers that create tenants, users and credentials through the public API and services."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx

from aiaas.tenancy.bootstrap import ensure_platform_admin
from aiaas.tenancy.permissions import PERMISSIONS
from aiaas.tenancy.service import NewTenant
from tests.conftest import Stack

PASSWORD = "correct-horse-battery"


@dataclass
class TenantHandle:
    id: str
    slug: str
    owner_email: str
    token: str
    refresh_token: str
    api_key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def key_auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


async def login(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, tenant: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"email": email, "password": password}
    if tenant:
        body["tenant"] = tenant
    response = await client.post("/api/v1/auth/login", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def make_tenant(
    stack: Stack, slug: str | None = None, plan: str = "pro", scopes: list[str] | None = None
) -> TenantHandle:
    slug = slug or f"t-{secrets.token_hex(4)}"
    email = f"owner@{slug}.example"
    tenant = await stack.platform.tenants.create(
        NewTenant(
            slug=slug, name=slug.title(), owner_email=email, owner_password=PASSWORD, plan=plan
        )
    )
    tokens = await login(stack.client, email, tenant=slug)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    created = await stack.client.post(
        "/api/v1/api-keys",
        headers=headers,
        json={"name": "server", "scopes": scopes or sorted(PERMISSIONS)},
    )
    assert created.status_code == 201, created.text
    return TenantHandle(
        str(tenant.id),
        slug,
        email,
        tokens["access_token"],
        tokens["refresh_token"],
        created.json()["key"],
    )


async def platform_admin_token(stack: Stack) -> dict[str, str]:
    email = "root@platform.example"
    await ensure_platform_admin(stack.platform, email, PASSWORD)
    tokens = await login(stack.client, email)
    return {"Authorization": f"Bearer {tokens['access_token']}"}
