"""Turning raw scores into confidences, and confidences into an out-of-scope threshold.

Each scorer's raw scores are divided by a temperature fitted on held-out examples (the one that
minimises their negative log-likelihood), so a confidence of 0.8 means about 80 % right. A hybrid
model multiplies its scorers' calibrated distributions (weighted geometric mean) and renormalises,
except where its first scorer alone is already sure enough (:func:`combine_where_unsure`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax
from sklearn.metrics import f1_score

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

MIN_TEMPERATURE = 1e-3
MAX_TEMPERATURE = 1e3


def fit_temperature(scores: FloatArray, targets: IntArray) -> float:
    """The temperature that makes ``softmax(scores / T)`` best calibrated on these examples.

    The targets are smoothed by one example's worth of doubt (``1 / n`` of the mass spread over
    the labels): a small held-out set that happens to be classified without error would otherwise
    drive the temperature to zero and every confidence to 1."""
    n = scores.shape[0]
    rows = np.arange(n)
    scores64 = scores.astype(np.float64)
    doubt = 1.0 / max(n, 1)

    def negative_log_likelihood(log_temperature: float) -> float:
        log_probs = log_softmax(scores64 / np.exp(log_temperature), axis=1)
        hit = log_probs[rows, targets].mean()
        spread = log_probs.mean()  # the mean over labels and examples of log p
        return float(-((1.0 - doubt) * hit + doubt * spread))

    result = minimize_scalar(
        negative_log_likelihood,
        bounds=(np.log(MIN_TEMPERATURE), np.log(MAX_TEMPERATURE)),
        method="bounded",
        options={"xatol": 1e-3},
    )
    return float(np.exp(result.x))


def combine(
    scores: Sequence[FloatArray], temperatures: Sequence[float], weights: Sequence[float]
) -> FloatArray:
    """Probabilities from one or more scorers: a weighted geometric mean of their calibrated
    distributions, renormalised."""
    total = np.zeros_like(scores[0], dtype=np.float64)
    for member, temperature, weight in zip(scores, temperatures, weights, strict=True):
        total += weight * _log_softmax(member.astype(np.float64) / temperature)
    return np.exp(_log_softmax(total)).astype(np.float32)


def combine_where_unsure(
    first: FloatArray,
    others: Callable[[IntArray], Sequence[FloatArray]],
    temperatures: Sequence[float],
    weights: Sequence[float],
    sure_confidence: float | None,
) -> tuple[FloatArray, IntArray]:
    """:func:`combine`, asking for the other scorers' scores only where the first is unsure.

    A row whose calibrated first-scorer confidence reaches ``sure_confidence`` keeps that
    scorer's distribution; the others are scored (``others(rows)``, one array per scorer, for
    those rows only) and combined for the rest. ``None`` combines every row. Returns the
    probabilities and the rows that were combined.
    """
    if sure_confidence is None:
        rows = np.arange(first.shape[0])
        return combine([first, *others(rows)], temperatures, weights), rows
    probabilities = combine([first], temperatures[:1], (1.0,))
    rows = np.flatnonzero(probabilities.max(axis=1) < sure_confidence)
    if len(rows):
        probabilities[rows] = combine([first[rows], *others(rows)], temperatures, weights)
    return probabilities, rows


def _log_softmax(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Row-wise log-softmax (as scipy's, without its per-call overhead: a prediction calls this
    for one row of a few dozen labels, where that overhead is most of the cost)."""
    shifted = values - values.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def coverage_threshold(
    probabilities: FloatArray, targets: IntArray, coverage: float, floor: float, ceiling: float
) -> float:
    """The confidence above which ``coverage`` of the held-out predictions that were right still
    are accepted. Out-of-scope messages resemble the wrong predictions (no label fits them well),
    so this rejects most of both while keeping the stated share of the right answers. Kept within
    ``[floor, ceiling]`` so a tiny or very easy held-out set cannot make it reject everything."""
    confidence = probabilities.max(axis=1)
    right = confidence[probabilities.argmax(axis=1) == targets]
    if len(right) == 0:
        return floor
    return float(min(ceiling, max(floor, np.quantile(right, 1.0 - coverage))))


def metrics(probabilities: FloatArray, targets: IntArray, threshold: float) -> dict[str, float]:
    """Accuracy and macro-F1 of the top label, and what the threshold does to in-scope messages."""
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    accepted = confidence >= threshold
    right = predicted == targets
    return {
        "examples": float(len(targets)),
        "accuracy": float(right.mean()),
        "macro_f1": float(f1_score(targets, predicted, average="macro", zero_division=0)),
        "accepted_share": float(accepted.mean()),
        "accuracy_when_accepted": float(right[accepted].mean()) if accepted.any() else 0.0,
    }
