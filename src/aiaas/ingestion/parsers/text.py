"""Plain text: paragraphs are separated by blank lines."""

from __future__ import annotations

import re

from aiaas.ingestion.parsers.common import (
    DEFAULT_MAX_CHARS,
    decode_text,
    finalize,
    title_from_filename,
)
from aiaas.ingestion.parsers.model import ParsedDocument, Section

_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def parse_text(
    data: bytes, *, filename: str | None = None, max_chars: int = DEFAULT_MAX_CHARS
) -> ParsedDocument:
    """Paragraphs of a plain text file; the title is the file name."""
    text = decode_text(data).replace("\r\n", "\n").replace("\r", "\n")
    sections = [Section(heading_path=(), text=block) for block in _BLANK_LINE.split(text)]
    return finalize(
        title_from_filename(filename), sections, {"format": "text"}, max_chars=max_chars
    )
