"""The event envelope: what every event on the bus looks like, whatever its type."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from aiaas.kit.clock import as_utc
from aiaas.kit.context import Actor

EVENT_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
"""``<domain>.<entity>.<past-tense verb>``: exactly three lower-case tokens."""


class EventActor(BaseModel):
    """Who caused the event (see ``aiaas.kit.context.Actor``)."""

    model_config = ConfigDict(frozen=True)

    type: str
    id: str | None = None
    display: str | None = None

    @classmethod
    def of(cls, actor: Actor) -> EventActor:
        return cls(type=actor.type, id=actor.id, display=actor.display)


class EventSubject(BaseModel):
    """The object the event is about."""

    model_config = ConfigDict(frozen=True)

    type: str = Field(min_length=1, max_length=64)
    id: str = Field(min_length=1, max_length=128)


class EventEnvelope(BaseModel):
    """One event. ``id`` (UUIDv7) is the event id, the outbox key and the bus message id."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    tenant_id: UUID
    type: str
    version: int = Field(ge=1)
    occurred_at: AwareDatetime
    actor: EventActor
    subject: EventSubject
    request_id: str | None = None
    trace_id: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _type_shape(cls, value: str) -> str:
        if not EVENT_TYPE_PATTERN.match(value):
            raise ValueError("must look like <domain>.<entity>.<past-tense verb>")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)

    def to_bytes(self) -> bytes:
        """JSON bytes for the bus."""
        return self.model_dump_json().encode()

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (as stored in the outbox)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_bytes(cls, data: bytes) -> EventEnvelope:
        """Parse bytes from the bus; ``pydantic.ValidationError`` when they are no envelope."""
        return cls.model_validate_json(data)

    def bus_subject(self, namespace: str) -> str:
        return bus_subject(namespace, self.type)


def bus_subject(namespace: str, event_type: str) -> str:
    """The bus subject of an event type: ``<namespace>.<type>``."""
    return f"{namespace}.{event_type}"


def all_events_filter(namespace: str) -> str:
    """Every event subject of the namespace, not the ``<namespace>.dlq.<consumer>`` ones."""
    return f"{namespace}.*.*.*"


def dead_letter_subject(namespace: str, consumer: str) -> str:
    return f"{namespace}.dlq.{consumer}"
