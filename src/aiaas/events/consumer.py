"""Event consumers: an idempotent inbox, bounded retries and dead letters.

For each delivery the runner decodes the envelope, opens the event tenant's transaction, claims
``(consumer, event id)`` in the inbox (a redelivery finds the claim and has no second effect), runs
the handler in the same transaction and commits; only then does the bus get its acknowledgement.
A handler error rolls everything back and asks for a redelivery with exponential backoff, at
most ``events.max_deliver`` deliveries. After the last one the message goes to the subject
``<namespace>.dlq.<consumer>`` and into the ``dead_letters`` table, and is acknowledged, so a
poison event never blocks the others.
A message that is not an envelope is dead-lettered at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import partial
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.backends.bus import Bus, Delivery, Reject, Retry, Subscription
from aiaas.config import Settings
from aiaas.events import metrics
from aiaas.events.envelope import EventEnvelope, all_events_filter, dead_letter_subject
from aiaas.events.models import DeadLetter, InboxEntry
from aiaas.events.shielding import run_to_completion
from aiaas.kit.clock import utcnow
from aiaas.kit.context import Actor, bind_context, current_context, reset_context
from aiaas.kit.db import Database
from aiaas.kit.ids import parse_id
from aiaas.kit.tasks import cancel_and_wait

log = logging.getLogger(__name__)

CONSUMER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_BACKOFF_SECONDS = 60.0
MAX_ERROR_CHARS = 4_000


class Consumer(ABC):
    """An event consumer. ``handle`` runs in the event tenant's transaction, once per event."""

    name: str
    """Durable name: lower-case letters, digits and underscores."""

    subject_filter: str | None = None
    """A bus subject filter; ``None`` means every event of the namespace."""

    @abstractmethod
    async def handle(self, session: AsyncSession, envelope: EventEnvelope) -> None:
        """Apply the event. Raise to have it redelivered (the transaction is rolled back)."""


