"""Chat objects for the cross-tenant matrix."""

from __future__ import annotations

from tests.conftest import Stack
from tests.factories import TenantHandle
from tests.isolation import Factory


async def _conversation(stack: Stack, owner: TenantHandle) -> str:
    made = await stack.client.post(
        "/api/v1/chat/conversations",
        headers=owner.auth,
        json={"end_user_id": "isolation-customer", "metadata": {"case": "matrix"}},
    )
    assert made.status_code == 201, made.text
    conversation_id = str(made.json()["id"])
    # put it in the inbox too, so tenant B's inbox routes meet a waiting conversation
    asked = await stack.client.post(
        f"/api/v1/chat/conversations/{conversation_id}/handoff", headers=owner.auth
    )
    assert asked.status_code == 200, asked.text
    return conversation_id


FACTORIES: dict[str, Factory] = {"conversation_id": _conversation}
