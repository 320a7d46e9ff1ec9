from __future__ import annotations

import json
from typing import Any

from tests.conftest import Stack
from tests.factories import TenantHandle


async def new_conversation(env: Stack, tenant: TenantHandle, **body: Any) -> str:
    payload = {"end_user_id": "cust-1", **body}
    made = await env.client.post(
        "/api/v1/chat/conversations", headers=tenant.key_auth, json=payload
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def parse_sse(text: str) -> list[tuple[int, str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return events
