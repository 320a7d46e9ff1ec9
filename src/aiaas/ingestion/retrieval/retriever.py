"""In-memory search over chunk records: lexical, dense or hybrid (RRF), with filters and a
calibrated confidence. Pure and synchronous; the DB-backed service builds one per tenant corpus
version and calls :meth:`Retriever.search` from a thread pool."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import numpy as np

from aiaas.ingestion.retrieval.analyzer import Analyzer
from aiaas.ingestion.retrieval.confidence import DEFAULT_CONFIDENCE, ConfidenceModel
from aiaas.ingestion.retrieval.dense import DenseIndex, Embedder
from aiaas.ingestion.retrieval.fusion import DEFAULT_RRF_K, reciprocal_rank_fusion
from aiaas.ingestion.retrieval.lexical import LexicalIndex
from aiaas.ingestion.retrieval.records import ChunkRecord, Hit, SearchFilter, SearchResult

SearchMode = Literal["lexical", "dense", "hybrid"]
DEFAULT_CANDIDATES = 50


def _top(
    scores: np.ndarray, mask: np.ndarray | None, limit: int, *, positive_only: bool
) -> list[int]:
    """Indices of the best ``limit`` allowed scores, best first (stable on ties).

    ``mask`` None allows every index.
    """
    if positive_only:
        allowed = scores > 0 if mask is None else mask & (scores > 0)
        indices = np.flatnonzero(allowed)
    else:
        indices = np.arange(len(scores)) if mask is None else np.flatnonzero(mask)
    if len(indices) == 0:
        return []
    values = scores[indices]
    if len(indices) > 4 * limit:
        # Keep only candidates at least as good as the limit-th best (ties included, order kept)
        # so the stable sort runs on a handful of scores instead of the whole corpus.
        kth = np.partition(values, len(values) - limit)[len(values) - limit]
        keep = np.flatnonzero(values >= kth)
        indices, values = indices[keep], values[keep]
    order = np.argsort(-values, kind="stable")[:limit]
    return [int(i) for i in indices[order]]


def _rows_by_key(keys_per_row: Iterable[Iterable[str]]) -> dict[str, np.ndarray]:
    """key -> ascending row numbers of the rows that have it."""
    rows: dict[str, list[int]] = {}
    for row, keys in enumerate(keys_per_row):
        for key in keys:
            rows.setdefault(key, []).append(row)
    return {key: np.asarray(found, dtype=np.intp) for key, found in rows.items()}


class Retriever:
    """Search over a fixed set of chunk records.

    ``vectors`` (one row per record, any scale) enable dense and hybrid search; without them an
    ``embedder`` embeds the records' index texts at construction. ``embedder`` also embeds queries
    when no ``query_vector`` is passed to :meth:`search`.
    """

    def __init__(
        self,
        records: Sequence[ChunkRecord],
        *,
        embedder: Embedder | None = None,
        vectors: np.ndarray | None = None,
        analyzer: Analyzer | None = None,
        confidence: Mapping[str, ConfidenceModel] | None = None,
        rrf_k: int = DEFAULT_RRF_K,
        candidates: int = DEFAULT_CANDIDATES,
        bm25_k1: float = 1.2,
        bm25_b: float = 0.75,
    ) -> None:
        self.records = list(records)
        self.embedder = embedder
        self.rrf_k = rrf_k
        self.candidates = candidates
        self.confidence_models = dict(confidence or DEFAULT_CONFIDENCE)
        texts = [record.index_text() for record in self.records]
        self.lexical = LexicalIndex(texts, analyzer=analyzer, k1=bm25_k1, b=bm25_b)
        self.dense: DenseIndex | None = None
        if vectors is None and embedder is not None:
            vectors = embedder.embed(texts) if texts else None
        if vectors is not None:
            if len(vectors) != len(self.records):
                raise ValueError("one vector per record")
            self.dense = DenseIndex(vectors)
        self._document_of = np.array([r.document_id for r in self.records], dtype=object)
        # Filter fields as row sets, built once, so a filter costs a few vector operations per
        # search instead of a pass over the records.
        self._collection_code: dict[str | None, int] = {}
        self._collection_of = np.fromiter(
            (
                self._collection_code.setdefault(r.collection, len(self._collection_code))
                for r in self.records
            ),
            dtype=np.int32,
            count=len(self.records),
        )
        self._rows_of_tag = _rows_by_key(r.tags for r in self.records)
        self._rows_of_document = _rows_by_key((r.document_id,) for r in self.records)

    def filter_mask(self, filter: SearchFilter) -> np.ndarray:
        """The records ``filter`` accepts (the same as ``filter.mask(self.records)``)."""
        size = len(self.records)
        mask = np.ones(size, dtype=bool)
        if filter.collections is not None:
            codes = [
                self._collection_code[c] for c in filter.collections if c in self._collection_code
            ]
            mask &= np.isin(self._collection_of, codes)
        if filter.document_ids is not None:
            mask &= self._any_of(self._rows_of_document, filter.document_ids)
        if filter.tags is not None:
            if filter.match_all_tags:
                for tag in filter.tags:
                    mask &= self._any_of(self._rows_of_tag, (tag,))
            else:
                mask &= self._any_of(self._rows_of_tag, filter.tags)
        return mask

    def _any_of(self, rows_of: dict[str, np.ndarray], keys: Iterable[str]) -> np.ndarray:
        selected = np.zeros(len(self.records), dtype=bool)
        for key in keys:
            rows = rows_of.get(key)
            if rows is not None:
                selected[rows] = True
        return selected

    @property
    def modes(self) -> tuple[SearchMode, ...]:
        return ("lexical", "dense", "hybrid") if self.dense is not None else ("lexical",)

    def _margin(self, scores: np.ndarray, ranked: list[int]) -> float:
        """Top score minus the best score of a different document (0 without a runner-up)."""
        if not ranked:
            return 0.0
        top_document = self._document_of[ranked[0]]
        for index in ranked[1:]:
            if self._document_of[index] != top_document:
                return float(scores[ranked[0]] - scores[index])
        return float(scores[ranked[0]])

    def search(
        self,
        query: str,
        *,
        k: int = 5,
        mode: SearchMode = "hybrid",
        filter: SearchFilter | None = None,
        query_vector: np.ndarray | None = None,
        max_per_document: int | None = None,
    ) -> SearchResult:
        """The best ``k`` chunks for ``query`` and the confidence that the first one answers it.

        ``query_vector`` lets the caller embed the query itself (e.g. with an async embeddings
        backend); otherwise the retriever's ``embedder`` is used for dense and hybrid modes.
        """
        if mode not in ("lexical", "dense", "hybrid"):
            raise ValueError(f"unknown search mode {mode!r}")
        if mode != "lexical" and self.dense is None:
            raise ValueError(f"{mode} search needs vectors or an embedder")
        size = len(self.records)
        mask = self.filter_mask(filter) if filter is not None else None
        limit = max(self.candidates, k)
        signals: dict[str, float] = {}
        lexical_ranked: list[int] = []
        dense_ranked: list[int] = []
        lexical_scores = dense_scores = np.zeros(size, dtype=np.float32)

        if mode in ("lexical", "hybrid"):
            lexical = self.lexical.score(query)
            lexical_scores = lexical.scores
            lexical_ranked = _top(lexical_scores, mask, limit, positive_only=True)
            top = float(lexical_scores[lexical_ranked[0]]) if lexical_ranked else 0.0
            coverage = top / lexical.max_possible if lexical.max_possible > 0 else 0.0
            signals["lexical_coverage"] = min(1.0, max(0.0, coverage))
            margin = self._margin(lexical_scores, lexical_ranked)
            signals["lexical_margin"] = margin / top if top > 0 else 0.0

        if mode in ("dense", "hybrid"):
            assert self.dense is not None
            if query_vector is None:
                if self.embedder is None:
                    raise ValueError(f"{mode} search needs a query_vector or an embedder")
                query_vector = self.embedder.embed([query])[0]
            if mask is not None and 2 * int(np.count_nonzero(mask)) < size:
                # A narrow filter: score only the rows it allows.
                rows = np.flatnonzero(mask)
                dense_scores = np.zeros(size, dtype=np.float32)
                dense_scores[rows] = self.dense.score_rows(query_vector, rows)
            else:
                dense_scores = self.dense.score(query_vector)
            dense_ranked = _top(dense_scores, mask, limit, positive_only=False)
            signals["dense_top"] = float(dense_scores[dense_ranked[0]]) if dense_ranked else 0.0
            signals["dense_margin"] = self._margin(dense_scores, dense_ranked)

        if mode == "lexical":
            ranked = [(i, float(lexical_scores[i])) for i in lexical_ranked]
        elif mode == "dense":
            ranked = [(i, float(dense_scores[i])) for i in dense_ranked]
        else:
            ranked = reciprocal_rank_fusion([lexical_ranked, dense_ranked], k=self.rrf_k)

        lexical_position = {index: rank for rank, index in enumerate(lexical_ranked, start=1)}
        dense_position = {index: rank for rank, index in enumerate(dense_ranked, start=1)}
        hits: list[Hit] = []
        per_document: dict[str, int] = {}
        for index, score in ranked:
            record = self.records[index]
            if max_per_document is not None:
                if per_document.get(record.document_id, 0) >= max_per_document:
                    continue
                per_document[record.document_id] = per_document.get(record.document_id, 0) + 1
            hits.append(
                Hit(
                    record=record,
                    rank=len(hits) + 1,
                    score=score,
                    lexical_rank=lexical_position.get(index),
                    lexical_score=float(lexical_scores[index])
                    if index in lexical_position
                    else None,
                    dense_rank=dense_position.get(index),
                    dense_score=float(dense_scores[index]) if index in dense_position else None,
                )
            )
            if len(hits) == k:
                break

        model = self.confidence_models[mode]
        confidence = model.confidence(signals) if hits else 0.0
        return SearchResult(
            query=query,
            mode=mode,
            hits=hits,
            confidence=confidence,
            answerable=bool(hits) and confidence >= model.threshold,
            signals=signals,
        )
