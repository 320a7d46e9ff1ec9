"""A cheap, deterministic estimate of model tokens: regex word pieces.

Letters come in pieces of at most 10, digits of at most 6, and every other visible character is a
token of its own. Every non-whitespace character belongs to exactly one piece and pieces never
span whitespace, so a text cut at piece boundaries re-tokenizes to the same pieces. For English
this lands within about 20% of a BPE/WordPiece count, which is all a chunk bound needs.
"""

from __future__ import annotations

import re

TOKEN_PATTERN = re.compile(r"[^\W\d_]{1,10}|\d{1,6}|_|[^\w\s]")


def token_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) of each estimated token of ``text[start:end]``, as offsets into ``text``."""
    stop = len(text) if end is None else end
    return [m.span() for m in TOKEN_PATTERN.finditer(text, start, stop)]


def count_tokens(text: str) -> int:
    """Estimated number of model tokens in ``text``."""
    return sum(1 for _ in TOKEN_PATTERN.finditer(text))
