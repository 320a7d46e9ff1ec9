"""The audit log: one append-only entry per event (who, what, which object, when, which request)."""

from __future__ import annotations

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.events.consumer import Consumer
from aiaas.events.envelope import EventEnvelope
from aiaas.events.models import AuditLogEntry
from aiaas.events.schemas import AuditActorOut, AuditFilters, AuditLogEntryOut, AuditObjectOut
from aiaas.kit.pagination import Page, PageParams
from aiaas.kit.repository import Repository


class AuditLogConsumer(Consumer):
    """Writes every event of the namespace to the audit log."""

    name = "audit_log"

    async def handle(self, session: AsyncSession, envelope: EventEnvelope) -> None:
        session.add(
            AuditLogEntry(
                event_id=envelope.id,
                occurred_at=envelope.occurred_at,
                actor_type=envelope.actor.type,
                actor_id=envelope.actor.id,
                actor_display=envelope.actor.display,
                action=envelope.type,
                object_type=envelope.subject.type,
                object_id=envelope.subject.id,
                request_id=envelope.request_id,
                details=envelope.payload,
            )
        )


class AuditRepository(Repository[AuditLogEntry]):
    model = AuditLogEntry

    def filtered(self, filters: AuditFilters) -> Select[tuple[AuditLogEntry]]:
        stmt = self.select()
        if filters.action is not None:
            stmt = stmt.where(AuditLogEntry.action == filters.action)
        if filters.actor_id is not None:
            stmt = stmt.where(AuditLogEntry.actor_id == filters.actor_id)
        if filters.object_type is not None:
            stmt = stmt.where(AuditLogEntry.object_type == filters.object_type)
        if filters.object_id is not None:
            stmt = stmt.where(AuditLogEntry.object_id == filters.object_id)
        if filters.since is not None:
            stmt = stmt.where(AuditLogEntry.occurred_at >= filters.since)
        if filters.until is not None:
            stmt = stmt.where(AuditLogEntry.occurred_at < filters.until)
        return stmt


class AuditService:
    """Reads the audit log of the session's tenant. Deliberately no update or delete."""

    async def list(
        self, session: AsyncSession, params: PageParams, filters: AuditFilters | None = None
    ) -> Page[AuditLogEntryOut]:
        """Newest first, cursor-paginated."""
        repo = AuditRepository(session)
        rows, next_cursor = await repo.page(repo.filtered(filters or AuditFilters()), params)
        return Page[AuditLogEntryOut](items=[to_out(row) for row in rows], next_cursor=next_cursor)


def to_out(row: AuditLogEntry) -> AuditLogEntryOut:
    return AuditLogEntryOut(
        id=row.id,
        event_id=row.event_id,
        occurred_at=row.occurred_at,
        actor=AuditActorOut(type=row.actor_type, id=row.actor_id, display=row.actor_display),
        action=row.action,
        object=AuditObjectOut(type=row.object_type, id=row.object_id),
        request_id=row.request_id,
        details=row.details,
    )
