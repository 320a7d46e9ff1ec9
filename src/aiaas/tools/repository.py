"""SQL of the tools domain."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update

from aiaas.kit.repository import Repository
from aiaas.tools.models import ToolManifestRecord


class ToolManifestRepository(Repository[ToolManifestRecord]):
    model = ToolManifestRecord

    async def versions(self, name: str) -> Sequence[ToolManifestRecord]:
        stmt = self.select().where(ToolManifestRecord.name == name)
        return await self.all(stmt.order_by(ToolManifestRecord.created_at.desc()))

    async def version(self, name: str, version: str) -> ToolManifestRecord | None:
        return await self.one_or_none(
            self.select().where(
                ToolManifestRecord.name == name, ToolManifestRecord.version == version
            )
        )

    async def current(self, name: str) -> ToolManifestRecord | None:
        return await self.one_or_none(
            self.select().where(ToolManifestRecord.name == name, ToolManifestRecord.is_current)
        )

    async def all_current(self) -> Sequence[ToolManifestRecord]:
        stmt = self.select().where(ToolManifestRecord.is_current)
        return await self.all(stmt.order_by(ToolManifestRecord.name))

    async def make_current(self, record: ToolManifestRecord) -> None:
        await self.session.execute(
            update(ToolManifestRecord)
            .where(ToolManifestRecord.name == record.name, ToolManifestRecord.id != record.id)
            .values(is_current=False)
        )
        record.is_current = True
        await self.session.flush()
