"""oneM2M timestamps: the fast formatter writes exactly what `datetime` writes."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from cse.timestamps import parse_timestamp, to_timestamp


def by_datetime(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y%m%dT%H%M%S,%f")


def test_random_moments_are_formatted_as_datetime_formats_them() -> None:
    rng = random.Random(20261205)
    moments = [rng.uniform(0, 4_102_444_800) for _ in range(50_000)]
    moments += [1_764_900_000 + rng.random() for _ in range(50_000)]
    assert [to_timestamp(m) for m in moments] == [by_datetime(m) for m in moments]


@pytest.mark.parametrize(
    "epoch",
    [
        0.0,
        59.9999995,  # rounds up into the next second (and minute)
        1_767_225_599.9999996,  # ... and into the next year
        1_764_900_000.0000005,  # half a microsecond: rounded half to even
        1_764_900_000.0000015,
        1_764_900_000.999999,
        -1.5,  # before 1970: formatted by datetime itself
    ],
)
def test_edges_of_rounding_are_formatted_as_datetime_formats_them(epoch: float) -> None:
    assert to_timestamp(epoch) == by_datetime(epoch)


def test_a_formatted_moment_parses_back_to_the_microsecond() -> None:
    moment = 1_764_900_123.456789
    assert abs(parse_timestamp(to_timestamp(moment)) - moment) < 1e-6
