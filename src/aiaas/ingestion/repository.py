"""All SQL of the ingestion domain. Sessions are tenant-bound (kit.db), so every query is scoped."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import String, cast, delete, func, select
from sqlalchemy.orm import undefer

from aiaas.ingestion.models import Document, DocumentChunk
from aiaas.kit.pagination import PageParams
from aiaas.kit.repository import Repository


def _like_literal(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class SearchableChunk:
    """A chunk of a document's indexed version with the document fields a search needs."""

    chunk_id: UUID
    document_id: UUID
    version: int
    text: str
    start: int
    end: int
    heading_path: list[str]
    page: int | None
    title: str
    collection: str
    tags: list[str]
    url: str | None
    embedding: bytes | None
    embedding_model: str | None


class DocumentRepository(Repository[Document]):
    model = Document

    async def get_with_content(self, document_id: UUID, *, lock: bool = False) -> Document | None:
        stmt = self.select().where(Document.id == document_id).options(undefer(Document.content))
        if lock:
            stmt = stmt.with_for_update()
        return await self.one_or_none(stmt)

    async def find_by_hash(self, content_hash: str) -> Document | None:
        stmt = self.select().where(Document.content_hash == content_hash).order_by(Document.id)
        return await self.one_or_none(stmt.limit(1))

    async def usage(self) -> tuple[int, int]:
        """Documents of the tenant and the bytes they hold."""
        row = (
            await self.session.execute(
                select(func.count(Document.id), func.coalesce(func.sum(Document.size_bytes), 0))
            )
        ).one()
        return int(row[0]), int(row[1])

    async def list_page(
        self,
        params: PageParams,
        *,
        status: str | None = None,
        collection: str | None = None,
        tag: str | None = None,
    ) -> tuple[list[Document], str | None]:
        stmt = self.select()
        if status is not None:
            stmt = stmt.where(Document.status == status)
        if collection is not None:
            stmt = stmt.where(Document.collection == collection)
        if tag is not None:
            # Tags are stored as a JSON list; match the quoted tag in its text form.
            pattern = f'%"{_like_literal(tag)}"%'
            stmt = stmt.where(cast(Document.tags, String).like(pattern, escape="\\"))
        return await self.page(stmt, params)

    async def collections(self) -> list[tuple[str, int]]:
        stmt = (
            select(Document.collection, func.count(Document.id))
            .group_by(Document.collection)
            .order_by(Document.collection)
        )
        return [(str(name), int(count)) for name, count in await self.session.execute(stmt)]

    async def tags(self) -> list[tuple[str, int]]:
        counts: Counter[str] = Counter()
        for (tags,) in await self.session.execute(select(Document.tags)):
            counts.update(tags or [])
        return sorted(counts.items())

    async def stamp(self) -> tuple[int, datetime | None]:
        """Changes whenever a document is added, changed, indexed or deleted."""
        row = (
            await self.session.execute(
                select(func.count(Document.id), func.max(Document.updated_at))
            )
        ).one()
        return int(row[0]), row[1]


class ChunkRepository(Repository[DocumentChunk]):
    model = DocumentChunk

    async def replace_for_document(
        self, document_id: UUID, chunks: Sequence[DocumentChunk]
    ) -> None:
        """Drop every chunk of the document, then add ``chunks`` (same transaction)."""
        await self.session.execute(
            delete(DocumentChunk).where(DocumentChunk.document_id == document_id)
        )
        self.session.add_all(chunks)
        await self.session.flush()

    async def delete_for_document(self, document_id: UUID) -> None:
        await self.session.execute(
            delete(DocumentChunk).where(DocumentChunk.document_id == document_id)
        )

    async def for_document(self, document_id: UUID) -> Sequence[DocumentChunk]:
        stmt = (
            self.select()
            .where(DocumentChunk.document_id == document_id)
            .order_by(DocumentChunk.version, DocumentChunk.position)
        )
        return await self.all(stmt)

    async def searchable(self, *, with_embeddings: bool) -> list[SearchableChunk]:
        """Chunks of every document's indexed version, in a stable order."""
        columns: list[Any] = [
            DocumentChunk.id,
            DocumentChunk.document_id,
            DocumentChunk.version,
            DocumentChunk.text,
            DocumentChunk.start_offset,
            DocumentChunk.end_offset,
            DocumentChunk.heading_path,
            DocumentChunk.page,
            Document.title,
            Document.collection,
            Document.tags,
            Document.url,
            DocumentChunk.embedding_model,
        ]
        if with_embeddings:
            columns.append(DocumentChunk.embedding)
        stmt = (
            select(*columns)
            .join(Document, Document.id == DocumentChunk.document_id)
            .where(DocumentChunk.version == Document.indexed_version)
            .order_by(DocumentChunk.document_id, DocumentChunk.position)
        )
        rows = await self.session.execute(stmt)
        return [
            SearchableChunk(
                chunk_id=row[0],
                document_id=row[1],
                version=row[2],
                text=row[3],
                start=row[4],
                end=row[5],
                heading_path=list(row[6] or []),
                page=row[7],
                title=row[8],
                collection=row[9],
                tags=list(row[10] or []),
                url=row[11],
                embedding_model=row[12],
                embedding=row[13] if with_embeddings else None,
            )
            for row in rows
        ]
