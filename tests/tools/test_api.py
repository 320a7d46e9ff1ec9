"""The tools API: register with located errors, versions, test calls against the demo store,
permissions; the built-ins are listed."""

from __future__ import annotations

from typing import Any

from tests.conftest import Stack
from tests.factories import make_tenant

API = "/api/v1/tools"
LOOKUP: dict[str, Any] = {
    "name": "order_lookup",
    "version": "1.0.0",
    "description": "Find an order in the demo store",
    "input_schema": {"type": "object", "properties": {"order_id": {"type": "string"}},
                     "required": ["order_id"], "additionalProperties": False},
    "http": {"method": "GET", "url": "http://demo-store.internal/orders/{order_id}",
             "ok_statuses": [404]},
    "idempotent": True,
    "retries": 1,
}  # fmt: skip


async def test_register_version_and_test_call(env: Stack) -> None:
    tenant = await make_tenant(env)
    made = await env.client.post(API, headers=tenant.auth, json=LOOKUP)
    assert made.status_code == 201, made.text
    again = await env.client.post(API, headers=tenant.auth, json=LOOKUP)
    assert again.status_code == 409 and again.json()["code"] == "tool_version_exists"
    await env.client.post(API, headers=tenant.auth, json={**LOOKUP, "version": "1.1.0"})
    versions = (await env.client.get(f"{API}/order_lookup/versions", headers=tenant.auth)).json()
    assert [(v["version"], v["current"]) for v in versions["items"]] == [
        ("1.1.0", True),
        ("1.0.0", False),
    ]
    listed = (await env.client.get(API, headers=tenant.auth)).json()["items"]
    assert {"kb_search", "handoff_to_human", "order_lookup"} <= {t["name"] for t in listed}
    called = await env.client.post(f"{API}/order_lookup/test", headers=tenant.auth,
                                   json={"args": {"order_id": "A-12345"}})  # fmt: skip
    assert called.status_code == 200, called.text
    body = called.json()
    assert body["ok"] and body["result"]["status"] == "shipped" and body["version"] == "1.1.0"
    pinned = await env.client.post(f"{API}/order_lookup/test", headers=tenant.auth,
                                   json={"args": {"order_id": "A-12345"}, "version": "1.0.0"})  # fmt: skip
    assert pinned.json()["version"] == "1.0.0"
    bad = await env.client.post(f"{API}/order_lookup/test", headers=tenant.auth,
                                json={"args": {"order_id": 5}})  # fmt: skip
    assert not bad.json()["ok"] and bad.json()["error"]["code"] == "tool_input_invalid"
    missing = await env.client.post(f"{API}/nothing_here/test", headers=tenant.auth)
    assert missing.status_code == 404


async def test_invalid_manifests_are_located(env: Stack) -> None:
    tenant = await make_tenant(env)
    response = await env.client.post(API, headers=tenant.auth, json={
        **LOOKUP, "version": "one", "http": {"url": "https://{host}/x"}, "extra": 1,
    })  # fmt: skip
    assert response.status_code == 422
    assert {"version", "extra"} <= {i["path"] for i in response.json()["issues"]}
    url = await env.client.post(
        API, headers=tenant.auth, json={**LOOKUP, "http": {"url": "https://{host}/x"}}
    )
    assert url.status_code == 422 and url.json()["issues"][0]["path"] == "http.url"
    builtin = await env.client.post(API, headers=tenant.auth, json={**LOOKUP, "name": "kb_search"})
    assert builtin.status_code == 422


async def test_permissions(env: Stack) -> None:
    tenant = await make_tenant(env, scopes=["tools:read"])
    assert (await env.client.get(API, headers=tenant.key_auth)).status_code == 200
    assert (await env.client.post(API, headers=tenant.key_auth, json=LOOKUP)).status_code == 403
