"""Repository base: the only place that builds SQL. Tenant scoping comes from the session (kit.db)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar
from uuid import UUID

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.kit.db import Base, session_tenant
from aiaas.kit.pagination import PageParams, encode_cursor

M = TypeVar("M", bound=Base)


class Repository(Generic[M]):
    """CRUD on one model. Queries on tenant models are scoped to the session's tenant."""

    model: type[M]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def tenant_id(self) -> UUID | None:
        return session_tenant(self.session)

    def select(self) -> Select[Any]:
        return select(self.model)

    async def get(self, id_: UUID) -> M | None:
        return await self.one_or_none(self.select().where(self.model.id == id_))  # type: ignore[attr-defined]

    async def one_or_none(self, stmt: Select[Any]) -> M | None:
        row: M | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return row

    async def all(self, stmt: Select[Any]) -> Sequence[M]:
        rows: Sequence[M] = (await self.session.execute(stmt)).scalars().all()
        return rows

    async def count(self, stmt: Select[Any] | None = None) -> int:
        base = stmt if stmt is not None else self.select()
        result = await self.session.execute(select(func.count()).select_from(base.subquery()))
        return int(result.scalar_one())

    async def add(self, obj: M) -> M:
        self.session.add(obj)
        await self.session.flush()
        return obj

    async def delete(self, obj: M) -> None:
        await self.session.delete(obj)
        await self.session.flush()

    async def page(self, stmt: Select[Any], params: PageParams) -> tuple[list[M], str | None]:
        """One page, newest first, keyset on the time-ordered id; returns rows and the next cursor."""
        id_col = self.model.id  # type: ignore[attr-defined]
        if params.after_id is not None:
            stmt = stmt.where(id_col < params.after_id)
        rows = list(await self.all(stmt.order_by(id_col.desc()).limit(params.limit + 1)))
        next_cursor = encode_cursor(rows[params.limit - 1].id) if len(rows) > params.limit else None  # type: ignore[attr-defined]
        return rows[: params.limit], next_cursor
