"""Event types of the ingestion domain."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from aiaas.events.catalog import event

DOCUMENT_UPLOADED = "ingestion.document.uploaded"
DOCUMENT_INDEXED = "ingestion.document.indexed"
DOCUMENT_FAILED = "ingestion.document.failed"
DOCUMENT_DELETED = "ingestion.document.deleted"
DOCUMENT_UPDATED = "ingestion.document.updated"
EMBEDDING_METERED = "ingestion.embedding.metered"
REINDEX_STARTED = "ingestion.reindex.started"
REINDEX_PROGRESSED = "ingestion.reindex.progressed"
REINDEX_COMPLETED = "ingestion.reindex.completed"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


@event(DOCUMENT_UPLOADED, 1, "A document (or a new version of one) was uploaded for indexing")
class DocumentUploaded(_Payload):
    document_id: UUID
    version: int = Field(ge=1)
    filename: str
    bytes: int = Field(ge=0)
    content_hash: str


@event(DOCUMENT_INDEXED, 1, "A document version was parsed, chunked and indexed")
class DocumentIndexed(_Payload):
    document_id: UUID
    version: int = Field(ge=1)
    chunks: int = Field(ge=0)
    pages: int | None = None
    embedding_model: str | None = None


@event(DOCUMENT_FAILED, 1, "A document version could not be indexed")
class DocumentFailed(_Payload):
    document_id: UUID
    version: int = Field(ge=1)
    code: str
    reason: str


@event(DOCUMENT_DELETED, 1, "A document and its index entries were deleted")
class DocumentDeleted(_Payload):
    document_id: UUID


@event(DOCUMENT_UPDATED, 1, "A document's title, collection, tags or link changed")
class DocumentUpdated(_Payload):
    document_id: UUID
    changed: list[str]


@event(
    EMBEDDING_METERED, 1, "Embedding calls made for the tenant, with their input tokens and cost"
)
class EmbeddingMetered(_Payload):
    purpose: Literal["index", "reindex", "query"] = Field(
        description="index: one document version; reindex: one batch of a model change; "
        "query: a search"
    )
    model: str = Field(description="The vector space (provider:model)")
    texts: int = Field(ge=0, description="Texts embedded")
    input_tokens: int = Field(ge=0)
    tokens_reported: bool = Field(
        description="True when the endpoint reported the tokens, false for the platform's estimate"
    )
    cost_micros: int = Field(0, ge=0, description="Integer micro-dollars (0: model unpriced)")
    document_id: UUID | None = None
    version: int | None = Field(None, ge=1)


@event(REINDEX_STARTED, 1, "The tenant's chunks began moving to the configured embedding model")
class ReindexStarted(_Payload):
    model: str
    pending: int = Field(ge=0, description="Chunks not yet embedded with the model")
    total: int = Field(ge=0)


@event(REINDEX_PROGRESSED, 1, "A batch of the tenant's chunks was re-embedded")
class ReindexProgressed(_Payload):
    model: str
    chunks: int = Field(ge=0, description="Chunks in this batch")
    pending: int = Field(ge=0)
    total: int = Field(ge=0)


@event(REINDEX_COMPLETED, 1, "Every chunk of the tenant has a vector of the configured model")
class ReindexCompleted(_Payload):
    model: str
    total: int = Field(ge=0)
