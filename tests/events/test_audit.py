from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from aiaas.backends.bus import Bus
from aiaas.config import Settings
from aiaas.events import record_event
from aiaas.events.audit import AuditLogConsumer, AuditService
from aiaas.events.envelope import EventActor, EventEnvelope, EventSubject
from aiaas.events.schemas import AuditFilters, AuditLogEntryOut
from aiaas.kit.clock import utcnow
from aiaas.kit.context import Actor, bind_context, reset_context
from aiaas.kit.db import Database
from aiaas.kit.ids import new_id
from aiaas.kit.pagination import Page, PageParams
from tests.events.support import make_tenant, running, wait_for


async def audit_page(
    db: Database,
    tenant_id: UUID,
    filters: AuditFilters | None = None,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[AuditLogEntryOut]:
    async with db.transaction(tenant_id) as session:
        return await AuditService().list(session, PageParams(limit=limit, cursor=cursor), filters)


async def test_audit_consumer_records_who_did_what_to_which_object_when(
    database: Database, bus: Bus, settings: Settings, tenant: UUID
) -> None:
    key_id = new_id()
    bind_context(request_id="req-audit-1", actor=Actor("user", "user-9", "ann@acme.example"))
    try:
        async with database.transaction(tenant) as session:
            envelope = await record_event(
                session,
                "tenancy.api_key.created",
                {"api_key_id": str(key_id), "name": "ci", "prefix": "ak_9", "scopes": ["chat"]},
                subject_type="api_key",
                subject_id=key_id,
            )
    finally:
        reset_context()
    async with running(database, bus, settings, [AuditLogConsumer()]):

        async def recorded() -> bool:
            return len((await audit_page(database, tenant)).items) == 1

        await wait_for(recorded)
    (entry,) = (await audit_page(database, tenant)).items
    assert entry.event_id == envelope.id
    assert entry.action == "tenancy.api_key.created"
    assert (entry.actor.type, entry.actor.id, entry.actor.display) == (
        "user",
        "user-9",
        "ann@acme.example",
    )
    assert (entry.object.type, entry.object.id) == ("api_key", str(key_id))
    assert entry.occurred_at == envelope.occurred_at
    assert entry.request_id == "req-audit-1"
    assert entry.details["prefix"] == "ak_9"


def make_envelope(
    tenant_id: UUID, action: str, actor_id: str, object_id: str, minutes_ago: int
) -> EventEnvelope:
    return EventEnvelope(
        id=new_id(),
        tenant_id=tenant_id,
        type=action,
        version=1,
        occurred_at=utcnow() - timedelta(minutes=minutes_ago),
        actor=EventActor(type="user", id=actor_id),
        subject=EventSubject(type=action.split(".")[1], id=object_id),
        payload={},
    )


async def test_audit_list_filters_paginates_and_stays_in_its_tenant(
    database: Database, tenant: UUID
) -> None:
    other = await make_tenant(database)
    rows = [
        ("tenancy.user.created", "a", "u1", 50),
        ("tenancy.user.updated", "a", "u1", 40),
        ("tenancy.api_key.created", "b", "k1", 30),
        ("tenancy.api_key.revoked", "b", "k1", 20),
        ("tenancy.user.deactivated", "a", "u2", 10),
    ]
    consumer = AuditLogConsumer()
    for action, actor_id, object_id, minutes_ago in rows:
        async with database.transaction(tenant) as session:
            await consumer.handle(
                session, make_envelope(tenant, action, actor_id, object_id, minutes_ago)
            )
    async with database.transaction(other) as session:
        await consumer.handle(session, make_envelope(other, "tenancy.user.created", "a", "u1", 5))

    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = await audit_page(database, tenant, limit=2, cursor=cursor)
        seen.extend(entry.action for entry in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [action for action, *_ in reversed(rows)]  # newest first, all five, once

    async def actions(**filters: object) -> list[str]:
        page = await audit_page(database, tenant, AuditFilters(**filters))
        return [entry.action for entry in page.items]

    assert await actions(action="tenancy.user.updated") == ["tenancy.user.updated"]
    assert await actions(actor_id="b") == ["tenancy.api_key.revoked", "tenancy.api_key.created"]
    assert await actions(object_type="api_key", object_id="k1") == [
        "tenancy.api_key.revoked",
        "tenancy.api_key.created",
    ]
    assert await actions(
        since=utcnow() - timedelta(minutes=45), until=utcnow() - timedelta(minutes=15)
    ) == ["tenancy.api_key.revoked", "tenancy.api_key.created", "tenancy.user.updated"]
    assert len((await audit_page(database, other)).items) == 1
    assert not hasattr(AuditService, "delete")
    assert not hasattr(AuditService, "update")
