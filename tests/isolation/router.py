"""Router objects for the cross-tenant matrix."""

from __future__ import annotations

from tests.conftest import Stack
from tests.factories import TenantHandle
from tests.isolation import Factory


async def _decision(stack: Stack, owner: TenantHandle) -> str:
    made = await stack.client.post(
        "/api/v1/router/decide", headers=owner.auth, json={"message": "where is my order?"}
    )
    return str(made.json()["id"])


async def _policy(stack: Stack, owner: TenantHandle) -> str:
    await _decision(stack, owner)
    listed = await stack.client.get("/api/v1/router/policies", headers=owner.auth)
    return str(listed.json()["items"][0]["id"])


async def _intent_model(stack: Stack, owner: TenantHandle) -> str:
    examples = [
        {"text": f"{verb} my order please", "label": "order"} for verb in ("track", "find")
    ] + [{"text": f"{verb} my money back", "label": "refund"} for verb in ("want", "give")]
    await stack.client.post(
        "/api/v1/router/intents/examples", headers=owner.auth, json={"examples": examples}
    )
    queued = await stack.client.post("/api/v1/router/intents/train", headers=owner.auth)
    return str(queued.json()["id"])


FACTORIES: dict[str, Factory] = {
    "decision_id": _decision,
    "policy_id": _policy,
    "intent_model_id": _intent_model,
}
