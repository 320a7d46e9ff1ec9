"""The permission catalog: every permission described, roles built from known permissions only."""

from __future__ import annotations

from typing import Any

import pytest

from aiaas.tenancy.permissions import (
    DOMAINS,
    PERMISSION_CATALOG,
    PERMISSIONS,
    ROLE_PERMISSIONS,
    Role,
)
from tests.conftest import Stack
from tests.factories import make_tenant, platform_admin_token

CATALOG = "/api/v1/auth/permissions"


def test_every_permission_has_a_description_and_a_known_domain() -> None:
    names = [p.name for p in PERMISSION_CATALOG]
    assert len(names) == len(set(names)), "a permission is listed twice"
    for permission in PERMISSION_CATALOG:
        assert permission.description.strip(), f"{permission.name} has no description"
        assert permission.domain in DOMAINS, f"{permission.name} has an unknown domain"
        assert DOMAINS[permission.domain].strip(), f"domain {permission.domain} has no label"


def test_roles_grant_only_known_permissions() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
    for role, granted in ROLE_PERMISSIONS.items():
        assert granted, f"{role} grants nothing"
        assert granted <= set(PERMISSIONS), f"{role} grants {sorted(granted - set(PERMISSIONS))}"


async def test_catalog_lists_every_permission_described_in_order(env: Stack) -> None:
    acme = await make_tenant(env)
    response = await env.client.get(CATALOG, headers=acme.auth)
    assert response.status_code == 200, response.text
    body = response.json()
    permissions = body["permissions"]
    assert [p["name"] for p in permissions] == list(PERMISSIONS)
    for permission in permissions:
        assert permission["description"].strip(), permission
        assert permission["description"] == PERMISSIONS[permission["name"]]
        assert permission["domain"] in DOMAINS
        assert permission["domain_label"] == DOMAINS[permission["domain"]]
    by_name = {p["name"]: p for p in permissions}
    # Answering the inbox is part of chat, not a domain of its own.
    assert by_name["inbox:write"]["domain"] == "chat"
    assert by_name["api_keys:read"]["domain_label"] == "API keys"


async def test_catalog_roles_map_to_existing_permissions(env: Stack) -> None:
    acme = await make_tenant(env)
    body = (await env.client.get(CATALOG, headers=acme.auth)).json()
    known = [p["name"] for p in body["permissions"]]
    roles: dict[str, list[str]] = {r["role"]: r["permissions"] for r in body["roles"]}
    assert set(roles) == {role.value for role in Role}
    for role, granted in roles.items():
        assert set(granted) <= set(known), f"{role} grants unknown permissions"
        assert granted == [name for name in known if name in granted], f"{role} is out of order"
        assert set(granted) == ROLE_PERMISSIONS[Role(role)]
    assert roles["owner"] == known
    assert "billing:write" not in roles["admin"]
    assert "users:read" not in roles["viewer"]


async def test_any_credential_may_read_the_catalog(env: Stack) -> None:
    acme = await make_tenant(env, scopes=["events:read"])
    admin = await platform_admin_token(env)
    for headers in (acme.key_auth, admin):
        response = await env.client.get(CATALOG, headers=headers)
        assert response.status_code == 200, response.text
        assert len(response.json()["permissions"]) == len(PERMISSIONS)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}],
    ids=["no credential", "bad credential"],
)
async def test_catalog_without_credential_is_401(env: Stack, headers: dict[str, Any]) -> None:
    response = await env.client.get(CATALOG, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
