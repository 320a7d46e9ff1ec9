"""Parsers: bytes of an uploaded file -> :class:`ParsedDocument` (title, sections, metadata).

CPU-bound and synchronous: call :func:`parse_document` from a worker or a thread pool
(``await anyio.to_thread.run_sync(...)``), never directly on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable

from aiaas.ingestion.errors import DocumentTooLarge, EmptyDocument
from aiaas.ingestion.parsers.common import DEFAULT_MAX_BYTES, DEFAULT_MAX_CHARS, clean_title
from aiaas.ingestion.parsers.detect import SUPPORTED_EXTENSIONS, detect_type
from aiaas.ingestion.parsers.docx_doc import parse_docx
from aiaas.ingestion.parsers.faq import parse_faq_csv, parse_faq_json
from aiaas.ingestion.parsers.html_doc import parse_html
from aiaas.ingestion.parsers.markdown import parse_markdown, split_front_matter
from aiaas.ingestion.parsers.model import DocumentType, ParsedDocument, Section, SectionKind
from aiaas.ingestion.parsers.pdf_doc import parse_pdf
from aiaas.ingestion.parsers.text import parse_text

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_CHARS",
    "SUPPORTED_EXTENSIONS",
    "DocumentType",
    "ParsedDocument",
    "Section",
    "SectionKind",
    "detect_type",
    "parse_document",
    "split_front_matter",
]

Parser = Callable[..., ParsedDocument]

PARSERS: dict[DocumentType, Parser] = {
    DocumentType.TEXT: parse_text,
    DocumentType.MARKDOWN: parse_markdown,
    DocumentType.HTML: parse_html,
    DocumentType.PDF: parse_pdf,
    DocumentType.DOCX: parse_docx,
    DocumentType.FAQ_CSV: parse_faq_csv,
    DocumentType.FAQ_JSON: parse_faq_json,
}


def parse_document(
    data: bytes,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    title: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> ParsedDocument:
    """Detect the type of an uploaded file and parse it.

    ``title`` overrides the title found in the file. Raises DocumentTooLarge (over ``max_bytes``
    bytes or ``max_chars`` characters of text), EmptyDocument, UnsupportedDocumentType,
    EncryptedPdf or MalformedDocument, all :class:`aiaas.kit.errors.AppError` subclasses.
    ``metadata["document_type"]`` records the detected type.
    """
    if len(data) > max_bytes:
        raise DocumentTooLarge(
            f"The file is {len(data):,} bytes; the limit is {max_bytes:,} bytes.",
            extra={"max_bytes": max_bytes},
        )
    if not data.strip():
        raise EmptyDocument("The file is empty.")
    document_type = detect_type(filename, content_type, data[:1024])
    parsed = PARSERS[document_type](data, filename=filename, max_chars=max_chars)
    parsed.metadata["document_type"] = document_type.value
    override = clean_title(title)
    if override:
        return ParsedDocument(title=override, sections=parsed.sections, metadata=parsed.metadata)
    return parsed
