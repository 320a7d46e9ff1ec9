"""Outcomes the platform infers and the measured cost of a turn, on both backends: a decision's
outcome is learnt once; explicit feedback replaces an inferred outcome and nothing replaces explicit
feedback; the reward charges the turn's measured cost, revising what was learnt when it arrives
late; another tenant's decisions are out of reach."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import numpy as np
import pytest

from aiaas.kit.clock import utcnow
from aiaas.kit.errors import Conflict, NotFound, ValidationFailed
from aiaas.router.bandit import LinUCB
from aiaas.router.features import DIMENSIONS
from aiaas.router.learning import FeedbackResult
from aiaas.router.models import RouterDecision, RouterPolicy
from aiaas.router.repository import DecisionRepository, PolicyRepository
from aiaas.router.service import Decision, RouterService
from tests.conftest import Stack
from tests.factories import make_tenant

LAMBDA = 0.2


def _service(env: Stack) -> RouterService:
    return env.platform.router


async def _decide(env: Stack, tenant: UUID, conversation: str, message: str) -> Decision:
    async with env.platform.db.transaction(tenant) as session:
        return await _service(env).decide(session, tenant, message, conversation_id=conversation)


async def _row(env: Stack, tenant: UUID, decision: UUID) -> RouterDecision:
    async with env.platform.db.transaction(tenant) as session:
        row = await DecisionRepository(session).get(decision)
    assert row is not None
    return row


async def _policy(env: Stack, tenant: UUID) -> RouterPolicy:
    async with env.platform.db.transaction(tenant) as session:
        (policy,) = await PolicyRepository(session).live()
    return policy


async def _call(env: Stack, tenant: UUID, method: str, *args: Any, **kwargs: Any) -> Any:
    async with env.platform.db.transaction(tenant) as session:
        return await getattr(_service(env), method)(session, *args, **kwargs)


def _only_observation(policy: RouterPolicy, row: RouterDecision, reward: float) -> None:
    """The policy's state is exactly that of one observation of ``reward`` for the decision."""
    service_arms = list(policy.state["arms"])
    expected = LinUCB(service_arms, DIMENSIONS)
    expected.update(row.tier, np.asarray(row.vector, dtype=np.float64), reward)
    learnt = policy.state["arms"][row.tier]
    want = expected.to_dict()["arms"][row.tier]
    assert learnt["count"] == 1
    assert np.allclose(learnt["a"], want["a"])
    assert np.allclose(learnt["b"], want["b"])


async def test_explicit_feedback_replaces_an_inferred_outcome_once(env: Stack) -> None:
    tenant = UUID((await make_tenant(env)).id)
    made = await _decide(env, tenant, "c-1", "where is my order?")
    inferred = await _call(env, tenant, "implicit_feedback", made.id, handoff=True)
    assert isinstance(inferred, FeedbackResult) and inferred.quality == 0.0
    # A second inferred outcome does not replace the first.
    assert await _call(env, tenant, "implicit_feedback", made.id, resolved=True) is None
    explicit = await _call(env, tenant, "feedback", made.id, rating=1.0, cost_micros=500)
    assert explicit.quality == 1.0
    assert explicit.reward == pytest.approx(1.0 - LAMBDA * 500 / 10_000)
    row = await _row(env, tenant, made.id)
    assert (row.outcome_source, row.quality, row.cost_micros) == ("explicit", 1.0, 500)
    policy = await _policy(env, tenant)
    assert policy.feedback_count == 1
    assert policy.reward_sum == pytest.approx(explicit.reward)
    _only_observation(policy, row, explicit.reward)
    # Nothing replaces explicit feedback: neither an inference nor a second feedback.
    assert await _call(env, tenant, "implicit_feedback", made.id, reask=True) is None
    with pytest.raises(Conflict):
        await _call(env, tenant, "feedback", made.id, rating=0.0)
    assert (await _row(env, tenant, made.id)).quality == 1.0


