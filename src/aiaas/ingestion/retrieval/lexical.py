"""BM25 (Lucene variant) over chunk texts with bm25s, plus the statistics the confidence needs."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import bm25s
import numpy as np

from aiaas.ingestion.retrieval.analyzer import Analyzer


@dataclass(frozen=True, slots=True)
class LexicalScores:
    """BM25 score of every document for one query, and the most a document could score.

    With the Lucene formula a term contributes at most its IDF, so ``max_possible`` (the sum of the
    query terms' IDFs, unseen terms at the IDF of a term in no document) bounds every score:
    ``scores / max_possible`` is the share of the query's information a chunk matches.
    """

    scores: np.ndarray
    terms: tuple[str, ...]
    max_possible: float


class LexicalIndex:
    """An immutable BM25 index; build a new one when the corpus changes (building is fast)."""

    def __init__(
        self,
        texts: Sequence[str],
        *,
        analyzer: Analyzer | None = None,
        k1: float = 1.2,
        b: float = 0.75,
    ) -> None:
        self.analyzer = analyzer or Analyzer()
        self.size = len(texts)
        corpus = [self.analyzer.terms(text) for text in texts]
        self._document_frequency: Counter[str] = Counter()
        for terms in corpus:
            self._document_frequency.update(set(terms))
        self._bm25: bm25s.BM25 | None = None
        if self._document_frequency:
            self._bm25 = bm25s.BM25(method="lucene", k1=k1, b=b)
            self._bm25.index(corpus, show_progress=False)

    def idf(self, term: str) -> float:
        frequency = self._document_frequency.get(term, 0)
        return math.log(1.0 + (self.size - frequency + 0.5) / (frequency + 0.5))

    def score(self, query: str) -> LexicalScores:
        """Scores of all documents; repeated query terms count once."""
        terms = tuple(dict.fromkeys(self.analyzer.terms(query)))
        max_possible = sum(self.idf(term) for term in terms)
        known = [t for t in terms if t in self._document_frequency]
        if self._bm25 is None or not known:
            return LexicalScores(np.zeros(self.size, dtype=np.float32), terms, max_possible)
        scores = np.asarray(self._bm25.get_scores(known), dtype=np.float32)
        return LexicalScores(scores, terms, max_possible)
