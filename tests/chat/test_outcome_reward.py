"""What the router learns from conversations on both backends: handoffs, re-asks and resolutions
become the reward of the turns they followed, charged with each turn's measured cost; explicit
feedback outranks them; events of one tenant never reach another's decisions; a redelivered event
has no second effect."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import numpy as np
import pytest
from sqlalchemy import func, select, update

from aiaas.backends.bus import Delivery
from aiaas.chat.models import Message
from aiaas.chat.tasks import FeedbackRewardConsumer, OutcomeRewardConsumer, is_reask, similarity
from aiaas.events.consumer import Consumer, ConsumerRunner
from aiaas.events.envelope import EventEnvelope
from aiaas.events.models import OutboxEvent
from aiaas.kit.clock import utcnow
from aiaas.router.models import RouterDecision, RouterPolicy
from tests.chat.helpers import new_conversation
from tests.conftest import Stack
from tests.factories import TenantHandle, make_tenant

pytestmark = pytest.mark.usefixtures("engine")

TURN_COST = 42  # what the scripted engine reports for an answered turn
LAMBDA = 0.2  # the default cost weight, per US cent


class Consumers:
    """The reward consumers behind the inbox, fed the tenant's chat events from the outbox."""

    def __init__(self, env: Stack) -> None:
        self.env = env
        self.outcomes = OutcomeRewardConsumer(env.platform.chat, env.settings.namespace)
        self.feedback = FeedbackRewardConsumer(env.platform.chat, env.settings.namespace)
        self.runner = ConsumerRunner(
            env.platform.db, env.platform.bus, [self.outcomes, self.feedback], env.settings
        )

    async def deliver(self, consumer: Consumer, envelope: EventEnvelope) -> None:
        await self.runner.deliver(
            consumer,
            Delivery(
                subject=envelope.bus_subject(self.env.settings.namespace),
                data=envelope.to_bytes(),
                msg_id=str(envelope.id),
                attempt=1,
            ),
        )

    async def drain(self, tenant: TenantHandle, *types: str) -> list[EventEnvelope]:
        """Deliver the tenant's chat events (of ``types``, or all) in order; already handled ones
        are duplicates the inbox drops."""
        delivered = []
        for envelope in await events(self.env, tenant, "chat."):
            if types and envelope.type not in types:
                continue
            consumer = self.feedback if envelope.type == "chat.feedback.received" else self.outcomes
            await self.deliver(consumer, envelope)
            delivered.append(envelope)
        return delivered


async def events(env: Stack, tenant: TenantHandle, prefix: str) -> list[EventEnvelope]:
    async with env.owner_engine.connect() as conn:
        rows = (
            await conn.execute(
                select(OutboxEvent.envelope)
                .where(
                    OutboxEvent.tenant_id == UUID(tenant.id), OutboxEvent.type.like(f"{prefix}%")
                )
                .order_by(OutboxEvent.id)
            )
        ).scalars()
        return [
            EventEnvelope.model_validate(raw if isinstance(raw, dict) else json.loads(raw))
            for raw in rows
        ]


async def send(env: Stack, tenant: TenantHandle, conversation: str, content: str) -> dict[str, Any]:
    turn = await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/messages",
        headers=tenant.key_auth,
        json={"content": content},
    )
    assert turn.status_code == 200, turn.text
    assert turn.json()["decision_id"], turn.json()
    return dict(turn.json())


async def decision(env: Stack, tenant: TenantHandle, decision_id: str) -> dict[str, Any]:
    found = await env.client.get(f"/api/v1/router/decisions/{decision_id}", headers=tenant.auth)
    assert found.status_code == 200, found.text
    return dict(found.json())


async def stored(env: Stack, decision_id: str) -> RouterDecision:
    async with env.owner_engine.connect() as conn:
        row = (
            await conn.execute(
                select(RouterDecision.__table__).where(RouterDecision.id == UUID(decision_id))
            )
        ).one()
    return RouterDecision(**row._mapping)


