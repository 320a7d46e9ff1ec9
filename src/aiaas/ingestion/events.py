"""Event types of the ingestion domain."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from aiaas.events.catalog import event

DOCUMENT_UPLOADED = "ingestion.document.uploaded"
DOCUMENT_INDEXED = "ingestion.document.indexed"
DOCUMENT_FAILED = "ingestion.document.failed"
DOCUMENT_DELETED = "ingestion.document.deleted"
DOCUMENT_UPDATED = "ingestion.document.updated"


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
