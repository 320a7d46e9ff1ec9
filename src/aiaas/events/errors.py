"""Errors of the events backbone. They signal programming mistakes, so they render as 500s."""

from __future__ import annotations

from aiaas.kit.errors import AppError


class EventError(AppError):
    status, code, title = 500, "event_error", "Event error"


class UnknownEventType(EventError):
    code = "unknown_event_type"
    title = "Unknown event type"


class InvalidEventPayload(EventError):
    code = "invalid_event_payload"
    title = "Event payload does not match its schema"


class EventCatalogConflict(EventError):
    code = "event_catalog_conflict"
    title = "Event type registered twice with different definitions"


class MissingTenant(EventError):
    code = "event_without_tenant"
    title = "Event recorded outside a tenant transaction"
