"""Tools objects for the cross-tenant matrix: a registered HTTP tool."""

from __future__ import annotations

from tests.conftest import Stack
from tests.factories import TenantHandle
from tests.isolation import Factory


async def _tool(stack: Stack, owner: TenantHandle) -> str:
    made = await stack.client.post(
        "/api/v1/tools",
        headers=owner.auth,
        json={
            "name": "isolation_lookup",
            "version": "1.0.0",
            "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
            "http": {"method": "GET", "url": "http://demo-store.internal/orders/A-12345"},
            "idempotent": True,
        },
    )
    assert made.status_code in (201, 409), made.text
    return "isolation_lookup"


FACTORIES: dict[str, Factory] = {"tool_name": _tool}