async def policy(env: Stack, tenant: TenantHandle) -> RouterPolicy:
    async with env.owner_engine.connect() as conn:
        row = (
            await conn.execute(
                select(RouterPolicy.__table__).where(RouterPolicy.tenant_id == UUID(tenant.id))
            )
        ).one()
    return RouterPolicy(**row._mapping)


def learnt(state: dict[str, Any]) -> tuple[int, dict[str, list[float]]]:
    if isinstance(state, str):
        state = json.loads(state)
    arms = state["arms"]
    return sum(a["count"] for a in arms.values()), {t: a["b"] for t, a in arms.items()}


def reward(quality: float, cost_micros: int) -> float:
    return quality - LAMBDA * cost_micros / 10_000


async def test_a_handoff_after_a_routed_turn_scores_that_turn_low(env: Stack) -> None:
    tenant = await make_tenant(env)
    consumers = Consumers(env)
    conversation = await new_conversation(env, tenant)
    answered = await send(env, tenant, conversation, "Where is my order?")
    handed = await send(env, tenant, conversation, "I want to talk to a human")
    assert handed["status"] == "waiting_for_human"
    await consumers.drain(tenant)

    turn = await decision(env, tenant, handed["decision_id"])
    # The scripted handoff spends no tokens: the reward charges that, not an estimate.
    assert (turn["quality"], turn["cost_micros"], turn["reward"]) == (0.0, 0, 0.0)
    assert (await stored(env, handed["decision_id"])).outcome_source == "implicit"
    assert (await decision(env, tenant, answered["decision_id"]))["feedback_at"] is None
    inferred = await events(env, tenant, "chat.outcome.inferred")
    assert [(e.payload["decision_id"], e.payload["signal"]) for e in inferred] == [
        (handed["decision_id"], "handoff")
    ]
    # Whichever of the handoff and the turn's cost is handled first, one observation of the
    # measured reward is what the policy holds.
    count, b = learnt((await policy(env, tenant)).state)
    assert count == 1
    assert np.allclose(b[turn["tier"]], 0.0)


async def test_asking_for_a_human_after_an_answer_scores_the_answer_low(env: Stack) -> None:
    tenant = await make_tenant(env)
    consumers = Consumers(env)
    conversation = await new_conversation(env, tenant)
    answered = await send(env, tenant, conversation, "Where is my order?")
    asked = await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/handoff", headers=tenant.key_auth
    )
    assert asked.status_code == 200, asked.text
    await consumers.drain(tenant)

    turn = await decision(env, tenant, answered["decision_id"])
    assert turn["quality"] == 0.0
    assert turn["cost_micros"] == TURN_COST
    assert turn["reward"] == pytest.approx(reward(0.0, TURN_COST))
    # Closing the conversation while it waits for a human rewards nothing.
    closed = await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/close", headers=tenant.key_auth
    )
    assert closed.status_code == 200
    await consumers.drain(tenant)
    assert (await decision(env, tenant, answered["decision_id"]))["quality"] == 0.0


async def test_a_reask_scores_the_previous_answer_low(env: Stack) -> None:
    tenant = await make_tenant(env)
    consumers = Consumers(env)
    conversation = await new_conversation(env, tenant)
    first = await send(env, tenant, conversation, "Where is my order?")
    again = await send(env, tenant, conversation, "where's my order??")
    other = await send(env, tenant, conversation, "What payment cards do you take?")
    await consumers.drain(tenant)

    penalised = await decision(env, tenant, first["decision_id"])
    assert penalised["quality"] == 0.0 and penalised["cost_micros"] == TURN_COST
    assert penalised["reward"] == pytest.approx(reward(0.0, TURN_COST))
    # "again" was answered, then a different question followed: no outcome for it yet.
    assert (await decision(env, tenant, again["decision_id"]))["feedback_at"] is None
    assert (await decision(env, tenant, other["decision_id"]))["feedback_at"] is None


