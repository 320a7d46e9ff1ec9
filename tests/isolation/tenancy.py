"""Tenancy objects for the cross-tenant matrix."""

from __future__ import annotations

from tests.conftest import Stack
from tests.factories import PASSWORD, TenantHandle
from tests.isolation import Factory


async def _user(stack: Stack, owner: TenantHandle) -> str:
    made = await stack.client.post(
        "/api/v1/users",
        headers=owner.auth,
        json={"email": "agent@a.example", "password": PASSWORD, "role": "agent"},
    )
    return str(made.json()["id"])


async def _api_key(stack: Stack, owner: TenantHandle) -> str:
    made = await stack.client.post(
        "/api/v1/api-keys", headers=owner.auth, json={"name": "a-key", "scopes": ["tenant:read"]}
    )
    return str(made.json()["id"])


FACTORIES: dict[str, Factory] = {"user_id": _user, "key_id": _api_key}
