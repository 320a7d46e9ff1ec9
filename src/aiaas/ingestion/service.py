"""Knowledge documents: upload, list, replace, delete, and search. No FastAPI here.

``search_knowledge`` and ``seed_demo_knowledge`` are the entry points other domains call.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.config import PlanSettings
from aiaas.events.outbox import record_event
from aiaas.ingestion.events import (
    DOCUMENT_DELETED,
    DOCUMENT_UPDATED,
    DOCUMENT_UPLOADED,
    DocumentDeleted,
    DocumentUpdated,
    DocumentUploaded,
)
from aiaas.ingestion.models import FAILED, INDEXING, PARSING, QUEUED, Document, DocumentChunk
from aiaas.ingestion.quota import check_quota
from aiaas.ingestion.repository import ChunkRepository, DocumentRepository
from aiaas.ingestion.runtime import KnowledgeBase
from aiaas.ingestion.schemas import COLLECTION_PATTERN, TAG_PATTERN
from aiaas.ingestion.search import SearchMode, search_index
from aiaas.kit.errors import NotFound, ValidationFailed
from aiaas.kit.ids import new_id
from aiaas.kit.pagination import PageParams

if TYPE_CHECKING:
    from aiaas.ingestion.retrieval import SearchResult
    from aiaas.platform import Platform

_TAG = re.compile(TAG_PATTERN)
_COLLECTION = re.compile(COLLECTION_PATTERN)
DEFAULT_COLLECTION = "general"


@dataclass(frozen=True)
class Upload:
    """One uploaded file."""

    filename: str
    data: bytes
    content_type: str | None = None


@dataclass(frozen=True)
class UploadResult:
    document: Document
    duplicate: bool


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def clean_tags(tags: Sequence[str] | None) -> list[str]:
    """Lower-cased, de-duplicated tags; a 422 names the first invalid one."""
    cleaned: list[str] = []
    for raw in tags or ():
        tag = raw.strip().lower()
        if not tag:
            continue
        if not _TAG.match(tag):
            raise ValidationFailed(
                f"tag {raw!r} must be 1-50 of a-z, 0-9, spaces, '-' and '_'", code="invalid_tag"
            )
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > 50:
        raise ValidationFailed("at most 50 tags", code="invalid_tag")
    return cleaned


def clean_collection(collection: str | None) -> str:
    name = (collection or DEFAULT_COLLECTION).strip()
    if not _COLLECTION.match(name):
        raise ValidationFailed(
            f"collection {collection!r} must be 1-100 letters, digits, spaces, '.', '-' or '_'",
            code="invalid_collection",
        )
    return name


def live_status(kb: KnowledgeBase, document: Document) -> str:
    """The database status, or the stage the pipeline announced while it works on the version."""
    if document.status != QUEUED:
        return document.status
    progress = kb.progress.latest(document.id)
    if (
        progress
        and progress.version == document.version
        and progress.status
        in (
            PARSING,
            INDEXING,
        )
    ):
        return progress.status
    return document.status


class DocumentService:
    """Documents of the session's tenant."""

    def __init__(self, session: AsyncSession, kb: KnowledgeBase, plan: PlanSettings) -> None:
        self.session = session
        self.kb = kb
        self.plan = plan
        self.documents = DocumentRepository(session)
        self.chunks = ChunkRepository(session)

    async def upload(
        self,
        files: Sequence[Upload],
        *,
        collection: str | None = None,
        tags: Sequence[str] | None = None,
        title: str | None = None,
        url: str | None = None,
    ) -> list[UploadResult]:
        """Store each file and queue it for indexing; a known content hash is a duplicate."""
        if not files:
            raise ValidationFailed("send at least one file", code="no_files")
        if len(files) > self.kb.settings.max_files_per_upload:
            raise ValidationFailed(
                f"at most {self.kb.settings.max_files_per_upload} files per upload",
                code="too_many_files",
            )
        if title is not None and len(files) > 1:
            raise ValidationFailed("a title applies to a single file", code="title_needs_one_file")
        collection_name = clean_collection(collection)
        tag_list = clean_tags(tags)
        hashes = [content_hash(f.data) for f in files]
        existing = await self.documents.find_by_hashes(hashes)
        fresh = {d: f for d, f in zip(hashes, files, strict=True) if d not in existing}
        await check_quota(
            self.documents,
            self.plan,
            new_documents=len(fresh),
            new_bytes=sum(len(f.data) for f in fresh.values()),
        )
        results: list[UploadResult] = []
        for digest, upload in zip(hashes, files, strict=True):
            if digest in existing:
                results.append(UploadResult(existing[digest], duplicate=True))
                continue
            document = await self._create(upload, digest, collection_name, tag_list, title, url)
            existing[digest] = document
            results.append(UploadResult(document, duplicate=False))
        await self.session.flush()  # one flush for the whole upload
        return results

    async def _create(
        self,
        upload: Upload,
        digest: str,
        collection: str,
        tags: list[str],
        title: str | None,
        url: str | None,
    ) -> Document:
        filename = (upload.filename or "upload").rsplit("/", 1)[-1][:255] or "upload"
        document = Document(
            id=new_id(),  # known before the flush: the uploaded event names it
            filename=filename,
            content_type=(upload.content_type or None),
            title=(title or filename)[:300],
            title_given=title is not None,
            collection=collection,
            tags=tags,
            url=url,
            status=QUEUED,
            version=1,
            content_hash=digest,
            size_bytes=len(upload.data),
            chunk_count=0,
        )
        self._store_content(document, upload.data)
        self.session.add(document)
        await self._queue(document)
        return document

    def _store_content(self, document: Document, data: bytes) -> None:
        limit = self.kb.settings.max_document_bytes
        if len(data) > limit:
            # Too large to keep: fail now with the reason instead of storing it.
            document.status = FAILED
            document.error_code = "document_too_large"
            document.error_reason = (
                f"The file is {len(data):,} bytes; the limit is {limit:,} bytes."
            )
            document.content = None
        else:
            document.status = QUEUED
            document.error_code = document.error_reason = None
            document.content = data

    async def _queue(self, document: Document) -> None:
        if document.status != QUEUED:
            return
        await record_event(
            self.session,
            DOCUMENT_UPLOADED,
            DocumentUploaded(
                document_id=document.id,
                version=document.version,
                filename=document.filename,
                bytes=document.size_bytes,
                content_hash=document.content_hash,
            ),
            subject_type="document",
            subject_id=document.id,
        )

    async def get(self, document_id: UUID) -> Document:
        document = await self.documents.get(document_id)
        if document is None:
            raise NotFound("no such document", code="document_not_found")
        return document

    async def list_page(
        self,
        params: PageParams,
        *,
        status: str | None = None,
        collection: str | None = None,
        tag: str | None = None,
    ) -> tuple[list[Document], str | None]:
        return await self.documents.list_page(
            params, status=status, collection=collection, tag=tag.lower() if tag else None
        )

    async def update(
        self,
        document_id: UUID,
        *,
        title: str | None = None,
        collection: str | None = None,
        tags: Sequence[str] | None = None,
        url: str | None = None,
    ) -> Document:
        """Change catalogue fields; search sees them at once (no re-parse needed)."""
        document = await self.get(document_id)
        changed: list[str] = []
        if title is not None and title != document.title:
            document.title, document.title_given = title[:300], True
            changed.append("title")
        if collection is not None and clean_collection(collection) != document.collection:
            document.collection = clean_collection(collection)
            changed.append("collection")
        if tags is not None and clean_tags(tags) != document.tags:
            document.tags = clean_tags(tags)
            changed.append("tags")
        if url is not None and url != document.url:
            document.url = url or None
            changed.append("url")
        if changed:
            await self.session.flush()
            await record_event(
                self.session,
                DOCUMENT_UPDATED,
                DocumentUpdated(document_id=document.id, changed=changed),
                subject_type="document",
                subject_id=document.id,
            )
        return document

    async def replace(self, document_id: UUID, upload: Upload) -> UploadResult:
        """Upload a new version. The indexed version stays searchable until the new one is ready."""
        document = await self.documents.get_with_content(document_id)
        if document is None:
            raise NotFound("no such document", code="document_not_found")
        digest = content_hash(upload.data)
        if digest == document.content_hash:
            return UploadResult(document, duplicate=True)
        await check_quota(
            self.documents,
            self.plan,
            new_documents=0,
            new_bytes=len(upload.data) - document.size_bytes,
        )
        document.version += 1
        document.content_hash = digest
        document.size_bytes = len(upload.data)
        document.filename = (upload.filename or document.filename).rsplit("/", 1)[-1][:255]
        document.content_type = upload.content_type or None
        self._store_content(document, upload.data)
        await self.session.flush()
        await self._queue(document)
        return UploadResult(document, duplicate=False)

    async def delete(self, document_id: UUID) -> None:
        """Delete the document, its chunks and vectors; the next search no longer sees them."""
        document = await self.get(document_id)
        await self.chunks.delete_for_document(document.id)
        await self.documents.delete(document)
        await record_event(
            self.session,
            DOCUMENT_DELETED,
            DocumentDeleted(document_id=document_id),
            subject_type="document",
            subject_id=document_id,
        )

    async def chunks_of(self, document_id: UUID) -> Sequence[DocumentChunk]:
        await self.get(document_id)
        return await self.chunks.for_document(document_id)

    async def collections(self) -> list[tuple[str, int]]:
        return await self.documents.collections()

    async def tags(self) -> list[tuple[str, int]]:
        return await self.documents.tags()


