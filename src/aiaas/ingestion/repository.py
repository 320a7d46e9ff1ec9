"""All SQL of the ingestion domain. Sessions are tenant-bound (kit.db), so every query is scoped."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import String, Table, bindparam, cast, delete, func, insert, or_, select, update
from sqlalchemy.orm import undefer

from aiaas.ingestion.models import Document, DocumentChunk
from aiaas.kit.clock import utcnow
from aiaas.kit.db import session_tenant
from aiaas.kit.ids import new_id
from aiaas.kit.pagination import PageParams
from aiaas.kit.repository import Repository


def _like_literal(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class StaleChunk:
    """A chunk whose vector is missing or of another model, with what its embedding text needs."""

    chunk_id: UUID
    document_id: UUID
    text: str
    heading_path: list[str]
    title: str


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

    async def find_by_hashes(self, content_hashes: Sequence[str]) -> dict[str, Document]:
        """The first document (by id) of each known hash, in one query."""
        if not content_hashes:
            return {}
        stmt = (
            self.select()
            .where(Document.content_hash.in_(list(dict.fromkeys(content_hashes))))
            .order_by(Document.id)
        )
        found: dict[str, Document] = {}
        for document in await self.all(stmt):
            found.setdefault(document.content_hash, document)
        return found

    async def touch_all(self) -> None:
        """Mark every document changed, so each process's cached search index is rebuilt."""
        await self.session.execute(update(Document).values(updated_at=utcnow()))

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
        self, document_id: UUID, chunks: Sequence[dict[str, Any]], *, had_chunks: bool = True
    ) -> None:
        """Drop every chunk of the document, then insert ``chunks`` (column values, one
        multi-row statement) in the same transaction.

        ``had_chunks=False`` (no version was ever indexed, so no chunk can exist: chunks only
        commit with the version that made them ready) skips the delete.
        """
        if had_chunks:
            await self.session.execute(
                delete(DocumentChunk).where(DocumentChunk.document_id == document_id)
            )
        if not chunks:
            return
        tenant_id = session_tenant(self.session)
        rows = [{**chunk, "id": new_id(), "tenant_id": tenant_id} for chunk in chunks]
        await self.session.execute(insert(DocumentChunk), rows)

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

    async def stale(self, label: str, limit: int, *, lock: bool = False) -> list[StaleChunk]:
        """Up to ``limit`` chunks without a vector of ``label``, oldest documents first.

        ``lock`` (PostgreSQL) takes them with ``FOR UPDATE SKIP LOCKED``, so concurrent
        re-indexers share the work instead of repeating it.
        """
        stmt = (
            select(
                DocumentChunk.id,
                DocumentChunk.document_id,
                DocumentChunk.text,
                DocumentChunk.heading_path,
                Document.title,
            )
            .join(Document, Document.id == DocumentChunk.document_id)
            .where(_not_of_model(label))
            .order_by(DocumentChunk.document_id, DocumentChunk.position)
            .limit(limit)
        )
        if lock:
            stmt = stmt.with_for_update(of=DocumentChunk, skip_locked=True)
        return [
            StaleChunk(
                chunk_id=row[0],
                document_id=row[1],
                text=row[2],
                heading_path=list(row[3] or []),
                title=row[4],
            )
            for row in await self.session.execute(stmt)
        ]

    async def set_embeddings(self, label: str, vectors: Sequence[tuple[UUID, bytes]]) -> None:
        """Store new vectors of ``label`` (one executemany); a chunk gone meanwhile is skipped."""
        if not vectors:
            return
        table = DocumentChunk.__table__
        assert isinstance(table, Table)
        stmt = (
            update(table)
            .where(table.c.id == bindparam("chunk_id"))
            .where(table.c.tenant_id == session_tenant(self.session))
            .values(embedding=bindparam("vector"), embedding_model=label)
        )
        connection = await self.session.connection()
        await connection.execute(
            stmt, [{"chunk_id": chunk_id, "vector": vector} for chunk_id, vector in vectors]
        )

    async def model_counts(self, label: str | None) -> tuple[int, int]:
        """(all chunks of the tenant, chunks with a vector of ``label``)."""
        current = func.count(DocumentChunk.id).filter(DocumentChunk.embedding_model == label)
        row = (await self.session.execute(select(func.count(DocumentChunk.id), current))).one()
        return int(row[0]), int(row[1]) if label is not None else 0


def _not_of_model(label: str) -> Any:
    return or_(DocumentChunk.embedding_model.is_(None), DocumentChunk.embedding_model != label)
