from __future__ import annotations

import pytest

from aiaas.ingestion.errors import UnsupportedDocumentType
from aiaas.ingestion.parsers import DocumentType, detect_type


@pytest.mark.parametrize(
    ("filename", "content_type", "head", "expected"),
    [
        ("a.md", None, b"# Title", DocumentType.MARKDOWN),
        ("A.MARKDOWN", None, b"text", DocumentType.MARKDOWN),
        ("a.txt", None, b"<html>", DocumentType.TEXT),  # the name wins over a text sniff
        ("a.htm", None, b"hello", DocumentType.HTML),
        ("faq.csv", None, b"question,answer", DocumentType.FAQ_CSV),
        ("faq.json", None, b"[]", DocumentType.FAQ_JSON),
        ("upload", "application/pdf", b"%PDF-1.4", DocumentType.PDF),
        ("notes.txt", None, b"%PDF-1.7 ...", DocumentType.PDF),  # a signature cannot lie
        ("a.docx", None, b"PK\x03\x04....", DocumentType.DOCX),
        (
            None,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            b"PK\x03\x04",
            DocumentType.DOCX,
        ),
        (None, "text/markdown; charset=utf-8", b"hello", DocumentType.MARKDOWN),
        (None, "text/html", b"hello", DocumentType.HTML),
        (None, None, b"  <!DOCTYPE html><html>", DocumentType.HTML),
        (None, None, b'[{"question": "q"}]', DocumentType.FAQ_JSON),
        (None, None, b"---\ntitle: x\n---\nbody", DocumentType.MARKDOWN),
        (None, None, b"Just some words.", DocumentType.TEXT),
        (None, "application/octet-stream", "Caf\u00e9".encode(), DocumentType.TEXT),
        ("a.pdf", None, b"not a pdf", DocumentType.PDF),  # the parser reports it as malformed
    ],
)
def test_detect_type(
    filename: str | None, content_type: str | None, head: bytes, expected: DocumentType
) -> None:
    assert detect_type(filename, content_type, head) is expected


def test_multibyte_character_cut_at_the_sniff_window_is_still_text() -> None:
    head = ("x" * 1023 + "\u00e9").encode()[:1024]
    assert detect_type(None, None, head) is DocumentType.TEXT


@pytest.mark.parametrize(
    ("filename", "head", "advice"),
    [
        ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1", ".docx"),
        ("x.png", b"\x89PNG\r\n", "Images"),
        ("bundle.zip", b"PK\x03\x04", "Zip"),
        ("x.xlsx", b"PK\x03\x04", "Zip"),
        ("blob.bin", b"\x00\x01\x02\xff", ".md"),
    ],
)
def test_unsupported_types_explain_themselves(filename: str, head: bytes, advice: str) -> None:
    with pytest.raises(UnsupportedDocumentType) as caught:
        detect_type(filename, None, head)
    assert advice in caught.value.detail
