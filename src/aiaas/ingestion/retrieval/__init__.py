"""Ranking core: BM25, dense cosine, reciprocal rank fusion, filters and a calibrated confidence.

Everything here is in memory and synchronous; see :class:`Retriever` for the entry point.
"""

from __future__ import annotations

from aiaas.ingestion.retrieval.analyzer import ENGLISH_STOPWORDS, Analyzer
from aiaas.ingestion.retrieval.confidence import (
    DEFAULT_CONFIDENCE,
    DENSE_FEATURES,
    HYBRID_FEATURES,
    LEXICAL_FEATURES,
    ConfidenceModel,
    fit_confidence_model,
)
from aiaas.ingestion.retrieval.dense import (
    DenseIndex,
    Embedder,
    LocalSentenceTransformerEmbedder,
    l2_normalize,
)
from aiaas.ingestion.retrieval.fusion import DEFAULT_RRF_K, reciprocal_rank_fusion
from aiaas.ingestion.retrieval.lexical import LexicalIndex, LexicalScores
from aiaas.ingestion.retrieval.records import (
    ChunkRecord,
    Citation,
    Hit,
    SearchFilter,
    SearchResult,
    records_from_chunks,
)
from aiaas.ingestion.retrieval.retriever import Retriever, SearchMode

__all__ = [
    "DEFAULT_CONFIDENCE",
    "DEFAULT_RRF_K",
    "DENSE_FEATURES",
    "ENGLISH_STOPWORDS",
    "HYBRID_FEATURES",
    "LEXICAL_FEATURES",
    "Analyzer",
    "ChunkRecord",
    "Citation",
    "ConfidenceModel",
    "DenseIndex",
    "Embedder",
    "Hit",
    "LexicalIndex",
    "LexicalScores",
    "LocalSentenceTransformerEmbedder",
    "Retriever",
    "SearchFilter",
    "SearchMode",
    "SearchResult",
    "fit_confidence_model",
    "l2_normalize",
    "reciprocal_rank_fusion",
    "records_from_chunks",
]
