"""The router learning on both backends: canary rollback, bounded exploration, per-tenant state that
survives a restart."""

from __future__ import annotations

import random
from uuid import UUID, uuid4

from sqlalchemy import select

from aiaas.events.models import OutboxEvent
from aiaas.router import admin
from aiaas.router.config import RouterSettings
from aiaas.router.policy import PolicyParams
from aiaas.router.service import Decision, RouterService
from tests.conftest import Stack
from tests.factories import make_tenant
from tests.router.support import EASY, HARD, WORLD


def _service(env: Stack, **overrides: object) -> RouterService:
    config = RouterSettings(**overrides)  # type: ignore[arg-type]
    return RouterService(
        config, env.platform.cache, env.settings.llm.catalog(), env.settings.llm.models
    )


async def _decide(
    env: Stack, service: RouterService, tenant: UUID, message: str, conversation: str | None = None
) -> Decision:
    async with env.platform.db.transaction(tenant) as session:
        return await service.decide(session, tenant, message, conversation_id=conversation)


async def _feedback(
    env: Stack, service: RouterService, tenant: UUID, decision: Decision, success: bool
) -> list[str]:
    async with env.platform.db.transaction(tenant) as session:
        result = await service.feedback(
            session,
            decision.id,
            rating=1.0 if success else 0.0,
            cost_micros=WORLD.cost_micros.get(decision.tier, 0),
        )
    return result.policy_events


async def test_canary_worse_than_incumbent_is_rolled_back(env: Stack) -> None:
    tenant = UUID((await make_tenant(env)).id)
    service = _service(env, canary_min_feedback=15, canary_margin=0.05)
    await _decide(env, service, tenant, "hello")
    async with env.platform.db.transaction(tenant) as session:
        canary = await admin.create_canary(
            service, session, PolicyParams(allowed_tiers=["small"]), 0.5
        )
    rng = random.Random(11)
    served = {"canary": 0, "incumbent": 0}
    rolled_back = False
    for _ in range(300):
        decision = await _decide(env, service, tenant, rng.choice(HARD), str(uuid4()))
        served["canary" if decision.canary else "incumbent"] += 1
        if decision.canary:
            assert decision.tier == "small"
        events = await _feedback(
            env, service, tenant, decision, WORLD.outcome(decision.tier, True, rng)
        )
        if "router.policy.rolled_back" in events:
            rolled_back = True
            break
    assert rolled_back, served
    assert served["canary"] >= 15 and served["incumbent"] >= 15
    async with env.platform.db.transaction(tenant) as session:
        stopped = await admin.get_policy(session, canary.id)
        assert stopped.status == "rolled_back" and stopped.end_reason
        types = (await session.execute(select(OutboxEvent.type))).scalars().all()
        assert "router.policy.rolled_back" in types and "router.policy.created" in types
    for _ in range(30):
        decision = await _decide(env, service, tenant, rng.choice(HARD), str(uuid4()))
        assert not decision.canary


async def test_a_better_canary_is_promoted(env: Stack) -> None:
    tenant = UUID((await make_tenant(env)).id)
    service = _service(env, canary_min_feedback=10, canary_margin=0.05, safe_tier="large")
    await _decide(env, service, tenant, "hello")
    async with env.platform.db.transaction(tenant) as session:
        canary = await admin.create_canary(
            service, session, PolicyParams(safe_tier="small", allowed_tiers=["small"]), 0.5
        )
    rng = random.Random(3)
    promoted = False
    for _ in range(400):
        decision = await _decide(env, service, tenant, rng.choice(EASY), str(uuid4()))
        events = await _feedback(env, service, tenant, decision, True)
        if "router.policy.promoted" in events:
            promoted = True
            break
    assert promoted
    async with env.platform.db.transaction(tenant) as session:
        assert (await admin.get_policy(session, canary.id)).status == "active"
        statuses = sorted(p.status for p in await admin.list_policies(session))
    assert statuses == ["active", "retired"]


async def test_exploration_stays_within_its_bound_across_decisions(env: Stack) -> None:
    tenant = UUID((await make_tenant(env)).id)
    service = _service(env, exploration_alpha=5.0, max_exploration_share=0.1, warmup_feedback=0)
    rng = random.Random(5)
    explored = 0
    total = 150
    for _ in range(total):
        hard = rng.random() < 0.5
        decision = await _decide(env, service, tenant, rng.choice(HARD if hard else EASY))
        explored += decision.explored
        await _feedback(env, service, tenant, decision, WORLD.outcome(decision.tier, hard, rng))
    assert 0 < explored <= 0.1 * total


async def test_state_is_per_tenant_and_survives_a_restart(env: Stack) -> None:
    tenant_a = UUID((await make_tenant(env)).id)
    handle_b = await make_tenant(env)
    tenant_b = UUID(handle_b.id)
    first = _service(env, warmup_feedback=5)
    for _ in range(12):
        decision = await _decide(env, first, tenant_a, EASY[0])
        await _feedback(env, first, tenant_a, decision, True)
    restarted = _service(env, warmup_feedback=5)
    async with env.platform.db.transaction(tenant_a) as session:
        routing_a = await restarted.state.load(session, tenant_a)
    assert routing_a.incumbent is not None and routing_a.incumbent.bandit.feedback == 12
    assert routing_a.recent_quality  # outcomes of similar requests were learnt
    cold = await _decide(env, restarted, tenant_b, EASY[0])
    assert cold.tier == restarted.safe_tier and cold.features["recent_quality"] is None
    async with env.platform.db.transaction(tenant_b) as session:
        routing_b = await restarted.state.load(session, tenant_b)
        policies_b = await admin.list_policies(session)
    assert routing_b.incumbent is not None and routing_b.incumbent.bandit.feedback == 0
    assert [p.feedback_count for p in policies_b] == [0]
    listed = await env.client.get("/api/v1/router/policies", headers=handle_b.auth)
    assert [p["id"] for p in listed.json()["items"]] == [str(policies_b[0].id)]
