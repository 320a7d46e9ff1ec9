"""The service: cancelling a running turn, stopping at a limit, refusing an unknown workflow,
a failed run's saga being compensated, on both stacks."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest

from aiaas.orchestrator.errors import WorkflowNotFound
from aiaas.tools.service import ToolRegistry
from tests.conftest import Stack
from tests.factories import make_tenant
from tests.tools.server import Reply, tool_server

SLOW = """
version: 1
name: slow
nodes:
  - {id: wait, type: tool, tool: slow_call}
  - {id: done, type: respond, message: "done"}
edges:
  - {from: wait, to: done}
"""
SAGA = """
version: 1
name: booking
state:
  hold: {type: object}
nodes:
  - {id: hold, type: tool, tool: hold, output: hold}
  - {id: ship, type: tool, tool: ship}
edges:
  - {from: hold, to: ship}
"""
LOOPY = """
version: 1
name: loopy
limits: {max_steps: 5}
state:
  n: {type: integer}
nodes:
  - {id: inc, type: set, assign: {n: state.n + 1}}
edges:
  - {from: inc, to: inc, when: state.n < 100}
"""


async def _register(env: Stack, tenant: UUID, *manifests: dict[str, object]) -> None:
    async with env.platform.db.transaction(tenant) as session:
        for manifest in manifests:
            await ToolRegistry(session).register(manifest)


async def test_cancel_a_running_turn(env: Stack) -> None:
    tenant = UUID((await make_tenant(env)).id)
    service = env.platform.orchestrator
    async with tool_server() as server:
        called = asyncio.Event()

        def slow(_request: object) -> Reply:
            called.set()
            return Reply(200, {}, delay=5)

        server.scripts["/slow"] = slow
        await _register(env, tenant, {"name": "slow_call", "version": "1.0.0",
                                      "http": {"method": "GET", "url": server.url + "/slow"},
                                      "timeout_seconds": 10})  # fmt: skip
        await service.store.upload(tenant, SLOW)
        turn = asyncio.ensure_future(service.run_turn(tenant, "c1", "go", workflow="slow"))
        await asyncio.wait_for(called.wait(), 5)
        [run_id] = list(service._feeds)
        cancelled = await service.cancel(tenant, run_id)
        assert cancelled.status == "cancelled"
        result = await asyncio.wait_for(turn, 5)
        assert result["status"] == "cancelled"


async def test_limits_unknown_workflows_and_saga(env: Stack) -> None:
    tenant = UUID((await make_tenant(env)).id)
    service = env.platform.orchestrator
    await service.store.upload(tenant, LOOPY)
    stopped = await service.run_turn(tenant, "c2", "go", workflow="loopy")
    assert stopped["status"] == "stopped" and stopped["stop_reason"].startswith("max_steps")
    with pytest.raises(WorkflowNotFound):
        await service.run_turn(tenant, "c3", "go", workflow="nope")
    async with tool_server() as server:
        server.scripts.update({"/holds": [Reply(201, {"id": "H-7"})], "/ship": [Reply(503)],
                               "/holds/H-7": [Reply(200, {})]})  # fmt: skip
        await _register(
            env, tenant,
            {"name": "release", "version": "1.0.0", "side_effect": True,
             "input_schema": {"type": "object", "properties": {"id": {"type": "string"}},
                              "required": ["id"]},
             "http": {"method": "DELETE", "url": server.url + "/holds/{id}"}},
            {"name": "hold", "version": "1.0.0", "side_effect": True,
             "http": {"method": "POST", "url": server.url + "/holds"},
             "compensation": {"tool": "release", "args": {"id": "result.id"}}},
            {"name": "ship", "version": "1.0.0", "side_effect": True,
             "http": {"method": "POST", "url": server.url + "/ship"}},
        )  # fmt: skip
        await service.store.upload(tenant, SAGA)
        failed = await service.run_turn(tenant, "c4", "book it", workflow="booking")
        assert failed["status"] == "failed"
        assert failed["compensations"] == [{"tool": "hold", "compensation": "release", "ok": True}]
        assert [(r.method, r.path) for r in server.received][-1] == ("DELETE", "/holds/H-7")


async def test_turns_of_one_conversation_run_one_after_the_other(env: Stack) -> None:
    tenant = UUID((await make_tenant(env)).id)
    service = env.platform.orchestrator
    async with tool_server() as server:
        server.scripts["/slow"] = [Reply(200, {}, delay=0.3)]
        await _register(env, tenant, {"name": "slow_call", "version": "1.0.0",
                                      "http": {"method": "GET", "url": server.url + "/slow"}})  # fmt: skip
        await service.store.upload(tenant, SLOW)
        first, second = await asyncio.gather(
            service.run_turn(tenant, "same", "one", workflow="slow"),
            service.run_turn(tenant, "same", "two", workflow="slow"),
        )
    runs = [(await service.get_run(tenant, UUID(r["run_id"])))[0] for r in (first, second)]
    runs.sort(key=lambda run: run.started_at)
    assert runs[0].finished_at is not None and runs[1].started_at >= runs[0].finished_at
    assert not service._locks
