"""Tenant B never sees tenant A's workflows, runs or tools through any orchestrator or tools
route (the platform-wide matrix covers the same; this one stays focused on these domains)."""

from __future__ import annotations

import re

from tests.conftest import Stack
from tests.factories import make_tenant
from tests.isolation import orchestrator, tools
from tests.routing import api_routes

PREFIXES = ("/api/v1/orchestrator", "/api/v1/tools")


async def test_other_tenants_objects_are_404(env: Stack) -> None:
    a, b = await make_tenant(env), await make_tenant(env)
    ids = {
        name: await make(env, a)
        for name, make in {**orchestrator.FACTORIES, **tools.FACTORIES}.items()
    }
    checked = 0
    for route in api_routes(env.app):
        params = re.findall(r"{(\w+)}", route.path)
        if not route.path.startswith(PREFIXES) or not params:
            continue
        url = route.path
        for param in params:
            url = url.replace("{" + param + "}", ids[param])
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            response = await env.client.request(method, url, headers=b.auth)
            assert response.status_code == 404, (method, url, response.text)
            checked += 1
            if method == "GET":
                assert (await env.client.get(url, headers=a.auth)).status_code == 200, url
    assert checked >= 11
    runs = (await env.client.get("/api/v1/orchestrator/runs", headers=b.auth)).json()["items"]
    assert runs == []
