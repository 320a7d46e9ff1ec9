"""The router API on both backends: decide, feedback, stats, settings, policies, permissions."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import pytest

from aiaas.router import training
from aiaas.router.repository import PolicyRepository
from tests.conftest import Stack
from tests.factories import make_tenant
from tests.router.support import DECIDE, decide, feedback


async def test_decide_on_a_cold_tenant_uses_the_safe_tier(env: Stack) -> None:
    tenant = await make_tenant(env)
    body = await decide(env.client, tenant, "Where is my order 1234?", turn=1)
    assert body["tier"] == "large" and body["model"] == "gpt-4o"
    assert body["workflow"] == "customer_support"
    assert body["early_exit"] is False and body["explored"] is False
    assert body["features"]["question"] is True and body["features"]["language"] == "en"
    assert body["features"]["tenant_plan"] == "pro"
    assert any("cold" in reason for reason in body["reasons"]), body["reasons"]
    record = await env.client.get(f"/api/v1/router/decisions/{body['id']}", headers=tenant.auth)
    assert record.status_code == 200 and record.json()["feedback_at"] is None
    assert record.json()["outcome_source"] is None and record.json()["turn_cost_micros"] is None


async def test_a_cold_decide_survives_a_write_committed_after_its_first_read(
    env: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Embedded mode runs the consumers in the serving process: another connection may commit
    # between the reads and the first write of a decision (here its tenant's first policy).
    tenant = await make_tenant(env)
    next_version = PolicyRepository.next_version
    others: list[asyncio.Task[Any]] = []

    async def other_writer() -> None:
        async with env.platform.db.transaction(UUID(tenant.id)) as session:
            await training.add_examples(session, [("hello there", "greeting")], replace=False)

    async def read_then_let_another_write(repo: PolicyRepository) -> int:
        version = await next_version(repo)
        others.append(asyncio.create_task(other_writer()))
        await asyncio.sleep(0.2)  # it commits now, unless it has to wait for this transaction
        return version

    monkeypatch.setattr(PolicyRepository, "next_version", read_then_let_another_write)
    body = await decide(env.client, tenant, "Where is my order 1234?")
    await asyncio.gather(*others)
    assert body["tier"] == "large" and len(others) == 1
    examples = await env.client.get("/api/v1/router/intents/examples", headers=tenant.auth)
    assert examples.json()["total"] == 1


async def test_high_retrieval_confidence_exits_early(env: Stack) -> None:
    tenant = await make_tenant(env)
    body = await decide(
        env.client, tenant, "What are your opening hours?", retrieval_confidence=0.97
    )
    assert body["early_exit"] is True and body["model"] is None
    assert body["tier"] == "knowledge_base"
    low = await decide(env.client, tenant, "What are your opening hours?", retrieval_confidence=0.2)
    assert low["early_exit"] is False


async def test_feedback_is_recorded_once(env: Stack) -> None:
    tenant = await make_tenant(env)
    body = await decide(env.client, tenant, "my parcel is late")
    first = await feedback(env.client, tenant, body["id"], rating=1, resolved=True, reask=False)
    assert first.status_code == 200, first.text
    result = first.json()
    assert result["quality"] == 1.0 and result["cost_micros"] > 0
    assert result["reward"] < 1.0
    record = await env.client.get(f"/api/v1/router/decisions/{body['id']}", headers=tenant.auth)
    assert record.json()["outcome_source"] == "explicit"
    assert record.json()["cost_micros"] == result["cost_micros"]
    again = await feedback(env.client, tenant, body["id"], rating=0)
    assert again.status_code == 409 and again.json()["code"] == "feedback_already_recorded"
    empty = await decide(env.client, tenant, "hello")
    none = await feedback(env.client, tenant, empty["id"])
    assert none.status_code == 422 and none.json()["code"] == "no_quality_signal"


async def test_feedback_for_another_tenants_decision_is_refused(env: Stack) -> None:
    owner = await make_tenant(env)
    other = await make_tenant(env)
    body = await decide(env.client, owner, "refund please")
    refused = await feedback(env.client, other, body["id"], rating=1)
    assert refused.status_code == 404 and refused.json()["code"] == "decision_not_found"
    ok = await feedback(env.client, owner, body["id"], rating=1)
    assert ok.status_code == 200


async def test_stats_per_tier(env: Stack) -> None:
    tenant = await make_tenant(env)
    made = await decide(env.client, tenant, "where is my order")
    await feedback(env.client, tenant, made["id"], resolved=True, cost_micros=5000)
    await decide(env.client, tenant, "opening hours", retrieval_confidence=0.99)
    stats = (await env.client.get("/api/v1/router/stats", headers=tenant.auth)).json()
    assert stats["decisions"] == 2
    tiers = {t["tier"]: t for t in stats["tiers"]}
    assert tiers["large"]["decisions"] == 1 and tiers["large"]["cost_micros"] == 5000
    assert tiers["large"]["feedback"] == 1 and tiers["large"]["mean_quality"] == 1.0
    assert tiers["knowledge_base"]["early_exits"] == 1
    assert stats["policies"][0]["status"] == "active"


async def test_settings_change_lambda_and_workflow_map(env: Stack) -> None:
    tenant = await make_tenant(env)
    url = "/api/v1/router/settings"
    before = (await env.client.get(url, headers=tenant.auth)).json()
    assert before["tiers"] == ["small", "medium", "large"] and before["safe_tier"] == "large"
    changed = await env.client.put(
        url, headers=tenant.auth, json={"cost_weight": 1.5, "early_exit_confidence": 0.5}
    )
    assert changed.status_code == 200 and changed.json()["cost_weight"] == 1.5
    body = await decide(env.client, tenant, "opening hours", retrieval_confidence=0.6)
    assert body["early_exit"] is True
    made = await decide(env.client, tenant, "long question about my invoice")
    result = (await feedback(env.client, tenant, made["id"], rating=1, cost_micros=10_000)).json()
    assert abs(result["reward"] - (1.0 - 1.5)) < 1e-9
    reset = await env.client.put(url, headers=tenant.auth, json={"cost_weight": None})
    bad = await env.client.put(url, headers=tenant.auth, json={"intent_workflows": {"a": "Bad!"}})
    assert bad.status_code == 422
    assert reset.json()["cost_weight"] == env.settings.router.cost_weight


async def test_permissions(env: Stack) -> None:
    tenant = await make_tenant(env, scopes=["router:read"])
    refused = await env.client.post(DECIDE, headers=tenant.key_auth, json={"message": "hi"})
    assert refused.status_code == 403
    allowed = await env.client.get("/api/v1/router/stats", headers=tenant.key_auth)
    assert allowed.status_code == 200
    bad = await env.client.post(DECIDE, headers=tenant.auth, json={"message": ""})
    assert bad.status_code == 422
