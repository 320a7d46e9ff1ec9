"""The "no answer" decision: a calibrated confidence that the top hit answers the query.

Signals, all in [0, 1], are computed from the score lists of one search (see ``Retriever``):

- ``lexical_coverage``: top BM25 score / the most the query's terms could score (sum of their
  IDFs). Length-independent: a query whose informative words are absent from the knowledge base
  scores low however long it is.
- ``lexical_margin``: (top - best score of another document) / top: how clearly one document wins.
- ``dense_top``: cosine similarity of the top dense hit.
- ``dense_margin``: top cosine - best cosine of another document.

The confidence is a logistic function of a weighted sum of the signals of the mode searched. The
weights and the threshold are fitted on labelled questions with :func:`fit_confidence_model`
(L2-regularised logistic regression by Newton's method; threshold = best F1 of the "no answer"
class). The defaults below were fitted on the tuning half of ``eval/retrieval/questions.jsonl``
with ``python -m eval.retrieval.run --calibrate``; the dense and hybrid ones are specific to
all-MiniLM-L6-v2 cosines and must be refitted for another embedding model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

LEXICAL_FEATURES = ("lexical_coverage", "lexical_margin")
DENSE_FEATURES = ("dense_top", "dense_margin")
HYBRID_FEATURES = LEXICAL_FEATURES + DENSE_FEATURES


def _sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    exp = math.exp(value)
    return exp / (1.0 + exp)


@dataclass(frozen=True)
class ConfidenceModel:
    """``confidence = sigmoid(bias + sum(weight_f * signal_f))``; answerable when >= threshold.

    A signal missing from a search counts as 0.
    """

    weights: Mapping[str, float]
    bias: float
    threshold: float = 0.5
    features: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(self.weights))

    def confidence(self, signals: Mapping[str, float]) -> float:
        total = self.bias + sum(w * float(signals.get(f, 0.0)) for f, w in self.weights.items())
        return _sigmoid(total)


def _best_no_answer_threshold(confidences: np.ndarray, answerable: np.ndarray) -> float:
    """The threshold with the best F1 for predicting "no answer" (confidence < threshold)."""
    candidates = np.unique(confidences)
    cuts = np.concatenate(([0.0], (candidates[:-1] + candidates[1:]) / 2, [1.0]))
    best_cut, best_f1 = 0.5, -1.0
    for cut in cuts:
        predicted = confidences < cut
        true_positive = float(np.sum(predicted & ~answerable))
        if true_positive == 0:
            f1 = 0.0
        else:
            precision = true_positive / float(np.sum(predicted))
            recall = true_positive / float(np.sum(~answerable))
            f1 = 2 * precision * recall / (precision + recall)
        # Ties keep the lower threshold: refuse as few answerable questions as possible.
        if f1 > best_f1 + 1e-12:
            best_cut, best_f1 = float(cut), f1
    return best_cut


def fit_confidence_model(
    signals: Sequence[Mapping[str, float]],
    answerable: Sequence[bool],
    features: Sequence[str],
    *,
    l2: float = 0.1,
    iterations: int = 100,
) -> ConfidenceModel:
    """Fit weights, bias and threshold on labelled searches (``answerable[i]`` for ``signals[i]``).

    Needs both classes. The L2 penalty (not applied to the bias) keeps the weights finite when a
    small calibration set is separable.
    """
    labels = np.asarray(answerable, dtype=bool)
    if labels.all() or not labels.any():
        raise ValueError("calibration needs answerable and unanswerable questions")
    x = np.array([[float(s.get(f, 0.0)) for f in features] for s in signals], dtype=np.float64)
    x = np.hstack([np.ones((len(x), 1)), x])
    y = labels.astype(np.float64)
    penalty = np.full(x.shape[1], l2)
    penalty[0] = 0.0
    beta = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        gradient = x.T @ (p - y) + penalty * beta
        hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty) + 1e-9 * np.eye(len(beta))
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    model = ConfidenceModel(
        weights=dict(zip(features, map(float, beta[1:]), strict=True)), bias=float(beta[0])
    )
    confidences = np.array([model.confidence(s) for s in signals])
    return ConfidenceModel(
        weights=model.weights,
        bias=model.bias,
        threshold=_best_no_answer_threshold(confidences, labels),
    )


# Fitted by `python -m eval.retrieval.run --calibrate` (tune split, 118 answerable + 11 null).
DEFAULT_CONFIDENCE: dict[str, ConfidenceModel] = {
    "lexical": ConfidenceModel(
        weights={"lexical_coverage": 5.5000, "lexical_margin": 0.9034},
        bias=0.5622,
        threshold=0.8758,
    ),
    "dense": ConfidenceModel(
        weights={"dense_top": 7.6346, "dense_margin": 1.9729},
        bias=-1.8171,
        threshold=0.7190,
    ),
    "hybrid": ConfidenceModel(
        weights={
            "lexical_coverage": 4.1537,
            "lexical_margin": 0.7333,
            "dense_top": 6.8887,
            "dense_margin": 1.1675,
        },
        bias=-2.6402,
        threshold=0.8045,
    ),
}
