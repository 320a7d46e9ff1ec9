from __future__ import annotations

import math

import numpy as np
import pytest

from aiaas.ingestion.retrieval import (
    Analyzer,
    ConfidenceModel,
    DenseIndex,
    Embedder,
    LexicalIndex,
    fit_confidence_model,
    l2_normalize,
    reciprocal_rank_fusion,
)

from .embedder import HashingEmbedder


def test_analyzer_folds_stems_and_drops_stopwords() -> None:
    analyzer = Analyzer()
    assert analyzer.terms("How do I RETURN my Boots?") == ["return", "boot"]
    assert analyzer.terms("Café refunds, returning, returned") == [
        "cafe",
        "refund",
        "return",
        "return",
    ]
    assert analyzer.terms("order ACM-100234") == ["order", "acm", "100234"]
    assert analyzer.terms("the and of") == []


def test_bm25_ranks_the_matching_document_first_and_rare_terms_weigh_more() -> None:
    index = LexicalIndex(
        [
            "Tent poles: use the repair sleeve when a pole breaks.",
            "Refunds reach your card in 5 to 10 business days.",
            "Our tent range: tents for two, three and six people.",
        ]
    )
    scores = index.score("my tent pole snapped").scores
    assert int(np.argmax(scores)) == 0
    assert scores[1] == 0.0
    assert index.idf("pole") > index.idf("tent")


def test_bm25_coverage_bound_holds() -> None:
    index = LexicalIndex(["refund refund refund refund card", "card"])
    result = index.score("refund card unknownword")
    assert result.terms == ("refund", "card", "unknownword")
    assert 0 < float(result.scores.max()) <= result.max_possible
    assert math.isclose(result.max_possible, sum(index.idf(t) for t in result.terms))


@pytest.mark.parametrize("query", ["", "the and of", "zzzz qqqq"])
def test_bm25_queries_without_known_terms_score_zero(query: str) -> None:
    index = LexicalIndex(["tent", "stove"])
    assert index.score(query).scores.tolist() == [0.0, 0.0]


def test_bm25_on_an_empty_or_stopword_only_corpus() -> None:
    assert LexicalIndex([]).score("tent").scores.shape == (0,)
    assert LexicalIndex(["the", "and"]).score("tent").scores.tolist() == [0.0, 0.0]


def test_dense_cosine_on_normalized_vectors() -> None:
    index = DenseIndex(np.array([[3.0, 0.0], [1.0, 1.0], [0.0, 0.0]]))
    scores = index.score(np.array([2.0, 0.0]))
    assert scores[0] == pytest.approx(1.0)
    assert scores[1] == pytest.approx(math.sqrt(0.5))
    assert scores[2] == 0.0
    with pytest.raises(ValueError):
        index.score(np.array([1.0, 0.0, 0.0]))


def test_l2_normalize_leaves_zero_rows_alone() -> None:
    out = l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert out.tolist() == [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]


def test_hashing_embedder_implements_the_protocol() -> None:
    embedder = HashingEmbedder()
    assert isinstance(embedder, Embedder)
    vectors = l2_normalize(
        embedder.embed(["tent pole repair", "repairing tent poles", "gift card"])
    )
    assert vectors[0] @ vectors[1] == pytest.approx(1.0)
    assert vectors[0] @ vectors[2] < 0.5


def test_rrf_scores_and_order() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1]], k=60)
    assert [item for item, _ in fused] == [1, 3, 2]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[1][1] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2][1] == pytest.approx(1 / 62)


def test_rrf_ties_break_on_best_rank_then_id_and_weights_apply() -> None:
    assert [i for i, _ in reciprocal_rank_fusion([[5, 9], [9, 5]])] == [5, 9]
    assert [i for i, _ in reciprocal_rank_fusion([[1], [2]], weights=[1.0, 2.0])] == [2, 1]
    assert reciprocal_rank_fusion([[4, 4, 4]]) == [(4, pytest.approx(1 / 61))]
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[1]], weights=[1.0, 1.0])


def test_confidence_model_is_a_logistic_of_the_signals() -> None:
    model = ConfidenceModel(weights={"a": 2.0, "b": -1.0}, bias=-1.0, threshold=0.5)
    assert model.confidence({"a": 0.5, "b": 0.0}) == pytest.approx(0.5)
    assert model.confidence({"a": 1.0}) == pytest.approx(1 / (1 + math.exp(-1.0)))
    assert model.confidence({"a": -1000.0}) < 1e-12  # no overflow on extreme signals
    assert model.confidence({"a": 1000.0}) == pytest.approx(1.0)


def test_fit_confidence_model_separates_the_classes() -> None:
    rng = np.random.default_rng(7)
    answerable = [True] * 60 + [False] * 20
    signals = [
        {"coverage": float(rng.uniform(0.5, 1.0) if y else rng.uniform(0.0, 0.45))}
        for y in answerable
    ]
    model = fit_confidence_model(signals, answerable, ["coverage"])
    assert model.weights["coverage"] > 0
    predictions = [model.confidence(s) >= model.threshold for s in signals]
    assert predictions == answerable
    with pytest.raises(ValueError):
        fit_confidence_model(signals[:10], answerable[:10], ["coverage"])
