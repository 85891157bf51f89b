"""The model server's counters, written as Prometheus text (no client library: a few
counters and two histograms are a page of code).

Every count is a double at a fixed place in a small buffer. A server of one process keeps
the buffer in memory. With ``--workers N`` a scrape reaches whichever worker accepted the
connection, so each worker keeps its buffer in a file of its own, mapped into memory, in a
folder the parent process made (``ServeSettings.metrics_dir``), and ``/metrics`` sums every
file there: any worker shows the server's totals.

A file outlives its worker. The counts of a worker that died, even by SIGKILL, stay in the
totals (the mapped pages belong to the file, not to the process), and the worker started in
its place takes that file over and counts on from there: no counter goes backwards, nothing
is counted twice, and the folder holds no more files than workers ever ran at once. A live
worker holds an ``flock`` on its file; the kernel drops it when the worker dies, which is how
a new worker tells a free file from a busy one.
"""

from __future__ import annotations

import bisect
import mmap
import operator
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock, so a new worker never takes a file over
    fcntl = None  # type: ignore[assignment]

__all__ = ["FILE_SUFFIX", "ROUTES", "Metrics"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0)
#: the paths counted by name; any other is counted as path="other"
ROUTES = ("/invocations", "/ping", "/health", "/version", "/metadata", "/metrics", "/openapi.json")
#: how a worker's file of counts is named; only such files are summed
FILE_SUFFIX = ".counts"

_PATHS = (*ROUTES, "other")
_CODES = range(100, 600)  # RFC 9110's status codes; any other is counted as code="other"
# A file: 8 bytes naming its layout, then the doubles below (one layout per autolog
# version: a file of another is not read, nor taken over).
_MAGIC = b"alserve1"
_PER_PATH = len(_CODES) + 1
_REQUESTS = 0
_LATENCY = _REQUESTS + len(_PATHS) * _PER_PATH
_LATENCY_SUM = _LATENCY + len(LATENCY_BUCKETS) + 1  # the last bucket: above every bound
_BATCH = _LATENCY_SUM + 1
_BATCH_SUM = _BATCH + len(BATCH_BUCKETS) + 1
_PREDICTIONS = _BATCH_SUM + 1
_SWAPS = _PREDICTIONS + 1
_SLOTS = _SWAPS + 1
_SIZE = len(_MAGIC) + 8 * _SLOTS


class Metrics:
    """Requests by path and status, their latency, and the size of each ``predict`` call.

    ``folder``: where this worker's counts go, beside the other workers' (None: in memory,
    for a server of one process). Updated from the event loop and the prediction thread,
    hence the lock (held for a few additions).

    Raises:
        OSError: ``folder`` cannot be written.
    """

    def __init__(self, folder: str | None = None) -> None:
        self._lock = threading.Lock()
        self._folder = Path(folder) if folder else None
        self._fd: int | None = None
        self._map: mmap.mmap | None = None
        buffer: bytearray | mmap.mmap
        if self._folder is None:
            buffer = bytearray(_SIZE)
        else:
            self._fd = _claim(self._folder)
            self._map = buffer = mmap.mmap(self._fd, _SIZE)
        self._base = memoryview(buffer)
        self._values = self._base[len(_MAGIC) :].cast("d")
        self._route = {path: _REQUESTS + i * _PER_PATH for i, path in enumerate(_PATHS)}

    def request(self, path: str, status: int, seconds: float) -> None:
        slot = self._route.get(path, self._route["other"])
        slot += status - _CODES.start if status in _CODES else len(_CODES)
        bucket = _LATENCY + bisect.bisect_left(LATENCY_BUCKETS, seconds)
        with self._lock:
            values = self._values
            values[slot] += 1
            values[bucket] += 1
            values[_LATENCY_SUM] += seconds

    def batch(self, requests: int, rows: int) -> None:
        """One ``predict`` call that answered ``requests`` requests with ``rows`` rows."""
        bucket = _BATCH + bisect.bisect_left(BATCH_BUCKETS, requests)
        with self._lock:
            values = self._values
            values[bucket] += 1
            values[_BATCH_SUM] += requests
            values[_PREDICTIONS] += rows

    def swapped(self) -> None:
        with self._lock:
            self._values[_SWAPS] += 1

    def close(self) -> None:
        """Lets go of this worker's file (its counts stay in the totals, and a worker
        started later takes it over); counts made after this are dropped."""
        with self._lock:
            if self._map is None or self._fd is None:
                return
            self._values.release()
            self._base.release()
            self._map.close()
            os.close(self._fd)  # and with it the flock
            self._map = self._fd = None
            self._base = memoryview(bytearray(_SIZE))
            self._values = self._base[len(_MAGIC) :].cast("d")

    def totals(self) -> list[float]:
        """Every count of the server: this process's, or the sum of every worker's file."""
        if self._folder is None:
            with self._lock:
                return list(self._values)
        totals = [0.0] * _SLOTS
        for path in self._folder.glob(f"*{FILE_SUFFIX}"):
            try:
                totals = _add(totals, path)
            except FileNotFoundError:  # the server is stopping: its folder is going
                continue
        return totals

    def text(self, version: int | None) -> str:
        """The Prometheus exposition text (format 0.0.4) of the server's totals; the model
        version is the answering worker's."""
        values = self.totals()
        requests = _requests(values)
        errors = sum(count for _, code, count in requests if code.isdigit() and code >= "400")
        lines = [
            "# HELP autolog_serve_requests_total Requests answered, by path and status code.",
            "# TYPE autolog_serve_requests_total counter",
            *(
                f'autolog_serve_requests_total{{path="{path}",code="{code}"}} {count}'
                for path, code, count in requests
            ),
            "# HELP autolog_serve_errors_total Requests answered with a 4xx or 5xx status.",
            "# TYPE autolog_serve_errors_total counter",
            f"autolog_serve_errors_total {errors}",
            "# HELP autolog_serve_request_duration_seconds Time from a request's arrival to "
            "its answer.",
            "# TYPE autolog_serve_request_duration_seconds histogram",
            *_histogram(
                "autolog_serve_request_duration_seconds",
                LATENCY_BUCKETS,
                values[_LATENCY:_LATENCY_SUM],
                values[_LATENCY_SUM],
            ),
            "# HELP autolog_serve_batch_size Requests answered by one predict call.",
            "# TYPE autolog_serve_batch_size histogram",
            *_histogram(
                "autolog_serve_batch_size",
                BATCH_BUCKETS,
                values[_BATCH:_BATCH_SUM],
                values[_BATCH_SUM],
            ),
            "# HELP autolog_serve_predictions_total Rows predicted.",
            "# TYPE autolog_serve_predictions_total counter",
            f"autolog_serve_predictions_total {int(values[_PREDICTIONS])}",
            "# HELP autolog_serve_model_swaps_total New versions swapped in after the alias "
            "moved, by all workers (each swaps its own copy).",
            "# TYPE autolog_serve_model_swaps_total counter",
            f"autolog_serve_model_swaps_total {int(values[_SWAPS])}",
            "# HELP autolog_serve_model_version The registered version being served (0: none).",
            "# TYPE autolog_serve_model_version gauge",
            f"autolog_serve_model_version {version or 0}",
        ]
        return "\n".join(lines) + "\n"


