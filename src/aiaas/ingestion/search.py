"""Search over a tenant's indexed chunks: lexical (BM25), dense (cosine) or hybrid (RRF)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal
from uuid import UUID

from aiaas.backends.embeddings import embed_with_usage
from aiaas.ingestion.pipeline import meter_embeddings
from aiaas.ingestion.retrieval import SearchFilter, SearchResult
from aiaas.ingestion.retrieval.retriever import SearchMode
from aiaas.ingestion.runtime import KnowledgeBase
from aiaas.kit.db import Database
from aiaas.kit.errors import ValidationFailed

__all__ = ["SearchMode", "search_index"]


async def search_index(
    kb: KnowledgeBase,
    db: Database,
    tenant_id: UUID,
    query: str,
    *,
    k: int = 5,
    collections: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
    mode: SearchMode | Literal["auto"] = "auto",
) -> tuple[SearchResult, dict[str, str | None]]:
    """Search the tenant's cached index (rebuilt when its documents changed).

    ``auto`` is hybrid when every indexed chunk has a vector of the configured model, else lexical;
    asking for dense or hybrid without such vectors is a 422 (``dense_search_unavailable``).
    """
    index = await kb.indexes.get(db, tenant_id, kb.embedding_label)
    auto: SearchMode = "hybrid" if index.has_vectors else "lexical"
    resolved: SearchMode = auto if mode == "auto" else mode
    if index.retriever is None:
        return SearchResult(query, resolved, [], 0.0, False), {}
    if resolved != "lexical" and not index.has_vectors:
        raise ValidationFailed(
            f"{resolved} search needs embeddings; configure AIAAS_INGESTION__EMBEDDINGS__PROVIDER "
            "and let the documents re-index",
            code="dense_search_unavailable",
        )
    query_vector = None
    if resolved != "lexical" and kb.embeddings is not None:
        embedded = await embed_with_usage(kb.embeddings, [query])
        query_vector = embedded.vectors[0]
        # The query's embedding is billed like any other: one usage event per search.
        async with db.transaction(tenant_id) as session:
            await meter_embeddings(kb, session, embedded, "query", 1)
    search_filter = None
    if collections or tags:
        search_filter = SearchFilter(
            collections=frozenset(collections) if collections else None,
            tags=frozenset(t.lower() for t in tags) if tags else None,
        )
    retriever = index.retriever
    result = await asyncio.to_thread(
        retriever.search,
        query,
        k=k,
        mode=resolved,
        filter=search_filter,
        query_vector=query_vector,
    )
    return result, index.urls
