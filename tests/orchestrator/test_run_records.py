"""A turn's run row and start event: written with the run's end when the turn is short, or once
the run has lasted ``record_run_start_after_seconds``; visible through the service meanwhile."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import text

from aiaas.orchestrator.service import RunNotFound
from tests.conftest import Stack
from tests.factories import make_tenant
from tests.orchestrator.test_service_runs import SLOW, _register
from tests.tools.server import Reply, tool_server


@contextmanager
def record_after(env: Stack, seconds: float) -> Iterator[None]:
    config = env.platform.orchestrator.config
    before = config.record_run_start_after_seconds
    config.record_run_start_after_seconds = seconds
    try:
        yield
    finally:
        config.record_run_start_after_seconds = before


async def _stored(env: Stack, run_id: UUID) -> tuple[str | None, list[dict[str, Any]]]:
    """The run row's status (``None`` when absent) and the run's outbox events, oldest first."""
    async with env.owner_engine.connect() as conn:
        status = (
            await conn.execute(
                text("SELECT status FROM workflow_runs WHERE id = :id"),
                {"id": run_id if env.platform.db.is_postgres else run_id.hex},
            )
        ).scalar_one_or_none()
        rows = (await conn.execute(text("SELECT envelope FROM outbox_events"))).scalars().all()
    envelopes = [row if isinstance(row, dict) else json.loads(row) for row in rows]
    mine = [e for e in envelopes if e["subject"]["id"] == str(run_id)]
    return status, sorted(mine, key=lambda e: e["id"])


@asynccontextmanager
async def slow_turn_running(
    env: Stack, record_after_seconds: float
) -> AsyncIterator[tuple[UUID, UUID, asyncio.Future[Any]]]:
    """A turn of the tenant's ``slow`` workflow, held in its tool call: (tenant, run id, turn)."""
    tenant = UUID((await make_tenant(env)).id)
    service = env.platform.orchestrator
    called = asyncio.Event()

    def slow(_request: object) -> Reply:
        called.set()
        return Reply(200, {}, delay=0.6)

    with record_after(env, record_after_seconds):
        async with tool_server() as server:
            server.scripts["/slow"] = slow
            await _register(env, tenant, {"name": "slow_call", "version": "1.0.0",
                                          "http": {"method": "GET", "url": server.url + "/slow"}})  # fmt: skip
            await service.store.upload(tenant, SLOW)
            turn = asyncio.ensure_future(service.run_turn(tenant, "c1", "go", workflow="slow"))
            await asyncio.wait_for(called.wait(), 5)
            [run_id] = list(service._feeds)
            yield tenant, run_id, turn
            assert (await asyncio.wait_for(turn, 5))["status"] == "completed"
    status, events = await _stored(env, run_id)
    assert status == "completed"
    assert [e["type"] for e in events] == ["orchestrator.run.started", "orchestrator.run.completed"]
    assert events[0]["occurred_at"] < events[1]["occurred_at"]


async def test_a_turn_that_ends_first_is_recorded_once_with_its_start(env: Stack) -> None:
    service = env.platform.orchestrator
    other = UUID((await make_tenant(env)).id)
    async with slow_turn_running(env, 60) as (tenant, run_id, _turn):
        assert (await _stored(env, run_id)) == (None, [])  # nothing written yet
        run, nodes = await service.get_run(tenant, run_id)
        assert (run.status, run.steps, nodes) == ("running", 0, [])
        with pytest.raises(RunNotFound):
            await service.get_run(other, run_id)
    run, nodes = await service.get_run(tenant, run_id)
    assert [n.node for n in nodes] == ["wait", "done"]


async def test_a_longer_turn_is_visible_as_running_while_it_runs(env: Stack) -> None:
    async with slow_turn_running(env, 0.05) as (_tenant, run_id, _turn):
        for _ in range(250):  # the row appears 0.05 s into the run
            stored = await _stored(env, run_id)
            if stored[0] is not None:
                break
            await asyncio.sleep(0.02)
        assert stored[0] == "running"
        assert [e["type"] for e in stored[1]] == ["orchestrator.run.started"]
