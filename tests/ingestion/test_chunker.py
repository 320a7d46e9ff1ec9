from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiaas.ingestion.chunker import chunk_document
from aiaas.ingestion.parsers import ParsedDocument, Section, parse_document
from aiaas.ingestion.parsers.model import make_document
from aiaas.ingestion.tokens import count_tokens, token_spans

_words = st.sampled_from(
    [
        "tent",
        "pole",
        "refund",
        "ACM-100234",
        "60",
        "days.",
        "Why?",
        "a",
        "\u00e9t\u00e9",
        "!",
        "x" * 37,
        "9" * 20,
        "zip-zap",
        "\u4e2d\u6587\u5b57",
        "\n",
        "\n\n",
        "  ",
        "\t",
    ]
)
_text = st.one_of(
    st.lists(_words, max_size=120).map(" ".join),
    st.text(max_size=400),
    st.builds(lambda n: "w" * n, st.integers(0, 3000)),  # one huge word, no whitespace
)
_sections = st.lists(
    st.builds(
        Section,
        heading_path=st.sampled_from([(), ("A",), ("A", "B"), ("C",)]),
        text=_text,
        kind=st.sampled_from(["paragraph", "list", "faq", "table"]),
        page=st.sampled_from([None, 1, 2]),
    ),
    max_size=8,
)


@st.composite
def _bounds(draw: st.DrawFn) -> tuple[int, int]:
    max_tokens = draw(st.integers(1, 80))
    overlap = draw(st.integers(0, max_tokens - 1))
    return max_tokens, overlap


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sections=_sections, bounds=_bounds())
def test_chunks_cover_all_text_within_bounds_and_map_back(
    sections: list[Section], bounds: tuple[int, int]
) -> None:
    max_tokens, overlap = bounds
    document = make_document("Doc", sections)
    chunks = chunk_document(document, max_tokens=max_tokens, overlap_tokens=overlap)
    text = document.full_text
    covered = bytearray(len(text))
    for position, chunk in enumerate(chunks):
        assert chunk.index == position
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text
        assert not chunk.text[0].isspace()
        assert not chunk.text[-1].isspace()
        assert 1 <= count_tokens(chunk.text) == chunk.token_count <= max_tokens
        covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
    for index, char in enumerate(text):
        assert char.isspace() or covered[index], f"character {index} ({char!r}) not covered"


@settings(max_examples=150, deadline=None)
@given(sections=_sections, bounds=_bounds())
def test_chunks_stay_inside_one_heading_and_page(
    sections: list[Section], bounds: tuple[int, int]
) -> None:
    document = make_document("Doc", sections)
    for chunk in chunk_document(document, max_tokens=bounds[0], overlap_tokens=bounds[1]):
        owners = [
            section
            for section, (start, end) in zip(document.sections, document.section_spans, strict=True)
            if start < chunk.end and chunk.start < end
        ]
        assert owners
        assert {(s.heading_path, s.page) for s in owners} == {(chunk.heading_path, chunk.page)}
        if any(s.kind == "faq" for s in owners):
            assert len(owners) == 1


@given(st.text(max_size=300))
def test_token_pieces_are_stable_when_text_is_cut_at_a_piece_edge(text: str) -> None:
    spans = token_spans(text)
    for start, _ in spans[::7]:
        assert [(a - start, b - start) for a, b in spans if a >= start] == token_spans(text[start:])


def test_small_sections_under_one_heading_are_packed_together() -> None:
    doc = parse_document(
        b"## Returns\n\nFirst paragraph.\n\n- item one\n- item two\n\n## Refunds\n\nOther.\n",
        filename="a.md",
    )
    chunks = chunk_document(doc)
    assert [(c.heading_path, c.text) for c in chunks] == [
        (("Returns",), "First paragraph.\n\n- item one\n- item two"),
        (("Refunds",), "Other."),
    ]
    assert chunks[0].kinds == ("paragraph", "list")


def test_faq_pairs_are_never_merged_or_split_when_they_fit() -> None:
    doc = parse_document(b"question,answer\nOne?,Yes.\nTwo?,No.\n", filename="f.csv")
    chunks = chunk_document(doc, max_tokens=50, overlap_tokens=5)
    assert [c.text for c in chunks] == ["One?\nYes.", "Two?\nNo."]


def test_long_paragraph_is_split_at_sentences_with_overlap() -> None:
    sentences = [f"Sentence number {i} talks about tents." for i in range(30)]
    doc = make_document("T", [Section((), " ".join(sentences))])
    chunks = chunk_document(doc, max_tokens=40, overlap_tokens=10)
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.text.startswith("Sentence number")
        assert chunk.text.endswith("tents.")
    # Consecutive chunks share their boundary sentence.
    for previous, current in itertools.pairwise(chunks):
        assert current.start < previous.end


def test_huge_word_without_whitespace_terminates_and_is_bounded() -> None:
    doc = make_document("T", [Section((), "a" * 100_000)])
    chunks = chunk_document(doc, max_tokens=64, overlap_tokens=8)
    assert chunks[0].start == 0
    assert chunks[-1].end == 100_000
    assert all(c.token_count <= 64 for c in chunks)


@pytest.mark.parametrize(("max_tokens", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_invalid_bounds_are_rejected(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_document(
            make_document("T", [Section((), "x")]), max_tokens=max_tokens, overlap_tokens=overlap
        )


def test_empty_document_has_no_chunks() -> None:
    assert chunk_document(ParsedDocument("T", ())) == []
