"""PDF with pypdf: text per page, page numbers kept, bookmarks (outline) used as headings."""

from __future__ import annotations

import io
import re
from typing import Any

from pypdf import PageObject, PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError, PyPdfError

from aiaas.ingestion.errors import EncryptedPdf, MalformedDocument
from aiaas.ingestion.parsers.common import (
    DEFAULT_MAX_CHARS,
    CharBudget,
    clean_title,
    finalize,
    title_from_filename,
)
from aiaas.ingestion.parsers.model import ParsedDocument, Section

_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_HYPHENATED_BREAK = re.compile(r"(\w)-\n(\w)")
_MAX_FIRST_LINE_TITLE = 120


def _open(data: bytes) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(data))
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise MalformedDocument(f"The PDF could not be read: {exc}") from exc
    if reader.is_encrypted:
        # A PDF with only an owner password opens with the empty user password, as in any viewer.
        try:
            opened = reader.decrypt("")
        except (DependencyError, NotImplementedError) as exc:
            raise EncryptedPdf(
                "The PDF is encrypted with a method that cannot be opened here; "
                "remove the protection and upload it again."
            ) from exc
        if not opened:
            raise EncryptedPdf(
                "The PDF is protected by a password; remove the password and upload it again."
            )
    return reader


def _page_text(page: PageObject) -> str:
    """Text of a page. Layout mode keeps the vertical gaps between paragraphs as blank lines;
    plain mode is the fallback for pages whose fonts the layout mode cannot measure."""
    try:
        return page.extract_text(extraction_mode="layout") or ""
    except (PyPdfError, ValueError, KeyError, TypeError, ZeroDivisionError, AttributeError):
        return page.extract_text() or ""


def _outline_headings(reader: PdfReader) -> dict[int, tuple[str, ...]]:
    """First page (0-based) of each bookmark -> its heading path. Broken outlines are ignored."""
    starts: dict[int, tuple[str, ...]] = {}

    def visit(items: list[Any], parents: tuple[str, ...]) -> None:
        last: tuple[str, ...] = parents
        for item in items:
            if isinstance(item, list):
                visit(item, last)
                continue
            title = clean_title(str(getattr(item, "title", "") or ""))
            if not title:
                continue
            last = (*parents, title)
            page = reader.get_destination_page_number(item)
            if page is not None and page >= 0:
                starts.setdefault(page, last)

    try:
        visit(list(reader.outline), ())
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    return starts


def parse_pdf(
    data: bytes, *, filename: str | None = None, max_chars: int = DEFAULT_MAX_CHARS
) -> ParsedDocument:
    """Paragraphs of each page with their 1-based page number.

    Raises EncryptedPdf when a password is needed to open the file."""
    reader = _open(data)
    outline = _outline_headings(reader)
    budget = CharBudget(max_chars)
    sections: list[Section] = []
    heading: tuple[str, ...] = ()
    first_line: str | None = None
    try:
        pages = list(reader.pages)
        for index, page in enumerate(pages):
            heading = outline.get(index, heading)
            text = _page_text(page)
            budget.take(text)
            text = _HYPHENATED_BREAK.sub(r"\1\2", text.replace("\r\n", "\n").replace("\r", "\n"))
            for block in _BLANK_LINE.split(text):
                if not block.strip():
                    continue
                if first_line is None:
                    first_line = block.strip().split("\n", 1)[0]
                sections.append(Section(heading_path=heading, text=block, page=index + 1))
    except FileNotDecryptedError as exc:
        raise EncryptedPdf("The PDF is protected by a password.") from exc
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise MalformedDocument(f"The PDF could not be read: {exc}") from exc
    meta_title = None
    try:
        meta_title = clean_title(reader.metadata.title) if reader.metadata else None
    except (PyPdfError, ValueError, KeyError, TypeError):
        meta_title = None
    line_title = first_line if first_line and len(first_line) <= _MAX_FIRST_LINE_TITLE else None
    title = meta_title or clean_title(line_title) or title_from_filename(filename)
    metadata = {"format": "pdf", "page_count": len(reader.pages)}
    return finalize(title, sections, metadata, max_chars=max_chars)
