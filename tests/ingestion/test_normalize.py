from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aiaas.ingestion.normalize import normalize_text


@given(st.text(max_size=500))
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once


def test_normalize_unifies_whitespace_and_drops_invisible_characters() -> None:
    raw = "\ufeffTent\u00a0\u00a0poles\r\n\r\n\r\n\r\nzero\u200bwidth\tend  \x00\n"
    assert normalize_text(raw) == "Tent poles\n\nzerowidth end"


def test_normalize_applies_nfkc() -> None:
    assert normalize_text("\ufb01ve \uff21\uff23\uff2d") == "five ACM"
