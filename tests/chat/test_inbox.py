"""The human handoff inbox: queue order, claim, live replies, hand back, resolve, resume."""

from __future__ import annotations

from tests.chat.engines import ScriptedEngine
from tests.chat.helpers import new_conversation
from tests.conftest import Stack
from tests.factories import TenantHandle, make_tenant


async def _hand_off(env: Stack, tenant: TenantHandle, end_user: str = "cust-1") -> str:
    conversation = await new_conversation(env, tenant, end_user_id=end_user)
    turn = await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/messages",
        headers=tenant.key_auth,
        json={"content": "I want a human please"},
    )
    assert turn.status_code == 200, turn.text
    assert turn.json()["status"] == "waiting_for_human"
    assert turn.json()["replies"][0]["content"] == "Connecting you."
    return conversation


async def test_waiting_conversations_are_listed_oldest_first(
    env: Stack, engine: ScriptedEngine
) -> None:
    tenant = await make_tenant(env)
    first = await _hand_off(env, tenant, "a")
    second = await _hand_off(env, tenant, "b")
    await new_conversation(env, tenant, end_user_id="not-waiting")
    listed = await env.client.get("/api/v1/chat/inbox", headers=tenant.auth, params={"limit": 1})
    assert [c["id"] for c in listed.json()["items"]] == [first]
    cursor = listed.json()["next_cursor"]
    rest = await env.client.get(
        "/api/v1/chat/inbox", headers=tenant.auth, params={"limit": 1, "cursor": cursor}
    )
    assert [c["id"] for c in rest.json()["items"]] == [second]
    assert rest.json()["items"][0]["handoff_reason"] == "customer asked for a human"


async def test_claim_reply_and_resolve(env: Stack, engine: ScriptedEngine) -> None:
    tenant = await make_tenant(env)
    conversation = await _hand_off(env, tenant)
    inbox = f"/api/v1/chat/inbox/{conversation}"
    early = await env.client.post(f"{inbox}/reply", headers=tenant.auth, json={"content": "x"})
    assert early.status_code == 409 and early.json()["code"] == "not_waiting_for_human"
    claimed = await env.client.post(f"{inbox}/claim", headers=tenant.auth)
    assert claimed.status_code == 200 and claimed.json()["status"] == "with_human"
    assert claimed.json()["assigned_agent"]
    # the customer keeps writing: stored and shown to the agent, the bot stays quiet
    said = await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/messages",
        headers=tenant.key_auth,
        json={"content": "are you there?"},
    )
    assert said.json()["replies"] == [] and said.json()["status"] == "with_human"
    replied = await env.client.post(
        f"{inbox}/reply", headers=tenant.auth, json={"content": "Yes, refund issued."}
    )
    assert replied.status_code == 201 and replied.json()["role"] == "agent"
    resolved = await env.client.post(f"{inbox}/resolve", headers=tenant.auth)
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    assert engine.resumed[-1]["action"] == "answer"
    assert engine.resumed[-1]["message"] == "Yes, refund issued."
    history = await env.client.get(
        f"/api/v1/chat/conversations/{conversation}/messages", headers=tenant.auth
    )
    roles = [m["role"] for m in reversed(history.json()["items"])]
    # the resumed workflow's echo of the agent answer is not stored twice
    assert roles == ["customer", "assistant", "system", "customer", "agent"]
    assert (await env.client.get("/api/v1/chat/inbox", headers=tenant.auth)).json()["items"] == []


async def test_hand_back_resumes_the_workflow(env: Stack, engine: ScriptedEngine) -> None:
    tenant = await make_tenant(env)
    conversation = await _hand_off(env, tenant)
    inbox = f"/api/v1/chat/inbox/{conversation}"
    await env.client.post(f"{inbox}/claim", headers=tenant.auth)
    back = await env.client.post(f"{inbox}/hand-back", headers=tenant.auth)
    assert back.status_code == 200 and back.json()["status"] == "open"
    assert [r["action"] for r in engine.resumed] == ["hand_back"]
    history = await env.client.get(
        f"/api/v1/chat/conversations/{conversation}/messages", headers=tenant.auth
    )
    assert history.json()["items"][0]["content"] == "Back with the bot."
    again = await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/messages",
        headers=tenant.key_auth,
        json={"content": "thanks"},
    )
    assert again.json()["replies"][0]["content"] == "echo: thanks"


async def test_a_second_agent_cannot_take_a_claimed_conversation(
    env: Stack, engine: ScriptedEngine
) -> None:
    tenant = await make_tenant(env)
    conversation = await _hand_off(env, tenant)
    inbox = f"/api/v1/chat/inbox/{conversation}"
    assert (await env.client.post(f"{inbox}/claim", headers=tenant.auth)).status_code == 200
    other = await env.client.post(f"{inbox}/claim", headers=tenant.key_auth)
    assert other.status_code == 409 and other.json()["code"] == "claimed_by_another_agent"


async def test_customer_can_ask_for_a_human(env: Stack, engine: ScriptedEngine) -> None:
    tenant = await make_tenant(env)
    conversation = await new_conversation(env, tenant)
    asked = await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/handoff", headers=tenant.key_auth
    )
    assert asked.status_code == 200 and asked.json()["status"] == "waiting_for_human"
    claimed = await env.client.post(f"/api/v1/chat/inbox/{conversation}/claim", headers=tenant.auth)
    assert claimed.status_code == 200
    resolved = await env.client.post(
        f"/api/v1/chat/inbox/{conversation}/resolve", headers=tenant.auth, json={"note": "done"}
    )
    assert resolved.json()["status"] == "resolved"
    assert engine.resumed == []  # no workflow was waiting, nothing to resume
