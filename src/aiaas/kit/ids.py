"""Identifiers: time-ordered UUIDv7 primary keys."""

from __future__ import annotations

from uuid import UUID

from uuid6 import uuid7


def new_id() -> UUID:
    """A new time-ordered (v7) UUID, so primary keys sort by creation time."""
    return UUID(bytes=uuid7().bytes)


def parse_id(value: str) -> UUID | None:
    """Parse a UUID from a path or query value; ``None`` when it is not one."""
    try:
        return UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None
