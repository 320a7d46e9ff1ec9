"""Whatever is uploaded, parsing ends in a document or a ParseError, never in another exception."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiaas.ingestion.errors import ParseError
from aiaas.ingestion.parsers import parse_document

from .samples import HTML_PAGE, make_docx, make_pdf

_NAMES = ["a.txt", "a.md", "a.html", "a.pdf", "a.docx", "a.csv", "a.json", "upload", None]
_SEEDS = [
    make_pdf(),
    make_docx(),
    HTML_PAGE,
    b"# T\n\n- a\n- b\n",
    b'[{"question":"q","answer":"a"}]',
]


def _parse_or_refuse(data: bytes, filename: str | None) -> None:
    refusal: ParseError | None = None
    try:
        document = parse_document(data, filename=filename)
    except ParseError as error:
        refusal = error
    if refusal is not None:
        assert refusal.code
        assert 400 <= refusal.status < 500
        return
    assert document.sections
    assert all(section.text.strip() for section in document.sections)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=3000), filename=st.sampled_from(_NAMES))
def test_random_bytes(data: bytes, filename: str | None) -> None:
    _parse_or_refuse(data, filename)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(_SEEDS),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=8),
    filename=st.sampled_from(_NAMES),
)
def test_damaged_real_files(
    seed: bytes, cut: float, flips: list[tuple[float, int]], filename: str | None
) -> None:
    data = bytearray(seed[: max(1, int(len(seed) * cut))])
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    _parse_or_refuse(bytes(data), filename)
