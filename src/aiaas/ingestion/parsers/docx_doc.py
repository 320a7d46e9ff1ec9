"""DOCX with python-docx: headings from paragraph styles, list styles grouped, tables as rows."""

from __future__ import annotations

import io
import zipfile

import docx
from docx.document import Document as DocxDocument
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from aiaas.ingestion.errors import DocumentTooLarge, MalformedDocument
from aiaas.ingestion.normalize import collapse_whitespace
from aiaas.ingestion.parsers.common import (
    DEFAULT_MAX_CHARS,
    HeadingTracker,
    clean_title,
    finalize,
    title_from_filename,
)
from aiaas.ingestion.parsers.model import ParsedDocument, Section

# A DOCX is a zip of XML; bound what it may inflate to before python-docx reads it whole.
_MAX_EXPANSION = 20


def _check_archive(data: bytes, max_chars: int) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise MalformedDocument("The file is not a valid DOCX (zip) archive.") from exc
    limit = max(len(data), max_chars) * _MAX_EXPANSION
    if inflated > limit:
        raise DocumentTooLarge(
            f"The DOCX expands to {inflated:,} bytes, more than the {limit:,} allowed."
        )


def _style_name(paragraph: Paragraph) -> str:
    style = paragraph.style
    return (style.name or "") if style is not None else ""


def _heading_level(style: str) -> int | None:
    if style.startswith("Heading "):
        suffix = style.removeprefix("Heading ").strip()
        if suffix.isdigit():
            return int(suffix)
    return None


def _table_rows(table: Table) -> list[str]:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            # python-docx repeats a merged cell once per grid column it spans.
            if previous is not None and cell._tc is previous:
                continue
            previous = cell._tc
            cells.append(collapse_whitespace(cell.text))
        if any(cells):
            rows.append(" | ".join(cells))
    return rows


def parse_docx(
    data: bytes, *, filename: str | None = None, max_chars: int = DEFAULT_MAX_CHARS
) -> ParsedDocument:
    """Sections of a Word document; "Heading N" styles build the heading path, "Title" the title."""
    _check_archive(data, max_chars)
    try:
        document: DocxDocument = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise MalformedDocument(f"The DOCX could not be read: {exc}") from exc
    headings = HeadingTracker()
    sections: list[Section] = []
    list_lines: list[str] = []
    list_path: tuple[str, ...] = ()
    style_title: str | None = None

    def close_list() -> None:
        if list_lines:
            sections.append(
                Section(heading_path=list_path, text="\n".join(list_lines), kind="list")
            )
            list_lines.clear()

    for block in document.iter_inner_content():
        if isinstance(block, Table):
            close_list()
            sections.append(
                Section(
                    heading_path=headings.path, text="\n".join(_table_rows(block)), kind="table"
                )
            )
            continue
        style = _style_name(block)
        text = block.text
        level = _heading_level(style)
        if style == "Title":
            close_list()
            style_title = style_title or clean_title(text)
        elif level is not None:
            close_list()
            headings.enter(level, text)
        elif style.startswith("List") and text.strip():
            if not list_lines:
                list_path = headings.path
            marker = "-" if "Number" not in style else f"{len(list_lines) + 1}."
            list_lines.append(f"{marker} {collapse_whitespace(text)}")
        else:
            close_list()
            sections.append(Section(heading_path=headings.path, text=text))
    close_list()
    core_title = clean_title(document.core_properties.title)
    title = core_title or style_title or title_from_filename(filename)
    return finalize(title, sections, {"format": "docx"}, max_chars=max_chars)
