"""BM25 (Lucene variant) over chunk texts, plus the statistics the confidence needs.

bm25s builds the index (it precomputes every term's BM25 weight in every chunk that contains it);
queries are scored here from those postings, touching only the postings of the query's terms.
"""

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
    """An immutable BM25 index; build a new one when the corpus changes.

    The postings are kept in compressed-column form: the chunks containing term ``t`` are
    ``documents[offsets[t]:offsets[t + 1]]`` (each once, ascending) with their precomputed weights
    at the same positions of ``weights``.
    """

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
        self._term_ids: dict[str, int] = {}
        self._offsets = np.zeros(1, dtype=np.int64)
        self._documents = np.zeros(0, dtype=np.int32)
        self._weights = np.zeros(0, dtype=np.float32)
        if self._document_frequency:
            bm25 = bm25s.BM25(method="lucene", k1=k1, b=b)
            bm25.index(corpus, show_progress=False)
            self._offsets = np.asarray(bm25.scores["indptr"], dtype=np.int64)
            self._documents = np.asarray(bm25.scores["indices"])
            self._weights = np.asarray(bm25.scores["data"], dtype=np.float32)
            # bm25s adds an empty-string token with no postings; only real terms are kept.
            self._term_ids = {
                term: int(term_id)
                for term, term_id in bm25.vocab_dict.items()
                if term in self._document_frequency
            }

    def idf(self, term: str) -> float:
        frequency = self._document_frequency.get(term, 0)
        return math.log(1.0 + (self.size - frequency + 0.5) / (frequency + 0.5))

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(chunk indices, BM25 weights) of one analysed term; empty when it is unknown."""
        term_id = self._term_ids.get(term)
        if term_id is None:
            return self._documents[:0], self._weights[:0]
        start, end = self._offsets[term_id], self._offsets[term_id + 1]
        return self._documents[start:end], self._weights[start:end]

    def score(self, query: str) -> LexicalScores:
        """Scores of all documents; repeated query terms count once."""
        terms = tuple(dict.fromkeys(self.analyzer.terms(query)))
        max_possible = sum(self.idf(term) for term in terms)
        scores = np.zeros(self.size, dtype=np.float32)
        for term in terms:
            documents, weights = self.postings(term)
            # A term lists each chunk once, so a fancy-indexed add is exact (no np.add.at needed);
            # terms are added in query order, in float32, as a full BM25 pass would.
            scores[documents] += weights
        return LexicalScores(scores, terms, max_possible)
