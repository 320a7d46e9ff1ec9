"""HTML: scripts, styles and other non-content elements are dropped; headings, paragraphs, lists
and tables are kept as sections.

selectolax (Lexbor backend) parses with the HTML5 algorithm browsers use, so broken markup from
real exports (unclosed tags, stray ``</p>``) yields the same tree a browser would show; it is a
small C extension, an order of magnitude faster than BeautifulSoup and with no lxml dependency.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from aiaas.ingestion.normalize import collapse_whitespace
from aiaas.ingestion.parsers.common import (
    DEFAULT_MAX_CHARS,
    HeadingTracker,
    clean_title,
    decode_text,
    finalize,
    title_from_filename,
)
from aiaas.ingestion.parsers.model import ParsedDocument, Section, SectionKind

_DROPPED = [
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "math",
    "iframe",
    "object",
    "embed",
    "canvas",
    "nav",
    "button",
    "select",
    "textarea",
    "head",
]
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = {
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "aside",
    "blockquote",
    "address",
    "figure",
    "figcaption",
    "details",
    "summary",
    "dl",
    "dt",
    "dd",
    "hr",
    "form",
    "fieldset",
    "center",
    "body",
    "html",
}
_LISTS = {"ul", "ol"}
_SPACE_RUN = re.compile(r"\s+")


def _inline_text(node: LexborNode, *, skip: frozenset[str] = frozenset()) -> str:
    """Text of a node as a reader sees it: whitespace collapsed, <br> kept as a line break."""
    parts: list[str] = []
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            parts.append(_SPACE_RUN.sub(" ", child.text_content or ""))
        elif tag == "br":
            parts.append("\n")
        elif tag == "-comment" or tag in skip:
            continue
        else:
            if tag in _BLOCKS or tag in _HEADINGS or tag in ("li", "tr", "td", "th"):
                parts.append(" ")
            parts.append(_inline_text(child, skip=skip))
    return "".join(parts)


class _Walker:
    def __init__(self) -> None:
        self.headings = HeadingTracker()
        self.sections: list[Section] = []
        self.buffer: list[str] = []
        self.first_h1: str | None = None

    def emit(self, text: str, kind: SectionKind = "paragraph") -> None:
        self.sections.append(Section(heading_path=self.headings.path, text=text, kind=kind))

    def flush(self) -> None:
        text = "".join(self.buffer)
        self.buffer = []
        if text.strip():
            self.emit(text)

    def walk(self, node: LexborNode) -> None:
        for child in node.iter(include_text=True):
            tag = child.tag
            if tag == "-text":
                self.buffer.append(_SPACE_RUN.sub(" ", child.text_content or ""))
            elif tag == "br":
                self.buffer.append("\n")
            elif tag in _HEADINGS:
                self.flush()
                text = collapse_whitespace(_inline_text(child))
                if tag == "h1" and self.first_h1 is None and text:
                    self.first_h1 = text
                self.headings.enter(_HEADINGS[tag], text)
            elif tag in _LISTS:
                self.flush()
                lines: list[str] = []
                self._list(child, lines)
                self.emit("\n".join(lines), "list")
            elif tag == "table":
                self.flush()
                self.emit("\n".join(self._table(child)), "table")
            elif tag == "pre":
                self.flush()
                self.emit(child.text(deep=True))
            elif tag in _BLOCKS or tag == "li":
                self.flush()
                self.walk(child)
                self.flush()
            elif tag != "-comment":
                self.walk(child)

    def _list(self, node: LexborNode, lines: list[str]) -> None:
        ordered = node.tag == "ol"
        number = 1
        for item in node.iter():
            if item.tag != "li":
                continue
            text = collapse_whitespace(_inline_text(item, skip=frozenset(_LISTS)))
            if text:
                lines.append(f"{number}. {text}" if ordered else f"- {text}")
                number += 1
            for nested in item.iter():
                if nested.tag in _LISTS:
                    self._list(nested, lines)

    @staticmethod
    def _table(node: LexborNode) -> list[str]:
        rows = []
        for row in node.css("tr"):
            cells = [
                collapse_whitespace(_inline_text(cell))
                for cell in row.iter()
                if cell.tag in ("td", "th")
            ]
            if any(cells):
                rows.append(" | ".join(cells))
        return rows


def parse_html(
    data: bytes, *, filename: str | None = None, max_chars: int = DEFAULT_MAX_CHARS
) -> ParsedDocument:
    """Sections of an HTML page; the title is <title>, else the first <h1>, else the file name."""
    tree = LexborHTMLParser(decode_text(data))
    title_node = tree.css_first("title")
    page_title = clean_title(title_node.text()) if title_node is not None else None
    tree.strip_tags(_DROPPED)
    walker = _Walker()
    root = tree.body or tree.root
    if root is not None:
        walker.walk(root)
        walker.flush()
    title = page_title or walker.first_h1 or title_from_filename(filename)
    return finalize(title, walker.sections, {"format": "html"}, max_chars=max_chars)
