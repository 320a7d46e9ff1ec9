from __future__ import annotations

import numpy as np
import pytest

from aiaas.ingestion.chunker import chunk_document
from aiaas.ingestion.parsers import parse_document
from aiaas.ingestion.retrieval import (
    ChunkRecord,
    ConfidenceModel,
    Retriever,
    SearchFilter,
    records_from_chunks,
)

from .embedder import HashingEmbedder

ARTICLES = {
    "tent-poles": (
        "troubleshooting",
        ("tents", "repair"),
        "Fixing tent poles",
        "## On the trail\n\nSlide the aluminium repair sleeve over the broken pole "
        "and tape it.\n\n## At home\n\nOrder a replacement pole section for $12.",
    ),
    "refunds": (
        "returns",
        ("refunds",),
        "Refund timing",
        "Refunds reach your credit card within 5 to 10 business days after we check "
        "the returned items. PayPal refunds take 3 to 5 business days.",
    ),
    "gift-cards": (
        "payments",
        ("gift cards",),
        "Gift cards",
        "Gift cards never expire. Check the balance online with the 16-digit code.",
    ),
    "stoves": (
        "troubleshooting",
        ("stoves", "repair"),
        "Stove won't light",
        "Shake the fuel canister, open the valve a quarter turn and press the igniter.",
    ),
}


def _records() -> list[ChunkRecord]:
    records: list[ChunkRecord] = []
    for document_id, (collection, tags, title, body) in ARTICLES.items():
        parsed = parse_document(body.encode(), filename=f"{document_id}.md", title=title)
        records += records_from_chunks(
            chunk_document(parsed, max_tokens=20, overlap_tokens=4),
            document_id=document_id,
            title=parsed.title,
            version=3,
            collection=collection,
            tags=tags,
        )
    return records


@pytest.fixture(scope="module")
def retriever() -> Retriever:
    return Retriever(_records(), embedder=HashingEmbedder())


@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
def test_each_mode_finds_the_right_article(retriever: Retriever, mode: str) -> None:
    result = retriever.search("my tent pole broke, how do I fix it", mode=mode)  # type: ignore[arg-type]
    assert result.hits[0].record.document_id == "tent-poles"
    assert [h.rank for h in result.hits] == list(range(1, len(result.hits) + 1))
    assert 0.0 <= result.confidence <= 1.0


def test_hits_carry_citations_pointing_at_the_source_text(retriever: Retriever) -> None:
    hit = retriever.search("replacement pole section price", mode="lexical").hits[0]
    citation = hit.citation
    parsed = parse_document(ARTICLES["tent-poles"][3].encode(), filename="tent-poles.md")
    assert citation.document_id == "tent-poles"
    assert citation.title == "Fixing tent poles"
    assert citation.section == "At home"
    assert citation.heading_path == ("At home",)
    assert citation.version == 3
    assert citation.page is None
    assert parsed.full_text[citation.start : citation.end] == hit.record.text
    assert "$12" in hit.record.text
    assert citation.chunk_id == hit.record.chunk_id


def test_hybrid_hits_report_both_component_ranks(retriever: Retriever) -> None:
    hit = retriever.search("refunds credit card business days", mode="hybrid").hits[0]
    assert hit.record.document_id == "refunds"
    assert hit.lexical_rank == 1
    assert hit.dense_rank is not None
    assert hit.score == pytest.approx(1 / (60 + hit.lexical_rank) + 1 / (60 + hit.dense_rank))


def test_collection_and_tag_filters(retriever: Retriever) -> None:
    query = "repair"
    only_payments = retriever.search(
        query, filter=SearchFilter(collections=frozenset({"payments"}))
    )
    assert {h.record.document_id for h in only_payments.hits} <= {"gift-cards"}
    by_tag = retriever.search(
        "igniter fuel pole", mode="lexical", filter=SearchFilter(tags=frozenset({"stoves"}))
    )
    assert {h.record.document_id for h in by_tag.hits} == {"stoves"}
    all_tags = SearchFilter(tags=frozenset({"repair", "tents"}), match_all_tags=True)
    assert {
        h.record.document_id for h in retriever.search("igniter pole", filter=all_tags).hits
    } == {"tent-poles"}
    nothing = retriever.search("pole", filter=SearchFilter(collections=frozenset({"nope"})))
    assert nothing.hits == []
    assert nothing.confidence == 0.0
    assert not nothing.answerable


def test_max_per_document_and_k(retriever: Retriever) -> None:
    result = retriever.search(
        "pole sleeve replacement section", mode="lexical", k=10, max_per_document=1
    )
    ids = [h.record.document_id for h in result.hits]
    assert len(ids) == len(set(ids))
    assert len(retriever.search("tent", mode="dense", k=2).hits) == 2


def test_query_vector_skips_the_embedder() -> None:
    embedder = HashingEmbedder()
    records = _records()
    vectors = embedder.embed([r.index_text() for r in records])
    retriever = Retriever(records, vectors=vectors)
    query_vector = embedder.embed(["gift card balance"])[0]
    result = retriever.search("gift card balance", mode="dense", query_vector=query_vector)
    assert result.hits[0].record.document_id == "gift-cards"
    with pytest.raises(ValueError, match="query_vector or an embedder"):
        retriever.search("gift card balance", mode="hybrid")


def test_dense_modes_need_vectors() -> None:
    retriever = Retriever(_records())
    assert retriever.modes == ("lexical",)
    with pytest.raises(ValueError):
        retriever.search("tent", mode="dense")
    with pytest.raises(ValueError):
        Retriever(_records(), vectors=np.zeros((1, 4)))


def test_confidence_threshold_separates_answerable_from_unrelated_questions() -> None:
    retriever = Retriever(_records())
    answerable = retriever.search("how long do paypal refunds take", mode="lexical")
    unrelated = retriever.search("what is the capital of mongolia", mode="lexical")
    assert answerable.answerable
    assert not unrelated.answerable
    assert answerable.confidence > unrelated.confidence
    assert answerable.signals["lexical_coverage"] > unrelated.signals["lexical_coverage"]
    strict = Retriever(
        _records(), confidence={"lexical": ConfidenceModel({}, bias=0.0, threshold=0.9)}
    )
    result = strict.search("how long do paypal refunds take", mode="lexical")
    assert result.confidence == pytest.approx(0.5)
    assert not result.answerable


def test_empty_corpus_answers_nothing() -> None:
    result = Retriever([]).search("anything", mode="lexical")
    assert result.hits == []
    assert not result.answerable


def test_index_text_adds_title_and_headings_once() -> None:
    record = ChunkRecord(
        "c1",
        "d1",
        "Gear FAQ",
        "Is it waterproof?\nYes.",
        0,
        10,
        heading_path=("Is it waterproof?",),
    )
    assert record.index_text() == "Gear FAQ\nIs it waterproof?\nYes."
