"""The whole path with the platform's own router and orchestrator (local LLM, shipped workflows):
a customer asks for a human, is answered live by an agent, is handed back and the bot answers."""

from __future__ import annotations

import json
from uuid import UUID

from sqlalchemy import text

from aiaas.chat.tasks import FeedbackRewardConsumer
from aiaas.events.envelope import EventEnvelope
from tests.chat.helpers import new_conversation
from tests.conftest import Stack
from tests.factories import make_tenant


async def test_customer_is_handed_off_answered_live_and_handed_back(env: Stack) -> None:
    tenant = await make_tenant(env)
    conversation = await new_conversation(env, tenant)
    url = f"/api/v1/chat/conversations/{conversation}/messages"
    handed = await env.client.post(
        url, headers=tenant.key_auth, json={"content": "I want to talk to a human agent"}
    )
    assert handed.status_code == 200, handed.text
    turn = handed.json()
    assert turn["status"] == "waiting_for_human", turn
    assert turn["decision_id"] and turn["workflow"]
    assert turn["replies"] and turn["replies"][0]["role"] == "assistant"
    inbox = (await env.client.get("/api/v1/chat/inbox", headers=tenant.auth)).json()["items"]
    assert [c["id"] for c in inbox] == [conversation]
    base = f"/api/v1/chat/inbox/{conversation}"
    assert (await env.client.post(f"{base}/claim", headers=tenant.auth)).status_code == 200
    reply = await env.client.post(
        f"{base}/reply", headers=tenant.auth, json={"content": "Hi, I can help with that."}
    )
    assert reply.status_code == 201
    back = await env.client.post(f"{base}/hand-back", headers=tenant.auth)
    assert back.status_code == 200, back.text
    assert back.json()["status"] == "open"
    later = await env.client.post(
        url, headers=tenant.key_auth, json={"content": "Where is my order? I want to track it"}
    )
    assert later.status_code == 200, later.text
    assert later.json()["status"] == "open" and later.json()["replies"], later.json()
    history = await env.client.get(url, headers=tenant.auth, params={"limit": 50})
    roles = [m["role"] for m in reversed(history.json()["items"])]
    assert roles[:4] == ["customer", "assistant", "system", "agent"]
    assert roles[-1] == "assistant"


async def test_feedback_becomes_the_router_reward(env: Stack) -> None:
    tenant = await make_tenant(env)
    conversation = await new_conversation(env, tenant)
    turn = await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/messages",
        headers=tenant.key_auth,
        json={"content": "Where is my order? I want to track it"},
    )
    decision_id = turn.json()["decision_id"]
    given = await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/feedback",
        headers=tenant.key_auth,
        json={"csat": 5, "resolved": True},
    )
    assert given.status_code == 201
    async with env.owner_engine.connect() as conn:
        raw = (
            await conn.execute(
                text("SELECT envelope FROM outbox_events WHERE type = 'chat.feedback.received'")
            )
        ).scalar_one()
    envelope = EventEnvelope.model_validate(raw if isinstance(raw, dict) else json.loads(raw))
    assert envelope.payload["decision_id"] == decision_id
    consumer = FeedbackRewardConsumer(env.platform.chat, env.settings.namespace)
    async with env.platform.db.transaction(UUID(tenant.id)) as session:
        await consumer.handle(session, envelope)
    decision = await env.client.get(f"/api/v1/router/decisions/{decision_id}", headers=tenant.auth)
    assert decision.status_code == 200, decision.text
    assert decision.json()["quality"] == 1.0
    # a redelivery is harmless: the router refuses a second outcome for one decision
    async with env.platform.db.transaction(UUID(tenant.id)) as session:
        await consumer.handle(session, envelope)


async def test_turns_succeed_while_the_consumers_write_in_the_background(env: Stack) -> None:
    """Embedded mode runs the relay and consumers in the serving process: every turn's events are
    written back (audit log, feedback) while the next turns read and write."""
    await env.platform.start_events()
    try:
        tenant = await make_tenant(env)
        conversation = await new_conversation(env, tenant)
        url = f"/api/v1/chat/conversations/{conversation}/messages"
        for content in (
            "How do returns work?",
            "Where is my order?",
            "What payment cards do you take?",
        ):
            turn = await env.client.post(url, headers=tenant.key_auth, json={"content": content})
            assert turn.status_code == 200, turn.text
    finally:
        await env.platform.stop_events()
