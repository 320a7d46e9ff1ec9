"""Customer feedback as the router's rating."""

from __future__ import annotations

import pytest

from aiaas.chat.tasks import rating_of


@pytest.mark.parametrize(
    ("payload", "rating"),
    [
        ({"thumbs": 1}, 1.0),
        ({"thumbs": -1}, 0.0),
        ({"csat": 1}, 0.0),
        ({"csat": 4}, 0.75),
        ({"thumbs": 1, "csat": 3}, 0.75),
        ({"resolved": True}, None),
    ],
)
def test_thumbs_and_csat_become_one_rating(
    payload: dict[str, object], rating: float | None
) -> None:
    assert rating_of(payload) == rating
