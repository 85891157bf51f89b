"""Spike-preserving downsampling (autolog.server.downsample): the pure function the metric
endpoint and the charts rely on."""

from __future__ import annotations

import json
import math
import random
from array import array

import pytest

from autolog.errors import InvalidInputError
from autolog.server.downsample import MAX_BUCKETS, buckets_for_width, downsample

MILLION = 1_000_000


def _columns(values: list[float], first_step: int = 0) -> tuple[list[int], list[int], list[float]]:
    steps = list(range(first_step, first_step + len(values)))
    return steps, [1_700_000_000_000 + 10 * s for s in steps], values


@pytest.fixture(scope="module")
def million_noise() -> array[float]:
    rng = random.Random(7)
    return array("d", (rng.uniform(0.0, 1.0) for _ in range(MILLION)))


def test_short_series_are_returned_whole() -> None:
    steps, times, values = _columns([3.0, 1.0, 2.0, 5.0])
    result = downsample(steps, times, values, buckets=1)
    assert result.downsampled is False
    assert (result.steps, result.timestamps, result.values) == (steps, times, values)
    assert result.total == 4


@pytest.mark.parametrize(
    ("position", "sign"),
    [(0, 1.0), (1, -1.0), (499_999, 1.0), (777_777, -1.0), (MILLION - 2, 1.0), (MILLION - 1, -1.0)],
)
def test_a_single_spike_in_a_million_points_survives(
    million_noise: array[float], position: int, sign: float
) -> None:
    values = array("d", million_noise)
    values[position] = sign * 1e6
    steps = array("q", range(MILLION))
    for width in (1, 37, 1920):
        result = downsample(steps, steps, values, buckets_for_width(width))
        assert result.downsampled
        assert result.total == MILLION
        assert position in result.steps, (width, position)
        assert sign * 1e6 in result.values


def test_zooming_in_keeps_the_spike_and_gives_finer_detail(million_noise: array[float]) -> None:
    values = array("d", million_noise)
    values[123_456] = 50.0
    steps = list(range(MILLION))
    # the chart's zoom asks for a narrower step range: the store returns that slice
    low, high = 120_000, 130_000
    zoomed = downsample(steps[low:high], steps[low:high], values[low:high], 500)
    whole = downsample(steps, steps, values, 500)
    assert 123_456 in zoomed.steps
    assert zoomed.total == high - low
    in_range = [s for s in whole.steps if low <= s < high]
    assert len(zoomed.steps) > 10 * len(in_range)


def test_every_bucket_keeps_its_true_first_min_max_and_last() -> None:
    rng = random.Random(3)
    values = [rng.gauss(0.0, 1.0) for _ in range(20_000)]
    steps, times, _ = _columns(values, first_step=100)
    buckets = 64
    result = downsample(steps, times, values, buckets)
    kept = dict(zip(result.steps, result.values, strict=True))
    span = steps[-1] - steps[0] + 1
    for b in range(buckets):
        lo = steps[0] + b * span // buckets
        hi = steps[0] + (b + 1) * span // buckets
        members = [(s, v) for s, v in zip(steps, values, strict=True) if lo <= s < hi]
        assert members
        first, last = members[0], members[-1]
        lowest = min(members, key=lambda m: m[1])
        highest = max(members, key=lambda m: m[1])
        for step, value in (first, last, lowest, highest):
            assert kept[step] == value
        assert len([s for s in result.steps if lo <= s < hi]) <= 4
    # what is kept is a subsequence of the input, in step order, timestamps alongside
    assert result.steps == sorted(result.steps)
    assert all(times[s - 100] == t for s, t in zip(result.steps, result.timestamps, strict=True))


def test_response_stays_under_100_kb_for_a_million_points(million_noise: array[float]) -> None:
    values = array("d", million_noise)
    # the worst case: non-finite values in every bucket add a fifth point
    for i in range(0, MILLION, 997):
        values[i] = math.nan
    steps = list(range(MILLION))
    times = [1_712_345_678_901 + 3 * s for s in steps]
    for width in (800, 1920, 10_000):
        result = downsample(steps, times, values, buckets_for_width(width))
        t0 = result.timestamps[0]
        body = json.dumps(
            {
                "steps": result.steps,
                "times": [t - t0 for t in result.timestamps],
                "values": [v if math.isfinite(v) else None for v in result.values],
            },
            separators=(",", ":"),
        )
        assert len(body) < 100_000, (width, len(body))
        assert len(result.steps) <= 5 * MAX_BUCKETS


def test_non_finite_values_are_kept_but_never_taken_as_extremes() -> None:
    values = [1.0] * 100
    values[10] = math.nan
    values[11] = math.inf
    values[12] = 7.0
    values[13] = -math.inf
    values[14] = -3.0
    steps, times, _ = _columns(values)
    result = downsample(steps, times, values, buckets=1)
    kept = dict(zip(result.steps, result.values, strict=True))
    assert kept[12] == 7.0
    assert kept[14] == -3.0
    assert math.isnan(kept[10])  # the first non-finite value of the bucket shows
    assert 11 not in kept
    assert 13 not in kept


def test_a_bucket_of_only_non_finite_values() -> None:
    values = [math.nan] * 50 + [1.0] * 50
    steps, times, _ = _columns(values)
    result = downsample(steps, times, values, buckets=2)
    assert result.downsampled
    assert 0 in result.steps
    assert 49 in result.steps
    assert {50, 99} <= set(result.steps)


def test_many_values_at_few_steps_are_bucketed_by_position() -> None:
    # 10,000 values logged at 10 steps: step buckets would leave most buckets empty
    steps = sorted(i // 1000 for i in range(10_000))
    values = [float(i % 13) for i in range(10_000)]
    values[5_555] = 99.0
    result = downsample(steps, steps, values, buckets=100)
    assert result.downsampled
    assert 99.0 in result.values
    assert 150 < len(result.steps) <= 400


def test_bad_arguments_name_the_bad_value() -> None:
    with pytest.raises(InvalidInputError, match="buckets must be at least 1, not 0"):
        downsample([1], [1], [1.0], 0)
    with pytest.raises(InvalidInputError, match="2 steps, 1 timestamps, 2 values"):
        downsample([1, 2], [1], [1.0, 2.0], 10)


def test_buckets_for_width() -> None:
    assert buckets_for_width(0) == 1
    assert buckets_for_width(320) == 320
    assert buckets_for_width(100_000) == MAX_BUCKETS
