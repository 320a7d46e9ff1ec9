"""FAQ files: CSV or JSON question/answer pairs, each pair one section that is never split apart."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from aiaas.ingestion.errors import EmptyDocument, MalformedDocument
from aiaas.ingestion.normalize import collapse_whitespace
from aiaas.ingestion.parsers.common import (
    DEFAULT_MAX_CHARS,
    clean_title,
    decode_text,
    finalize,
    title_from_filename,
)
from aiaas.ingestion.parsers.model import ParsedDocument, Section

_QUESTION_KEYS = ("question", "q", "questions")
_ANSWER_KEYS = ("answer", "a", "answers")
_JSON_LIST_KEYS = ("faqs", "faq", "items", "questions", "data")


def faq_section(question: str, answer: str) -> Section:
    """The section of one pair: the question is its heading and the first line of its text."""
    question = collapse_whitespace(question)
    return Section(heading_path=(question,), text=f"{question}\n{answer.strip()}", kind="faq")


def _document(
    pairs: Iterable[tuple[str, str]], title: str, metadata: dict[str, Any], max_chars: int
) -> ParsedDocument:
    sections = [faq_section(q, a) for q, a in pairs]
    if not sections:
        raise EmptyDocument("The FAQ file contains no question/answer pair.")
    metadata["pairs"] = len(sections)
    return finalize(title, sections, metadata, max_chars=max_chars)


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [collapse_whitespace(cell).lower() for cell in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def parse_faq_csv(
    data: bytes, *, filename: str | None = None, max_chars: int = DEFAULT_MAX_CHARS
) -> ParsedDocument:
    """Pairs from a CSV with ``question`` and ``answer`` columns (or, without a header, the first
    two columns). Delimiter sniffed among comma, semicolon and tab. Rows missing either side are
    skipped and counted in ``metadata["skipped_rows"]``."""
    text = decode_text(data)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = [
            row for row in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in row)
        ]
    except csv.Error as exc:
        raise MalformedDocument(f"The CSV could not be read: {exc}") from exc
    if not rows:
        raise EmptyDocument("The FAQ file is empty.")
    q_col, a_col = _column(rows[0], _QUESTION_KEYS), _column(rows[0], _ANSWER_KEYS)
    if q_col is not None and a_col is not None:
        rows = rows[1:]
    else:
        q_col, a_col = 0, 1
    pairs: list[tuple[str, str]] = []
    skipped = 0
    for row in rows:
        question = row[q_col].strip() if len(row) > q_col else ""
        answer = row[a_col].strip() if len(row) > a_col else ""
        if question and answer:
            pairs.append((question, answer))
        else:
            skipped += 1
    metadata: dict[str, Any] = {"format": "faq_csv", "skipped_rows": skipped}
    return _document(pairs, title_from_filename(filename), metadata, max_chars)


def _field(item: dict[str, Any], names: tuple[str, ...]) -> Any:
    lowered = {str(k).lower(): v for k, v in item.items()}
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


def parse_faq_json(
    data: bytes, *, filename: str | None = None, max_chars: int = DEFAULT_MAX_CHARS
) -> ParsedDocument:
    """Pairs from a JSON list of ``{"question": ..., "answer": ...}`` objects, or an object holding
    such a list under ``faqs``/``faq``/``items``/``questions``/``data`` (and maybe a ``title``)."""
    try:
        payload = json.loads(decode_text(data))
    except json.JSONDecodeError as exc:
        raise MalformedDocument(f"The JSON is invalid: {exc.msg} (line {exc.lineno})") from exc
    title = title_from_filename(filename)
    if isinstance(payload, dict):
        if isinstance(payload.get("title"), str):
            title = clean_title(payload["title"]) or title
        items = next(
            (payload[k] for k in _JSON_LIST_KEYS if isinstance(payload.get(k), list)), None
        )
    else:
        items = payload
    if not isinstance(items, list):
        raise MalformedDocument(
            "A FAQ JSON file must be a list of {question, answer} objects "
            f"or an object with one of {', '.join(_JSON_LIST_KEYS)} holding that list."
        )
    pairs: list[tuple[str, str]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise MalformedDocument(f"FAQ item {index} is not an object.")
        question, answer = _field(item, _QUESTION_KEYS), _field(item, _ANSWER_KEYS)
        if not isinstance(question, str) or not isinstance(answer, str):
            raise MalformedDocument(f"FAQ item {index} needs a 'question' and an 'answer' string.")
        if question.strip() and answer.strip():
            pairs.append((question, answer))
    return _document(pairs, title, {"format": "faq_json"}, max_chars)
