"""Which parser a file needs, from its name, its declared content type and its first bytes."""

from __future__ import annotations

from pathlib import PurePath

from aiaas.ingestion.errors import UnsupportedDocumentType
from aiaas.ingestion.parsers.model import DocumentType

SNIFF_BYTES = 1024

_EXTENSIONS = {
    ".txt": DocumentType.TEXT,
    ".text": DocumentType.TEXT,
    ".md": DocumentType.MARKDOWN,
    ".markdown": DocumentType.MARKDOWN,
    ".mdown": DocumentType.MARKDOWN,
    ".html": DocumentType.HTML,
    ".htm": DocumentType.HTML,
    ".xhtml": DocumentType.HTML,
    ".pdf": DocumentType.PDF,
    ".docx": DocumentType.DOCX,
    ".csv": DocumentType.FAQ_CSV,
    ".json": DocumentType.FAQ_JSON,
}
_CONTENT_TYPES = {
    "text/plain": DocumentType.TEXT,
    "text/markdown": DocumentType.MARKDOWN,
    "text/x-markdown": DocumentType.MARKDOWN,
    "text/html": DocumentType.HTML,
    "application/xhtml+xml": DocumentType.HTML,
    "application/pdf": DocumentType.PDF,
    "application/x-pdf": DocumentType.PDF,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": DocumentType.DOCX,
    "text/csv": DocumentType.FAQ_CSV,
    "application/csv": DocumentType.FAQ_CSV,
    "application/json": DocumentType.FAQ_JSON,
    "text/json": DocumentType.FAQ_JSON,
}
# Formats people upload by mistake, with advice on what to send instead.
_KNOWN_UNSUPPORTED = {
    b"\xd0\xcf\x11\xe0": "Legacy Word/Excel files (.doc, .xls) are not supported; save as .docx.",
    b"\x89PNG": "Images are not supported; upload the text as PDF, DOCX, Markdown or HTML.",
    b"\xff\xd8\xff": "Images are not supported; upload the text as PDF, DOCX, Markdown or HTML.",
    b"GIF8": "Images are not supported; upload the text as PDF, DOCX, Markdown or HTML.",
    b"{\\rtf": "RTF files are not supported; save as .docx or PDF.",
}
_ZIP_MAGIC = b"PK\x03\x04"
_PDF_MAGIC = b"%PDF-"
SUPPORTED_EXTENSIONS = tuple(sorted(_EXTENSIONS))


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the sniffed window is still text.
        return exc.start >= len(head) - 3
    return True


def detect_type(filename: str | None, content_type: str | None, head_bytes: bytes) -> DocumentType:
    """The document type: binary signatures first (they cannot lie), then the file extension,
    then the declared content type, then a look at the text. UnsupportedDocumentType otherwise."""
    head = head_bytes[:SNIFF_BYTES]
    if head.startswith(_PDF_MAGIC):
        return DocumentType.PDF
    for magic, advice in _KNOWN_UNSUPPORTED.items():
        if head.startswith(magic):
            raise UnsupportedDocumentType(advice)
    extension = PurePath(filename).suffix.lower() if filename else ""
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    by_name = _EXTENSIONS.get(extension) or _CONTENT_TYPES.get(declared)
    if head.startswith(_ZIP_MAGIC):
        if by_name is DocumentType.DOCX:
            return DocumentType.DOCX
        raise UnsupportedDocumentType(
            "Zip archives other than .docx are not supported; upload the documents one by one."
        )
    if by_name is not None and by_name not in (DocumentType.PDF, DocumentType.DOCX):
        return by_name
    if by_name is not None:
        # Declared PDF/DOCX without the signature: let the parser report the file as malformed.
        return by_name
    if not _looks_like_text(head):
        raise UnsupportedDocumentType(
            f"Unsupported file type{f' {extension}' if extension else ''}; "
            f"supported: {', '.join(SUPPORTED_EXTENSIONS)}."
        )
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if stripped.startswith((b"<!doctype html", b"<html", b"<?xml")) or b"<body" in stripped:
        return DocumentType.HTML
    if stripped.startswith((b"[", b"{")):
        return DocumentType.FAQ_JSON
    if stripped.startswith((b"---\n", b"# ")) or b"\n#" in stripped:
        return DocumentType.MARKDOWN
    return DocumentType.TEXT
