"""Structure-aware, token-bounded chunking with citation offsets.

A chunk never crosses a heading or a page: consecutive blocks under the same heading path (and
page) are packed together, list and table rows one by one, an FAQ pair always on its own. Blocks
over the bound are cut at sentence ends, then, for run-on text, at token boundaries. Overlap is
made of whole trailing pieces of the previous chunk, so a chunk always starts on a piece edge.

Guarantees (property-tested): terminates on any input; every non-whitespace character of the
document's ``full_text`` lies in at least one chunk; ``chunk.text == full_text[start:end]``; and
``count_tokens(chunk.text) <= max_tokens``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from aiaas.ingestion.parsers.model import ParsedDocument, Section, SectionKind
from aiaas.ingestion.tokens import token_spans

DEFAULT_MAX_TOKENS = 180
DEFAULT_OVERLAP_TOKENS = 30
_SENTENCE_END = frozenset(".!?")


@dataclass(frozen=True, slots=True)
class Chunk:
    """A retrievable passage with what a citation needs: offsets into the document's
    ``full_text``, the heading path above it and its page."""

    index: int
    text: str
    start: int
    end: int
    heading_path: tuple[str, ...]
    page: int | None
    kinds: tuple[SectionKind, ...]
    token_count: int


@dataclass(frozen=True, slots=True)
class _Piece:
    start: int
    end: int
    tokens: int


def _rows(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Line spans of ``text[start:end]`` (list items, table rows)."""
    line_start = start
    while line_start < end:
        newline = text.find("\n", line_start, end)
        line_end = end if newline == -1 else newline
        yield line_start, line_end
        line_start = line_end + 1


def _pieces(
    text: str, start: int, end: int, kind: SectionKind, max_tokens: int, cut_size: int
) -> list[_Piece]:
    """Pieces of one section, each within ``max_tokens``: the whole section when it fits, else its
    rows (lists, tables) or sentences, and run-on stretches cut every ``cut_size`` tokens."""
    spans = token_spans(text, start, end)
    if not spans:
        return []
    if len(spans) <= max_tokens:
        return [_Piece(spans[0][0], spans[-1][1], len(spans))]
    groups: list[list[tuple[int, int]]] = []
    if kind in ("list", "table"):
        position = 0
        for _, row_end in _rows(text, start, end):
            group = []
            while position < len(spans) and spans[position][1] <= row_end:
                group.append(spans[position])
                position += 1
            if group:
                groups.append(group)
    else:
        group = []
        for index, span in enumerate(spans):
            group.append(span)
            at_sentence_end = text[span[0] : span[1]] in _SENTENCE_END
            followed_by_space = index + 1 == len(spans) or spans[index + 1][0] > span[1]
            if at_sentence_end and followed_by_space:
                groups.append(group)
                group = []
        if group:
            groups.append(group)
    pieces = []
    for group in groups:
        size = len(group) if len(group) <= max_tokens else cut_size
        for offset in range(0, len(group), size):
            part = group[offset : offset + size]
            pieces.append(_Piece(part[0][0], part[-1][1], len(part)))
    return pieces


def _blocks(document: ParsedDocument) -> Iterator[tuple[Section, list[tuple[Section, int, int]]]]:
    """Runs of sections that may share a chunk: same heading path and page; FAQ pairs alone."""
    run: list[tuple[Section, int, int]] = []
    for section, (start, end) in zip(document.sections, document.section_spans, strict=True):
        if run:
            head = run[0][0]
            same_place = (head.heading_path, head.page) == (section.heading_path, section.page)
            if not same_place or section.kind == "faq" or head.kind == "faq":
                yield head, run
                run = []
        run.append((section, start, end))
    if run:
        yield run[0][0], run


def _pack(pieces: list[_Piece], max_tokens: int, overlap_tokens: int) -> Iterator[tuple[int, int]]:
    """Greedy packing of pieces into [first, last) ranges, carrying trailing pieces as overlap."""
    first = 0
    while first < len(pieces):
        total = 0
        last = first
        while last < len(pieces) and total + pieces[last].tokens <= max_tokens:
            total += pieces[last].tokens
            last += 1
        yield first, last
        if last == len(pieces):
            return
        # Carry trailing pieces, but leave room for the next piece so the next chunk advances.
        budget = min(overlap_tokens, max_tokens - pieces[last].tokens)
        carried = 0
        next_first = last
        while next_first - 1 > first and carried + pieces[next_first - 1].tokens <= budget:
            next_first -= 1
            carried += pieces[next_first].tokens
        first = next_first


def chunk_document(
    document: ParsedDocument,
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
) -> list[Chunk]:
    """Chunks of a parsed document, in reading order, each at most ``max_tokens`` estimated tokens.

    ``overlap_tokens`` (< ``max_tokens``) bounds how much of the end of a chunk is repeated at the
    start of the next one within the same block; blocks under different headings never overlap.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    if not 0 <= overlap_tokens < max_tokens:
        raise ValueError("overlap_tokens must be at least 0 and smaller than max_tokens")
    # Cut run-on text into pieces no bigger than the overlap, so overlap can carry whole pieces.
    cut_size = overlap_tokens if overlap_tokens > 0 else max_tokens
    text = document.full_text
    chunks: list[Chunk] = []
    for head, run in _blocks(document):
        pieces: list[_Piece] = []
        kinds: list[list[SectionKind]] = []
        for section, start, end in run:
            section_pieces = _pieces(text, start, end, section.kind, max_tokens, cut_size)
            pieces.extend(section_pieces)
            kinds.extend([[section.kind]] * len(section_pieces))
        for first, last in _pack(pieces, max_tokens, overlap_tokens):
            start, end = pieces[first].start, pieces[last - 1].end
            chunk_kinds = tuple(dict.fromkeys(k for group in kinds[first:last] for k in group))
            chunks.append(
                Chunk(
                    index=len(chunks),
                    text=text[start:end],
                    start=start,
                    end=end,
                    heading_path=head.heading_path,
                    page=head.page,
                    kinds=chunk_kinds,
                    token_count=sum(p.tokens for p in pieces[first:last]),
                )
            )
    return chunks
