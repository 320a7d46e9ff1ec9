from __future__ import annotations

import asyncio
from uuid import UUID

import pytest
from sqlalchemy import select, text

from aiaas.backends.bus import Bus, BusUnavailable, Delivery
from aiaas.backends.bus.memory import MemoryBus
from aiaas.config import Settings
from aiaas.events import metrics
from aiaas.events.models import OutboxEvent
from aiaas.events.outbox import OutboxSignal
from aiaas.events.relay import LISTEN_APPLICATION_NAME, OutboxRelay
from aiaas.kit.db import Database
from tests.events.support import make_tenant, outbox_count, record_things, wait_for


class Collector:
    """A raw durable consumer on the whole namespace; ``hold`` keeps messages unacknowledged."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.hold = False
        self.release = asyncio.Event()

    async def handle(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        if self.hold:
            await self.release.wait()

    async def dead_letter(self, delivery: Delivery, error: BaseException) -> None:
        raise AssertionError(f"unexpected dead letter: {error!r}")

    async def attach(self, bus: Bus, settings: Settings, durable: str = "collector") -> None:
        await bus.subscribe(
            durable,
            f"{settings.namespace}.>",
            self.handle,
            max_deliver=3,
            ack_wait=30.0,
            on_dead_letter=self.dead_letter,
        )

    def ids(self) -> list[str]:
        return [d.msg_id for d in self.deliveries]


def counter_value(counter: object) -> float:
    return counter._value.get()  # type: ignore[attr-defined]


async def test_drain_publishes_every_tenant_in_order_and_removes_settled_rows(
    database: Database, bus: Bus, settings: Settings
) -> None:
    first, second = await make_tenant(database), await make_tenant(database)
    collector = Collector()
    await collector.attach(bus, settings)
    a = await record_things(database, first, range(3))
    b = await record_things(database, second, range(2))
    before = counter_value(metrics.EVENTS_PUBLISHED)
    relay = OutboxRelay(database, bus, settings)

    assert await relay.drain_once() == 5
    assert counter_value(metrics.EVENTS_PUBLISHED) - before == 5
    assert metrics.OUTBOX_PENDING._value.get() == 5  # the backlog this sweep found
    await wait_for(lambda: len(collector.deliveries) == 5)
    ids = collector.ids()
    assert [i for i in ids if i in {str(e.id) for e in a}] == [str(e.id) for e in a]
    assert [i for i in ids if i in {str(e.id) for e in b}] == [str(e.id) for e in b]
    assert {d.subject for d in collector.deliveries} == {
        f"{settings.namespace}.test.thing.happened"
    }

    async def outbox_empty() -> bool:
        await relay.flush_settled()
        return await outbox_count(database, [first, second]) == 0

    await wait_for(outbox_empty)
    assert await relay.drain_once() == 0
    assert metrics.OUTBOX_PENDING._value.get() == 0
    assert metrics.OUTBOX_LAG_SECONDS._value.get() == 0


async def test_bus_down_keeps_rows_and_a_later_drain_delivers_them(
    database: Database, bus: Bus, settings: Settings, tenant: UUID
) -> None:
    await bus.close()
    events = await record_things(database, tenant, range(4))
    other = await make_tenant(database)
    await record_things(database, other, range(2))
    relay = OutboxRelay(database, bus, settings)
    with pytest.raises(BusUnavailable):
        await relay.drain_once()
    # The backlog is still measured while the bus is down, across every tenant.
    assert metrics.OUTBOX_PENDING._value.get() == 6
    assert metrics.OUTBOX_LAG_SECONDS._value.get() > 0
    async with database.transaction(tenant) as session:
        rows = list((await session.execute(select(OutboxEvent).order_by(OutboxEvent.id))).scalars())
    assert [row.id for row in rows] == [e.id for e in events]
    assert rows[0].attempts == 1
    assert all(row.published_at is None for row in rows)

    await bus.start()
    collector = Collector()
    await collector.attach(bus, settings)
    assert await relay.drain_once() == 6
    await wait_for(lambda: len(collector.ids()) == 6)
    assert {str(e.id) for e in events} <= set(collector.ids())


async def test_memory_bus_rows_stay_until_consumers_settle_and_survive_a_crash(
    database: Database, bus: Bus, settings: Settings, tenant: UUID
) -> None:
    collector = Collector()
    collector.hold = True
    await collector.attach(bus, settings)
    events = await record_things(database, tenant, range(3))
    relay = OutboxRelay(database, bus, settings)
    assert await relay.drain_once() == 3
    if not isinstance(bus, MemoryBus):
        # JetStream stored them (PubAck): the rows are gone although nobody acknowledged yet.
        assert await outbox_count(database, [tenant]) == 0
        collector.release.set()
        return
    async with database.transaction(tenant) as session:
        rows = list((await session.execute(select(OutboxEvent))).scalars())
    assert len(rows) == 3
    assert all(row.published_at is not None for row in rows)
    assert await relay.drain_once() == 0  # in flight: not published twice

    await bus.close()  # the crash: the bus's queues are gone
    collector.release.set()
    rebuilt_bus = MemoryBus()
    await rebuilt_bus.start()
    try:
        survivor = Collector()
        await survivor.attach(rebuilt_bus, settings)
        rebuilt = OutboxRelay(database, rebuilt_bus, settings)
        assert await rebuilt.drain_once() == 3
        await wait_for(lambda: sorted(survivor.ids()) == sorted(str(e.id) for e in events))

        async def outbox_empty() -> bool:
            await rebuilt.flush_settled()
            return await outbox_count(database, [tenant]) == 0

        await wait_for(outbox_empty)
    finally:
        await rebuilt_bus.close()


async def test_run_wakes_on_commit_without_waiting_for_a_sweep(
    database: Database, bus: Bus, settings: Settings, tenant: UUID
) -> None:
    settings.events.relay_sweep_seconds = 3600
    collector = Collector()
    await collector.attach(bus, settings)
    relay = OutboxRelay(database, bus, settings, listen=False)
    task = asyncio.create_task(relay.run())
    try:
        await record_things(database, tenant, range(1))
        await wait_for(lambda: len(collector.deliveries) == 1)
        assert await relay.drain_once() == 0
        await record_things(database, tenant, range(2))
        await wait_for(lambda: len(collector.deliveries) == 3, within=10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_postgres_listen_wakes_a_relay_of_another_process(
    database: Database, bus: Bus, settings: Settings, tenant: UUID
) -> None:
    if not database.is_postgres:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    settings.events.relay_sweep_seconds = 3600
    collector = Collector()
    await collector.attach(bus, settings)
    # A private signal nobody sets: only NOTIFY can wake this relay, as in another process.
    relay = OutboxRelay(database, bus, settings, signal=OutboxSignal())
    task = asyncio.create_task(relay.run())
    try:
        await wait_for(lambda: relay.listening)
        await asyncio.sleep(0.2)  # let the sweep that follows the connection finish
        await record_things(database, tenant, range(2))
        await wait_for(lambda: len(collector.deliveries) == 2, within=10)

        # The LISTEN connection drops: the relay reconnects and listens again.
        async with database.engine.connect() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": LISTEN_APPLICATION_NAME},
            )
        await wait_for(lambda: relay.listen_connections == 2 and relay.listening)
        await asyncio.sleep(0.2)
        await record_things(database, tenant, range(1))
        await wait_for(lambda: len(collector.deliveries) == 3, within=10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_two_relays_publish_each_event_once(
    database: Database, bus: Bus, settings: Settings
) -> None:
    tenants = [await make_tenant(database) for _ in range(3)]
    for tenant_id in tenants:
        for chunk in range(4):
            await record_things(database, tenant_id, range(chunk * 25, chunk * 25 + 25))
    collector = Collector()
    await collector.attach(bus, settings)
    before = counter_value(metrics.EVENTS_PUBLISHED)
    first, second = OutboxRelay(database, bus, settings), OutboxRelay(database, bus, settings)
    await asyncio.gather(first.drain_once(), second.drain_once())
    await wait_for(lambda: len(collector.deliveries) >= 300)
    await asyncio.sleep(0.2)
    assert len(collector.deliveries) == 300
    assert len(set(collector.ids())) == 300
    if database.is_postgres:  # FOR UPDATE SKIP LOCKED: no row goes out twice
        assert counter_value(metrics.EVENTS_PUBLISHED) - before == 300
