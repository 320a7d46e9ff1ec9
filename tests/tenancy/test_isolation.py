"""Cross-tenant matrix: tenant B never reads, changes or lists tenant A's objects.

Every route with a path parameter is exercised, with all its parameters filled from tenant A's objects.
A route with a parameter that no module of ``tests/isolation/`` can make fails the test, so each domain
adds its objects there.
"""

from __future__ import annotations

import re

from tests.conftest import Stack
from tests.factories import make_tenant, platform_admin_token
from tests.isolation import all_factories
from tests.routing import api_routes

OBJECT_FACTORIES = all_factories()
PLATFORM_ONLY = {"tenant_id"}  # platform-admin routes: tenants get 403, not their own objects
BODIES: dict[str, dict[str, object]] = {"PATCH": {"name": "changed"}, "PUT": {"name": "changed"}}


def _id_routes(stack: Stack) -> list[tuple[str, str, list[str]]]:
    found = []
    for route in api_routes(stack.app):
        if not route.path.startswith("/api/v1"):
            continue
        params = re.findall(r"{(\w+)(?::\w+)?}", route.path)
        if params:
            found.extend(
                (method, route.path, params)
                for method in sorted(route.methods - {"HEAD", "OPTIONS"})
            )
    return found


async def test_every_id_route_hides_other_tenants_objects(env: Stack) -> None:
    tenant_a = await make_tenant(env)
    tenant_b = await make_tenant(env)
    routes = _id_routes(env)
    unknown = sorted(
        {p for _, _, params in routes for p in params} - set(OBJECT_FACTORIES) - PLATFORM_ONLY
    )
    assert not unknown, f"add object factories for path params {unknown} to the cross-tenant matrix"
    ids = {param: await factory(env, tenant_a) for param, factory in OBJECT_FACTORIES.items()}
    checked = 0
    for method, path, params in routes:
        url = path
        for param in params:
            url = re.sub(r"{" + param + r"(?::\w+)?}", ids.get(param, tenant_a.id), url)
        platform_only = bool(set(params) & PLATFORM_ONLY)
        for headers in (tenant_b.auth, tenant_b.key_auth):
            response = await env.client.request(
                method, url, headers=headers, json=BODIES.get(method)
            )
            expected = 403 if platform_only else 404
            assert response.status_code == expected, (
                f"{method} {path}: {response.status_code} {response.text}"
            )
            checked += 1
        # and the owner does see it, so the 404 above is about the tenant, not a broken route
        if not platform_only and method == "GET":
            assert (await env.client.get(url, headers=tenant_a.auth)).status_code == 200, path
    assert checked >= 8


async def test_lists_never_show_other_tenants_rows(env: Stack) -> None:
    tenant_a = await make_tenant(env)
    tenant_b = await make_tenant(env)
    a_ids = {await factory(env, tenant_a) for factory in OBJECT_FACTORIES.values()}
    for route in api_routes(env.app):
        if not (route.path.startswith("/api/v1") and "GET" in route.methods):
            continue
        if "{" in route.path:
            continue
        response = await env.client.get(route.path, headers=tenant_b.auth)
        if response.status_code != 200 or not isinstance(response.json(), dict):
            continue
        for item in response.json().get("items", []):
            assert str(item.get("id")) not in a_ids, route.path
            assert item.get("tenant_id") in (None, tenant_b.id), route.path


async def test_platform_admin_is_not_a_tenant(env: Stack) -> None:
    await make_tenant(env)
    admin = await platform_admin_token(env)
    for path in ("/api/v1/users", "/api/v1/api-keys"):
        response = await env.client.get(path, headers=admin)
        assert response.status_code == 403 and response.json()["code"] == "tenant_required"
