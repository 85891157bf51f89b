"""Spike-preserving downsampling of a metric series for a chart of a given width.

A chart ``width`` pixels wide cannot show more than a few points per pixel column, and a
browser should not receive a million points to draw a thousand columns. ``downsample`` splits
the step range into buckets and keeps, from each, the first, the lowest, the highest and the
last point (the "M4" scheme), plus the first non-finite value if the bucket has one. Drawn as
a line, that is the same picture as all the points: every column spans from its true minimum
to its true maximum, so a single spike among a million points is always drawn, whatever the
zoom. Zooming in asks again for the narrower step range, which gives finer buckets.

Thinning schemes that keep every n-th point, or a random sample, lose a single spike.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from itertools import pairwise
from typing import NamedTuple

from autolog.errors import InvalidInputError

__all__ = ["MAX_BUCKETS", "Downsampled", "buckets_for_width", "downsample"]

#: The most buckets one response holds: up to 5 points each, about 36 bytes a point as JSON,
#: keeps a response under 100 KB whatever the chart's width.
MAX_BUCKETS = 500


class Downsampled(NamedTuple):
    """The points kept, in step order, and what they stand for."""

    steps: list[int]
    timestamps: list[int]
    values: list[float]
    #: how many points the range held before downsampling
    total: int
    #: False when every point of the range was kept
    downsampled: bool


def buckets_for_width(width: int) -> int:
    """Buckets for a chart ``width`` pixels wide: one per pixel, at most ``MAX_BUCKETS``.

    Past ``MAX_BUCKETS`` a bucket spans two or more pixels; its first, lowest, highest and last
    points still draw the bucket's full vertical extent, so nothing visible is lost.
    """
    return max(1, min(width, MAX_BUCKETS))


def downsample(
    steps: Sequence[int],
    timestamps: Sequence[int],
    values: Sequence[float],
    buckets: int,
) -> Downsampled:
    """Keep the first, min, max and last point of each of ``buckets`` equal step ranges.

    The columns must be ordered by step (as ``get_metric_history`` gives them). Series of at
    most four points per bucket are returned whole. NaN and infinities never count as the
    minimum or maximum; the first of them in a bucket is kept, so the chart can show it.
    """
    n = len(steps)
    if not len(timestamps) == len(values) == n:
        raise InvalidInputError(
            f"columns differ in length: {n} steps, {len(timestamps)} timestamps,"
            f" {len(values)} values"
        )
    if buckets < 1:
        raise InvalidInputError(f"buckets must be at least 1, not {buckets!r}")
    if n <= 4 * buckets:
        return Downsampled(list(steps), list(timestamps), list(values), n, downsampled=False)
    keep: list[int] = []
    for start, stop in _bucket_bounds(steps, buckets):
        if start < stop:
            keep.extend(_extremes(values, start, stop))
    keep.sort()
    return Downsampled(
        [steps[i] for i in keep],
        [timestamps[i] for i in keep],
        [values[i] for i in keep],
        n,
        downsampled=True,
    )


def _bucket_bounds(steps: Sequence[int], buckets: int) -> list[tuple[int, int]]:
    """Index ranges of ``buckets`` equal step ranges over [first step, last step]."""
    n = len(steps)
    low = steps[0]
    span = steps[-1] - low + 1
    if span < buckets:
        # Fewer distinct steps than buckets (e.g. many values logged at each step): bucket by
        # position instead, so the buckets still split the points evenly.
        edges = [i * n // buckets for i in range(buckets + 1)]
    else:
        edges = [bisect_left(steps, low + i * span // buckets) for i in range(buckets)] + [n]
    return list(pairwise(edges))


def _extremes(values: Sequence[float], start: int, stop: int) -> set[int]:
    """Indices of the first, last, lowest, highest and first non-finite value in the range."""
    chunk = values[start:stop]
    kept = {start, stop - 1}
    total = sum(chunk)  # one C-speed pass: finite unless a NaN or infinity is in the range
    if math.isfinite(total):
        kept.add(start + chunk.index(min(chunk)))
        kept.add(start + chunk.index(max(chunk)))
        return kept
    finite = [(v, i) for i, v in enumerate(chunk) if math.isfinite(v)]
    if finite:
        kept.add(start + min(finite)[1])
        kept.add(start + max(finite)[1])
    kept.add(start + next(i for i, v in enumerate(chunk) if not math.isfinite(v)))
    return kept
