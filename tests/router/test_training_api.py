"""Intent training endpoints: examples, queued versions, activation rules, policy versions API."""

from __future__ import annotations

from tests.conftest import Stack
from tests.factories import make_tenant
from tests.router.support import decide

EXAMPLES = "/api/v1/router/intents/examples"


def _examples(label: str, n: int) -> list[dict[str, str]]:
    return [{"text": f"{label} request number {i}", "label": label} for i in range(n)]


async def test_examples_are_counted_and_replaced(env: Stack) -> None:
    tenant = await make_tenant(env)
    added = await env.client.post(
        EXAMPLES,
        headers=tenant.auth,
        json={"examples": _examples("refund", 3) + _examples("order_status", 2)},
    )
    assert added.status_code == 201, added.text
    assert added.json() == {"total": 5, "labels": {"order_status": 2, "refund": 3}}
    replaced = await env.client.post(
        EXAMPLES, headers=tenant.auth, json={"examples": _examples("billing", 2), "replace": True}
    )
    assert replaced.json() == {"total": 2, "labels": {"billing": 2}}
    summary = await env.client.get(EXAMPLES, headers=tenant.auth)
    assert summary.json()["total"] == 2
    bad = await env.client.post(
        EXAMPLES, headers=tenant.auth, json={"examples": [{"text": "x", "label": "!bad"}]}
    )
    assert bad.status_code == 422


async def test_training_is_queued_as_a_new_version(env: Stack) -> None:
    tenant = await make_tenant(env)
    await env.client.post(EXAMPLES, headers=tenant.auth, json={"examples": _examples("refund", 3)})
    refused = await env.client.post("/api/v1/router/intents/train", headers=tenant.auth)
    assert refused.status_code == 422 and refused.json()["code"] == "not_enough_examples"
    await env.client.post(EXAMPLES, headers=tenant.auth, json={"examples": _examples("order", 3)})
    first = await env.client.post("/api/v1/router/intents/train", headers=tenant.auth)
    second = await env.client.post("/api/v1/router/intents/train", headers=tenant.auth)
    assert first.status_code == 202, first.text
    body = first.json()
    assert body["status"] == "queued" and body["version"] == 1 and body["examples"] == 6
    assert body["labels"] == ["order", "refund"] and body["active"] is False
    assert second.json()["version"] == 2
    listed = await env.client.get("/api/v1/router/intents/models", headers=tenant.auth)
    assert [m["version"] for m in listed.json()["items"]] == [2, 1]
    activate = await env.client.post(
        f"/api/v1/router/intents/models/{body['id']}/activate", headers=tenant.auth
    )
    assert activate.status_code == 409 and activate.json()["code"] == "intent_model_not_ready"


async def test_policy_versions_api(env: Stack) -> None:
    tenant = await make_tenant(env)
    url = "/api/v1/router/policies"
    early = await env.client.post(url, headers=tenant.auth, json={"traffic_share": 0.2})
    assert early.status_code == 409 and early.json()["code"] == "no_policy"
    await decide(env.client, tenant, "hello")
    unknown = await env.client.post(url, headers=tenant.auth, json={"allowed_tiers": ["huge"]})
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_tier"
    made = await env.client.post(
        url, headers=tenant.auth, json={"traffic_share": 0.3, "allowed_tiers": ["small", "medium"]}
    )
    assert made.status_code == 201, made.text
    canary = made.json()
    assert canary["status"] == "canary" and canary["version"] == 2
    assert canary["params"] == {"allowed_tiers": ["small", "medium"]}
    again = await env.client.post(url, headers=tenant.auth, json={"traffic_share": 0.3})
    assert again.status_code == 409 and again.json()["code"] == "canary_running"
    got = await env.client.get(f"{url}/{canary['id']}", headers=tenant.auth)
    assert got.status_code == 200 and got.json()["traffic_share"] == 0.3
    stats = (await env.client.get("/api/v1/router/stats", headers=tenant.auth)).json()
    assert [p["status"] for p in stats["policies"]] == ["active", "canary"]