class ConsumerRunner:
    """Subscribes each consumer to the bus as a durable consumer and runs its deliveries."""

    def __init__(
        self, db: Database, bus: Bus, consumers: Sequence[Consumer], settings: Settings
    ) -> None:
        names = [c.name for c in consumers]
        for name in names:
            if not CONSUMER_NAME.match(name):
                raise ValueError(f"consumer name {name!r} must match {CONSUMER_NAME.pattern}")
        if len(set(names)) != len(names):
            raise ValueError("consumer names must be unique")
        self.db = db
        self.bus = bus
        self.consumers = list(consumers)
        self.namespace = settings.namespace
        self.max_deliver = settings.events.max_deliver
        self.ack_wait = settings.events.ack_wait_seconds
        self.backoff = settings.events.redelivery_backoff_seconds
        self.lag_interval = settings.events.relay_sweep_seconds
        self._subscriptions: dict[str, Subscription] = {}
        self._lag_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Attach every consumer (start consumers before the relay, so none misses an event)."""
        for consumer in self.consumers:
            self._subscriptions[consumer.name] = await self.bus.subscribe(
                consumer.name,
                consumer.subject_filter or all_events_filter(self.namespace),
                partial(self.deliver, consumer),
                max_deliver=self.max_deliver,
                ack_wait=self.ack_wait,
                on_dead_letter=partial(self.dead_letter, consumer),
            )
        self._lag_task = asyncio.create_task(self._report_lag(), name="consumer-lag")

    async def stop(self) -> None:
        """Detach every consumer; unacknowledged deliveries come back later."""
        if self._lag_task is not None:
            await cancel_and_wait(self._lag_task)
            self._lag_task = None
        subscriptions, self._subscriptions = list(self._subscriptions.values()), {}
        for subscription in subscriptions:
            await subscription.stop()

    async def lag(self) -> dict[str, int]:
        """Pending messages per consumer (also exported as ``aiaas_consumer_lag``)."""
        result = {}
        for name, subscription in list(self._subscriptions.items()):
            result[name] = pending = await subscription.pending()
            metrics.CONSUMER_LAG.labels(consumer=name).set(pending)
        return result

    async def _report_lag(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.lag()
            await asyncio.sleep(self.lag_interval)

    # ---- one delivery ---------------------------------------------------------------------------
    async def deliver(self, consumer: Consumer, delivery: Delivery) -> None:
        """Handle one delivery at most once (inbox); raise ``Retry``/``Reject`` for the bus."""
        try:
            envelope = EventEnvelope.from_bytes(delivery.data)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise Reject(f"not an event envelope: {exc}") from exc
        previous = current_context()
        bind_context(
            request_id=envelope.request_id,
            trace_id=envelope.trace_id,
            tenant_id=str(envelope.tenant_id),
            actor=Actor(
                type=envelope.actor.type, id=envelope.actor.id, display=envelope.actor.display
            ),
        )
        try:
            outcome = await run_to_completion(self._apply(consumer, envelope))
        except Exception as exc:
            metrics.EVENTS_CONSUMED.labels(consumer=consumer.name, outcome="failed").inc()
            log.warning(
                "consumer %s failed on %s (%s, attempt %d): %r",
                consumer.name,
                envelope.id,
                envelope.type,
                delivery.attempt,
                exc,
            )
            raise Retry(
                min(self.backoff * 2 ** (delivery.attempt - 1), MAX_BACKOFF_SECONDS)
            ) from exc
        finally:
            reset_context(previous)
        metrics.EVENTS_CONSUMED.labels(consumer=consumer.name, outcome=outcome).inc()

    async def _apply(self, consumer: Consumer, envelope: EventEnvelope) -> str:
        async with self.db.transaction(envelope.tenant_id) as session:
            if not await _claim(session, consumer.name, envelope):
                return "duplicate"
            await consumer.handle(session, envelope)
        return "processed"

    async def dead_letter(
        self, consumer: Consumer, delivery: Delivery, error: BaseException
    ) -> None:
        """Keep a ``DeadLetter`` row and publish to ``<namespace>.dlq.<consumer>``."""
        cause = error.__cause__ if isinstance(error, Retry | Reject) and error.__cause__ else error
        text = f"{type(cause).__name__}: {cause}"[:MAX_ERROR_CHARS]
        await run_to_completion(self._store_dead_letter(consumer, delivery, text))
        await self.bus.publish(
            dead_letter_subject(self.namespace, consumer.name),
            delivery.data,
            msg_id=f"dlq:{consumer.name}:{delivery.msg_id}",
            headers={
                "Aiaas-Consumer": consumer.name,
                "Aiaas-Subject": delivery.subject,
                "Aiaas-Attempts": str(delivery.attempt),
                "Aiaas-Error": " ".join(text.split())[:500],
            },
        )
        metrics.DEAD_LETTERS.labels(consumer=consumer.name).inc()
        metrics.EVENTS_CONSUMED.labels(consumer=consumer.name, outcome="dead_lettered").inc()
        log.error("consumer %s dead-lettered %s: %s", consumer.name, delivery.msg_id, text)

    async def _store_dead_letter(self, consumer: Consumer, delivery: Delivery, error: str) -> None:
        identity = _identify(delivery.data)
        if identity is None:
            log.error(
                "dead letter %s has no tenant; kept on the dead-letter subject only",
                delivery.msg_id,
            )
            return
        tenant_id, event_id, event_type, envelope = identity
        try:
            async with self.db.transaction(tenant_id) as session:
                exists = await session.execute(
                    select(DeadLetter.id).where(
                        DeadLetter.tenant_id == tenant_id,
                        DeadLetter.consumer == consumer.name,
                        DeadLetter.event_id == event_id,
                    )
                )
                if exists.first() is not None:
                    return
                session.add(
                    DeadLetter(
                        consumer=consumer.name,
                        event_id=event_id,
                        type=event_type,
                        envelope=envelope,
                        error=error,
                        attempts=delivery.attempt,
                    )
                )
        except IntegrityError:
            # A tenant deleted since (or a concurrent copy); retrying cannot help.
            log.exception("dead letter %s could not be stored", delivery.msg_id)


async def _claim(session: AsyncSession, consumer: str, envelope: EventEnvelope) -> bool:
    """Insert the inbox row unless it is there; true when this delivery owns the event.

    The claim comes before the handler: a concurrent redelivery waits on the row and then finds
    it, instead of running the handler a second time.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(InboxEntry)
        .values(
            tenant_id=envelope.tenant_id,
            consumer=consumer,
            event_id=envelope.id,
            processed_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        .returning(InboxEntry.event_id)
    )
    return (await session.execute(stmt)).first() is not None


def _identify(data: bytes) -> tuple[UUID, UUID, str, dict[str, Any]] | None:
    """Tenant, event id, type and body of a message, as far as they can be read."""
    try:
        body = json.loads(data)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    tenant_id = parse_id(body.get("tenant_id"))  # type: ignore[arg-type]
    event_id = parse_id(body.get("id"))  # type: ignore[arg-type]
    if tenant_id is None or event_id is None:
        return None
    event_type = body.get("type") if isinstance(body.get("type"), str) else "unknown"
    return tenant_id, event_id, str(event_type)[:128], body
