"""The reference for :mod:`aiaas.router.intent_encoder`: the same packaged all-MiniLM-L6-v2 run
by sentence-transformers on torch in float32, as the intent classifier used it before. Only tests
and benchmarks use it, to check the ONNX encoder's embeddings and to time the two side by side;
it needs torch and sentence-transformers (the ``embeddings-local`` extra).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from typing import Any

import numpy as np

from aiaas.router.intent_encoder import ENCODER_PACKAGE, FloatArray, model_directory


def reference_available() -> bool:
    """Whether torch, sentence-transformers and the model package are installed."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("torch", "sentence_transformers", ENCODER_PACKAGE)
    )


class ReferenceSentenceEncoder:
    """sentence-transformers' ``encode``: mean pooling, unit length, float32 on the CPU."""

    def __init__(self, max_tokens: int | None = None) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        self._torch: Any = torch
        self._model = SentenceTransformer(
            str(model_directory()), device="cpu", local_files_only=True
        )
        if max_tokens is not None:
            self._model.max_seq_length = max_tokens
        self._model.eval()

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """Unit-length mean-pooled embeddings, one row per text."""
        with self._torch.inference_mode():
            vectors = self._model.encode(
                list(texts),
                batch_size=64,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)
