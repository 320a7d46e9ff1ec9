"""Dense retrieval: cosine similarity over L2-normalised vectors behind an ``Embedder`` protocol."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from aiaas.ingestion.errors import EmbedderUnavailable


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors: ``embed(texts)`` returns floats of shape (len(texts), dim)."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); all-zero rows stay zero."""
    matrix = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


class DenseIndex:
    """Vectors of the indexed chunks; ``score`` gives the cosine similarity of each to a query.

    The unit vectors are one contiguous float32 matrix. Scores are row-by-row dot products
    (``np.vecdot``: one single-threaded SIMD loop) rather than one BLAS matrix-vector product: on
    a shared 2-core machine OpenBLAS's second thread mostly waits to be scheduled and then spins,
    which made a 10k-row product take 11 ms instead of 1 ms and doubled the CPU of a search.
    Every row's score is computed the same way however many rows are scored.
    """

    # Rows gathered per step when only some rows are scored: a few MB, so the copy stays in cache.
    GATHER_BLOCK = 2048

    def __init__(self, vectors: np.ndarray) -> None:
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2:
            raise ValueError("vectors must be a 2-D array (one row per chunk)")
        self.vectors = np.ascontiguousarray(l2_normalize(matrix) if len(matrix) else matrix)
        self.size, self.dimension = matrix.shape

    def _query(self, query_vector: np.ndarray) -> np.ndarray:
        query = l2_normalize(np.asarray(query_vector, dtype=np.float32).reshape(1, -1))[0]
        if query.shape[0] != self.dimension:
            raise ValueError(f"query has dimension {query.shape[0]}, index has {self.dimension}")
        return query

    def score(self, query_vector: np.ndarray) -> np.ndarray:
        query = self._query(query_vector)
        if self.size == 0:
            return np.zeros(0, dtype=np.float32)
        return np.vecdot(self.vectors, query)

    def score_rows(self, query_vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Cosine similarity of the given rows only (same values as ``score(...)[rows]``).

        A filtered search reads only the rows it may return instead of the whole matrix.
        """
        query = self._query(query_vector)
        rows = np.asarray(rows, dtype=np.intp)
        out = np.empty(len(rows), dtype=np.float32)
        block = np.empty((min(self.GATHER_BLOCK, len(rows)), self.dimension), dtype=np.float32)
        for start in range(0, len(rows), self.GATHER_BLOCK):
            chunk = rows[start : start + self.GATHER_BLOCK]
            gathered = block[: len(chunk)]
            np.take(self.vectors, chunk, axis=0, out=gathered)
            np.vecdot(gathered, query, out=out[start : start + len(chunk)])
        return out


class LocalSentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local directory, never from the network.

    Needs the optional ``sentence-transformers`` (and CPU ``torch``) packages; the model loads on
    first use. ``embed`` is CPU-bound: call it from a worker or a thread pool.
    """

    def __init__(
        self, model_path: str | Path, *, device: str = "cpu", batch_size: int = 32
    ) -> None:
        self.model_path = Path(model_path)
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is not None:
                return self._model
            if not (self.model_path / "config.json").is_file():
                raise EmbedderUnavailable(f"No sentence-transformers model in {self.model_path}.")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise EmbedderUnavailable(
                    "The local embedding model needs the sentence-transformers package."
                ) from exc
            self._model = SentenceTransformer(
                str(self.model_path), device=self.device, local_files_only=True
            )
            return self._model

    @property
    def dimension(self) -> int:
        model = self._load()
        # sentence-transformers 6 renamed the method; older releases only have the long name.
        getter = getattr(model, "get_embedding_dimension", None)
        return int(getter() if getter else model.get_sentence_embedding_dimension())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
