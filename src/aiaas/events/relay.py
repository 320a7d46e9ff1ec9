"""The outbox relay: moves committed outbox rows to the bus, tenant by tenant.

Why per tenant: under row-level security the app role sees a tenant's outbox rows only inside that
tenant's transaction. The relay lists tenant ids from ``tenants`` (a platform table), then for each
tenant selects a batch ordered by id (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several relays
can run side by side), publishes each row with ``msg_id = event id`` and deletes what the bus has
settled, all in that tenant's transaction.

When a row may be deleted depends on the bus, and the bus says so through ``on_settled``:

* NATS JetStream settles on its PubAck, so the row is deleted in the publishing transaction. A crash
  between the publish and the commit republishes the row later, and JetStream drops the copy
  (``Nats-Msg-Id`` dedupe window).
* The in-process bus keeps nothing across a crash, so it settles only when every matching durable
  consumer has acknowledged or dead-lettered the message. Until then the row stays, marked with
  ``published_at`` so sweeps do not publish it again; settled rows are deleted in batches. At
  start-up the relay clears ``published_at`` everywhere: whatever was in flight in a bus that no
  longer exists is published again, and the consumers' inboxes absorb the repeats.

Wake-ups: the in-process :data:`~aiaas.events.outbox.outbox_signal` (set after commit), PostgreSQL
``LISTEN <namespace>_outbox`` (the payload is the tenant id) on a dedicated asyncpg connection that
reconnects when it drops and asks for a full sweep after each (re)connect, and a full sweep every
``events.relay_sweep_seconds``. A publish failure leaves the rows in place and the relay retries
with backoff: nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

from sqlalchemy import Uuid, column, delete, func, select, table, update
from sqlalchemy.engine import make_url

from aiaas.backends.bus import Bus
from aiaas.config import Settings
from aiaas.events import metrics
from aiaas.events.envelope import bus_subject
from aiaas.events.models import OutboxEvent
from aiaas.events.outbox import OutboxSignal, WakeSet, outbox_channel, outbox_signal
from aiaas.events.shielding import run_to_completion
from aiaas.kit.clock import utcnow
from aiaas.kit.db import Database
from aiaas.kit.tasks import cancel_and_wait

log = logging.getLogger(__name__)

_tenants = table("tenants", column("id", Uuid()))
"""Only the id column of the platform's tenant table; the relay needs nothing else."""

MAX_BACKOFF_SECONDS = 5.0
LISTEN_KEEPALIVE_SECONDS = 30.0
SETTLED_FLUSH_DELAY_SECONDS = 0.05
LISTEN_APPLICATION_NAME = "aiaas-outbox-listen"


@dataclass
class _Backlog:
    """Unpublished rows a sweep found, and the creation time of the oldest."""

    rows: int = 0
    oldest: datetime | None = None

    def add(self, rows: int, oldest: datetime | None) -> None:
        self.rows += rows
        if oldest is not None and (self.oldest is None or oldest < self.oldest):
            self.oldest = oldest

    def lag_seconds(self) -> float:
        return max(0.0, (utcnow() - self.oldest).total_seconds()) if self.oldest else 0.0


