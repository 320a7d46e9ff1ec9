"""Ingestion settings (mounted as ``Settings.ingestion``; env ``AIAAS_INGESTION__...``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from aiaas.backends.embeddings.config import EmbeddingsSettings


class IngestionSettings(BaseModel):
    """Limits of one document, the chunker's bounds, the search index cache and the embeddings."""

    model_config = {"extra": "forbid"}

    max_document_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, description="Largest single document; bigger ones fail"
    )
    max_files_per_upload: int = Field(50, ge=1, le=1000, description="Files in one upload")
    chunk_max_tokens: int = Field(180, ge=16, le=2048, description="Upper bound of a chunk")
    chunk_overlap_tokens: int = Field(30, ge=0, description="Overlap between chunks of a block")
    index_cache_tenants: int = Field(
        64, ge=1, description="Tenants whose search index is kept in memory"
    )
    reindex_batch_chunks: int = Field(
        256, ge=1, le=10_000, description="Chunks re-embedded per transaction after a model change"
    )
    reindex_poll_seconds: float = Field(
        300.0, gt=0, description="How often the worker checks for vectors of another model"
    )
    embeddings: EmbeddingsSettings = Field(default_factory=EmbeddingsSettings)

    @model_validator(mode="after")
    def _bounds(self) -> IngestionSettings:
        if self.chunk_overlap_tokens >= self.chunk_max_tokens:
            raise ValueError("chunk_overlap_tokens must be smaller than chunk_max_tokens")
        return self
