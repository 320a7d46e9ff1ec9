"""Markdown (CommonMark + pipe tables): headings become the heading path of the blocks below them.

markdown-it-py does the parsing (a maintained CommonMark implementation, already a dependency of
rich); this module only walks its token stream. An optional YAML front matter block is returned as
metadata (``id``, ``title``, ``collection``, ``tags`` ... of a help-centre export).
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token
from selectolax.lexbor import LexborHTMLParser

from aiaas.ingestion.normalize import collapse_whitespace
from aiaas.ingestion.parsers.common import (
    DEFAULT_MAX_CHARS,
    HeadingTracker,
    clean_title,
    decode_text,
    finalize,
    title_from_filename,
)
from aiaas.ingestion.parsers.model import ParsedDocument, Section

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_md = MarkdownIt("commonmark").enable("table")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when the wheel has it: the same documents, parsed several times faster."""


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """(front matter as a dict, the rest). Invalid or non-mapping front matter is kept as text."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        # _YAML_LOADER is libyaml's safe loader (or the pure-Python SafeLoader).
        data = yaml.load(match.group(1) or "", Loader=_YAML_LOADER)  # noqa: S506  # nosec B506
    except yaml.YAMLError:
        return {}, text
    if not isinstance(data, dict):
        return {}, text
    return {str(k): v for k, v in data.items()}, text[match.end() :]


def _inline_text(token: Token) -> str:
    """Plain text of an inline token: markup dropped, link text and image alt text kept."""
    parts: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "image":
            parts.append(_inline_text(child) or str(child.attrs.get("alt", "")))
    return "".join(parts)


class _Walker:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.headings = HeadingTracker()
        self.sections: list[Section] = []
        self.first_h1: str | None = None

    def emit(self, text: str, kind: Any = "paragraph") -> None:
        self.sections.append(Section(heading_path=self.headings.path, text=text, kind=kind))

    def run(self) -> list[Section]:
        while self.pos < len(self.tokens):
            token = self.tokens[self.pos]
            if token.type == "heading_open":
                text = collapse_whitespace(_inline_text(self.tokens[self.pos + 1]))
                level = int(token.tag[1:])
                if level == 1 and self.first_h1 is None:
                    self.first_h1 = text
                self.headings.enter(level, text)
                self.pos += 3
            elif token.type == "inline":
                self.emit(_inline_text(token))
                self.pos += 1
            elif token.type in ("bullet_list_open", "ordered_list_open"):
                lines: list[str] = []
                self._list(lines, depth=0)
                self.emit("\n".join(lines), "list")
            elif token.type == "table_open":
                self.emit("\n".join(self._table()), "table")
            elif token.type in ("fence", "code_block"):
                self.emit(token.content)
                self.pos += 1
            elif token.type == "html_block":
                self.emit(LexborHTMLParser(token.content).text(separator=" "))
                self.pos += 1
            else:
                self.pos += 1
        return self.sections

    def _list(self, lines: list[str], depth: int) -> None:
        """Consume a list starting at ``self.pos``; nested items follow their parent item as lines
        of their own (normalisation drops indentation, so nesting is flattened)."""
        opening = self.tokens[self.pos]
        ordered = opening.type == "ordered_list_open"
        number = int(opening.attrs.get("start", 1) or 1) if ordered else 0
        close = opening.type.replace("_open", "_close")
        self.pos += 1
        item_parts: list[str] = []
        while self.pos < len(self.tokens):
            token = self.tokens[self.pos]
            if token.type == close and token.level == opening.level:
                self.pos += 1
                return
            if token.type == "list_item_open":
                item_parts = []
                self.pos += 1
            elif token.type == "list_item_close":
                marker = f"{number}." if ordered else "-"
                number += 1
                text = collapse_whitespace(" ".join(item_parts))
                if text:
                    insert_at = self._item_slot(lines, depth)
                    lines.insert(insert_at, f"{marker} {text}")
                self.pos += 1
            elif token.type in ("bullet_list_open", "ordered_list_open"):
                # The nested list is written after the parent item's own text (see _item_slot).
                lines.append("\0" * (depth + 1))
                self._list(lines, depth + 1)
            elif token.type == "inline":
                item_parts.append(_inline_text(token))
                self.pos += 1
            elif token.type in ("fence", "code_block"):
                item_parts.append(token.content)
                self.pos += 1
            else:
                self.pos += 1

    @staticmethod
    def _item_slot(lines: list[str], depth: int) -> int:
        """Where a finished item goes: before the nested lines it owns (marked by a placeholder)."""
        marker = "\0" * (depth + 1)
        for index in range(len(lines) - 1, -1, -1):
            if lines[index] == marker:
                del lines[index]
                return index
        return len(lines)

    def _table(self) -> list[str]:
        rows: list[str] = []
        cells: list[str] = []
        self.pos += 1
        while self.pos < len(self.tokens):
            token = self.tokens[self.pos]
            self.pos += 1
            if token.type == "table_close":
                break
            if token.type == "tr_open":
                cells = []
            elif token.type == "inline":
                cells.append(collapse_whitespace(_inline_text(token)))
            elif token.type == "tr_close" and any(cells):
                rows.append(" | ".join(cells))
        return rows


def parse_markdown(
    data: bytes, *, filename: str | None = None, max_chars: int = DEFAULT_MAX_CHARS
) -> ParsedDocument:
    """Sections of a Markdown document; the title comes from front matter, the first H1, or the
    file name, in that order."""
    front_matter, body = split_front_matter(decode_text(data))
    walker = _Walker(_md.parse(body))
    sections = walker.run()
    title = (
        (clean_title(str(front_matter["title"])) if front_matter.get("title") else None)
        or walker.first_h1
        or title_from_filename(filename)
    )
    metadata: dict[str, Any] = {"format": "markdown"}
    if front_matter:
        metadata["front_matter"] = front_matter
    return finalize(title, sections, metadata, max_chars=max_chars)
