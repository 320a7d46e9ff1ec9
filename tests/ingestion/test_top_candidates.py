"""The partial selection of the best candidates equals a full stable sort, ties included."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from aiaas.ingestion.retrieval.retriever import _top


def _full_sort(scores: np.ndarray, mask: np.ndarray, limit: int, positive_only: bool) -> list[int]:
    allowed = mask & (scores > 0) if positive_only else mask
    indices = np.flatnonzero(allowed)
    order = np.argsort(-scores[indices], kind="stable")[:limit]
    return [int(i) for i in indices[order]]


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.integers(min_value=-3, max_value=3), min_size=0, max_size=400),
    limit=st.integers(min_value=1, max_value=20),
    positive_only=st.booleans(),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_partial_selection_matches_full_sort(
    values: list[int], limit: int, positive_only: bool, seed: int
) -> None:
    scores = np.asarray(values, dtype=np.float32)
    mask = np.random.default_rng(seed).random(len(values)) > 0.2
    assert _top(scores, mask, limit, positive_only=positive_only) == _full_sort(
        scores, mask, limit, positive_only
    )
