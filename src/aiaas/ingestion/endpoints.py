"""HTTP routes of the ingestion domain: documents, collections, tags, progress and search."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile, status
from fastapi.responses import StreamingResponse

from aiaas.ingestion.models import Document
from aiaas.ingestion.schemas import (
    ChunkList,
    ChunkOut,
    CountList,
    CountOut,
    DocumentOut,
    DocumentPage,
    DocumentUpdate,
    ReindexOut,
    SearchHitOut,
    SearchIn,
    SearchOut,
    Status,
    UploadItem,
    UploadOut,
)
from aiaas.ingestion.service import (
    DocumentService,
    Upload,
    hit_dict,
    live_status,
    reindex_status,
    request_reindex,
    search,
)
from aiaas.ingestion.stream import progress_events
from aiaas.kit.errors import ValidationFailed
from aiaas.kit.pagination import PageParams, page_params
from aiaas.kit.routing import GuardedRoute
from aiaas.platform import Platform
from aiaas.tenancy.dependencies import PlatformDep, TenantSession, require
from aiaas.tenancy.permissions import Principal

router = APIRouter(route_class=GuardedRoute, prefix="/ingestion", tags=["ingestion"])

Page = Annotated[PageParams, Depends(page_params)]
Reader = Annotated[Principal, require("knowledge:read")]
Writer = Annotated[Principal, require("knowledge:write")]


def _service(session: TenantSession, platform: Platform, principal: Principal) -> DocumentService:
    plan = platform.settings.plan(principal.plan or platform.settings.default_plan)
    return DocumentService(session, platform.knowledge, plan)


def _out(platform: Platform, document: Document) -> DocumentOut:
    out = DocumentOut.model_validate(document)
    out.status = live_status(platform.knowledge, document)  # type: ignore[assignment]
    return out


async def _read(upload: UploadFile) -> Upload:
    return Upload(upload.filename or "upload", await upload.read(), upload.content_type)


def _split_tags(tags: list[str] | None) -> list[str]:
    """Tags arrive as repeated form fields, comma-separated values, or both."""
    return [part for value in tags or () for part in value.split(",") if part.strip()]


@router.post("/documents", response_model=UploadOut, status_code=status.HTTP_201_CREATED)
async def upload_documents(
    principal: Writer,
    session: TenantSession,
    platform: PlatformDep,
    files: Annotated[list[UploadFile], File(description="One or more files")],
    collection: Annotated[str | None, Form(max_length=100)] = None,
    tags: Annotated[list[str] | None, Form(description="Tags (repeat or comma-separate)")] = None,
    title: Annotated[str | None, Form(max_length=300)] = None,
    url: Annotated[str | None, Form(max_length=2000)] = None,
) -> UploadOut:
    """Upload files (text, Markdown, HTML, PDF, DOCX, CSV/JSON FAQ). Each is queued for indexing;
    a file whose content is already known comes back as a duplicate."""
    uploads = [await _read(f) for f in files]
    results = await _service(session, platform, principal).upload(
        uploads, collection=collection, tags=_split_tags(tags), title=title, url=url
    )
    return UploadOut(
        items=[
            UploadItem(document=_out(platform, r.document), duplicate=r.duplicate) for r in results
        ]
    )


@router.get("/documents", response_model=DocumentPage)
async def list_documents(
    principal: Reader,
    session: TenantSession,
    platform: PlatformDep,
    page: Page,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    collection: Annotated[str | None, Query(max_length=100)] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
) -> DocumentPage:
    rows, cursor = await _service(session, platform, principal).list_page(
        page, status=status_, collection=collection, tag=tag
    )
    return DocumentPage(items=[_out(platform, d) for d in rows], next_cursor=cursor)


@router.get("/documents/{document_id}", response_model=DocumentOut)
async def get_document(
    document_id: UUID, principal: Reader, session: TenantSession, platform: PlatformDep
) -> DocumentOut:
    return _out(platform, await _service(session, platform, principal).get(document_id))


@router.patch("/documents/{document_id}", response_model=DocumentOut)
async def update_document(
    document_id: UUID,
    body: DocumentUpdate,
    principal: Writer,
    session: TenantSession,
    platform: PlatformDep,
) -> DocumentOut:
    """Change title, collection, tags or link (no re-indexing needed)."""
    document = await _service(session, platform, principal).update(
        document_id, title=body.title, collection=body.collection, tags=body.tags, url=body.url
    )
    return _out(platform, document)


@router.put("/documents/{document_id}", response_model=UploadItem)
async def replace_document(
    document_id: UUID,
    principal: Writer,
    session: TenantSession,
    platform: PlatformDep,
    file: Annotated[UploadFile | None, File(description="The new version")] = None,
) -> UploadItem:
    """Upload a new version; the current one stays searchable until the new one is ready."""
    service = _service(session, platform, principal)
    await service.get(document_id)
    if file is None:
        raise ValidationFailed(
            "send the new version as the multipart field 'file'", code="no_files"
        )
    result = await service.replace(document_id, await _read(file))
    return UploadItem(document=_out(platform, result.document), duplicate=result.duplicate)


@router.delete("/documents/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_document(
    document_id: UUID, principal: Writer, session: TenantSession, platform: PlatformDep
) -> Response:
    """Delete a document with its chunks and index entries."""
    await _service(session, platform, principal).delete(document_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/documents/{document_id}/chunks", response_model=ChunkList)
async def document_chunks(
    document_id: UUID, principal: Reader, session: TenantSession, platform: PlatformDep
) -> ChunkList:
    rows = await _service(session, platform, principal).chunks_of(document_id)
    return ChunkList(items=[ChunkOut.model_validate(c) for c in rows])


@router.get(
    "/documents/{document_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def document_events(
    document_id: UUID,
    principal: Reader,
    platform: PlatformDep,
    max_seconds: Annotated[
        float, Query(ge=1, le=3600, description="Seconds before the stream closes")
    ] = 300,
) -> StreamingResponse:
    """Server-sent ``progress`` events until the latest version is ready or failed."""
    assert principal.tenant_id is not None
    async with platform.db.transaction(principal.tenant_id) as session:
        await _service(session, platform, principal).get(document_id)
    return StreamingResponse(
        progress_events(platform, principal.tenant_id, document_id, max_seconds),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/collections", response_model=CountList)
async def list_collections(
    principal: Reader, session: TenantSession, platform: PlatformDep
) -> CountList:
    rows = await _service(session, platform, principal).collections()
    return CountList(items=[CountOut(name=n, documents=c) for n, c in rows])


@router.get("/tags", response_model=CountList)
async def list_tags(principal: Reader, session: TenantSession, platform: PlatformDep) -> CountList:
    rows = await _service(session, platform, principal).tags()
    return CountList(items=[CountOut(name=n, documents=c) for n, c in rows])


@router.post("/search", response_model=SearchOut)
async def search_documents(body: SearchIn, principal: Reader, platform: PlatformDep) -> SearchOut:
    """Hybrid (or lexical) search with citations and whether the top hit likely answers."""
    assert principal.tenant_id is not None
    result, urls = await search(
        platform,
        principal.tenant_id,
        body.query,
        k=body.k,
        collections=body.collections,
        tags=body.tags,
        mode=body.mode,
    )
    hits = [
        SearchHitOut.model_validate(hit_dict(hit, urls, result.confidence, result.answerable))
        for hit in result.hits
    ]
    return SearchOut(
        query=result.query,
        mode=result.mode,
        hits=hits,
        confidence=result.confidence,
        answerable=result.answerable,
        signals=result.signals,
    )


@router.get("/reindex", response_model=ReindexOut)
async def get_reindex(principal: Reader, platform: PlatformDep) -> ReindexOut:
    """How many of the tenant's chunks have a vector of the configured embedding model."""
    assert principal.tenant_id is not None
    found = await reindex_status(platform, principal.tenant_id)
    return ReindexOut.model_validate(found, from_attributes=True)


@router.post("/reindex", response_model=ReindexOut, status_code=status.HTTP_202_ACCEPTED)
async def start_reindex(principal: Writer, platform: PlatformDep) -> ReindexOut:
    """Re-embed the tenant's chunks made with another embedding model, in the background.

    The worker also does this on its own after a model change; search stays lexical until the
    last batch is stored. Progress: this resource, and ``ingestion.reindex.*`` events.
    """
    assert principal.tenant_id is not None
    found = await request_reindex(platform, principal.tenant_id)
    return ReindexOut.model_validate(found, from_attributes=True)
