from __future__ import annotations

import json

import pytest

from aiaas.ingestion.errors import (
    DocumentTooLarge,
    EmptyDocument,
    EncryptedPdf,
    MalformedDocument,
    ParseError,
    UnsupportedDocumentType,
)
from aiaas.ingestion.parsers import DocumentType, parse_document
from aiaas.kit.errors import AppError

from .samples import HTML_PAGE, encrypt_pdf, make_docx, make_pdf


def test_plain_text_paragraphs_and_title_from_filename() -> None:
    doc = parse_document(
        b"First paragraph\nstill first.\n\n\n  Second one.  \n", filename="store_hours.txt"
    )
    assert doc.title == "Store hours"
    assert [s.text for s in doc.sections] == ["First paragraph\nstill first.", "Second one."]
    assert doc.metadata["document_type"] == "text"


def test_text_in_cp1252_is_decoded() -> None:
    doc = parse_document("Caf\xe9 opening hours".encode("cp1252"), filename="cafe.txt")
    assert doc.sections[0].text == "Café opening hours"


def test_markdown_headings_lists_tables_and_front_matter() -> None:
    source = b"""---
id: returns
title: Our return policy
tags: [returns]
---
Intro with **bold** and a [link](https://example.com).

## Window

- 60 days
- Holiday: until *January 31*

### Costs

| Method | Cost |
| --- | --- |
| Mail | $6.95 |

## Steps

1. Open the Returns Center
2. Print the label
"""
    doc = parse_document(source, filename="returns.md")
    assert doc.title == "Our return policy"
    assert doc.metadata["front_matter"]["id"] == "returns"
    got = [(s.heading_path, s.kind, s.text) for s in doc.sections]
    assert got == [
        ((), "paragraph", "Intro with bold and a link."),
        (("Window",), "list", "- 60 days\n- Holiday: until January 31"),
        (("Window", "Costs"), "table", "Method | Cost\nMail | $6.95"),
        (("Steps",), "list", "1. Open the Returns Center\n2. Print the label"),
    ]


def test_markdown_title_falls_back_to_first_h1() -> None:
    doc = parse_document(b"# Gift cards\n\nThey never expire.\n", filename="x.md")
    assert doc.title == "Gift cards"
    assert doc.sections[0].heading_path == ("Gift cards",)


def test_html_drops_scripts_styles_and_navigation_and_keeps_structure() -> None:
    doc = parse_document(HTML_PAGE, filename="returns.html")
    assert doc.title == "Returns | Acme Help"
    text = doc.full_text
    assert "SECRET-TRACKER" not in text
    assert "never indexed" not in text
    assert "color: red" not in text
    assert "Enable JavaScript" not in text
    assert "Shop" not in text
    got = [(s.heading_path, s.kind, s.text) for s in doc.sections]
    assert got == [
        (("Returns",), "paragraph", "You have 60 days to return an item.\nTags must be attached."),
        (
            ("Returns", "How to return"),
            "list",
            "1. Open the Returns Center.\n2. Print the label\n- or use a QR code",
        ),
        (("Returns", "Costs"), "table", "Method | Cost\nMail | $6.95"),
        (("Returns", "Costs"), "paragraph", "Questions? Contact us & we reply within a day."),
    ]


def test_pdf_keeps_pages_and_uses_bookmarks_as_headings() -> None:
    doc = parse_document(make_pdf(), filename="guide.pdf")
    assert doc.title == "Acme Field Guide"
    assert doc.metadata["page_count"] == 3
    assert [(s.page, s.heading_path) for s in doc.sections] == [
        (1, ("Shipping",)),
        (1, ("Shipping",)),
        (2, ("Returns",)),
        (3, ("Warranty",)),
    ]
    assert "lifetime warranty" in doc.sections[-1].text


def test_password_protected_pdf_is_a_clear_error() -> None:
    encrypted = encrypt_pdf(make_pdf(), user_password="hunter2")
    with pytest.raises(EncryptedPdf) as caught:
        parse_document(encrypted, filename="guide.pdf")
    assert caught.value.code == "encrypted_pdf"
    assert isinstance(caught.value, ParseError)
    assert "password" in caught.value.detail


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-256"])
def test_pdf_with_only_an_owner_password_opens(algorithm: str) -> None:
    restricted = encrypt_pdf(make_pdf(), user_password="", algorithm=algorithm)
    doc = parse_document(restricted, filename="guide.pdf")
    assert [s.page for s in doc.sections][-1] == 3


