"""Recording events: the outbox row commits in the same transaction as the change it describes.

After the commit the relay is woken up: in this process through :data:`outbox_signal` (set from
the session's ``after_commit`` hook), in other processes through PostgreSQL
``NOTIFY <namespace>_outbox`` with the tenant id as payload (sent inside the transaction, so
delivered only if it commits).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Required, TypedDict, Unpack
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from aiaas.events.catalog import get_event_type
from aiaas.events.envelope import EventActor, EventEnvelope, EventSubject
from aiaas.events.errors import MissingTenant
from aiaas.events.models import OutboxEvent
from aiaas.kit.clock import utcnow
from aiaas.kit.context import Actor, current_context
from aiaas.kit.db import insert_rows, session_tenant
from aiaas.kit.ids import new_id

_PENDING_TENANTS = "aiaas_outbox_tenants"
"""``session.info`` key: tenants with events recorded in the current transaction."""

_namespace = "aiaas"


def set_outbox_namespace(namespace: str) -> None:
    """Use ``<namespace>_outbox`` as the NOTIFY channel (call once at start-up)."""
    global _namespace
    _namespace = namespace


def outbox_channel(namespace: str | None = None) -> str:
    return f"{namespace or _namespace}_outbox"


class WakeSet:
    """Tenants with new events since the last ``take()``; an asyncio event says there are some."""

    def __init__(self) -> None:
        self._tenants: set[UUID] = set()
        self._full = False
        self._poked = False
        self._event = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    def add(self, tenant_id: UUID) -> None:
        self._tenants.add(tenant_id)
        self._set()

    def request_full_sweep(self) -> None:
        self._full = True
        self._set()

    def poke(self) -> None:
        """Wake the waiter without naming a tenant (e.g. settled rows to delete)."""
        self._poked = True
        self._set()

    def _set(self) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._event.set()
        else:  # a commit in another thread
            self._loop.call_soon_threadsafe(self._event.set)

    def take(self) -> tuple[set[UUID], bool]:
        """The woken tenants and whether a full sweep was asked for; clears both."""
        tenants, full = self._tenants, self._full
        self._tenants, self._full, self._poked = set(), False, False
        self._event.clear()
        return tenants, full

    async def wait(self, max_wait: float) -> None:
        """Return when something was added, or after ``max_wait`` seconds."""
        if self._tenants or self._full or self._poked:
            return
        try:
            async with asyncio.timeout(max(max_wait, 0.0)):
                await self._event.wait()
        except TimeoutError:
            pass


class OutboxSignal:
    """Fans out 'tenant X committed events' to every relay of this process."""

    def __init__(self) -> None:
        self._listeners: set[WakeSet] = set()

    def listen(self, wake: WakeSet) -> None:
        self._listeners.add(wake)

    def unlisten(self, wake: WakeSet) -> None:
        self._listeners.discard(wake)

    def notify(self, tenant_id: UUID) -> None:
        for wake in list(self._listeners):
            wake.add(tenant_id)


outbox_signal = OutboxSignal()
"""The process-wide signal that ``record_event`` commits set."""


@event.listens_for(Session, "after_commit")
def _wake_relays(session: Session) -> None:
    tenants = session.info.pop(_PENDING_TENANTS, None)
    if tenants:
        for tenant_id in tenants:
            outbox_signal.notify(tenant_id)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING_TENANTS, None)


class EventFields(TypedDict, total=False):
    """What an event says besides its type and payload."""

    subject_type: Required[str]
    subject_id: Required[UUID | str]
    actor: Actor | None
    occurred_at: datetime | None


async def record_event(
    session: AsyncSession,
    type: str,
    payload: BaseModel | dict[str, Any],
    **fields: Unpack[EventFields],
) -> EventEnvelope:
    """Validate an event against the catalog and add it to the session's outbox (same transaction).

    The tenant comes from the session; request id, trace id and (unless given) the actor from the
    current request context; ``occurred_at`` defaults to now (pass it for an event recorded after
    the fact). Raises ``UnknownEventType``, ``InvalidEventPayload`` or ``MissingTenant``.
    """
    tenant_id = session_tenant(session)
    if tenant_id is None:
        raise MissingTenant(f"{type} recorded in a session without a tenant")
    envelope, row = _outbox_row(tenant_id, type, payload, fields)
    session.add(OutboxEvent(**row))
    await _announce(session, tenant_id)
    return envelope


def outbox_row(
    tenant_id: UUID, type: str, payload: BaseModel | dict[str, Any], **fields: Unpack[EventFields]
) -> dict[str, Any]:
    """An event's outbox row, built now (validated, with the current request context), to be
    written later with :func:`insert_events` in a transaction of ``tenant_id``."""
    return _outbox_row(tenant_id, type, payload, fields)[1]


async def insert_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Write outbox rows made by :func:`outbox_row` in one statement (same transaction as the
    session's other changes). Raises ``TenantMismatch`` for a row of another tenant."""
    if not rows:
        return
    await insert_rows(session, OutboxEvent.__table__, rows)
    tenant_id = session_tenant(session)
    assert tenant_id is not None  # insert_rows refuses rows without a tenant context
    await _announce(session, tenant_id)


def _outbox_row(
    tenant_id: UUID, type: str, payload: BaseModel | dict[str, Any], fields: EventFields
) -> tuple[EventEnvelope, dict[str, Any]]:
    spec = get_event_type(type)
    data = spec.validate(payload)
    now = utcnow()
    ctx = current_context()
    envelope = EventEnvelope(
        id=new_id(),
        tenant_id=tenant_id,
        type=type,
        version=spec.version,
        occurred_at=fields.get("occurred_at") or now,
        actor=EventActor.of(fields.get("actor") or ctx.actor),
        subject=EventSubject(type=fields["subject_type"], id=str(fields["subject_id"])),
        request_id=ctx.request_id,
        trace_id=ctx.trace_id,
        payload=data,
    )
    row = {
        "id": envelope.id,
        "tenant_id": tenant_id,
        "type": type,
        "envelope": envelope.to_json_dict(),
        "created_at": now,  # when it entered the outbox: what relay lag is measured from
        "attempts": 0,
        "published_at": None,
    }
    return envelope, row


async def _announce(session: AsyncSession, tenant_id: UUID) -> None:
    """Wake the relays once the transaction commits: this process's through the session's
    ``after_commit`` hook, other processes' through a NOTIFY sent inside the transaction."""
    pending: set[UUID] = session.info.setdefault(_PENDING_TENANTS, set())
    if tenant_id in pending:
        return
    pending.add(tenant_id)
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_notify(:channel, :tenant)"),
            {"channel": outbox_channel(), "tenant": str(tenant_id)},
        )
