"""The per-tenant registry, the runner's allow-list, input checks and saga compensation in reverse
order, against a real local HTTP server, on both stacks."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from aiaas.tools.errors import ToolInputInvalid, ToolNotAllowed, ToolNotFound
from aiaas.tools.service import ToolRegistry, ToolRunner, install_standard_tools
from tests.conftest import Stack
from tests.factories import make_tenant
from tests.tools.server import Reply, tool_server


def http_tool(name: str, url: str, method: str = "POST", **extra: Any) -> dict[str, Any]:
    return {"name": name, "version": "1.0.0", "input_schema": {"type": "object"},
            "http": {"method": method, "url": url}, **extra}  # fmt: skip


async def test_saga_compensates_in_reverse_order(env: Stack) -> None:
    tenant = UUID((await make_tenant(env)).id)
    async with tool_server() as server:
        server.scripts.update({
            "/holds": [Reply(201, {"id": "H-1"})], "/charges": [Reply(201, {"id": "C-9"})],
            "/ship": [Reply(400, {"error": "no stock"})],
            "/holds/H-1": [Reply(200, {})], "/charges/C-9": [Reply(200, {})],
        })  # fmt: skip
        async with env.platform.db.transaction(tenant) as session:
            registry = ToolRegistry(session)
            await registry.register(http_tool("release_hold", server.url + "/holds/{hold_id}", "DELETE",
                input_schema={"type": "object", "properties": {"hold_id": {"type": "string"}},
                              "required": ["hold_id"]}, side_effect=True))  # fmt: skip
            await registry.register(http_tool("refund", server.url + "/charges/{charge_id}", "DELETE",
                input_schema={"type": "object", "properties": {"charge_id": {"type": "string"}},
                              "required": ["charge_id"]}, side_effect=True))  # fmt: skip
            await registry.register(http_tool("hold", server.url + "/holds", side_effect=True,
                compensation={"tool": "release_hold", "args": {"hold_id": "result.id"}}))  # fmt: skip
            await registry.register(http_tool("charge", server.url + "/charges", side_effect=True,
                compensation={"tool": "refund", "args": {"charge_id": "result.id"}}))  # fmt: skip
            await registry.register(http_tool("ship", server.url + "/ship", side_effect=True))
        runner = ToolRunner(env.platform.db, env.platform.orchestrator.tools, tenant,
                            frozenset({"hold", "charge", "ship"}))  # fmt: skip
        await runner("hold", {"sku": "TENT"})
        await runner("charge", {"amount_micros": 129_000_000})
        with pytest.raises(Exception, match="no stock"):
            await runner("ship", {"sku": "TENT"})
        outcomes = await runner.compensate()
        assert [o["compensation"] for o in outcomes] == ["refund", "release_hold"]
        assert all(o["ok"] for o in outcomes)
        order = [(r.method, r.path) for r in server.received]
        assert order[-2:] == [("DELETE", "/charges/C-9"), ("DELETE", "/holds/H-1")]
        assert await runner.compensate() == []  # nothing is undone twice


async def test_allow_list_inputs_and_versions(env: Stack) -> None:
    tenant = UUID((await make_tenant(env)).id)
    assert set(await install_standard_tools(env.platform.db, tenant)) >= {
        "lookup_order",
        "create_lead",
    }
    runner = ToolRunner(
        env.platform.db, env.platform.orchestrator.tools, tenant, frozenset({"lookup_order"})
    )
    with pytest.raises(ToolNotAllowed):
        await runner("create_lead", {"name": "x", "email": "x@y.co"})
    with pytest.raises(ToolInputInvalid):
        await runner("lookup_order", {"order_id": "A-1", "tenant_id": "someone-else"})
    found = await runner("lookup_order", {"order_id": "a-12345"})
    assert found["status"] == "shipped" and found["order_id"] == "A-12345"
    assert (await runner("lookup_order", {"order_id": "Z-0"}))["found"] is False
    assert [c["status"] for c in runner.calls] == ["refused", "ok", "ok"]
    async with env.platform.db.transaction(tenant) as session:
        registry = ToolRegistry(session)
        newer = (await registry.get("lookup_order")).model_dump(mode="json") | {"version": "1.1.0"}
        await registry.register(newer)
        older = newer | {"version": "1.0.1"}
        await registry.register(older)
        assert (await registry.get("lookup_order")).version == "1.1.0"
        assert [r.version for r in await registry.versions("lookup_order")] == [
            "1.1.0",
            "1.0.1",
            "1.0.0",
        ]
    other = UUID((await make_tenant(env)).id)
    stranger = ToolRunner(
        env.platform.db, env.platform.orchestrator.tools, other, frozenset({"lookup_order"})
    )
    with pytest.raises(ToolNotFound):
        await stranger("lookup_order", {"order_id": "A-12345"})