def test_truncated_pdf_is_malformed() -> None:
    with pytest.raises(MalformedDocument):
        parse_document(b"%PDF-1.7\n garbage", filename="broken.pdf")


def test_docx_headings_lists_and_tables() -> None:
    doc = parse_document(make_docx(), filename="care.docx")
    assert doc.title == "Acme Care Guide"
    got = [(s.heading_path, s.kind, s.text) for s in doc.sections]
    assert got == [
        ((), "paragraph", "Read this before your first trip."),
        (("Tents",), "paragraph", "Dry your tent before storing it."),
        (
            ("Tents", "Poles"),
            "list",
            "1. Slide the repair sleeve over the break.\n2. Tape both ends.",
        ),
        (("Jackets",), "list", "- Wash with a technical cleaner."),
        (("Jackets",), "table", "Product | Warranty\nJacket | 2 years"),
        (("Jackets",), "paragraph", "Tumble dry on low heat."),
    ]


def test_not_a_docx_is_malformed() -> None:
    with pytest.raises(MalformedDocument):
        parse_document(b"PK\x03\x04 not really a zip", filename="x.docx")


def test_faq_csv_pairs_are_whole_sections() -> None:
    data = (
        b'Question,Answer\n"Do gift cards expire?","No, never."\n'
        b'"Can I pay with PayPal?","Yes, and with Klarna, too."\n,orphan answer\n'
    )
    doc = parse_document(data, filename="faq.csv")
    assert [(s.kind, s.heading_path, s.text) for s in doc.sections] == [
        ("faq", ("Do gift cards expire?",), "Do gift cards expire?\nNo, never."),
        ("faq", ("Can I pay with PayPal?",), "Can I pay with PayPal?\nYes, and with Klarna, too."),
    ]
    assert doc.metadata["skipped_rows"] == 1


def test_faq_csv_without_header_and_with_semicolons() -> None:
    doc = parse_document(b"Do you ship abroad?;Yes, with DHL.\nTo Canada?;Yes.\n", filename="f.csv")
    assert [s.heading_path[0] for s in doc.sections] == ["Do you ship abroad?", "To Canada?"]


def test_faq_json_list_and_wrapped_object() -> None:
    pairs = [{"question": "Do you rent tents?", "answer": "Yes, in Denver."}]
    doc = parse_document(json.dumps(pairs).encode(), filename="faq.json")
    assert doc.sections[0].text == "Do you rent tents?\nYes, in Denver."
    wrapped = {"title": "Store FAQ", "faqs": [{"Q": "Open Sunday?", "A": "11 to 6."}]}
    doc = parse_document(json.dumps(wrapped).encode(), filename="faq.json")
    assert doc.title == "Store FAQ"
    assert doc.sections[0].kind == "faq"


@pytest.mark.parametrize(
    "payload",
    [b'{"nothing": 1}', b'[{"question": "no answer"}]', b"[1, 2]", b"{not json"],
)
def test_faq_json_errors_say_what_is_wrong(payload: bytes) -> None:
    with pytest.raises(MalformedDocument) as caught:
        parse_document(payload, filename="faq.json")
    assert caught.value.status == 422


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"", "a.txt"),
        (b"   \n\n ", "a.md"),
        (b"<html><script>x()</script></html>", "a.html"),
        (b"question,answer\n", "a.csv"),
        (b"[]", "a.json"),
    ],
)
def test_documents_without_text_are_empty(data: bytes, filename: str) -> None:
    with pytest.raises(EmptyDocument) as caught:
        parse_document(data, filename=filename)
    assert caught.value.code == "empty_document"


def test_too_large_by_bytes_and_by_text() -> None:
    with pytest.raises(DocumentTooLarge) as caught:
        parse_document(b"x" * 101, filename="a.txt", max_bytes=100)
    assert caught.value.status == 413
    assert caught.value.code == "document_too_large"
    with pytest.raises(DocumentTooLarge):
        parse_document(b"word " * 100, filename="a.txt", max_chars=50)


def test_unsupported_type_is_an_app_error_with_a_stable_code() -> None:
    with pytest.raises(UnsupportedDocumentType) as caught:
        parse_document(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, filename="photo.png")
    error = caught.value
    assert isinstance(error, AppError)
    assert (error.status, error.code) == (415, "unsupported_document_type")
    assert error.problem()["code"] == "unsupported_document_type"


def test_title_override() -> None:
    doc = parse_document(b"Hello", filename="a.txt", title="  Welcome\npage ")
    assert doc.title == "Welcome page"
    assert doc.metadata["document_type"] == DocumentType.TEXT
