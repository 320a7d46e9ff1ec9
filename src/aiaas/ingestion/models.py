"""Documents of a tenant's knowledge base and their indexed chunks."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, deferred, mapped_column

from aiaas.kit.db import Base, IdMixin, TenantMixin, TimestampMixin

QUEUED, PARSING, INDEXING, READY, FAILED = "queued", "parsing", "indexing", "ready", "failed"
STATUSES = (QUEUED, PARSING, INDEXING, READY, FAILED)
TERMINAL = frozenset({READY, FAILED})


class Document(IdMixin, TimestampMixin, TenantMixin, Base):
    """One uploaded file. ``version`` is the latest upload; ``indexed_version`` the one searched.

    ``content`` holds the latest version's bytes until it is indexed (deferred: lists never load it).
    """

    __tablename__ = "ingestion_documents"
    __table_args__ = (
        Index("ix_ingestion_documents_tenant_hash", "tenant_id", "content_hash"),
        Index("ix_ingestion_documents_tenant_collection", "tenant_id", "collection"),
    )

    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(300))
    title_given: Mapped[bool] = mapped_column(default=False)
    collection: Mapped[str] = mapped_column(String(100), default="general")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    url: Mapped[str | None] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    indexed_version: Mapped[int | None] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    document_type: Mapped[str | None] = mapped_column(String(20))
    pages: Mapped[int | None] = mapped_column(Integer)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    indexed_at: Mapped[datetime | None] = mapped_column()
    content: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))


class DocumentChunk(IdMixin, TenantMixin, Base):
    """One retrievable passage of a document version, with its citation fields.

    ``embedding`` is the float32 vector (unit length) when an embeddings backend is configured;
    ``embedding_model`` names its vector space.
    """

    __tablename__ = "ingestion_chunks"
    __table_args__ = (
        Index("ix_ingestion_chunks_tenant_document", "tenant_id", "document_id", "version"),
    )

    document_id: Mapped[UUID] = mapped_column(
        ForeignKey("ingestion_documents.id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    start_offset: Mapped[int] = mapped_column(Integer)
    end_offset: Mapped[int] = mapped_column(Integer)
    heading_path: Mapped[list[str]] = mapped_column(JSON, default=list)
    page: Mapped[int | None] = mapped_column(Integer)
    token_count: Mapped[int] = mapped_column(Integer)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    embedding: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    embedding_model: Mapped[str | None] = mapped_column(String(300))
