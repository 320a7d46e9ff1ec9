"""The ingestion pipeline: parse -> chunk -> embed (when configured) -> index, for one version.

It runs in the caller's transaction (the event consumer's): the chunks of a version and the status
flip commit together, so a crash at any point leaves the previous index untouched and the event
is redelivered. Parsing and chunking run in a worker thread (small text documents excepted, see
``_is_light``). Each embedding call is metered with the work it paid for; ``reindex_batch`` moves
stored vectors to a newly configured embedding model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import numpy as np
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from aiaas.backends.embeddings import Embedded, EmbeddingError, embed_with_usage
from aiaas.events.outbox import record_event
from aiaas.ingestion.chunker import Chunk, chunk_document
from aiaas.ingestion.errors import ParseError
from aiaas.ingestion.events import (
    DOCUMENT_FAILED,
    DOCUMENT_INDEXED,
    EMBEDDING_METERED,
    REINDEX_COMPLETED,
    REINDEX_PROGRESSED,
    DocumentFailed,
    DocumentIndexed,
    EmbeddingMetered,
    ReindexCompleted,
    ReindexProgressed,
)
from aiaas.ingestion.models import (
    FAILED,
    INDEXING,
    PARSING,
    QUEUED,
    READY,
    Document,
)
from aiaas.ingestion.parsers import ParsedDocument, detect_type, parse_document
from aiaas.ingestion.parsers.model import DocumentType
from aiaas.ingestion.progress import Progress
from aiaas.ingestion.repository import ChunkRepository, DocumentRepository
from aiaas.ingestion.retrieval import ChunkRecord, records_from_chunks
from aiaas.ingestion.runtime import KnowledgeBase
from aiaas.kit.clock import utcnow

log = logging.getLogger(__name__)

CHARS_PER_PAGE = 3_000
"""A page of a format without pages (Markdown, HTML ...), for page counts and throughput."""

INLINE_PARSE_BYTES = 16 * 1024
"""Text documents up to this size are parsed on the event loop (see ``_is_light``)."""
_LIGHT_TYPES = frozenset(
    {
        DocumentType.TEXT,
        DocumentType.MARKDOWN,
        DocumentType.HTML,
        DocumentType.FAQ_CSV,
        DocumentType.FAQ_JSON,
    }
)


@dataclass(frozen=True)
class Outcome:
    status: str
    chunks: int = 0
    pages: int = 0


def page_count(parsed: ParsedDocument) -> int:
    pages = parsed.metadata.get("page_count")
    if isinstance(pages, int) and pages > 0:
        return pages
    return max(1, math.ceil(len(parsed.full_text) / CHARS_PER_PAGE))


def _parse_and_chunk(
    kb: KnowledgeBase, document: Document, content: bytes
) -> tuple[ParsedDocument, list[Chunk]]:
    parsed = parse_document(
        content,
        filename=document.filename,
        content_type=document.content_type,
        title=document.title if document.title_given else None,
        max_bytes=kb.settings.max_document_bytes,
    )
    chunks = chunk_document(
        parsed,
        max_tokens=kb.settings.chunk_max_tokens,
        overlap_tokens=kb.settings.chunk_overlap_tokens,
    )
    return parsed, chunks


def _is_light(document: Document, content: bytes) -> bool:
    """A small text document: parsing it takes a few milliseconds, less than a round trip to a
    worker thread costs on a busy machine, so it runs on the loop; anything else goes off it."""
    if len(content) > INLINE_PARSE_BYTES:
        return False
    try:
        kind = detect_type(document.filename, document.content_type, content[:1024])
    except ParseError:
        return False
    return kind in _LIGHT_TYPES


def _after_commit(session: AsyncSession, kb: KnowledgeBase, progress: Progress) -> None:
    """Announce a terminal state once it is visible to readers."""

    def announce(_session: Session) -> None:
        # Without a running loop (synchronous teardown) the database alone has the state.
        with contextlib.suppress(RuntimeError):
            kb.progress.publish_soon(progress)

    event.listen(session.sync_session, "after_commit", announce, once=True)


async def process_document(
    kb: KnowledgeBase, session: AsyncSession, document_id: UUID, version: int
) -> Outcome:
    """Index ``version`` of a document in ``session``'s transaction. Idempotent: a deleted
    document, a superseded version or a version already settled is left alone.

    An error rolls the transaction back (the caller's), so the version is queued again.
    """
    try:
        return await _process(kb, session, document_id, version)
    except BaseException:
        with contextlib.suppress(Exception):
            await kb.progress.publish(Progress(document_id, version, QUEUED, {"retry": True}))
        raise


async def _process(
    kb: KnowledgeBase, session: AsyncSession, document_id: UUID, version: int
) -> Outcome:
    documents = DocumentRepository(session)
    is_postgres = session.get_bind().dialect.name == "postgresql"
    document = await documents.get_with_content(document_id, lock=is_postgres)
    if document is None:
        return Outcome("deleted")
    if document.version != version:
        return Outcome("superseded")
    if document.status == FAILED or (
        document.status == READY and document.indexed_version == version
    ):
        return Outcome("settled")
    if document.content is None:
        return await _fail(kb, session, document, "content_missing", "The upload has no content.")

    await kb.progress.publish(Progress(document.id, version, PARSING))
    try:
        if _is_light(document, document.content):
            parsed, chunks = _parse_and_chunk(kb, document, document.content)
        else:
            parsed, chunks = await asyncio.to_thread(
                _parse_and_chunk, kb, document, document.content
            )
    except ParseError as exc:
        return await _fail(kb, session, document, exc.code, exc.detail)
    if not chunks:
        return await _fail(kb, session, document, "empty_document", "The document has no text.")
    title = document.title if document.title_given else parsed.title
    pages = page_count(parsed)
    await kb.progress.publish(
        Progress(document.id, version, INDEXING, {"chunks": len(chunks), "pages": pages})
    )
    records = records_from_chunks(
        chunks, document_id=str(document.id), title=title, version=version
    )
    vectors: np.ndarray | None = None
    if kb.embeddings is not None:
        try:
            embedded = await embed_with_usage(kb.embeddings, [r.index_text() for r in records])
        except EmbeddingError as exc:
            return await _fail(kb, session, document, exc.code, exc.detail)
        vectors = embedded.vectors
        await meter_embeddings(kb, session, embedded, "index", len(records), document.id, version)
    label = kb.embedding_label if vectors is not None else None
    rows = [
        {
            "document_id": document.id,
            "version": version,
            "position": chunk.index,
            "text": chunk.text,
            "start_offset": chunk.start,
            "end_offset": chunk.end,
            "heading_path": list(chunk.heading_path),
            "page": chunk.page,
            "token_count": chunk.token_count,
            "meta": {"kinds": list(chunk.kinds)},
            "embedding": vectors[i].astype(np.float32).tobytes() if vectors is not None else None,
            "embedding_model": label,
        }
        for i, chunk in enumerate(chunks)
    ]
    await ChunkRepository(session).replace_for_document(
        document.id, rows, had_chunks=document.indexed_version is not None
    )
    document.title = title[:300]
    document.status = READY
    document.indexed_version = version
    document.chunk_count = len(rows)
    document.pages = pages
    document.document_type = str(parsed.metadata.get("document_type") or "") or None
    document.error_code = document.error_reason = None
    document.indexed_at = utcnow()
    await record_event(
        session,
        DOCUMENT_INDEXED,
        DocumentIndexed(
            document_id=document.id,
            version=version,
            chunks=len(rows),
            pages=pages,
            embedding_model=kb.embedding_label if vectors is not None else None,
        ),
        subject_type="document",
        subject_id=document.id,
    )
    await session.flush()
    _after_commit(
        session, kb, Progress(document.id, version, READY, {"chunks": len(rows), "pages": pages})
    )
    return Outcome(READY, len(rows), pages)


async def meter_embeddings(
    kb: KnowledgeBase,
    session: AsyncSession,
    embedded: Embedded,
    purpose: Literal["index", "reindex", "query"],
    texts: int,
    document_id: UUID | None = None,
    version: int | None = None,
) -> None:
    """Record the usage event of one metered unit of embedding work (a document version, a
    re-index batch, a query) in ``session``'s transaction: billed only if the work commits."""
    settings = kb.settings.embeddings
    await record_event(
        session,
        EMBEDDING_METERED,
        EmbeddingMetered(
            purpose=purpose,
            model=kb.embedding_label or settings.model_label,
            texts=texts,
            input_tokens=embedded.input_tokens,
            tokens_reported=embedded.tokens_reported,
            cost_micros=settings.cost_micros(embedded.input_tokens),
            document_id=document_id,
            version=version,
        ),
        subject_type="document" if document_id is not None else "embedding",
        subject_id=document_id if document_id is not None else (kb.embedding_label or "none"),
    )


async def _fail(
    kb: KnowledgeBase, session: AsyncSession, document: Document, code: str, reason: str
) -> Outcome:
    document.status = FAILED
    document.error_code = code
    document.error_reason = reason
    await record_event(
        session,
        DOCUMENT_FAILED,
        DocumentFailed(document_id=document.id, version=document.version, code=code, reason=reason),
        subject_type="document",
        subject_id=document.id,
    )
    await session.flush()
    _after_commit(
        session,
        kb,
        Progress(document.id, document.version, FAILED, {"code": code, "reason": reason}),
    )
    log.info("document %s v%d failed: %s", document.id, document.version, reason)
    return Outcome(FAILED)


# ---- re-embedding after a change of embedding model ----------------------------------------------
@dataclass(frozen=True)
class ReindexStep:
    """One batch of a tenant's re-index: chunks re-embedded now, and the tenant's totals after it."""

    model: str
    chunks: int
    pending: int
    total: int


async def reindex_batch(kb: KnowledgeBase, session: AsyncSession, batch: int) -> ReindexStep:
    """Re-embed up to ``batch`` of the tenant's chunks whose vector is missing or of another model,
    in ``session``'s transaction, with their usage event and a progress event.

    Idempotent and resumable: the work left is whatever still lacks a vector of the configured
    model, so a crash loses at most the uncommitted batch and a rerun picks up where it stopped.
    Until the last batch commits the tenant's search stays lexical (a search index only uses
    vectors when every chunk has one of the configured model); the completing batch marks the
    tenant's documents changed so every process rebuilds its index with the new vectors.
    """
    if kb.embeddings is None:
        raise ValueError("re-indexing needs an embeddings backend")
    label = kb.embeddings.label
    chunks = ChunkRepository(session)
    is_postgres = session.get_bind().dialect.name == "postgresql"
    stale = await chunks.stale(label, batch, lock=is_postgres)
    if stale:
        texts = [
            ChunkRecord(
                chunk_id=str(chunk.chunk_id),
                document_id=str(chunk.document_id),
                document_title=chunk.title,
                text=chunk.text,
                start=0,
                end=len(chunk.text),
                heading_path=tuple(chunk.heading_path),
            ).index_text()
            for chunk in stale
        ]
        embedded = await embed_with_usage(kb.embeddings, texts)
        await chunks.set_embeddings(
            label,
            [
                (chunk.chunk_id, embedded.vectors[i].astype(np.float32).tobytes())
                for i, chunk in enumerate(stale)
            ],
        )
        await meter_embeddings(kb, session, embedded, "reindex", len(stale))
    total, current = await chunks.model_counts(label)
    step = ReindexStep(label, len(stale), total - current, total)
    if not stale:
        return step
    await record_event(
        session,
        REINDEX_PROGRESSED,
        ReindexProgressed(model=label, chunks=step.chunks, pending=step.pending, total=total),
        subject_type="embedding",
        subject_id=label,
    )
    if step.pending == 0:
        await DocumentRepository(session).touch_all()
        await record_event(
            session,
            REINDEX_COMPLETED,
            ReindexCompleted(model=label, total=total),
            subject_type="embedding",
            subject_id=label,
        )
    return step
