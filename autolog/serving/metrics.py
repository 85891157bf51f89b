"""The model server's counters, written as Prometheus text (no client library: a few
counters and two histograms are a page of code).

Each worker process counts its own requests: with ``--workers N`` a scrape reaches one
worker, as with any multi-process server that keeps no shared memory.
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from collections.abc import Iterable

__all__ = ["Histogram", "Metrics"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0)


class Histogram:
    """Observations counted in cumulative buckets, with their sum, as Prometheus reads them."""

    def __init__(self, buckets: Iterable[float]) -> None:
        self.bounds = tuple(sorted(buckets))
        self.counts = [0] * (len(self.bounds) + 1)  # the last: above every bound (+Inf)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str, labels: str = "") -> list[str]:
        prefix = f"{labels}," if labels else ""
        out = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            shown = "+Inf" if bound == float("inf") else repr(bound)
            out.append(f'{name}_bucket{{{prefix}le="{shown}"}} {running}')
        braces = f"{{{labels}}}" if labels else ""
        out.append(f"{name}_sum{braces} {self.total!r}")
        out.append(f"{name}_count{braces} {self.count}")
        return out


class Metrics:
    """Requests by path and status, their latency, and the size of each ``predict`` call.

    Updated from the event loop and the prediction thread, hence the lock (held for a few
    additions).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.latency = Histogram(LATENCY_BUCKETS)
        self.batch_requests = Histogram(BATCH_BUCKETS)
        self.predictions = 0
        self.model_swaps = 0

    def request(self, path: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(path, status)] += 1
            self.latency.observe(seconds)

    def batch(self, requests: int, rows: int) -> None:
        """One ``predict`` call that answered ``requests`` requests with ``rows`` rows."""
        with self._lock:
            self.batch_requests.observe(float(requests))
            self.predictions += rows

    def swapped(self) -> None:
        with self._lock:
            self.model_swaps += 1

    def text(self, version: int | None) -> str:
        """The Prometheus exposition text (format 0.0.4)."""
        with self._lock:
            lines = [
                "# HELP autolog_serve_requests_total Requests answered, by path and status code.",
                "# TYPE autolog_serve_requests_total counter",
            ]
            for (path, status), count in sorted(self.requests.items()):
                lines.append(
                    f'autolog_serve_requests_total{{path="{path}",code="{status}"}} {count}'
                )
            errors = sum(count for (_, status), count in self.requests.items() if status >= 400)
            lines += [
                "# HELP autolog_serve_errors_total Requests answered with a 4xx or 5xx status.",
                "# TYPE autolog_serve_errors_total counter",
                f"autolog_serve_errors_total {errors}",
                "# HELP autolog_serve_request_duration_seconds Time from a request's arrival to "
                "its answer.",
                "# TYPE autolog_serve_request_duration_seconds histogram",
                *self.latency.lines("autolog_serve_request_duration_seconds"),
                "# HELP autolog_serve_batch_size Requests answered by one predict call.",
                "# TYPE autolog_serve_batch_size histogram",
                *self.batch_requests.lines("autolog_serve_batch_size"),
                "# HELP autolog_serve_predictions_total Rows predicted.",
                "# TYPE autolog_serve_predictions_total counter",
                f"autolog_serve_predictions_total {self.predictions}",
                "# HELP autolog_serve_model_swaps_total Times the alias moved and a new version "
                "was swapped in.",
                "# TYPE autolog_serve_model_swaps_total counter",
                f"autolog_serve_model_swaps_total {self.model_swaps}",
                "# HELP autolog_serve_model_version The registered version being served (0: none).",
                "# TYPE autolog_serve_model_version gauge",
                f"autolog_serve_model_version {version or 0}",
            ]
        return "\n".join(lines) + "\n"