# ---- entry points for other domains --------------------------------------------------------------
async def search(
    platform: Platform,
    tenant_id: UUID,
    query: str,
    *,
    k: int = 5,
    collections: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
    mode: SearchMode | Literal["auto"] = "auto",
) -> tuple[SearchResult, dict[str, str | None]]:
    """Ranked chunks of the tenant's knowledge and the calibrated confidence; plus document urls."""
    return await search_index(
        platform.knowledge,
        platform.db,
        tenant_id,
        query,
        k=k,
        collections=collections,
        tags=tags,
        mode=mode,
    )


async def search_knowledge(
    platform: Platform,
    tenant_id: UUID,
    query: str,
    *,
    k: int = 5,
    collections: list[str] | None = None,
    tags: list[str] | None = None,
) -> list[dict[str, Any]]:
    """The best ``k`` passages for ``query`` as plain dicts (text, title, id, document_id, url,
    score, citation, confidence, answerable), for the orchestrator's retrieve node and tools."""
    result, urls = await search(platform, tenant_id, query, k=k, collections=collections, tags=tags)
    return [hit_dict(hit, urls, result.confidence, result.answerable) for hit in result.hits]


def hit_dict(
    hit: Any, urls: dict[str, str | None], confidence: float, answerable: bool
) -> dict[str, Any]:
    citation = hit.citation
    url = urls.get(hit.record.document_id)
    return {
        "id": hit.record.chunk_id,
        "document_id": hit.record.document_id,
        "title": hit.record.document_title,
        "text": hit.record.text,
        "url": url,
        "score": float(hit.score),
        "rank": hit.rank,
        "confidence": confidence,
        "answerable": answerable,
        "citation": {
            "document_id": citation.document_id,
            "chunk_id": citation.chunk_id,
            "title": citation.title,
            "section": citation.section,
            "heading_path": list(citation.heading_path),
            "page": citation.page,
            "start": citation.start,
            "end": citation.end,
            "version": citation.version,
            "url": url,
        },
    }


