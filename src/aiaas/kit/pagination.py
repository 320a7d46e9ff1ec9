"""Cursor pagination: ``?limit=&cursor=`` answering ``{"items": [...], "next_cursor": ...}``."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Generic, TypeVar
from uuid import UUID

from fastapi import Query
from pydantic import BaseModel

from aiaas.kit.errors import BadRequest

T = TypeVar("T")

MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int = 50
    cursor: str | None = None

    @property
    def after_id(self) -> UUID | None:
        return decode_cursor(self.cursor) if self.cursor else None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = 50,
    cursor: Annotated[str | None, Query(max_length=200, description="Opaque cursor")] = None,
) -> PageParams:
    """FastAPI dependency reading the page parameters."""
    if cursor:
        decode_cursor(cursor)  # reject garbage early with a 400
    return PageParams(limit=limit, cursor=cursor)


def encode_cursor(last_id: UUID) -> str:
    """Opaque cursor pointing after ``last_id``."""
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> UUID:
    """The id a cursor points after; a 400 when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return UUID(bytes=raw)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest("cursor is not valid", code="invalid_cursor") from exc