def _requests(values: Sequence[float]) -> list[tuple[str, str, int]]:
    """The request counts that are not 0, as (path, status code or "other", count), sorted
    (three digits sort as their numbers, and before "other")."""
    found = []
    codes = [*map(str, _CODES), "other"]
    for i, path in enumerate(_PATHS):
        start = _REQUESTS + i * _PER_PATH
        for code, count in zip(codes, values[start : start + _PER_PATH], strict=True):
            if count:
                found.append((path, code, int(count)))
    return sorted(found)


def _histogram(
    name: str, bounds: Sequence[float], counts: Sequence[float], total: float
) -> list[str]:
    """A histogram's lines: cumulative buckets, then its sum and count (the count is the
    buckets', so that the two always agree)."""
    out = []
    running = 0
    for bound, count in zip((*bounds, float("inf")), counts, strict=True):
        running += int(count)
        shown = "+Inf" if bound == float("inf") else repr(bound)
        out.append(f'{name}_bucket{{le="{shown}"}} {running}')
    out.append(f"{name}_sum {total!r}")
    out.append(f"{name}_count {running}")
    return out


def _add(totals: list[float], path: Path) -> list[float]:
    """``totals`` plus the counts in ``path`` (unchanged if it is not a file of counts).

    Read through a mapping, a double at a time: an aligned 8-byte load never sees half of a
    worker's store into the same double, where a ``read()`` copying bytes might."""
    with open(path, "rb") as file:
        if os.fstat(file.fileno()).st_size != _SIZE:
            return totals
        with mmap.mmap(file.fileno(), _SIZE, access=mmap.ACCESS_READ) as mapped:
            if mapped[: len(_MAGIC)] != _MAGIC:
                return totals
            with memoryview(mapped) as whole, whole[len(_MAGIC) :].cast("d") as counts:
                return list(map(operator.add, totals, counts))


def _claim(folder: Path) -> int:
    """An open file of counts in ``folder``, locked for this process alone: one whose worker
    died, taken over with its counts, or else a new one of zeros."""
    if fcntl is not None:
        for path in sorted(folder.glob(f"*{FILE_SUFFIX}")):
            fd = os.open(path, os.O_RDWR)
            if _lock(fd) and os.fstat(fd).st_size == _SIZE and os.pread(fd, 8, 0) == _MAGIC:
                return fd
            os.close(fd)  # a live worker's (or of another layout): not ours to touch
    # made under a name that is not summed, and renamed once locked and sized: no other
    # worker can take it over in between, and no scrape reads half of it
    fd, made = tempfile.mkstemp(".new", f"worker-{os.getpid()}-", folder)
    try:
        if fcntl is not None:
            _lock(fd)
        os.ftruncate(fd, _SIZE)
        os.pwrite(fd, _MAGIC, 0)
        os.rename(made, made.removesuffix(".new") + FILE_SUFFIX)
    except BaseException:
        os.close(fd)
        os.unlink(made)
        raise
    return fd


def _lock(fd: int) -> bool:
    """Whether this process now holds ``fd``'s file alone (False: a live worker does)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
