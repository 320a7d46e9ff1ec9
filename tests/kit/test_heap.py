"""settle_heap: start-up objects frozen, the young generation's threshold raised (or kept)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from aiaas.kit.heap import settle_heap


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


@pytest.mark.usefixtures("restored_collector")
def test_raises_the_young_threshold_and_keeps_the_others() -> None:
    gc.set_threshold(700, 10, 10)
    settle_heap(10_000)
    assert gc.get_threshold() == (10_000, 10, 10)


@pytest.mark.usefixtures("restored_collector")
def test_zero_keeps_the_interpreter_threshold() -> None:
    gc.set_threshold(700, 10, 10)
    settle_heap(0)
    assert gc.get_threshold() == (700, 10, 10)


@pytest.mark.usefixtures("restored_collector")
def test_start_up_objects_leave_the_generations() -> None:
    survivors = [[index] for index in range(1_000)]
    gc.collect()
    before = gc.get_freeze_count()
    settle_heap(0)
    assert gc.get_freeze_count() >= before + len(survivors)
    collected = {id(obj) for generation in range(3) for obj in gc.get_objects(generation)}
    assert not any(id(survivor) in collected for survivor in survivors)
