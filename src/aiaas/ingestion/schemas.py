"""Pydantic I/O of the ingestion API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

TAG_PATTERN = r"^[a-z0-9][a-z0-9 _-]{0,49}$"
COLLECTION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_ .-]{0,99}$"
Status = Literal["queued", "parsing", "indexing", "ready", "failed"]


class DocumentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    filename: str
    content_type: str | None
    title: str
    collection: str
    tags: list[str]
    url: str | None
    status: Status
    error_code: str | None
    error_reason: str | None
    version: int
    indexed_version: int | None
    content_hash: str
    size_bytes: int
    document_type: str | None
    pages: int | None
    chunk_count: int
    indexed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class DocumentPage(BaseModel):
    items: list[DocumentOut]
    next_cursor: str | None = None


class UploadItem(BaseModel):
    document: DocumentOut
    duplicate: bool = Field(description="The same content was already uploaded; nothing new made")


class UploadOut(BaseModel):
    items: list[UploadItem]


class DocumentUpdate(BaseModel):
    title: str | None = Field(None, min_length=1, max_length=300)
    collection: str | None = Field(None, pattern=COLLECTION_PATTERN)
    tags: list[str] | None = Field(None, max_length=50)
    url: str | None = Field(None, max_length=2000)


class ChunkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    version: int
    position: int
    text: str
    start_offset: int
    end_offset: int
    heading_path: list[str]
    page: int | None
    token_count: int
    embedding_model: str | None


class ChunkList(BaseModel):
    items: list[ChunkOut]


class CountOut(BaseModel):
    name: str
    documents: int


class CountList(BaseModel):
    items: list[CountOut]


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=2000)
    k: int = Field(5, ge=1, le=50)
    collections: list[str] | None = Field(None, max_length=50)
    tags: list[str] | None = Field(None, max_length=50)
    mode: Literal["auto", "lexical", "dense", "hybrid"] = Field(
        "auto", description="`auto`: hybrid when embeddings are configured, else lexical"
    )


class CitationOut(BaseModel):
    document_id: str
    chunk_id: str
    title: str
    section: str
    heading_path: list[str]
    page: int | None
    start: int
    end: int
    version: int
    url: str | None


class SearchHitOut(BaseModel):
    id: str = Field(description="Chunk id")
    document_id: str
    title: str
    text: str
    url: str | None
    score: float
    rank: int
    citation: CitationOut


class SearchOut(BaseModel):
    query: str
    mode: str
    hits: list[SearchHitOut]
    confidence: float
    answerable: bool
    signals: dict[str, Any] = Field(default_factory=dict)


class ReindexOut(BaseModel):
    """Where the tenant's vectors stand against the configured embedding model."""

    model: str | None = Field(description="The configured vector space; null: lexical search only")
    state: Literal["disabled", "current", "pending", "running"] = Field(
        description="disabled: no embeddings configured; current: every chunk has a vector of "
        "the model; pending: some do not yet (the worker re-embeds them in the background); "
        "running: this server is re-embedding them now"
    )
    total_chunks: int
    current_chunks: int = Field(description="Chunks with a vector of the configured model")
    pending_chunks: int = Field(description="Chunks still to re-embed; search is lexical until 0")
