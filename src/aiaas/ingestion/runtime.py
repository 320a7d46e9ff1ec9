"""The long-lived parts of the ingestion domain: embeddings backend, search index cache, progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiaas.backends.embeddings import Embeddings
from aiaas.backends.embeddings.factory import build_embeddings
from aiaas.ingestion.config import IngestionSettings
from aiaas.ingestion.index import IndexCache
from aiaas.ingestion.progress import ProgressHub

if TYPE_CHECKING:
    from aiaas.ingestion.tasks import Reindexer
    from aiaas.kit.db import Database


@dataclass
class KnowledgeBase:
    """What the API, the worker and the orchestrator share to ingest and search knowledge."""

    settings: IngestionSettings
    embeddings: Embeddings | None
    progress: ProgressHub = field(default_factory=ProgressHub)
    indexes: IndexCache = field(default_factory=IndexCache)
    _reindexer: Reindexer | None = field(default=None, init=False, repr=False)

    @property
    def embedding_label(self) -> str | None:
        return self.embeddings.label if self.embeddings is not None else None

    def reindexer(self, db: Database) -> Reindexer:
        """This process's re-indexer (built on first use)."""
        if self._reindexer is None:
            from aiaas.ingestion.tasks import Reindexer

            self._reindexer = Reindexer(self, db)
        return self._reindexer

    def start_background(self, db: Database) -> None:
        """The worker's background work: re-index vectors of another embedding model now, and
        check again every ``reindex_poll_seconds``."""
        self.reindexer(db).start()

    async def stop_background(self) -> None:
        """Stop what :meth:`start_background` started (a batch in flight rolls back)."""
        if self._reindexer is not None:
            await self._reindexer.stop()

    async def close(self) -> None:
        await self.stop_background()
        if self.embeddings is not None:
            await self.embeddings.close()


def build_knowledge_base(settings: IngestionSettings) -> KnowledgeBase:
    """Build from settings; nothing connects until first use."""
    return KnowledgeBase(
        settings=settings,
        embeddings=build_embeddings(settings.embeddings),
        indexes=IndexCache(capacity=settings.index_cache_tenants),
    )
