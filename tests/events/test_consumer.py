from __future__ import annotations

import json
from uuid import UUID

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.backends.bus import Bus, Delivery, Reject, Retry
from aiaas.config import Settings
from aiaas.events.consumer import Consumer, ConsumerRunner
from aiaas.events.envelope import EventEnvelope, dead_letter_subject
from aiaas.events.models import DeadLetter, InboxEntry
from aiaas.kit.context import current_context
from aiaas.kit.db import Database
from aiaas.kit.ids import new_id
from tests.events.support import (
    EffectConsumer,
    effect_counts,
    outbox_count,
    record_things,
    running,
    wait_for,
)


class DeadLetterTap:
    """Listens on a consumer's dead-letter subject."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []

    async def handle(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)

    async def dead_letter(self, delivery: Delivery, error: BaseException) -> None:
        raise AssertionError("the tap never fails")

    async def attach(self, bus: Bus, settings: Settings, consumer: str) -> None:
        await bus.subscribe(
            "dlq_tap",
            dead_letter_subject(settings.namespace, consumer),
            self.handle,
            max_deliver=1,
            ack_wait=30.0,
            on_dead_letter=self.dead_letter,
        )


async def dead_letters(db: Database, tenant_id: UUID) -> list[DeadLetter]:
    async with db.transaction(tenant_id) as session:
        return list((await session.execute(select(DeadLetter))).scalars())


async def inbox_count(db: Database, tenant_id: UUID) -> int:
    async with db.transaction(tenant_id) as session:
        return (await session.execute(select(func.count()).select_from(InboxEntry))).scalar_one()


async def test_events_flow_from_outbox_to_consumer_once(
    database: Database, bus: Bus, settings: Settings, tenant: UUID
) -> None:
    consumer = EffectConsumer()
    async with running(database, bus, settings, [consumer]) as (runner, _relay):
        await record_things(database, tenant, range(10))
        await wait_for(lambda: effect_counts(database))
        await wait_for(lambda: _equals(effect_counts(database), (10, 10)))
        await wait_for(lambda: _equals(outbox_count(database, [tenant]), 0))
        await wait_for(lambda: _equals(runner.lag(), {"effects": 0}))
    assert await inbox_count(database, tenant) == 10


async def _equals(value: object, expected: object) -> bool:
    return await value == expected  # type: ignore[misc]


async def test_redelivery_has_no_second_effect(
    database: Database, bus: Bus, settings: Settings, tenant: UUID
) -> None:
    consumer = EffectConsumer()
    runner = ConsumerRunner(database, bus, [consumer], settings)
    (envelope,) = await record_things(database, tenant, [7])
    delivery = Delivery(subject="x", data=envelope.to_bytes(), msg_id=str(envelope.id), attempt=1)
    await runner.deliver(consumer, delivery)
    await runner.deliver(consumer, delivery)
    assert await effect_counts(database) == (1, 1)
    assert consumer.calls == 1

    # Through the bus, past its dedupe window (another msg id), the inbox still holds.
    async with running(database, bus, settings, [consumer]):
        await bus.publish(
            envelope.bus_subject(settings.namespace), envelope.to_bytes(), msg_id="again"
        )
        await record_things(database, tenant, [8])
        await wait_for(lambda: _equals(effect_counts(database), (2, 2)))
    assert consumer.calls == 2


async def test_transient_failures_are_retried_then_succeed(
    database: Database, bus: Bus, settings: Settings, tenant: UUID
) -> None:
    consumer = EffectConsumer(fail_first=2)  # max_deliver is 3
    async with running(database, bus, settings, [consumer]):
        await record_things(database, tenant, [1])
        await wait_for(lambda: _equals(effect_counts(database), (1, 1)))
    assert consumer.calls == 3
    assert await dead_letters(database, tenant) == []


async def test_poison_event_is_dead_lettered_and_does_not_block_the_rest(
    database: Database, bus: Bus, settings: Settings, tenant: UUID
) -> None:
    tap = DeadLetterTap()
    await tap.attach(bus, settings, "effects")
    consumer = EffectConsumer()
    async with running(database, bus, settings, [consumer]):
        events = await record_things(database, tenant, range(6), poison={2})
        await wait_for(lambda: _equals(effect_counts(database), (5, 5)))
        await wait_for(lambda: len(tap.deliveries) == 1)
    poison = events[2]
    dead = tap.deliveries[0]
    assert EventEnvelope.from_bytes(dead.data).id == poison.id
    assert dead.headers["Aiaas-Consumer"] == "effects"
    assert dead.headers["Aiaas-Attempts"] == "3"
    assert "poison event 2" in dead.headers["Aiaas-Error"]
    (row,) = await dead_letters(database, tenant)
    assert (row.consumer, row.event_id, row.type, row.attempts) == (
        "effects",
        poison.id,
        "test.thing.happened",
        3,
    )
    assert "RuntimeError: poison event 2" in row.error
    assert row.envelope["id"] == str(poison.id)
    assert await inbox_count(database, tenant) == 5  # no claim for the poison event


async def test_undecodable_messages_are_dead_lettered_at_once(
    database: Database, bus: Bus, settings: Settings, tenant: UUID
) -> None:
    tap = DeadLetterTap()
    await tap.attach(bus, settings, "effects")
    consumer = EffectConsumer()
    half_envelope = json.dumps({"id": str(new_id()), "tenant_id": str(tenant), "type": 3})
    async with running(database, bus, settings, [consumer]):
        subject = f"{settings.namespace}.test.thing.happened"
        await bus.publish(subject, b"\x00 not json", msg_id="garbage")
        await bus.publish(subject, half_envelope.encode(), msg_id="half")
        await wait_for(lambda: len(tap.deliveries) == 2)
    assert consumer.calls == 0
    assert {d.headers["Aiaas-Attempts"] for d in tap.deliveries} == {"1"}
    (row,) = await dead_letters(database, tenant)  # only the one that names its tenant
    assert row.type == "unknown"
    assert row.attempts == 1


async def test_deliver_reports_outcomes_to_the_bus(
    database: Database, settings: Settings, tenant: UUID
) -> None:
    from aiaas.backends.bus.memory import MemoryBus

    class Seer(Consumer):
        name = "seer"
        seen: list[str | None] = []

        async def handle(self, session: AsyncSession, envelope: EventEnvelope) -> None:
            self.seen.append(current_context().request_id)
            raise ValueError("nope")

    runner = ConsumerRunner(database, MemoryBus(), [Seer()], settings)
    (envelope,) = await record_things(database, tenant, [1])
    envelope = envelope.model_copy(update={"request_id": "req-9"})
    with pytest.raises(Retry) as info:
        await runner.deliver(
            Seer(), Delivery(subject="s", data=envelope.to_bytes(), msg_id="m", attempt=3)
        )
    assert isinstance(info.value.__cause__, ValueError)
    assert info.value.delay == pytest.approx(settings.events.redelivery_backoff_seconds * 4)
    assert Seer.seen == ["req-9"]
    assert current_context().request_id is None  # restored after the delivery
    with pytest.raises(Reject):
        await runner.deliver(Seer(), Delivery(subject="s", data=b"[]", msg_id="m", attempt=1))
    with pytest.raises(ValueError, match="must match"):
        ConsumerRunner(database, MemoryBus(), [EffectConsumer("Bad.Name")], settings)
