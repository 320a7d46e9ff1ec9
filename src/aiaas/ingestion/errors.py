"""Errors raised while turning an uploaded file into text, each with a stable code."""

from __future__ import annotations

from aiaas.kit.errors import AppError


class ParseError(AppError):
    """A document could not be turned into text. Subclasses name the reason."""

    status, code, title = 422, "parse_error", "Document could not be parsed"


class EmptyDocument(ParseError):
    status, code, title = 422, "empty_document", "Document has no text"


class UnsupportedDocumentType(ParseError):
    status, code, title = 415, "unsupported_document_type", "Unsupported document type"


class DocumentTooLarge(ParseError):
    status, code, title = 413, "document_too_large", "Document too large"


class EncryptedPdf(ParseError):
    status, code, title = 422, "encrypted_pdf", "PDF is password protected"


class MalformedDocument(ParseError):
    status, code, title = 422, "malformed_document", "Document is malformed"


class EmbedderUnavailable(AppError):
    """The local embedding model cannot be loaded (missing extra or model files)."""

    status, code, title = 503, "embedder_unavailable", "Embedding model unavailable"
