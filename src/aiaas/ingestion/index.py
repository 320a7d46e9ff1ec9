"""Per-tenant search indexes, built from the database and cached in process.

Lexical search is BM25 (bm25s) over each tenant's chunks on both databases, so the calibrated
confidence means the same everywhere; dense search is cosine over the stored unit vectors. An
index is keyed by a cheap stamp of the tenant's documents (count, latest change): any upload,
re-index, edit or delete changes it, on any replica, and the next search rebuilds.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import numpy as np

from aiaas.ingestion.repository import ChunkRepository, DocumentRepository, SearchableChunk
from aiaas.ingestion.retrieval import ChunkRecord, Retriever
from aiaas.kit.db import Database

Stamp = tuple[int, datetime | None, str | None]


@dataclass(frozen=True)
class TenantIndex:
    stamp: Stamp
    retriever: Retriever | None
    urls: dict[str, str | None]

    @property
    def has_vectors(self) -> bool:
        return self.retriever is not None and self.retriever.dense is not None

    @property
    def size(self) -> int:
        return len(self.retriever.records) if self.retriever is not None else 0


def build_index(stamp: Stamp, rows: list[SearchableChunk], label: str | None) -> TenantIndex:
    """CPU-bound: run in a thread."""
    if not rows:
        return TenantIndex(stamp, None, {})
    records = [
        ChunkRecord(
            chunk_id=str(row.chunk_id),
            document_id=str(row.document_id),
            document_title=row.title,
            text=row.text,
            start=row.start,
            end=row.end,
            heading_path=tuple(row.heading_path),
            page=row.page,
            version=row.version,
            collection=row.collection,
            tags=frozenset(row.tags),
        )
        for row in rows
    ]
    vectors = None
    if label is not None and all(
        row.embedding is not None and row.embedding_model == label for row in rows
    ):
        # One copy into one contiguous matrix, the layout the dense scan reads fastest.
        vectors = np.frombuffer(
            b"".join(row.embedding for row in rows if row.embedding), dtype=np.float32
        ).reshape(len(rows), -1)
    urls = {str(row.document_id): row.url for row in rows}
    return TenantIndex(stamp, Retriever(records, vectors=vectors), urls)


class IndexCache:
    """The most recently used tenants' indexes (LRU), rebuilt when their stamp changes."""

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self._indexes: OrderedDict[UUID, TenantIndex] = OrderedDict()
        self._locks: dict[UUID, asyncio.Lock] = {}

    def forget(self, tenant_id: UUID) -> None:
        self._indexes.pop(tenant_id, None)

    async def get(self, db: Database, tenant_id: UUID, label: str | None) -> TenantIndex:
        async with db.transaction(tenant_id) as session:
            count, changed = await DocumentRepository(session).stamp()
        stamp: Stamp = (count, changed, label)
        cached = self._indexes.get(tenant_id)
        if cached is not None and cached.stamp == stamp:
            self._indexes.move_to_end(tenant_id)
            return cached
        lock = self._locks.setdefault(tenant_id, asyncio.Lock())
        async with lock:
            cached = self._indexes.get(tenant_id)
            if cached is not None and cached.stamp == stamp:
                return cached
            async with db.transaction(tenant_id) as session:
                count, changed = await DocumentRepository(session).stamp()
                rows = await ChunkRepository(session).searchable(with_embeddings=label is not None)
            index = await asyncio.to_thread(build_index, (count, changed, label), rows, label)
            self._indexes[tenant_id] = index
            self._indexes.move_to_end(tenant_id)
            while len(self._indexes) > self.capacity:
                evicted, _ = self._indexes.popitem(last=False)
                self._locks.pop(evicted, None)
            return index
