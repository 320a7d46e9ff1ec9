"""Helpers of the events tests: service switches, a countable test consumer, databases, buses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from uuid import UUID

import pytest
from pydantic import BaseModel
from sqlalchemy import Column, Integer, MetaData, String, Table, Uuid, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

import aiaas.events
import aiaas.events.models
import aiaas.tenancy.models  # noqa: F401
from aiaas.backends.bus import Bus
from aiaas.config import Settings
from aiaas.events.catalog import _registry, register_event
from aiaas.events.consumer import Consumer, ConsumerRunner
from aiaas.events.envelope import EventEnvelope
from aiaas.events.models import OutboxEvent
from aiaas.events.outbox import record_event
from aiaas.events.relay import OutboxRelay
from aiaas.kit.db import Base, Database
from aiaas.kit.ids import new_id
from aiaas.tenancy.models import Tenant
from tests.services import ScratchDatabase, create_scratch_database, need_services


async def need(*services: str) -> None:
    """Skip (or fail with ``AIAAS_TEST_SERVICES=required``) unless the services answer."""
    await need_services(*services)


# ---- a test event type and a consumer whose effects are countable rows ------------------------
class ThingHappened(BaseModel):
    n: int
    poison: bool = False


TEST_EVENT_TYPE = "test.thing.happened"


@contextmanager
def registered_test_event() -> Iterator[None]:
    """The test event type is in the catalog only while an events test runs."""
    register_event(TEST_EVENT_TYPE, 1, ThingHappened, "An event the tests publish")
    try:
        yield
    finally:
        _registry.pop(TEST_EVENT_TYPE, None)


effects_metadata = MetaData()
effects = Table(
    "test_event_effects",
    effects_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("consumer", String(64), nullable=False),
    Column("event_id", Uuid(), nullable=False),
    Column("tenant_id", Uuid(), nullable=False),
    Column("n", Integer, nullable=False),
)


class EffectConsumer(Consumer):
    """Writes one effect row per handled event; fails on poison events (and the first N calls)."""

    def __init__(self, name: str = "effects", *, fail_first: int = 0) -> None:
        self.name = name
        self.fail_first = fail_first
        self.calls = 0

    async def handle(self, session: AsyncSession, envelope: EventEnvelope) -> None:
        self.calls += 1
        if envelope.payload.get("poison"):
            raise RuntimeError(f"poison event {envelope.payload['n']}")
        if self.calls <= self.fail_first:
            raise RuntimeError(f"transient failure {self.calls}")
        await session.execute(
            insert(effects).values(
                consumer=self.name,
                event_id=envelope.id,
                tenant_id=envelope.tenant_id,
                n=envelope.payload["n"],
            )
        )


async def effect_counts(db: Database, consumer: str = "effects") -> tuple[int, int]:
    """(effect rows, distinct events with an effect) of a consumer."""
    async with db.transaction(None) as session:
        row = (
            await session.execute(
                select(func.count(), func.count(func.distinct(effects.c.event_id))).where(
                    effects.c.consumer == consumer
                )
            )
        ).one()
    return int(row[0]), int(row[1])


async def record_things(
    db: Database, tenant_id: UUID, numbers: range | list[int], *, poison: set[int] | None = None
) -> list[EventEnvelope]:
    """Record one ``test.thing.happened`` per number, in one transaction."""
    async with db.transaction(tenant_id) as session:
        return [
            await record_event(
                session,
                TEST_EVENT_TYPE,
                {"n": n, "poison": n in (poison or set())},
                subject_type="thing",
                subject_id=str(n),
            )
            for n in numbers
        ]


async def wait_for(
    condition: Callable[[], Any], *, within: float = 30.0, interval: float = 0.02
) -> None:
    """Poll a (sync or async) condition until it holds; fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        last = condition()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return
        if loop.time() > deadline:
            pytest.fail(f"condition not met in {within}s (last value {last!r})")
        await asyncio.sleep(interval)


# ---- databases -------------------------------------------------------------------------------
async def create_postgres_database() -> ScratchDatabase:
    """A throwaway PostgreSQL database (dropped by ``drop_scratch_database``)."""
    await need("postgresql")
    scratch = await create_scratch_database()
    import asyncpg

    # The tests crash buses, not PostgreSQL: skipping the WAL flush per commit keeps them quick.
    conn = await asyncpg.connect(scratch.owner_url.replace("+asyncpg", ""))
    try:
        await conn.execute(f'ALTER DATABASE "{scratch.name}" SET synchronous_commit = off')
    finally:
        await conn.close()
    return scratch


async def create_schema(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
        await conn.run_sync(effects_metadata.create_all)


async def empty_tables(db: Database) -> None:
    """Remove every tenant (tenant-owned rows cascade) and every test effect."""
    async with db.engine.begin() as conn:
        await conn.execute(effects.delete())
        await conn.execute(text("DELETE FROM tenants"))  # ON DELETE CASCADE does the rest


async def make_tenant(db: Database) -> UUID:
    tenant_id = new_id()
    async with db.transaction(None) as session:
        session.add(
            Tenant(id=tenant_id, slug=f"t-{tenant_id.hex[-12:]}", name="Tenant", plan="free")
        )
    return tenant_id


# ---- buses -----------------------------------------------------------------------------------
async def start_nats_bus(url: str, settings: Settings, **kwargs: Any) -> Bus:
    from aiaas.backends.bus.nats import NatsBus

    kwargs.setdefault("start_deadline", 2.0)
    kwargs.setdefault("fetch_wait", 0.5)
    bus = NatsBus(url, stream=settings.events.stream, namespace=settings.namespace, **kwargs)
    await bus.start()
    return bus


async def dispose_nats_bus(bus: Bus) -> None:
    """Stop subscriptions, delete the test stream and close."""
    from aiaas.backends.bus.nats import NatsBus

    assert isinstance(bus, NatsBus)
    for subscription in list(bus._subscriptions):
        await subscription.stop()
    await bus.delete_stream()
    await bus.close()


# ---- a running pipeline -------------------------------------------------------------------------
@asynccontextmanager
async def running(
    db: Database,
    bus: Bus,
    settings: Settings,
    consumers: list[Consumer],
    *,
    relay: OutboxRelay | None = None,
) -> AsyncIterator[tuple[ConsumerRunner, OutboxRelay]]:
    """Consumers first, then the relay loop; stopped in reverse order."""
    runner = ConsumerRunner(db, bus, consumers, settings)
    relay = relay or OutboxRelay(db, bus, settings)
    await runner.start()
    task = asyncio.create_task(relay.run())
    try:
        yield runner, relay
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runner.stop()


async def outbox_count(db: Database, tenant_ids: list[UUID]) -> int:
    total = 0
    for tenant_id in tenant_ids:
        async with db.transaction(tenant_id) as session:
            total += (
                await session.execute(select(func.count()).select_from(OutboxEvent))
            ).scalar_one()
    return total