async def test_a_repeat_long_after_is_not_a_reask(env: Stack) -> None:
    tenant = await make_tenant(env)
    consumers = Consumers(env)
    conversation = await new_conversation(env, tenant)
    first = await send(env, tenant, conversation, "Where is my order?")
    await consumers.drain(tenant)
    async with env.owner_engine.begin() as conn:
        await conn.execute(
            update(Message)
            .where(Message.conversation_id == UUID(conversation))
            .values(created_at=utcnow() - timedelta(hours=1))
        )
        await conn.execute(
            update(RouterDecision)
            .where(RouterDecision.id == UUID(first["decision_id"]))
            .values(created_at=utcnow() - timedelta(hours=1))
        )
    await send(env, tenant, conversation, "Where is my order?")
    await consumers.drain(tenant)
    assert (await decision(env, tenant, first["decision_id"]))["feedback_at"] is None


async def test_resolution_without_handoff_rewards_the_turns_without_outcome(env: Stack) -> None:
    tenant = await make_tenant(env)
    consumers = Consumers(env)
    conversation = await new_conversation(env, tenant)
    first = await send(env, tenant, conversation, "How do returns work?")
    second = await send(env, tenant, conversation, "Where is my order?")
    closed = await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/close", headers=tenant.key_auth
    )
    assert closed.status_code == 200
    await consumers.drain(tenant)

    for turn in (first, second):
        outcome = await decision(env, tenant, turn["decision_id"])
        assert outcome["quality"] == 1.0 and outcome["cost_micros"] == TURN_COST
        assert outcome["reward"] == pytest.approx(reward(1.0, TURN_COST))
    count, _ = learnt((await policy(env, tenant)).state)
    assert count == 2
    signals = [e.payload["signal"] for e in await events(env, tenant, "chat.outcome.inferred")]
    assert signals == ["resolved", "resolved"]


async def test_explicit_feedback_then_a_resolution_counts_once(env: Stack) -> None:
    tenant = await make_tenant(env)
    consumers = Consumers(env)
    conversation = await new_conversation(env, tenant)
    turn = await send(env, tenant, conversation, "Where is my order?")
    given = await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/feedback",
        headers=tenant.key_auth,
        json={"thumbs": -1},
    )
    assert given.status_code == 201
    await consumers.drain(tenant)
    before = await policy(env, tenant)
    await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/close", headers=tenant.key_auth
    )
    await consumers.drain(tenant)

    outcome = await decision(env, tenant, turn["decision_id"])
    assert outcome["quality"] == 0.0
    assert outcome["reward"] == pytest.approx(reward(0.0, TURN_COST))
    assert (await stored(env, turn["decision_id"])).outcome_source == "explicit"
    after = await policy(env, tenant)
    assert (
        (after.feedback_count, after.revision)
        == (before.feedback_count, before.revision)
        == (
            1,
            1,
        )
    )
    assert await events(env, tenant, "chat.outcome.inferred") == []


async def test_explicit_feedback_replaces_an_inferred_outcome(env: Stack) -> None:
    tenant = await make_tenant(env)
    consumers = Consumers(env)
    conversation = await new_conversation(env, tenant)
    turn = await send(env, tenant, conversation, "Where is my order?")
    await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/close", headers=tenant.key_auth
    )
    await consumers.drain(tenant)
    assert (await decision(env, tenant, turn["decision_id"]))["quality"] == 1.0
    # Feedback after the conversation closed: the customer was not helped after all.
    given = await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/feedback",
        headers=tenant.key_auth,
        json={"thumbs": -1},
    )
    assert given.status_code == 201
    await consumers.drain(tenant)

    outcome = await decision(env, tenant, turn["decision_id"])
    final = reward(0.0, TURN_COST)
    assert outcome["quality"] == 0.0 and outcome["reward"] == pytest.approx(final)
    assert (await stored(env, turn["decision_id"])).outcome_source == "explicit"
    learner = await policy(env, tenant)
    assert learner.feedback_count == 1
    assert learner.reward_sum == pytest.approx(final)
    count, b = learnt(learner.state)
    assert count == 1
    row = await stored(env, turn["decision_id"])
    # Exactly what one observation of the final reward teaches.
    assert np.allclose(b[row.tier], final * np.asarray(row.vector))
    revised = [e.payload for e in await events(env, tenant, "router.reward.revised")]
    assert [(p["reason"], p["previous_quality"], p["quality"]) for p in revised] == [
        ("explicit_feedback", 1.0, 0.0)
    ]


