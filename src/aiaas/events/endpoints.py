"""HTTP routes of the events domain: the audit log and the event catalog."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from aiaas.events.audit import AuditService
from aiaas.events.catalog import catalog
from aiaas.events.schemas import AuditFilters, AuditLogEntryOut, EventTypeOut
from aiaas.kit.pagination import Page, PageParams, page_params
from aiaas.kit.routing import GuardedRoute
from aiaas.tenancy.dependencies import TenantSession, require
from aiaas.tenancy.permissions import Principal

router = APIRouter(route_class=GuardedRoute, tags=["events"])


class EventCatalogOut(BaseModel):
    items: list[EventTypeOut]


@router.get("/audit-log", response_model=Page[AuditLogEntryOut])
async def list_audit_log(
    principal: Annotated[Principal, require("audit:read")],
    session: TenantSession,
    page: Annotated[PageParams, Depends(page_params)],
    filters: Annotated[AuditFilters, Query()],
) -> Page[AuditLogEntryOut]:
    """Who did what to which object, when, from which request; newest first."""
    return await AuditService().list(session, page, filters)


@router.get("/events/catalog", response_model=EventCatalogOut)
async def event_catalog(principal: Annotated[Principal, require("events:read")]) -> EventCatalogOut:
    """Every event type the platform emits, with its version and payload schema."""
    return EventCatalogOut(
        items=[EventTypeOut(**event_type.describe()) for event_type in catalog()]
    )