@dataclass(frozen=True)
class ReindexStatus:
    model: str | None
    state: Literal["disabled", "current", "pending", "running"]
    total_chunks: int
    current_chunks: int
    pending_chunks: int


async def reindex_status(platform: Platform, tenant_id: UUID) -> ReindexStatus:
    """How far the tenant's vectors are from the configured embedding model."""
    reindexer = platform.knowledge.reindexer(platform.db)
    pending, total = await reindexer.pending(tenant_id)
    if not reindexer.enabled:
        state: Literal["disabled", "current", "pending", "running"] = "disabled"
    elif reindexer.running(tenant_id):
        state = "running"
    else:
        state = "pending" if pending else "current"
    return ReindexStatus(platform.knowledge.embedding_label, state, total, total - pending, pending)


async def request_reindex(platform: Platform, tenant_id: UUID) -> ReindexStatus:
    """Start re-embedding the tenant's stale chunks in the background of this process."""
    reindexer = platform.knowledge.reindexer(platform.db)
    if not reindexer.enabled:
        raise ValidationFailed(
            "no embedding model is configured; set AIAAS_INGESTION__EMBEDDINGS__PROVIDER",
            code="embeddings_not_configured",
        )
    pending, _total = await reindexer.pending(tenant_id)
    if pending:
        reindexer.request(tenant_id)
    return await reindex_status(platform, tenant_id)


