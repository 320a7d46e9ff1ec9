"""Real sample files built in memory for the parser tests."""

from __future__ import annotations

import io

import docx
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

PDF_PAGES = [
    ("Shipping", "We ship every order from Reno, Nevada.\n\nStandard delivery takes 3 to 7 days."),
    ("Returns", "You have 60 days to return unused gear."),
    ("Warranty", "Backpacks carry a lifetime warranty against defects."),
]


def make_pdf(
    pages: list[tuple[str, str]] = PDF_PAGES, title: str | None = "Acme Field Guide"
) -> bytes:
    """A PDF with one page per (bookmark, text) pair."""
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("helvetica", size=12)
    for heading, body in pages:
        pdf.add_page()
        pdf.start_section(heading)
        pdf.multi_cell(0, 8, body)
    return bytes(pdf.output())


def encrypt_pdf(data: bytes, *, user_password: str, algorithm: str = "RC4-128") -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm=algorithm)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def make_docx() -> bytes:
    document = docx.Document()
    document.core_properties.title = ""
    document.add_paragraph("Acme Care Guide", style="Title")
    document.add_paragraph("Read this before your first trip.")
    document.add_heading("Tents", level=1)
    document.add_paragraph("Dry your tent before storing it.")
    document.add_heading("Poles", level=2)
    document.add_paragraph("Slide the repair sleeve over the break.", style="List Number")
    document.add_paragraph("Tape both ends.", style="List Number")
    document.add_heading("Jackets", level=1)
    document.add_paragraph("Wash with a technical cleaner.", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Product"
    table.cell(0, 1).text = "Warranty"
    table.cell(1, 0).text = "Jacket"
    table.cell(1, 1).text = "2 years"
    document.add_paragraph("Tumble dry on low heat.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


HTML_PAGE = b"""<!DOCTYPE html>
<html><head><title>Returns | Acme Help</title>
<style>.x { color: red }</style>
<script>window.tracking = "SECRET-TRACKER";</script></head>
<body>
<nav><a href="/">Home</a> <a href="/shop">Shop</a></nav>
<h1>Returns</h1>
<p>You have <strong>60 days</strong> to return an item.<br>Tags must be attached.</p>
<h2>How to return</h2>
<ol><li>Open the <a href="/returns">Returns Center</a>.</li><li>Print the label
  <ul><li>or use a QR code</li></ul></li></ol>
<h2>Costs</h2>
<table><tr><th>Method</th><th>Cost</th></tr><tr><td>Mail</td><td>$6.95</td></tr></table>
<noscript>Enable JavaScript</noscript>
<p>Questions? Contact us &amp; we reply within a day.</p>
<script>console.log("never indexed")</script>
</body></html>
"""
