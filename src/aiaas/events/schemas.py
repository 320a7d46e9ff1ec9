"""I/O models of the events domain: the catalog and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class EventTypeOut(BaseModel):
    type: str
    version: int
    description: str
    payload_schema: dict[str, Any]


class AuditFilters(BaseModel):
    """Filters of the audit log list; every one is optional and they combine with AND."""

    action: str | None = Field(
        None, max_length=128, description="Event type, e.g. tenancy.api_key.created"
    )
    actor_id: str | None = Field(None, max_length=128)
    object_type: str | None = Field(None, max_length=64)
    object_id: str | None = Field(None, max_length=128)
    since: AwareDatetime | None = Field(None, description="Occurred at or after (inclusive)")
    until: AwareDatetime | None = Field(None, description="Occurred before (exclusive)")


class AuditActorOut(BaseModel):
    type: str
    id: str | None
    display: str | None


class AuditObjectOut(BaseModel):
    type: str
    id: str


class AuditLogEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    event_id: UUID
    occurred_at: datetime
    actor: AuditActorOut
    action: str
    object: AuditObjectOut
    request_id: str | None
    details: dict[str, Any]