async def test_an_inference_after_explicit_feedback_changes_nothing(env: Stack) -> None:
    tenant = UUID((await make_tenant(env)).id)
    made = await _decide(env, tenant, "c-1", "where is my order?")
    await _call(env, tenant, "feedback", made.id, rating=0.0, cost_micros=0)
    before = await _policy(env, tenant)
    assert await _call(env, tenant, "implicit_feedback", made.id, resolved=True) is None
    after = await _policy(env, tenant)
    assert (after.revision, after.feedback_count, after.reward_sum) == (
        before.revision,
        before.feedback_count,
        before.reward_sum,
    )
    assert (await _row(env, tenant, made.id)).outcome_source == "explicit"


async def test_the_reward_charges_the_turns_measured_cost(env: Stack) -> None:
    tenant = UUID((await make_tenant(env)).id)
    early = await _decide(env, tenant, "c-1", "where is my order?")
    assert await _call(env, tenant, "record_turn_cost", early.id, 3_000) is None
    result = await _call(env, tenant, "implicit_feedback", early.id, resolved=True)
    assert result.cost_micros == 3_000
    assert result.reward == pytest.approx(1.0 - LAMBDA * 3_000 / 10_000)
    # The turn's measured cost outranks one a caller gives.
    late = await _decide(env, tenant, "c-2", "how do returns work?")
    first = await _call(env, tenant, "feedback", late.id, rating=1.0, cost_micros=9_999)
    assert first.cost_micros == 9_999
    revised = await _call(env, tenant, "record_turn_cost", late.id, 1_000)
    assert revised.cost_micros == 1_000
    assert revised.reward == pytest.approx(1.0 - LAMBDA * 1_000 / 10_000)
    row = await _row(env, tenant, late.id)
    assert (row.cost_micros, row.turn_cost_micros, row.outcome_source) == (1_000, 1_000, "explicit")
    assert row.reward == pytest.approx(revised.reward)
    policy = await _policy(env, tenant)
    assert policy.feedback_count == 2
    assert policy.reward_sum == pytest.approx(result.reward + revised.reward)
    # The same cost again is no revision.
    assert await _call(env, tenant, "record_turn_cost", late.id, 1_000) is None
    assert (await _policy(env, tenant)).revision == policy.revision
    with pytest.raises(ValidationFailed):
        await _call(env, tenant, "record_turn_cost", late.id, -1)


async def test_a_conversations_decisions_are_found_by_time(env: Stack) -> None:
    tenant = UUID((await make_tenant(env)).id)
    start = utcnow()
    first = await _decide(env, tenant, "c-1", "where is my order?")
    middle = utcnow()
    second = await _decide(env, tenant, "c-1", "how do returns work?")
    await _decide(env, tenant, "c-2", "other conversation")
    end = utcnow() + timedelta(seconds=1)
    assert await _call(env, tenant, "conversation_decision", "c-1", until=end) == second.id
    assert await _call(env, tenant, "conversation_decision", "c-1", until=middle) == first.id
    assert (
        await _call(env, tenant, "conversation_decision", "c-1", since=middle, until=end)
        == second.id
    )
    assert await _call(env, tenant, "conversation_decision", "c-1", until=start) is None
    await _call(env, tenant, "implicit_feedback", first.id, reask=True)
    pending = await _call(env, tenant, "decisions_without_outcome", "c-1", until=end, limit=10)
    assert pending == [second.id]


async def test_another_tenants_decisions_are_out_of_reach(env: Stack) -> None:
    mine, theirs = UUID((await make_tenant(env)).id), UUID((await make_tenant(env)).id)
    made = await _decide(env, mine, "c-1", "where is my order?")
    for method, kwargs in (
        ("implicit_feedback", {"handoff": True}),
        ("feedback", {"rating": 0.0}),
        ("record_turn_cost", {"cost_micros": 5}),
    ):
        with pytest.raises(NotFound):
            await _call(env, theirs, method, made.id, **kwargs)
    end = utcnow() + timedelta(seconds=1)
    assert await _call(env, theirs, "conversation_decision", "c-1", until=end) is None
    assert await _call(env, theirs, "decisions_without_outcome", "c-1", until=end, limit=5) == []
    row = await _row(env, mine, made.id)
    assert (row.feedback_at, row.turn_cost_micros) == (None, None)
    with pytest.raises(NotFound):
        await _call(env, mine, "implicit_feedback", uuid4(), handoff=True)
