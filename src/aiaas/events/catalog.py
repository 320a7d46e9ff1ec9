"""The one catalog of event types: ``type -> (version, payload model, description)``.

Domains register their types at import time::

    register_event("chat.message.created", 1, MessageCreated, "A message was added")

Recording an unregistered type, or a payload that does not match its model, raises.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from aiaas.events.envelope import EVENT_TYPE_PATTERN
from aiaas.events.errors import EventCatalogConflict, InvalidEventPayload, UnknownEventType

P = TypeVar("P", bound=type[BaseModel])


@dataclass(frozen=True)
class EventType:
    type: str
    version: int
    payload_model: builtins.type[BaseModel]
    description: str

    def validate(self, payload: BaseModel | dict[str, Any]) -> dict[str, Any]:
        """The payload as JSON-ready data; ``InvalidEventPayload`` when it does not fit."""
        if type(payload) is self.payload_model:
            # built through the catalog's own model, so validated already (events are written
            # on every request's hot path: one pass instead of three)
            return payload.model_dump(mode="json")
        data = payload.model_dump() if isinstance(payload, BaseModel) else payload
        try:
            model = self.payload_model.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'payload'}: {err['msg']}"
                for err in exc.errors()
            )
            raise InvalidEventPayload(f"{self.type} v{self.version}: {problems}") from None
        return model.model_dump(mode="json")

    def describe(self) -> dict[str, Any]:
        """Type, version, description and the payload's JSON schema (for the catalog endpoint)."""
        return {
            "type": self.type,
            "version": self.version,
            "description": self.description,
            "payload_schema": self.payload_model.model_json_schema(),
        }


_registry: dict[str, EventType] = {}


def register_event(
    type: str, version: int, payload_model: type[BaseModel], description: str
) -> EventType:
    """Add an event type to the catalog. Registering the same definition again is a no-op."""
    if not EVENT_TYPE_PATTERN.match(type):
        raise EventCatalogConflict(f"{type!r} is not <domain>.<entity>.<past-tense verb>")
    if version < 1:
        raise EventCatalogConflict(f"{type}: version must be >= 1")
    spec = EventType(type, version, payload_model, description)
    existing = _registry.get(type)
    if existing is not None and existing != spec:
        raise EventCatalogConflict(f"{type} is already registered as v{existing.version}")
    _registry[type] = spec
    return spec


def event(type: str, version: int, description: str) -> Callable[[P], P]:
    """Class decorator form of :func:`register_event` for a payload model."""

    def decorate(model: P) -> P:
        register_event(type, version, model, description)
        return model

    return decorate


def get_event_type(type: str) -> EventType:
    """The registered definition of ``type``; ``UnknownEventType`` when there is none."""
    try:
        return _registry[type]
    except KeyError:
        raise UnknownEventType(f"event type {type!r} is not in the catalog") from None


def catalog() -> list[EventType]:
    """Every registered event type, sorted by name."""
    return [_registry[name] for name in sorted(_registry)]