class OutboxRelay:
    """Publishes outbox rows to the bus: ``run()`` until cancelled; ``drain_once()`` sweeps once."""

    def __init__(
        self,
        db: Database,
        bus: Bus,
        settings: Settings,
        *,
        signal: OutboxSignal | None = None,
        listen: bool = True,
    ) -> None:
        self.db = db
        self.bus = bus
        self.namespace = settings.namespace
        self.batch_size = settings.events.relay_batch_size
        self.sweep_seconds = settings.events.relay_sweep_seconds
        self._signal = signal or outbox_signal
        self._listen = listen and db.is_postgres
        self._settled: dict[UUID, set[UUID]] = defaultdict(set)
        self._wake: WakeSet | None = None
        self._started = False
        self._flush_scheduled = False
        self._created_at = utcnow()
        self.listening = False
        """True while the LISTEN connection is up (PostgreSQL)."""
        self.listen_connections = 0
        """How many times the LISTEN connection was (re)established."""

    # ---- one sweep ----------------------------------------------------------------------------
    async def drain_once(self) -> int:
        """Publish every tenant's pending rows once; returns how many were published.

        Also sets the backlog gauges from what the sweep found. When the bus fails, the sweep
        stops publishing but still measures the remaining tenants, then raises the failure.
        """
        await self._reset_in_flight_once()
        backlog = _Backlog()
        published = 0
        failure: Exception | None = None
        for tenant_id in await run_to_completion(self._tenant_ids()):
            if failure is None:
                try:
                    published += await self._drain(tenant_id, backlog)
                except Exception as exc:
                    failure = exc
            else:
                await run_to_completion(self._measure(tenant_id, backlog))
        metrics.OUTBOX_PENDING.set(backlog.rows)
        metrics.OUTBOX_LAG_SECONDS.set(backlog.lag_seconds())
        if failure is not None:
            raise failure
        await self.flush_settled()
        return published

    async def drain_tenant(self, tenant_id: UUID) -> int:
        """Publish one tenant's pending rows, batch after batch; returns how many were published."""
        return await self._drain(tenant_id, _Backlog())

    async def _drain(self, tenant_id: UUID, backlog: _Backlog) -> int:
        published = 0
        while True:
            count, full = await run_to_completion(self._drain_batch(tenant_id, backlog))
            published += count
            if not full:
                return published

    async def _drain_batch(self, tenant_id: UUID, backlog: _Backlog) -> tuple[int, bool]:
        failure: BaseException | None = None
        published: list[UUID] = []
        async with self.db.transaction(tenant_id) as session:
            stmt = (
                select(OutboxEvent)
                .where(OutboxEvent.tenant_id == tenant_id, OutboxEvent.published_at.is_(None))
                .order_by(OutboxEvent.id)
                .limit(self.batch_size)
            )
            if self.db.is_postgres:
                stmt = stmt.with_for_update(skip_locked=True)
            rows = list((await session.execute(stmt)).scalars())
            if rows:
                backlog.add(len(rows), rows[0].created_at)
            for row in rows:
                data = json.dumps(row.envelope, separators=(",", ":")).encode()
                try:
                    await self.bus.publish(
                        bus_subject(self.namespace, row.type),
                        data,
                        msg_id=str(row.id),
                        on_settled=partial(self._on_settled, tenant_id, row.id),
                    )
                except Exception as exc:
                    failure = exc
                    row.attempts += 1
                    break
                published.append(row.id)
            settled = self._settled.get(tenant_id, set())
            done = [event_id for event_id in published if event_id in settled]
            in_flight = [event_id for event_id in published if event_id not in settled]
            if done:
                settled.difference_update(done)
                await session.execute(
                    delete(OutboxEvent)
                    .where(OutboxEvent.tenant_id == tenant_id, OutboxEvent.id.in_(done))
                    .execution_options(synchronize_session=False)
                )
            if in_flight:
                await session.execute(
                    update(OutboxEvent)
                    .where(OutboxEvent.tenant_id == tenant_id, OutboxEvent.id.in_(in_flight))
                    .values(published_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
        if published:
            metrics.EVENTS_PUBLISHED.inc(len(published))
        if failure is not None:
            raise failure
        return len(published), len(rows) == self.batch_size

    def _on_settled(self, tenant_id: UUID, event_id: UUID) -> None:
        self._settled[tenant_id].add(event_id)
        if self._wake is not None and not self._flush_scheduled:
            # Gather settlements for a moment: one DELETE for many rows, not one per ack.
            self._flush_scheduled = True
            asyncio.get_running_loop().call_later(SETTLED_FLUSH_DELAY_SECONDS, self._wake.poke)

    async def flush_settled(self) -> None:
        """Delete the rows the bus settled after their publishing transaction committed."""
        self._flush_scheduled = False
        for tenant_id in list(self._settled):
            ids = self._settled.pop(tenant_id, set())
            if not ids:
                continue
            try:
                await run_to_completion(self._delete(tenant_id, ids))
            except BaseException:
                self._settled[tenant_id].update(ids)
                raise

    async def _delete(self, tenant_id: UUID, ids: set[UUID]) -> None:
        async with self.db.transaction(tenant_id) as session:
            await session.execute(
                delete(OutboxEvent)
                .where(OutboxEvent.tenant_id == tenant_id, OutboxEvent.id.in_(ids))
                .execution_options(synchronize_session=False)
            )

    async def _tenant_ids(self) -> list[UUID]:
        async with self.db.transaction(None) as session:
            return list((await session.execute(select(_tenants.c.id))).scalars())

    async def _measure(self, tenant_id: UUID, backlog: _Backlog) -> None:
        async with self.db.transaction(tenant_id) as session:
            count, oldest = (
                await session.execute(
                    select(func.count(), func.min(OutboxEvent.created_at)).where(
                        OutboxEvent.tenant_id == tenant_id, OutboxEvent.published_at.is_(None)
                    )
                )
            ).one()
        if count:
            backlog.add(int(count), oldest)

    async def _reset_in_flight_once(self) -> None:
        """Rows marked in flight before this relay existed (by a bus now gone) go out again."""
        if self._started:
            return
        for tenant_id in await run_to_completion(self._tenant_ids()):
            await run_to_completion(self._reset_in_flight(tenant_id))
        self._started = True

    async def _reset_in_flight(self, tenant_id: UUID) -> None:
        async with self.db.transaction(tenant_id) as session:
            await session.execute(
                update(OutboxEvent)
                .where(
                    OutboxEvent.tenant_id == tenant_id,
                    OutboxEvent.published_at < self._created_at,
                )
                .values(published_at=None)
                .execution_options(synchronize_session=False)
            )

    # ---- the loop -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Relay until cancelled: on wake-ups, LISTEN notifications and every sweep interval."""
        wake = self._wake = WakeSet()
        self._signal.listen(wake)
        listener = (
            asyncio.create_task(self._listen_loop(wake), name="outbox-listen")
            if self._listen
            else None
        )
        failures = 0
        next_sweep = 0.0
        try:
            while True:
                tenants, full = wake.take()
                now = time.monotonic()
                try:
                    if full or now >= next_sweep:
                        await self.drain_once()
                        next_sweep = time.monotonic() + self.sweep_seconds
                    else:
                        for tenant_id in tenants:
                            await self.drain_tenant(tenant_id)
                        await self.flush_settled()
                    failures = 0
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    failures += 1
                    delay = min(0.1 * 2 ** (failures - 1), MAX_BACKOFF_SECONDS, self.sweep_seconds)
                    log.warning("outbox relay: %r; retrying in %.2fs", exc, delay)
                    next_sweep = time.monotonic() + delay
                await wake.wait(next_sweep - time.monotonic())
        finally:
            self._signal.unlisten(wake)
            self._wake = None
            if listener is not None:
                await cancel_and_wait(listener)

    async def _listen_loop(self, wake: WakeSet) -> None:
        import asyncpg

        dsn = (
            make_url(self.db.url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        channel = outbox_channel(self.namespace)
        delay = 0.2

        def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            try:
                wake.add(UUID(payload))
            except ValueError:
                wake.request_full_sweep()

        while True:
            try:
                conn = await asyncpg.connect(
                    dsn, timeout=5, server_settings={"application_name": LISTEN_APPLICATION_NAME}
                )
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("outbox LISTEN: cannot connect: %r", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
                continue
            delay = 0.2
            lost = asyncio.Event()
            conn.add_termination_listener(partial(_set_event, lost))
            try:
                await conn.add_listener(channel, on_notify)
                self.listening = True
                self.listen_connections += 1
                wake.request_full_sweep()  # notifications sent while we were not listening
                while not lost.is_set():
                    try:
                        async with asyncio.timeout(LISTEN_KEEPALIVE_SECONDS):
                            await lost.wait()
                    except TimeoutError:
                        async with asyncio.timeout(5):
                            await conn.fetchval("SELECT 1")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox LISTEN connection lost: %r", exc)
            finally:
                self.listening = False
                with contextlib.suppress(Exception):
                    await conn.close(timeout=2)


def _set_event(event: asyncio.Event, _connection: Any) -> None:
    event.set()
