"""Dense features for the intent classifier: sentence embeddings from a small local encoder
(all-MiniLM-L6-v2 through ONNX Runtime with int8 weights, :mod:`aiaas.router.intent_encoder`)
and a one-hidden-layer network trained on them.

Optional: it needs the ``router-embeddings`` extra (onnxruntime, onnx, tokenizers, the model
package, and torch to train the network). Without it the classifier uses its sparse features
alone. Scoring with the network is plain numpy and the encoder runs without torch, so a trained
model predicts without torch.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import erf

from aiaas.router.intent_encoder import (
    DEFAULT_SPEC,
    EMBEDDING_DIMENSION,
    EncoderSpec,
    OnnxSentenceEncoder,
    encoder_available,
    shared_encoder,
    spec_for_key,
)

FloatArray = npt.NDArray[np.float32]

__all__ = [
    "DEFAULT_SPEC",
    "EMBEDDING_DIMENSION",
    "DenseHead",
    "DenseHeadOptions",
    "EncoderSpec",
    "OnnxSentenceEncoder",
    "embeddings_available",
    "encoder_available",
    "shared_encoder",
    "spec_for_key",
]


def embeddings_available() -> bool:
    """Whether hybrid models can be trained and served here: the encoder's packages and torch
    (which trains the network) are installed."""
    return encoder_available() and importlib.util.find_spec("torch") is not None


@dataclass(frozen=True, slots=True)
class DenseHeadOptions:
    hidden: int = 1024
    dropout: float = 0.5
    input_dropout: float = 0.1
    epochs: int = 30
    min_steps: int = 300
    batch_size: int = 256
    learning_rate: float = 3e-3
    weight_decay: float = 0.01
    label_smoothing: float = 0.1


# each pooled layer's part of an embedding has unit length; this puts its coordinates near unit
# variance for the network
_INPUT_SCALE = float(np.sqrt(EMBEDDING_DIMENSION))
_HALF, _ONE, _INVERSE_SQRT2 = np.float32(0.5), np.float32(1.0), np.float32(1.0 / np.sqrt(2.0))


class DenseHead:
    """``logits = W2 gelu(W1 (s x) + b1) + b2`` over the embedding ``x``; numpy at prediction."""

    def __init__(self, w1: FloatArray, b1: FloatArray, w2: FloatArray, b2: FloatArray) -> None:
        self.w1, self.b1, self.w2, self.b2 = w1, b1, w2, b2

    @classmethod
    def fit(
        cls,
        embeddings: FloatArray,
        targets: npt.NDArray[np.int64],
        n_labels: int,
        *,
        options: DenseHeadOptions,
        seed: int,
        progress: Callable[[float], None] | None = None,
    ) -> DenseHead:
        import torch
        from torch import nn
        from torch.nn import functional

        n = len(targets)
        batch = max(1, min(options.batch_size, n))
        steps_per_epoch = -(-n // batch)
        epochs = max(options.epochs, -(-options.min_steps // steps_per_epoch))
        total = epochs * steps_per_epoch
        # a private RNG stream: the same seed gives the same network, whatever else runs
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            generator = torch.Generator().manual_seed(seed)
            net = nn.Sequential(
                nn.Dropout(options.input_dropout),
                nn.Linear(embeddings.shape[1], options.hidden),
                nn.GELU(),
                nn.Dropout(options.dropout),
                nn.Linear(options.hidden, n_labels),
            )
            inputs = torch.from_numpy(np.ascontiguousarray(embeddings * _INPUT_SCALE))
            labels = torch.from_numpy(np.asarray(targets, dtype=np.int64))
            optimizer = torch.optim.AdamW(
                net.parameters(), lr=options.learning_rate, weight_decay=options.weight_decay
            )
            schedule = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=options.learning_rate, total_steps=total
            )
            net.train()
            for epoch in range(epochs):
                order = torch.randperm(n, generator=generator)
                for start in range(0, n, batch):
                    rows = order[start : start + batch]
                    loss = functional.cross_entropy(
                        net(inputs[rows]), labels[rows], label_smoothing=options.label_smoothing
                    )
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    schedule.step()
                if progress is not None:
                    progress((epoch + 1) / epochs)
        first: Any = net[1]
        last: Any = net[4]
        return cls(
            _storable(first.weight.detach().numpy().T),
            _storable(first.bias.detach().numpy()),
            _storable(last.weight.detach().numpy().T),
            _storable(last.bias.detach().numpy()),
        )

    def scores(self, embeddings: FloatArray) -> FloatArray:
        hidden = (embeddings * _INPUT_SCALE) @ self.w1 + self.b1
        # exact GELU, as torch's, kept in float32: a float64 operand here would turn the product
        # below into a float64 one that converts the whole second matrix on every call
        hidden = hidden * (_HALF * (_ONE + erf(hidden * _INVERSE_SQRT2)))
        return np.asarray(hidden @ self.w2 + self.b2, dtype=np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "dense_w1": self.w1.astype(np.float16),
            "dense_b1": self.b1,
            "dense_w2": self.w2.astype(np.float16),
            "dense_b2": self.b2,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], n_labels: int, dimension: int) -> DenseHead:
        """The head stored by :meth:`to_arrays`, for embeddings of ``dimension`` values."""
        w1, b1, w2, b2 = (
            np.asarray(arrays[f"dense_{name}"], dtype=np.float32)
            for name in ("w1", "b1", "w2", "b2")
        )
        hidden = w1.shape[1] if w1.ndim == 2 else -1
        if (
            w1.shape != (dimension, hidden)
            or b1.shape != (hidden,)
            or w2.shape != (hidden, n_labels)
            or b2.shape != (n_labels,)
        ):
            raise ValueError("dense head weights have inconsistent shapes")
        return cls(w1, b1, w2, b2)


def _storable(values: np.ndarray) -> FloatArray:
    """Half precision, as stored, so a round trip through the artifact changes nothing."""
    return np.asarray(values, dtype=np.float16).astype(np.float32)
