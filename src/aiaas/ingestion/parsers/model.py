"""The common shape every parser produces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, Literal

SectionKind = Literal["paragraph", "list", "faq", "table"]
SECTION_SEPARATOR = "\n\n"


class DocumentType(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    HTML = "html"
    PDF = "pdf"
    DOCX = "docx"
    FAQ_CSV = "faq_csv"
    FAQ_JSON = "faq_json"


@dataclass(frozen=True, slots=True)
class Section:
    """One block of a document: a paragraph, a list, a table or a question/answer pair.

    ``heading_path`` holds the headings above the block, outermost first; ``page`` is 1-based and
    set only for paged formats (PDF).
    """

    heading_path: tuple[str, ...]
    text: str
    kind: SectionKind = "paragraph"
    page: int | None = None


@dataclass(frozen=True)
class ParsedDocument:
    """A parsed document: its title, its sections in reading order, and format metadata.

    ``full_text`` is the sections joined by a blank line; citations and chunk offsets point into it.
    """

    title: str
    sections: tuple[Section, ...]
    metadata: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def full_text(self) -> str:
        return SECTION_SEPARATOR.join(section.text for section in self.sections)

    @cached_property
    def section_spans(self) -> tuple[tuple[int, int], ...]:
        """(start, end) of each section's text inside ``full_text``."""
        spans = []
        offset = 0
        for section in self.sections:
            spans.append((offset, offset + len(section.text)))
            offset += len(section.text) + len(SECTION_SEPARATOR)
        return tuple(spans)


def make_document(
    title: str, sections: Sequence[Section], metadata: dict[str, Any] | None = None
) -> ParsedDocument:
    """A document from already normalised sections."""
    return ParsedDocument(title=title, sections=tuple(sections), metadata=dict(metadata or {}))
