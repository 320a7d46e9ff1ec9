from __future__ import annotations

import asyncio
from uuid import UUID

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.events import record_event
from aiaas.events.errors import InvalidEventPayload, MissingTenant, UnknownEventType
from aiaas.events.models import OutboxEvent
from aiaas.events.outbox import OutboxSignal, WakeSet, outbox_channel, outbox_signal
from aiaas.kit.context import Actor, bind_context, reset_context
from aiaas.kit.db import Database
from aiaas.kit.ids import new_id
from tests.events.support import make_tenant


async def record_enabled(session: AsyncSession, tenant_id: UUID) -> None:
    await record_event(
        session,
        "tenancy.tenant.enabled",
        {"tenant_id": str(tenant_id)},
        subject_type="tenant",
        subject_id=str(tenant_id),
    )


async def record_then_fail(db: Database, tenant_id: UUID) -> None:
    async with db.transaction(tenant_id) as session:
        await record_enabled(session, tenant_id)
        raise RuntimeError("the change failed")


async def outbox_rows(db: Database, tenant_id: UUID) -> list[OutboxEvent]:
    async with db.transaction(tenant_id) as session:
        return list((await session.execute(select(OutboxEvent).order_by(OutboxEvent.id))).scalars())


async def test_event_commits_with_the_change_and_carries_the_context(
    database: Database, tenant: UUID
) -> None:
    bind_context(request_id="req-42", trace_id="trace-7", actor=Actor("user", "u-1", "Ann"))
    try:
        async with database.transaction(tenant) as session:
            envelope = await record_event(
                session,
                "tenancy.api_key.created",
                {"api_key_id": str(new_id()), "name": "ci", "prefix": "ak_1", "scopes": ["chat"]},
                subject_type="api_key",
                subject_id="k-1",
            )
    finally:
        reset_context()
    rows = await outbox_rows(database, tenant)
    assert [row.id for row in rows] == [envelope.id]
    stored = rows[0].envelope
    assert stored["tenant_id"] == str(tenant)
    assert stored["request_id"] == "req-42"
    assert stored["trace_id"] == "trace-7"
    assert stored["actor"] == {"type": "user", "id": "u-1", "display": "Ann"}
    assert stored["subject"] == {"type": "api_key", "id": "k-1"}
    assert stored["version"] == 1
    assert rows[0].type == "tenancy.api_key.created"
    assert rows[0].published_at is None


async def test_rolled_back_change_leaves_no_event(database: Database, tenant: UUID) -> None:
    with pytest.raises(RuntimeError):
        await record_then_fail(database, tenant)
    assert await outbox_rows(database, tenant) == []


async def test_bad_events_are_refused(database: Database, tenant: UUID) -> None:
    async with database.transaction(tenant) as session:
        with pytest.raises(UnknownEventType):
            await record_event(
                session, "tenancy.tenant.exploded", {}, subject_type="t", subject_id="1"
            )
        with pytest.raises(InvalidEventPayload):
            await record_event(
                session,
                "tenancy.tenant.enabled",
                {"tenant_id": 5},
                subject_type="t",
                subject_id="1",
            )
    async with database.transaction(None) as session:
        with pytest.raises(MissingTenant):
            await record_event(
                session,
                "tenancy.tenant.enabled",
                {"tenant_id": str(tenant)},
                subject_type="tenant",
                subject_id=str(tenant),
            )


async def test_each_tenant_sees_only_its_outbox(database: Database, tenant: UUID) -> None:
    other = await make_tenant(database)
    for tenant_id in (tenant, other, other):
        async with database.transaction(tenant_id) as session:
            await record_enabled(session, tenant_id)
    assert len(await outbox_rows(database, tenant)) == 1
    assert len(await outbox_rows(database, other)) == 2
    async with database.transaction(None) as session:
        assert (await session.execute(select(func.count()).select_from(OutboxEvent))).scalar() == 0


async def test_commit_wakes_relays_in_process_and_rollback_does_not(
    database: Database, tenant: UUID
) -> None:
    wake = WakeSet()
    outbox_signal.listen(wake)
    try:
        with pytest.raises(RuntimeError):
            await record_then_fail(database, tenant)
        assert wake.take() == (set(), False)
        async with database.transaction(tenant) as session:
            await record_enabled(session, tenant)
            assert wake.take() == (set(), False)  # not before the commit
        await wake.wait(5.0)
        assert wake.take() == ({tenant}, False)
    finally:
        outbox_signal.unlisten(wake)


async def test_signal_fans_out_to_every_listener() -> None:
    signal = OutboxSignal()
    first, second = WakeSet(), WakeSet()
    signal.listen(first)
    signal.listen(second)
    tenant_id = new_id()
    signal.notify(tenant_id)
    assert first.take() == ({tenant_id}, False)
    assert second.take() == ({tenant_id}, False)
    signal.unlisten(second)
    signal.notify(tenant_id)
    assert second.take() == (set(), False)


async def test_postgres_notifies_other_processes_on_commit_only(
    database: Database, tenant: UUID
) -> None:
    if not database.is_postgres:
        pytest.skip("NOTIFY is PostgreSQL's")
    import asyncpg
    from sqlalchemy.engine import make_url

    dsn = make_url(database.url).set(drivername="postgresql").render_as_string(hide_password=False)
    received: asyncio.Queue[str] = asyncio.Queue()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.add_listener(outbox_channel(), lambda *args: received.put_nowait(args[-1]))
        with pytest.raises(RuntimeError):
            await record_then_fail(database, tenant)
        async with database.transaction(tenant) as session:
            for _ in range(3):  # one notification per transaction, whatever the count
                await record_enabled(session, tenant)
        assert await asyncio.wait_for(received.get(), 10) == str(tenant)
        await conn.execute("SELECT 1")  # a round trip delivers anything still queued
        assert received.empty()
    finally:
        await conn.close()
