"""LinUCB over model tiers: one ridge regression per tier, an upper confidence bonus to explore.

Pure numpy, no I/O. The state serializes to JSON-ready data so it can live in the database and the
cache; the inverse matrices are rebuilt on load and kept current with Sherman-Morrison updates.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float64]
OUTCOME_SMOOTHING = 0.1
MAX_OUTCOME_KEYS = 512


@dataclass(frozen=True, slots=True)
class Choice:
    """The greedy and the optimistic arm for one context, with their estimates."""

    greedy: str
    optimistic: str
    means: dict[str, float]
    bonuses: dict[str, float]
    warm: bool
    """Whether the policy had enough feedback to trust its estimates."""


class LinUCB:
    """Disjoint LinUCB (Li et al., 2010) with ridge ``regularization`` and per-arm counts."""

    def __init__(self, arms: Sequence[str], dimensions: int, *, regularization: float = 1.0):
        if not arms:
            raise ValueError("a policy needs at least one arm")
        self.arms = list(arms)
        self.dimensions = dimensions
        self.regularization = regularization
        eye = np.eye(dimensions)
        self._a: dict[str, Vector] = {}
        self._a_inv: dict[str, Vector] = {}
        self._b: dict[str, Vector] = {}
        for arm in self.arms:
            self._a[arm] = eye * regularization
            self._a_inv[arm] = eye / regularization
            self._b[arm] = np.zeros(dimensions)
        self.counts = dict.fromkeys(self.arms, 0)
        self.outcomes: dict[str, float] = {}
        """Smoothed quality per similarity key (the 'recent outcomes' feature)."""

    @property
    def feedback(self) -> int:
        return sum(self.counts.values())

    def estimate(self, x: Vector, arms: Iterable[str]) -> tuple[dict[str, float], dict[str, float]]:
        """Mean reward and confidence width per arm for context ``x``."""
        means: dict[str, float] = {}
        bonuses: dict[str, float] = {}
        for arm in arms:
            a_inv = self._a_inv[arm]
            theta = a_inv @ self._b[arm]
            means[arm] = float(theta @ x)
            bonuses[arm] = math.sqrt(max(float(x @ a_inv @ x), 0.0))
        return means, bonuses

    def choose(
        self,
        x: Vector,
        *,
        alpha: float,
        allowed: Sequence[str] | None = None,
        safe_arm: str,
        warmup: int,
    ) -> Choice:
        """The greedy arm (the safe arm until ``warmup`` feedback) and the optimistic one."""
        arms = [a for a in (allowed or self.arms) if a in self._a] or [safe_arm]
        means, bonuses = self.estimate(x, arms)
        warm = self.feedback >= warmup
        if warm or safe_arm not in arms:
            greedy = max(arms, key=lambda a: (means[a], -self.arms.index(a)))
        else:
            greedy = safe_arm
        optimistic = max(arms, key=lambda a: (means[a] + alpha * bonuses[a], -self.arms.index(a)))
        return Choice(greedy, optimistic, means, bonuses, warm)

    def update(self, arm: str, x: Vector, reward: float) -> None:
        """Add one observed reward for ``arm`` in context ``x``."""
        if arm not in self._a:
            return
        a_inv = self._a_inv[arm]
        ax = a_inv @ x
        self._a_inv[arm] = a_inv - np.outer(ax, ax) / (1.0 + float(x @ ax))
        self._a[arm] = self._a[arm] + np.outer(x, x)
        self._b[arm] = self._b[arm] + reward * x
        self.counts[arm] += 1

    def revise(self, arm: str, x: Vector, change: float) -> None:
        """Change by ``change`` the reward of one observation of ``arm`` in context ``x`` already
        learnt, without counting a second observation.

        Each arm is a ridge regression with ``A = I + sum x x^T`` and ``b = sum r x``: the contexts
        alone make ``A``, so replacing one observation's reward ``r`` by ``r + change`` moves ``b``
        by ``change x`` and leaves ``A``, its inverse and the counts as they are. The result is
        exactly the policy that would have learnt the revised reward in the first place.
        """
        if arm not in self._b or not change or len(x) != self.dimensions:
            return
        self._b[arm] = self._b[arm] + change * x

    def revise_outcome(self, key: str, change: float) -> None:
        """Move the smoothed quality of ``key`` by a change of one outcome it already took in."""
        if key not in self.outcomes or not change:
            return
        # The smoothed quality took the outcome in with weight OUTCOME_SMOOTHING.
        moved = self.outcomes[key] + OUTCOME_SMOOTHING * change
        self.outcomes[key] = min(1.0, max(0.0, moved))

    def record_outcome(self, key: str, quality: float) -> None:
        previous = self.outcomes.pop(key, None)
        self.outcomes[key] = (
            quality if previous is None else previous + OUTCOME_SMOOTHING * (quality - previous)
        )
        while len(self.outcomes) > MAX_OUTCOME_KEYS:
            self.outcomes.pop(next(iter(self.outcomes)))

    # ---- persistence ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "dimensions": self.dimensions,
            "regularization": self.regularization,
            "arms": {
                arm: {
                    "a": self._a[arm].tolist(),
                    "b": self._b[arm].tolist(),
                    "count": self.counts[arm],
                }
                for arm in self.arms
            },
            "outcomes": dict(self.outcomes),
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any] | None, arms: Sequence[str], dimensions: int
    ) -> LinUCB:
        """Rebuild a policy for ``arms``; arms new to the catalog start fresh, gone ones drop."""
        regularization = float((data or {}).get("regularization", 1.0))
        policy = cls(arms, dimensions, regularization=regularization)
        if not data or data.get("dimensions") != dimensions:
            return policy
        stored = data.get("arms", {})
        for arm in arms:
            saved = stored.get(arm)
            if not saved:
                continue
            a = np.asarray(saved["a"], dtype=np.float64)
            policy._a[arm] = a
            policy._a_inv[arm] = np.asarray(np.linalg.inv(a), dtype=np.float64)
            policy._b[arm] = np.asarray(saved["b"], dtype=np.float64)
            policy.counts[arm] = int(saved["count"])
        policy.outcomes = {str(k): float(v) for k, v in data.get("outcomes", {}).items()}
        return policy
