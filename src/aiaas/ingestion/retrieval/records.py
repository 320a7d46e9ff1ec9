"""What the ranking core indexes and returns: chunk records, filters, citations and hits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from aiaas.ingestion.chunker import Chunk


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    """One indexed chunk, with its document identity and filter fields, as the service stores it."""

    chunk_id: str
    document_id: str
    document_title: str
    text: str
    start: int
    end: int
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    version: int = 1
    collection: str | None = None
    tags: frozenset[str] = frozenset()

    @property
    def section(self) -> str:
        return " > ".join(self.heading_path)

    def index_text(self) -> str:
        """The text both indexes see: title and headings give a chunk its context.

        A heading the chunk already starts with (an FAQ question) is not repeated.
        """
        context = [self.document_title]
        context.extend(h for h in self.heading_path if h not in self.text)
        return "\n".join([*context, self.text])


@dataclass(frozen=True, slots=True)
class Citation:
    """Where an answer comes from: enough to link to and highlight the passage."""

    document_id: str
    title: str
    section: str
    heading_path: tuple[str, ...]
    page: int | None
    start: int
    end: int
    version: int
    chunk_id: str

    @classmethod
    def of(cls, record: ChunkRecord) -> Citation:
        return cls(
            document_id=record.document_id,
            title=record.document_title,
            section=record.section,
            heading_path=record.heading_path,
            page=record.page,
            start=record.start,
            end=record.end,
            version=record.version,
            chunk_id=record.chunk_id,
        )


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Restricts a search. ``None`` means no restriction on that field.

    Tags match when the chunk has any of them, or all of them with ``match_all_tags``.
    """

    collections: frozenset[str] | None = None
    tags: frozenset[str] | None = None
    match_all_tags: bool = False
    document_ids: frozenset[str] | None = None

    def accepts(self, record: ChunkRecord) -> bool:
        if self.collections is not None and record.collection not in self.collections:
            return False
        if self.document_ids is not None and record.document_id not in self.document_ids:
            return False
        if self.tags is not None:
            if self.match_all_tags:
                return self.tags <= record.tags
            return bool(self.tags & record.tags)
        return True

    def mask(self, records: Sequence[ChunkRecord]) -> np.ndarray:
        return np.fromiter((self.accepts(r) for r in records), dtype=bool, count=len(records))


@dataclass(frozen=True, slots=True)
class Hit:
    """A ranked chunk. ``score`` is the score of the mode searched (BM25, cosine or RRF)."""

    record: ChunkRecord
    rank: int
    score: float
    lexical_rank: int | None = None
    lexical_score: float | None = None
    dense_rank: int | None = None
    dense_score: float | None = None

    @property
    def citation(self) -> Citation:
        return Citation.of(self.record)


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Ranked hits, plus the calibrated confidence that the top hit answers the query."""

    query: str
    mode: str
    hits: list[Hit]
    confidence: float
    answerable: bool
    signals: dict[str, float] = field(default_factory=dict)


def records_from_chunks(
    chunks: Iterable[Chunk],
    *,
    document_id: str,
    title: str,
    version: int = 1,
    collection: str | None = None,
    tags: Iterable[str] = (),
    chunk_ids: Sequence[str] | None = None,
) -> list[ChunkRecord]:
    """Records for the chunks of one document; ``chunk_ids`` default to ``{document_id}:{i}``."""
    tag_set = frozenset(tags)
    records = []
    for position, chunk in enumerate(chunks):
        chunk_id = chunk_ids[position] if chunk_ids is not None else f"{document_id}:{chunk.index}"
        records.append(
            ChunkRecord(
                chunk_id=chunk_id,
                document_id=document_id,
                document_title=title,
                text=chunk.text,
                start=chunk.start,
                end=chunk.end,
                heading_path=chunk.heading_path,
                page=chunk.page,
                version=version,
                collection=collection,
                tags=tag_set,
            )
        )
    return records
