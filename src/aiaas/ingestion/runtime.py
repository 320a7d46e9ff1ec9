"""The long-lived parts of the ingestion domain: embeddings backend, search index cache, progress."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiaas.backends.embeddings import Embeddings
from aiaas.backends.embeddings.factory import build_embeddings
from aiaas.ingestion.config import IngestionSettings
from aiaas.ingestion.index import IndexCache
from aiaas.ingestion.progress import ProgressHub


@dataclass
class KnowledgeBase:
    """What the API, the worker and the orchestrator share to ingest and search knowledge."""

    settings: IngestionSettings
    embeddings: Embeddings | None
    progress: ProgressHub = field(default_factory=ProgressHub)
    indexes: IndexCache = field(default_factory=IndexCache)

    @property
    def embedding_label(self) -> str | None:
        return self.embeddings.label if self.embeddings is not None else None

    async def close(self) -> None:
        if self.embeddings is not None:
            await self.embeddings.close()


def build_knowledge_base(settings: IngestionSettings) -> KnowledgeBase:
    """Build from settings; nothing connects until first use."""
    return KnowledgeBase(
        settings=settings,
        embeddings=build_embeddings(settings.embeddings),
        indexes=IndexCache(capacity=settings.index_cache_tenants),
    )