async def tenant_plan(platform: Platform, tenant_id: UUID) -> PlanSettings:
    tenant = await platform.tenants.get(tenant_id)
    return platform.settings.plan(tenant.plan)


INDEX_GROUP_DOCUMENTS = 20
INDEX_GROUP_BYTES = 256 * 1024
"""Bounds of one ``ingest_now`` indexing transaction: one-page articles share a transaction (the
per-transaction cost dominates theirs), while big files get their own, so the write lock (SQLite)
and row locks are not held across long parses."""


def _index_groups(documents: Sequence[Document]) -> list[list[tuple[UUID, int]]]:
    groups: list[list[tuple[UUID, int]]] = []
    size = 0
    for document in documents:
        if (
            not groups
            or size + document.size_bytes > INDEX_GROUP_BYTES
            or len(groups[-1]) >= INDEX_GROUP_DOCUMENTS
        ):
            groups.append([])
            size = 0
        groups[-1].append((document.id, document.version))
        size += document.size_bytes
    return groups


async def ingest_now(
    platform: Platform,
    tenant_id: UUID,
    uploads: Sequence[Upload],
    *,
    collection: str | None = None,
    tags: Sequence[str] | None = None,
    title: str | None = None,
    url: str | None = None,
) -> list[UploadResult]:
    """Upload, then index at once (CLI, seeding).

    The upload commits first (documents queued, ``uploaded`` events in the outbox), then the new
    versions are indexed, several small documents per transaction (see ``_index_groups``): a crash
    while indexing rolls that transaction's documents back to queued, never to a half index, and
    the worker indexes them from their events. When indexing succeeds the worker later finds the
    versions settled.
    """
    from aiaas.ingestion.pipeline import process_document

    plan = await tenant_plan(platform, tenant_id)
    async with platform.db.transaction(tenant_id) as session:
        results = await DocumentService(session, platform.knowledge, plan).upload(
            uploads, collection=collection, tags=tags, title=title, url=url
        )
    settled: dict[UUID, Document] = {}
    for group in _index_groups([r.document for r in results if not r.duplicate]):
        async with platform.db.transaction(tenant_id) as session:
            for document_id, version in group:
                await process_document(platform.knowledge, session, document_id, version)
                # The pipeline loaded (and settled) it in this session: no second read.
                document = await session.get(Document, document_id)
                if document is not None:
                    settled[document_id] = document
    return [
        r if r.duplicate else UploadResult(settled.get(r.document.id, r.document), duplicate=False)
        for r in results
    ]


async def seed_demo_knowledge(platform: Platform, tenant_id: UUID) -> int:
    """Load the demo help centre into a tenant; idempotent (known content is skipped).

    Returns the number of documents added.
    """
    from aiaas.ingestion.demo_knowledge import demo_sources

    added = 0
    for source in demo_sources():
        results = await ingest_now(
            platform,
            tenant_id,
            [Upload(source.filename, source.data)],
            collection=source.collection,
            tags=source.tags,
            title=source.title,
        )
        added += sum(1 for r in results if not r.duplicate)
    return added
