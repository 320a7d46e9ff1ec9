"""Text normalisation shared by every parser, so offsets into a document's text are stable."""

from __future__ import annotations

import re
import unicodedata

# Invisible characters that only break words apart for the tokenizers (zero-width space/joiners,
# word joiner, BOM, soft hyphen).
_INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
# C0/C1 controls except tab and newline; they carry no text and confuse downstream consumers.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile("\r\n?|[\u2028\u2029\x85]")
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")
_EXTRA_BLANK_LINES = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    """NFKC, unified line breaks, single spaces, no control characters, at most one blank line.

    Idempotent: ``normalize_text(normalize_text(t)) == normalize_text(t)``.
    """
    text = _LINE_BREAKS.sub("\n", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text)
    text = unicodedata.normalize("NFKC", text)
    # NFKC can itself produce line separators or controls from compatibility characters.
    text = _LINE_BREAKS.sub("\n", text)
    text = _CONTROL.sub(" ", text)
    text = _HORIZONTAL_SPACE.sub(" ", text)
    text = "\n".join(line.strip(" ") for line in text.split("\n"))
    text = _EXTRA_BLANK_LINES.sub("\n\n", text)
    return text.strip()


def collapse_whitespace(text: str) -> str:
    """All runs of whitespace, line breaks included, become one space (for inline text)."""
    return " ".join(text.split())
