"""The garbage-collector settings of a serving worker (cse/app.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from cse.app import settle_garbage_collector


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_startup_objects_are_frozen_and_the_youngest_generation_waits_longer(restored_gc):
    gc.unfreeze()
    settle_garbage_collector(25_000)
    assert gc.get_threshold() == (25_000, 20, 100)
    assert gc.get_freeze_count() > 1000


def test_zero_keeps_pythons_defaults(restored_gc):
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    settle_garbage_collector(0)
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0
