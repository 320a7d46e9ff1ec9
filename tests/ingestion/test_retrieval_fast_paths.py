"""The search's shortcuts give exactly what the plain computations give.

BM25 from the postings of the query terms equals bm25s scoring the whole corpus; filters from the
precomputed row sets equal ``SearchFilter.accepts`` record by record; cosine of a subset of rows
equals the full product at those rows; a filtered search equals a search over only the
accepted records.
"""

from __future__ import annotations

import bm25s
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiaas.ingestion.retrieval import (
    Analyzer,
    ChunkRecord,
    DenseIndex,
    LexicalIndex,
    Retriever,
    SearchFilter,
    reciprocal_rank_fusion,
)

WORDS = ["tent", "pole", "refund", "card", "stove", "fuel", "boot", "sole", "order", "ship"]
COLLECTIONS = [None, "returns", "gear", "payments"]
TAGS = ["repair", "refunds", "winter", "sale"]


def _records(rng: np.random.Generator, count: int) -> list[ChunkRecord]:
    records = []
    for row in range(count):
        document = f"doc{row // 3}"
        text = " ".join(rng.choice(WORDS, size=int(rng.integers(1, 12))))
        tags = frozenset(str(t) for t in rng.choice(TAGS, size=int(rng.integers(0, 3))))
        records.append(
            ChunkRecord(
                chunk_id=f"{document}:{row % 3}",
                document_id=document,
                document_title=f"Title {row // 3}",
                text=text,
                start=0,
                end=len(text),
                collection=COLLECTIONS[(row // 3) % len(COLLECTIONS)],
                tags=tags,
            )
        )
    return records


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=10_000),
    query=st.lists(st.sampled_from([*WORDS, "unknown", "the"]), min_size=0, max_size=6),
)
def test_bm25_from_postings_equals_bm25s_over_the_whole_corpus(seed: int, query: list[str]) -> None:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 15)))) for _ in range(40)]
    index = LexicalIndex(texts)
    analyzer = Analyzer()
    reference = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    reference.index([analyzer.terms(t) for t in texts], show_progress=False)
    text = " ".join(query)
    known = [t for t in dict.fromkeys(analyzer.terms(text)) if t in index._term_ids]
    expected = (
        np.asarray(reference.get_scores(known), dtype=np.float32)
        if known
        else np.zeros(len(texts), dtype=np.float32)
    )
    assert np.array_equal(index.score(text).scores, expected)


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=10_000),
    collections=st.none() | st.frozensets(st.sampled_from(["returns", "gear", "missing"])),
    tags=st.none() | st.frozensets(st.sampled_from([*TAGS, "missing"])),
    match_all=st.booleans(),
    documents=st.none() | st.frozensets(st.sampled_from(["doc0", "doc3", "doc7", "nope"])),
)
def test_filter_masks_from_row_sets_equal_accepts(
    seed: int,
    collections: frozenset[str] | None,
    tags: frozenset[str] | None,
    match_all: bool,
    documents: frozenset[str] | None,
) -> None:
    records = _records(np.random.default_rng(seed), 30)
    retriever = Retriever(records)
    search_filter = SearchFilter(
        collections=collections, tags=tags, match_all_tags=match_all, document_ids=documents
    )
    assert retriever.filter_mask(search_filter).tolist() == [
        search_filter.accepts(r) for r in records
    ]


def test_scoring_a_subset_of_rows_equals_the_full_product() -> None:
    rng = np.random.default_rng(3)
    index = DenseIndex(rng.standard_normal((5000, 48)).astype(np.float32))
    query = rng.standard_normal(48).astype(np.float32)
    rows = np.sort(rng.choice(5000, size=2500, replace=False))
    assert np.array_equal(index.score_rows(query, rows), index.score(query)[rows])
    np.testing.assert_allclose(
        index.score(query), index.vectors @ (query / np.linalg.norm(query)), atol=1e-6
    )
    assert index.score_rows(query, rows[:0]).shape == (0,)


@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
@pytest.mark.parametrize(
    "search_filter",
    [
        SearchFilter(collections=frozenset({"gear"})),
        SearchFilter(tags=frozenset({"repair", "sale"})),
        SearchFilter(collections=frozenset({"returns", "gear", "payments"})),
    ],
)
def test_a_filtered_search_equals_a_search_over_the_accepted_records(
    mode: str, search_filter: SearchFilter
) -> None:
    rng = np.random.default_rng(11)
    records = _records(rng, 600)
    vectors = rng.standard_normal((len(records), 32)).astype(np.float32)
    accepted = [i for i, r in enumerate(records) if search_filter.accepts(r)]
    assert 0 < len(accepted) < len(records)
    full = Retriever(records, vectors=vectors)
    index_of = {r.chunk_id: i for i, r in enumerate(records)}
    query_vector = rng.standard_normal(32).astype(np.float32)
    for query in ["tent pole", "refund card order", "fuel stove boot"]:
        filtered = full.search(
            query,
            k=10,
            mode=mode,  # type: ignore[arg-type]
            filter=search_filter,
            query_vector=query_vector,
        )

        def accepted_ranking(single: str, query: str = query) -> list[int]:
            plain = full.search(query, k=len(records), mode=single, query_vector=query_vector)  # type: ignore[arg-type]
            return [
                index_of[h.record.chunk_id] for h in plain.hits if search_filter.accepts(h.record)
            ]

        if mode == "hybrid":
            fused = reciprocal_rank_fusion(
                [
                    accepted_ranking("lexical")[: full.candidates],
                    accepted_ranking("dense")[: full.candidates],
                ]
            )
            expected = [records[i].chunk_id for i, _ in fused]
        else:
            expected = [records[i].chunk_id for i in accepted_ranking(mode)]
        assert [h.record.chunk_id for h in filtered.hits] == expected[:10]