async def test_another_tenants_events_never_touch_this_tenants_decisions(env: Stack) -> None:
    mine, theirs = await make_tenant(env), await make_tenant(env)
    consumers = Consumers(env)
    conversation = await new_conversation(env, mine)
    turn = await send(env, mine, conversation, "Where is my order?")
    await consumers.drain(mine, "chat.turn.completed")
    baseline = await policy(env, mine)
    await env.client.post(f"/api/v1/chat/conversations/{conversation}/close", headers=mine.key_auth)
    # Every chat event of this conversation, as if the other tenant had sent it.
    for envelope in await events(env, mine, "chat."):
        forged = envelope.model_copy(update={"id": uuid4(), "tenant_id": UUID(theirs.id)})
        await consumers.deliver(consumers.outcomes, forged)
    outcome = await decision(env, mine, turn["decision_id"])
    assert outcome["feedback_at"] is None
    assert (await policy(env, mine)).revision == baseline.revision
    async with env.owner_engine.connect() as conn:
        theirs_decided = (
            await conn.execute(
                select(func.count())
                .select_from(RouterDecision.__table__)
                .where(RouterDecision.tenant_id == UUID(theirs.id))
            )
        ).scalar_one()
    assert theirs_decided == 0
    # The tenant's own copy of the events still teaches its own policy.
    await consumers.drain(mine)
    assert (await decision(env, mine, turn["decision_id"]))["quality"] == 1.0


async def test_a_redelivered_event_has_no_second_effect(env: Stack) -> None:
    tenant = await make_tenant(env)
    consumers = Consumers(env)
    conversation = await new_conversation(env, tenant)
    first = await send(env, tenant, conversation, "Where is my order?")
    await send(env, tenant, conversation, "where is my order")
    delivered = await consumers.drain(tenant)
    once = await policy(env, tenant)
    assert (await decision(env, tenant, first["decision_id"]))["quality"] == 0.0
    for envelope in delivered:  # the bus delivers again: the inbox knows them
        await consumers.deliver(consumers.outcomes, envelope)
    # Even past the inbox (a handler run twice), an outcome is learnt once.
    for envelope in delivered:
        async with env.platform.db.transaction(UUID(tenant.id)) as session:
            await consumers.outcomes.handle(session, envelope)
    twice = await policy(env, tenant)
    assert (twice.feedback_count, twice.revision, twice.reward_sum) == (
        once.feedback_count,
        once.revision,
        once.reward_sum,
    )
    assert len(await events(env, tenant, "chat.outcome.inferred")) == 1


def test_near_repeats_are_reasks_and_new_questions_are_not() -> None:
    assert similarity("Where is my order?", "where's my order??") == 1.0
    assert similarity("where is my ordr", "Where is my order?") >= 0.6
    assert similarity("I can't log in", "I still can't log in again") == 1.0
    assert similarity("I want to cancel my subscription", "I want to cancel my order") < 0.6
    assert similarity("How do returns work?", "Where is my order?") == 0.0
    assert similarity("thanks", "thanks") == 0.0  # nothing asked, nothing repeated
    now = utcnow()
    earlier = Message(role="customer", content="Where is my order?", created_at=now)
    soon = Message(
        role="customer", content="where is my order", created_at=now + timedelta(minutes=1)
    )
    late = Message(
        role="customer", content="where is my order", created_at=now + timedelta(hours=1)
    )
    assert is_reask(earlier, soon) and not is_reask(earlier, late)
