"""A tiny deterministic embedder for tests: hashed bag of stemmed words, no model needed."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from aiaas.ingestion.retrieval import Analyzer


class HashingEmbedder:
    """Implements the ``Embedder`` protocol; similar wording gives similar vectors."""

    def __init__(self, dimension: int = 64) -> None:
        self.dimension = dimension
        self.analyzer = Analyzer()
        self.calls: list[int] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        matrix = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for term in self.analyzer.terms(text):
                bucket = int.from_bytes(hashlib.sha256(term.encode()).digest()[:4], "big")
                matrix[row, bucket % self.dimension] += 1.0
        return matrix
