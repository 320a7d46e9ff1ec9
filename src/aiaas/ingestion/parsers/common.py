"""Helpers shared by the parsers: decoding, limits and the final normalisation pass."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePath
from typing import Any

from aiaas.ingestion.errors import DocumentTooLarge, EmptyDocument
from aiaas.ingestion.normalize import collapse_whitespace, normalize_text
from aiaas.ingestion.parsers.model import ParsedDocument, Section

DEFAULT_MAX_BYTES = 25 * 1024 * 1024
DEFAULT_MAX_CHARS = 5_000_000
_MAX_TITLE_CHARS = 200


def decode_text(data: bytes) -> str:
    """Bytes of a text format as str: UTF-8 (with or without BOM), UTF-16 with BOM, else cp1252.

    cp1252 is the usual encoding of text files that are not UTF-8; undecodable bytes become U+FFFD
    rather than failing the upload.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def title_from_filename(filename: str | None) -> str:
    """A readable title from a file name: ``return-policy_v2.md`` -> ``Return policy v2``."""
    if not filename:
        return "Untitled document"
    stem = PurePath(filename).stem.replace("_", " ").replace("-", " ").strip()
    stem = collapse_whitespace(stem)
    return (stem[:1].upper() + stem[1:]) if stem else "Untitled document"


def clean_title(title: str | None) -> str | None:
    """A title on one line, bounded in length; None when nothing is left."""
    if not title:
        return None
    cleaned = collapse_whitespace(normalize_text(title))
    return cleaned[:_MAX_TITLE_CHARS] or None


class CharBudget:
    """Stops a parser once extracted text passes ``max_chars`` (decompression bombs, huge PDFs)."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.used = 0

    def take(self, text: str) -> None:
        self.used += len(text)
        if self.used > self.max_chars:
            raise DocumentTooLarge(
                f"The document holds more than {self.max_chars:,} characters of text.",
                extra={"max_chars": self.max_chars},
            )


def finalize(
    title: str,
    sections: Iterable[Section],
    metadata: dict[str, Any],
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> ParsedDocument:
    """Normalise every section, drop empty ones, enforce the text budget.

    Raises EmptyDocument when no text is left."""
    budget = CharBudget(max_chars)
    kept: list[Section] = []
    for section in sections:
        text = normalize_text(section.text)
        if not text:
            continue
        budget.take(text)
        path = tuple(h for h in (clean_title(h) for h in section.heading_path) if h)
        kept.append(Section(heading_path=path, text=text, kind=section.kind, page=section.page))
    if not kept:
        raise EmptyDocument("The document contains no text that can be indexed.")
    return ParsedDocument(
        title=clean_title(title) or "Untitled document", sections=tuple(kept), metadata=metadata
    )


class HeadingTracker:
    """The current heading path while walking a document: a new heading of level n replaces
    every heading of level n or deeper."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []

    def enter(self, level: int, text: str) -> None:
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        heading = collapse_whitespace(text)
        if heading:
            self._stack.append((level, heading))

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(text for _, text in self._stack)
