"""The per-tenant intent classifier: trained on a tenant's labelled examples, stored as a versioned
artifact, used by the router to pick a workflow and to send unknown requests to a fallback.

Two methods, the best available one chosen at training time and named in the model's metadata:

- ``sparse``: TF-IDF over word 1-3 grams and in-word character 2-5 grams, a linear SVM, a
  temperature fitted on held-out examples. Needs numpy, scipy and scikit-learn only.
- ``hybrid``: the sparse scorer plus a small network over sentence embeddings from a local encoder
  (the ``router-embeddings`` extra), their calibrated distributions combined. A message the sparse
  scorer alone is sure of (``skip_encoder_confidence``) keeps its answer without the encoder, which
  is most of the time the hybrid spends on a message.

Training holds out part of the examples to fit the temperatures and the out-of-scope threshold and
to measure the model, then (by default) fits again on every example. It is CPU-bound and blocking:
call :func:`train_in_background` from async code. Accuracy figures are in ``eval/README.md``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from aiaas.kit.clock import utcnow
from aiaas.kit.errors import ServiceUnavailable, ValidationFailed
from aiaas.kit.ids import new_id
from aiaas.router import intent_artifact
from aiaas.router.config import DEFAULT_SKIP_ENCODER_CONFIDENCE
from aiaas.router.intent_artifact import InvalidIntentArtifact
from aiaas.router.intent_calibration import (
    combine,
    combine_where_unsure,
    coverage_threshold,
    fit_temperature,
    metrics,
)
from aiaas.router.intent_dense import (
    DEFAULT_SPEC,
    DenseHead,
    DenseHeadOptions,
    EncoderSpec,
    OnnxSentenceEncoder,
    embeddings_available,
    encoder_available,
    shared_encoder,
    spec_for_key,
)
from aiaas.router.intent_sparse import LinearScorer, SparseFeatureOptions, TfidfFeatures

__all__ = [
    "IntentClassifier",
    "IntentEmbeddingsUnavailable",
    "IntentModel",
    "IntentModelInfo",
    "IntentPrediction",
    "IntentTrainingOptions",
    "InvalidIntentArtifact",
    "InvalidTrainingData",
    "Method",
    "Progress",
    "train_in_background",
]

METHOD_SPARSE = "sparse"
METHOD_HYBRID = "hybrid"
Method = Literal["auto", "sparse", "hybrid"]

# what an uncalibrated model uses: a linear SVM's scores span about [-1, 1], so this spreads them
# like a calibrated one would on typical data; the network's logits are already on a log scale
DEFAULT_SPARSE_TEMPERATURE = 0.1
DEFAULT_DENSE_TEMPERATURE = 1.0
MIN_HOLDOUT_EXAMPLES = 10

Progress = Callable[[float, str], None]
"""``progress(fraction, stage)``: ``fraction`` rises from 0 to 1; called from the training thread."""


class InvalidTrainingData(ValidationFailed, ValueError):
    """The examples cannot train a classifier (none, one label only, an empty text or label)."""

    code = "invalid_training_data"


class IntentEmbeddingsUnavailable(ServiceUnavailable):
    """A hybrid model was asked for where the optional sentence encoder is not installed."""

    code = "intent_embeddings_unavailable"


@dataclass(frozen=True, slots=True)
class IntentTrainingOptions:
    method: Method = "auto"
    holdout_fraction: float = 0.1
    refit: bool = True
    # on refit, train the embedding network again too (else the one fitted beside the holdout,
    # whose temperature then is exact, is kept: it saves about a third of the training time)
    refit_network: bool = False
    in_scope_coverage: float = 0.95
    min_threshold: float = 0.05
    max_threshold: float = 0.75
    default_threshold: float = 0.3
    svm_c: float = 0.5
    dense_weight: float = 0.6
    # hybrid only: where the calibrated sparse confidence reaches this, the sparse answer stands
    # and the encoder is not run (None: always combine)
    skip_encoder_confidence: float | None = DEFAULT_SKIP_ENCODER_CONFIDENCE
    sparse: SparseFeatureOptions = field(default_factory=SparseFeatureOptions)
    dense: DenseHeadOptions = field(default_factory=DenseHeadOptions)


@dataclass(frozen=True, slots=True)
class IntentPrediction:
    label: str
    confidence: float
    out_of_scope: bool
    scores: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class IntentModelInfo:
    """What a trained model says about itself (stored in its artifact)."""

    version: str
    method: str
    labels: tuple[str, ...]
    trained_at: str
    examples: int
    seed: int
    threshold: float
    temperatures: tuple[float, ...]
    weights: tuple[float, ...]
    train_seconds: float
    validation: dict[str, float] | None
    encoder: str | None
    options: dict[str, Any]
    skip_encoder: float | None = None
    """Hybrid models: the sparse confidence at which the encoder is skipped (None: never; models
    trained before encoder skips existed have none)."""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        data["temperatures"] = list(self.temperatures)
        data["weights"] = list(self.weights)
        return data


class IntentModel:
    """A trained classifier: predicts a label, a calibrated confidence and out-of-scope."""

    def __init__(
        self,
        info: IntentModelInfo,
        features: TfidfFeatures,
        sparse: LinearScorer,
        dense: DenseHead | None,
        encoder: OnnxSentenceEncoder | None,
    ) -> None:
        if (dense is None) != (encoder is None) or (dense is not None) != (
            info.method == METHOD_HYBRID
        ):
            raise ValueError("a hybrid model needs its dense head and the encoder, others neither")
        self.info = info
        self._features = features
        self._sparse = sparse
        self._dense = dense
        self._encoder = encoder
        self._labels = np.array(info.labels, dtype=object)

    @property
    def version(self) -> str:
        return self.info.version

    @property
    def method(self) -> str:
        return self.info.method

    @property
    def labels(self) -> tuple[str, ...]:
        return self.info.labels

    @property
    def threshold(self) -> float:
        return self.info.threshold

    def probabilities(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One row per text: the probability of each label, in the order of :attr:`labels`."""
        return self._probabilities(list(texts))[0]

    def _probabilities(
        self, texts: list[str]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """The probabilities, and the rows the encoder was run for."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32), np.zeros(0, dtype=np.int64)
        sparse = self._sparse.scores(self._features.blocks(texts))
        dense, encoder = self._dense, self._encoder
        if dense is None or encoder is None:
            probabilities = combine([sparse], self.info.temperatures, self.info.weights)
            return probabilities, np.zeros(0, dtype=np.int64)

        def embedded(rows: npt.NDArray[np.int64]) -> list[npt.NDArray[np.float32]]:
            return [dense.scores(encoder.encode([texts[i] for i in rows]))]

        return combine_where_unsure(
            sparse, embedded, self.info.temperatures, self.info.weights, self.info.skip_encoder
        )

    def encoded_share(self, texts: Sequence[str]) -> float:
        """The share of ``texts`` a prediction runs the sentence encoder for (0 for a sparse
        model; below 1 for a hybrid one where the sparse scorer alone is often sure)."""
        texts = list(texts)
        if self._encoder is None or not texts:
            return 0.0
        return len(self._probabilities(texts)[1]) / len(texts)

    def predict(
        self, text: str, *, top_k: int = 5, threshold: float | None = None
    ) -> IntentPrediction:
        return self.predict_batch([text], top_k=top_k, threshold=threshold)[0]

    def predict_batch(
        self, texts: Sequence[str], *, top_k: int = 5, threshold: float | None = None
    ) -> list[IntentPrediction]:
        """Predictions for many texts at once (far faster per text than one by one)."""
        cut = self.threshold if threshold is None else threshold
        k = max(1, min(top_k, len(self.labels)))
        probabilities = self.probabilities(texts)
        top = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
        predictions = []
        for row, order in zip(probabilities, top, strict=True):
            confidence = float(row[order[0]])
            predictions.append(
                IntentPrediction(
                    label=str(self._labels[order[0]]),
                    confidence=confidence,
                    out_of_scope=confidence < cut,
                    scores=tuple((str(self._labels[i]), float(row[i])) for i in order),
                )
            )
        return predictions

    def to_bytes(self) -> bytes:
        """The artifact: an ``.npz`` archive of arrays and JSON metadata (no pickle)."""
        arrays = {**self._features.to_arrays(), **self._sparse.to_arrays("sparse")}
        if self._dense is not None:
            arrays.update(self._dense.to_arrays())
        meta = {"info": self.info.as_dict(), "features": self._features.options_json()}
        return intent_artifact.pack(meta, arrays)

    @classmethod
    def from_bytes(cls, data: bytes) -> IntentModel:
        """Load an artifact made by :meth:`to_bytes`. Raises :class:`InvalidIntentArtifact` for
        anything else (a hybrid model whose network was trained on another encoder's embeddings
        included), and :class:`IntentEmbeddingsUnavailable` for a hybrid model where the encoder
        is not installed."""
        meta, arrays = intent_artifact.unpack(data)
        try:
            raw = meta["info"]
            info = IntentModelInfo(
                **{
                    **raw,
                    "labels": tuple(str(label) for label in raw["labels"]),
                    "temperatures": tuple(float(t) for t in raw["temperatures"]),
                    "weights": tuple(float(w) for w in raw["weights"]),
                }
            )
            features = TfidfFeatures.from_arrays(arrays, meta["features"])
            sparse = LinearScorer.from_arrays(arrays, "sparse")
            if sparse.coef.shape != (features.dimension, len(info.labels)):
                raise ValueError("sparse coefficients do not match the vocabulary and labels")
            if info.method not in (METHOD_SPARSE, METHOD_HYBRID):
                raise ValueError(f"unknown method {info.method!r}")
            spec = None
            if info.method == METHOD_HYBRID:
                # the encoder the network was trained on, which need not be today's default
                spec = spec_for_key(_encoder_key(info.encoder))
                if spec is None:
                    raise InvalidIntentArtifact(
                        f"this hybrid intent model was trained on embeddings from"
                        f" {info.encoder!r}, which this platform cannot compute: train it again"
                    )
            dense = (
                DenseHead.from_arrays(arrays, len(info.labels), spec.dimension)
                if spec is not None
                else None
            )
        except InvalidIntentArtifact:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidIntentArtifact(f"the intent model artifact is damaged: {exc}") from exc
        encoder = _encoder(spec, training=False) if spec is not None else None
        return cls(info, features, sparse, dense, encoder)


class IntentClassifier:
    """Trains :class:`IntentModel` s."""

    @staticmethod
    def available_methods() -> tuple[str, ...]:
        """The methods this installation can train and serve, best first."""
        if embeddings_available():
            return (METHOD_HYBRID, METHOD_SPARSE)
        return (METHOD_SPARSE,)

    @classmethod
    def train(
        cls,
        examples: Sequence[tuple[str, str]],
        *,
        progress: Progress | None = None,
        seed: int = 0,
        options: IntentTrainingOptions | None = None,
    ) -> IntentModel:
        """Train on ``(text, label)`` pairs. Blocking and CPU-bound: run it in a thread."""
        return _Training(options or IntentTrainingOptions(), seed, progress).run(examples)


async def train_in_background(
    examples: Sequence[tuple[str, str]],
    *,
    progress: Progress | None = None,
    seed: int = 0,
    options: IntentTrainingOptions | None = None,
) -> IntentModel:
    """Train in a worker thread; ``progress`` is called on the event loop's thread."""
    loop = asyncio.get_running_loop()
    relay: Progress | None = None
    if progress is not None:
        report = progress

        def relay(fraction: float, stage: str) -> None:
            loop.call_soon_threadsafe(report, fraction, stage)

    examples = list(examples)
    model = await asyncio.to_thread(
        IntentClassifier.train, examples, progress=relay, seed=seed, options=options
    )
    await asyncio.sleep(0)  # let the last progress call run before returning
    return model


def _encoder(spec: EncoderSpec = DEFAULT_SPEC, *, training: bool = True) -> OnnxSentenceEncoder:
    """The shared encoder for ``spec``; training the network also needs torch, predicting
    does not."""
    if not (embeddings_available() if training else encoder_available()):
        raise IntentEmbeddingsUnavailable(
            "this intent model uses sentence embeddings; install the router-embeddings extra"
        )
    return shared_encoder(spec)


def _encoder_key(name: str | None) -> str:
    """The encoder identity at the start of a model's ``encoder`` metadata (its name, then the
    package versions in parentheses)."""
    return (name or "").partition(" (")[0]


def _clean(examples: Sequence[tuple[str, str]]) -> tuple[list[str], list[str]]:
    if not examples:
        raise InvalidTrainingData("no training examples")
    texts, labels = [], []
    for index, example in enumerate(examples):
        if not isinstance(example, tuple | list) or len(example) != 2:
            raise InvalidTrainingData(f"example {index} is not a (text, label) pair")
        text, label = example
        if not isinstance(text, str) or not text.strip():
            raise InvalidTrainingData(f"example {index} has an empty text")
        if not isinstance(label, str) or not label.strip():
            raise InvalidTrainingData(f"example {index} has an empty label")
        texts.append(text.strip())
        labels.append(label.strip())
    distinct = set(labels)
    if len(distinct) < 2:
        raise InvalidTrainingData(
            f"training needs at least two labels; all examples are labelled {labels[0]!r}"
        )
    return texts, labels


def _holdout(targets: npt.NDArray[np.int64], fraction: float, seed: int) -> npt.NDArray[np.int64]:
    """Indices held out for calibration: about ``fraction`` of each label, never leaving a label
    fewer than two training examples; none when that makes too few to calibrate on."""
    rng = np.random.default_rng(seed)
    held: list[int] = []
    for label in np.unique(targets):
        members = np.flatnonzero(targets == label)
        take = min(round(len(members) * fraction), len(members) - 2)
        if take > 0:
            held.extend(rng.choice(members, size=take, replace=False).tolist())
    if len(held) < MIN_HOLDOUT_EXAMPLES:
        return np.zeros(0, dtype=np.int64)
    return np.array(sorted(held), dtype=np.int64)


class _Training:
    def __init__(self, options: IntentTrainingOptions, seed: int, progress: Progress | None):
        self.options = options
        self.seed = seed
        self.progress = progress

    def report(self, fraction: float, stage: str) -> None:
        if self.progress is not None:
            self.progress(min(1.0, max(0.0, fraction)), stage)

    def run(self, examples: Sequence[tuple[str, str]]) -> IntentModel:
        started = time.perf_counter()
        self.report(0.0, "checking examples")
        texts, label_names = _clean(examples)
        labels = tuple(sorted(set(label_names)))
        index = {label: i for i, label in enumerate(labels)}
        targets = np.array([index[label] for label in label_names], dtype=np.int64)
        method = self._method()
        skip_encoder = self._skip_encoder(method)
        encoder = _encoder() if method == METHOD_HYBRID else None

        embeddings = None
        if encoder is not None:
            self.report(0.02, "embedding examples")
            embeddings = encoder.encode(texts, lambda f: self.report(0.02 + 0.3 * f, "embedding"))
        base = 0.32 if encoder is not None else 0.02

        held = _holdout(targets, self.options.holdout_fraction, self.seed)
        refit = self.options.refit or len(held) == 0
        span = (1.0 - base) / (2 if len(held) and refit else 1)
        weights = (
            (1.0,)
            if encoder is None
            else (
                1.0 - self.options.dense_weight,
                self.options.dense_weight,
            )
        )
        temperatures: tuple[float, ...] = (DEFAULT_SPARSE_TEMPERATURE, DEFAULT_DENSE_TEMPERATURE)
        temperatures = temperatures[: len(weights)]
        threshold = self.options.default_threshold
        validation = None
        members = None
        if len(held):
            kept = np.setdiff1d(np.arange(len(texts)), held)
            members = self._fit(texts, targets, embeddings, kept, len(labels), base, span)
            scores = self._scores(members, [texts[i] for i in held], embeddings, held)
            temperatures = tuple(fit_temperature(s, targets[held]) for s in scores)
            probabilities, combined = combine_where_unsure(
                scores[0],
                lambda rows: [member[rows] for member in scores[1:]],
                temperatures,
                weights,
                skip_encoder,
            )
            threshold = coverage_threshold(
                probabilities,
                targets[held],
                self.options.in_scope_coverage,
                self.options.min_threshold,
                self.options.max_threshold,
            )
            validation = metrics(probabilities, targets[held], threshold)
            if encoder is not None:
                validation["encoded_share"] = len(combined) / len(held)
            base += span
        if refit or members is None:
            everything = np.arange(len(texts))
            keep = None if members is None or self.options.refit_network else members[2]
            members = self._fit(
                texts, targets, embeddings, everything, len(labels), base, span, keep
            )
        features, sparse, dense = members
        info = IntentModelInfo(
            version=str(new_id()),
            method=method,
            labels=labels,
            trained_at=utcnow().isoformat(),
            examples=len(texts),
            seed=self.seed,
            threshold=threshold,
            temperatures=temperatures,
            weights=weights,
            train_seconds=round(time.perf_counter() - started, 3),
            validation=validation,
            encoder=encoder.name if encoder is not None else None,
            options=_options_json(self.options, method),
            skip_encoder=skip_encoder,
        )
        self.report(1.0, "done")
        return IntentModel(info, features, sparse, dense, encoder)

    def _method(self) -> str:
        wanted = self.options.method
        if wanted == "auto":
            return IntentClassifier.available_methods()[0]
        if wanted not in (METHOD_SPARSE, METHOD_HYBRID):
            raise InvalidTrainingData(f"unknown intent classifier method {wanted!r}")
        return wanted

    def _skip_encoder(self, method: str) -> float | None:
        confidence = self.options.skip_encoder_confidence
        if confidence is not None and not 0.0 < confidence <= 1.0:
            raise InvalidTrainingData(
                f"skip_encoder_confidence must be above 0 and at most 1, got {confidence}"
            )
        return confidence if method == METHOD_HYBRID else None

    def _fit(
        self,
        texts: list[str],
        targets: npt.NDArray[np.int64],
        embeddings: npt.NDArray[np.float32] | None,
        rows: npt.NDArray[np.int64],
        n_labels: int,
        base: float,
        span: float,
        dense: DenseHead | None = None,
    ) -> tuple[TfidfFeatures, LinearScorer, DenseHead | None]:
        self.report(base, "fitting text features")
        features, matrix = TfidfFeatures.fit([texts[i] for i in rows], self.options.sparse)
        self.report(base + 0.1 * span, "fitting the linear model")
        sparse = LinearScorer.fit_svm(
            matrix, targets[rows], n_labels, c=self.options.svm_c, seed=self.seed
        )
        if embeddings is not None and dense is None:
            self.report(base + 0.4 * span, "fitting the embedding network")
            dense = DenseHead.fit(
                embeddings[rows],
                targets[rows],
                n_labels,
                options=self.options.dense,
                seed=self.seed,
                progress=lambda f: self.report(base + (0.4 + 0.6 * f) * span, "fitting network"),
            )
        return features, sparse, dense

    @staticmethod
    def _scores(
        members: tuple[TfidfFeatures, LinearScorer, DenseHead | None],
        texts: list[str],
        embeddings: npt.NDArray[np.float32] | None,
        rows: npt.NDArray[np.int64],
    ) -> list[npt.NDArray[np.float32]]:
        features, sparse, dense = members
        scores = [sparse.scores(features.blocks(texts))]
        if dense is not None and embeddings is not None:
            scores.append(dense.scores(embeddings[rows]))
        return scores


def _options_json(options: IntentTrainingOptions, method: str) -> dict[str, Any]:
    data = asdict(options)
    data["method"] = method
    data["sparse"]["word_ngrams"] = list(options.sparse.word_ngrams)
    data["sparse"]["char_ngrams"] = list(options.sparse.char_ngrams)
    if method != METHOD_HYBRID:
        data.pop("dense")
        data.pop("dense_weight")
        data.pop("skip_encoder_confidence")
    return data
