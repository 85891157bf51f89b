"""The background writer: the only way logged data reaches a store.

Callers append small tuples to a deque (microseconds, no lock, no I/O). One daemon thread per
store wakes every ``interval`` seconds, or sooner when much is queued or someone flushes, drains
the deque, groups what it took by run and writes it in as few store calls as possible.

A failing store never raises into the caller: the failure is reported once as a warning, and
what could not be written stays queued (bounded by ``max_pending``) and is retried with
back-off. Only data the store refuses for good (e.g. a param that would change) is dropped, with a
warning naming it.
"""

from __future__ import annotations

import threading
import warnings
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Final

from autolog import lifecycle
from autolog.entities import Metric, Param, RunStatus, RunTag
from autolog.errors import (
    AutologWarning,
    InvalidInputError,
    NotFoundError,
    is_transient,
)
from autolog.stores.base import Store

__all__ = ["Writer"]


def _logger() -> Any:
    # logging (with traceback, string formatting, ...) is imported on the first message only.
    import logging

    return logging.getLogger(__name__)


# Queue item kinds; items are tuples whose first element is one of these.
METRIC: Final = 0
PARAM: Final = 1
TAG: Final = 2
CREATE_RUN: Final = 3
END_RUN: Final = 4
HASHES: Final = 5
CALL: Final = 6
FLUSH: Final = 7

_DATA_KINDS = (METRIC, PARAM, TAG)


class _Batch:
    __slots__ = ("metrics", "params", "tags")

    def __init__(self) -> None:
        self.metrics: list[Metric] = []
        self.params: list[Param] = []
        self.tags: list[RunTag] = []


_writers: weakref.WeakSet[Writer] = weakref.WeakSet()


def _flush_writers_before_fork() -> None:
    # The child starts with empty queues: what the parent logged before the fork (a run's
    # creation above all) is written first, so the child can log into those runs.
    for writer in list(_writers):
        thread = writer._thread
        if thread is not None and thread is not threading.current_thread() and not writer._failing:
            writer.flush(timeout=2.0)


def _reset_writers_after_fork() -> None:
    for writer in list(_writers):
        writer._after_fork()


lifecycle.on_fork(
    lifecycle.Layer.WRITER,
    before=_flush_writers_before_fork,
    after_in_child=_reset_writers_after_fork,
)


class Writer:
    """Batches everything logged for one store and writes it from a background thread."""

    def __init__(
        self,
        store: Store,
        *,
        interval: float = 1.0,
        batch_size: int = 50_000,
        max_pending: int = 2_000_000,
    ) -> None:
        self.store = store
        self.interval = interval
        self.batch_size = batch_size
        self.max_pending = max_pending
        self._queue: deque[tuple[Any, ...]] = deque()
        # Metric values, one deque per run: the hot path appends a Metric and nothing else.
        self._metrics: dict[str, deque[Metric]] = {}
        # Runs whose creation this writer has applied (or that existed before): their metrics
        # may be written. Metrics of a run whose creation is still queued wait in _carry.
        self._ready: set[str] = set()
        self._carry: dict[str, list[Metric]] = {}
        self._ended: set[str] = set()  # runs whose deques go once they are empty
        # Items taken from the queue whose write failed; retried before anything newer.
        self._retry: deque[tuple[Any, ...]] = deque()
        self._wake = threading.Event()
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._start_lock = threading.RLock()
        self._failing: str | None = None
        self._warned: set[str] = set()
        self.dropped = 0
        #: called on the writer thread after each drain (the client's heartbeat)
        self.on_tick: Callable[[], None] | None = None
        _writers.add(self)

    def _after_fork(self) -> None:
        """In a forked child: no writer thread runs, and the queue is the parent's to write.

        The locks are new too: the parent's writer thread may have held one at the fork.
        """
        self._queue = deque()
        self._retry = deque()
        # The same deques (clients hold them), emptied; the parent wrote their runs' creation
        # before the fork, so the child may write into every one of them.
        for queue in self._metrics.values():
            queue.clear()
        self._ready.update(self._metrics)
        self._carry = {}
        self._wake = threading.Event()
        self._start_lock = threading.RLock()
        self._thread = None
        self._busy = False
        self._closed = False

    # caller side ------------------------------------------------------------------------------

    def put(self, item: tuple[Any, ...]) -> None:
        """Queue one item; never blocks on I/O."""
        queue = self._queue
        queue.append(item)
        if self._thread is None:
            self._start()
        if len(queue) >= self.batch_size and not self._wake.is_set():
            self._wake.set()

    def metric_queue(self, run_id: str, *, exists: bool = False) -> deque[Metric]:
        """The deque that metric values of ``run_id`` are appended to (the hot path).

        ``exists``: the run was not created through this writer (it is in the store already).
        Whoever appends calls ``wake()`` once the deque holds ``batch_size`` values.
        """
        if exists:
            self._ready.add(run_id)
        queue = self._metrics.get(run_id)
        if queue is None:
            queue = self._metrics.setdefault(run_id, deque())
        if self._thread is None:
            self._start()
        return queue

    def wake(self) -> None:
        """Write soon rather than at the next tick (much is waiting)."""
        if not self._wake.is_set():
            self._wake.set()

    def metric(self, run_id: str, metric: Metric) -> None:
        self.metric_queue(run_id).append(metric)

    def param(self, run_id: str, param: Param) -> None:
        self.put((PARAM, run_id, param))

    def tag(self, run_id: str, tag: RunTag) -> None:
        self.put((TAG, run_id, tag))

    def create_run(self, run_id: str, **kwargs: Any) -> None:
        self.put((CREATE_RUN, run_id, kwargs))

    def end_run(self, run_id: str, status: RunStatus, end_time: int) -> None:
        self.put((END_RUN, run_id, status, end_time))
        self._wake.set()  # a finished run is written now, not at the next tick

    def hashes(self, run_id: str, hashes: Mapping[str, str]) -> None:
        self.put((HASHES, run_id, dict(hashes)))

    def call(self, run_id: str, job: Callable[[], None]) -> None:
        """Run ``job`` on the writer thread, after everything queued before it for ``run_id``."""
        self.put((CALL, run_id, job))

    @property
    def pending(self) -> int:
        queued = sum(len(q) for q in list(self._metrics.values()))
        carried = sum(len(m) for m in list(self._carry.values()))
        return len(self._queue) + len(self._retry) + queued + carried + (1 if self._busy else 0)

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything queued before this call is stored.

        Returns False if that did not happen within ``timeout`` (a store that keeps failing).
        """
        if self._thread is None and not self._queue and not self._retry:
            if not any(self._metrics.values()):
                return True  # no writer has run, nothing is queued: nothing can be in flight
            self._start()  # values appended since a fork, when no thread was running
        done = threading.Event()
        self.put((FLUSH, None, done))
        self._wake.set()
        return done.wait(timeout)

    def close(self, timeout: float | None = 10.0) -> bool:
        """Flush and stop the thread; later puts start it again."""
        flushed = self.flush(timeout)
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                return False  # still writing: keep it the one consumer of the queue
        self._thread = None
        self._closed = False
        return flushed

    # writer side ------------------------------------------------------------------------------

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._loop, name="autolog-writer", daemon=True)
                self._thread = thread
                thread.start()

    def _loop(self) -> None:
        delay = self.interval
        while True:
            self._wake.wait(delay)
            self._wake.clear()
            try:
                ok = self._drain()
            except Exception as exc:  # a bug of ours must not end the only writer thread
                self._warn_once(f"loop:{type(exc).__name__}", f"writer error: {exc!r}")
                ok = False
            if ok and self.on_tick is not None:
                try:
                    self.on_tick()
                except Exception as exc:
                    self._report_failure(exc)
            if self._closed and ok and not self._queue and not self.pending:
                return
            # back off while the store fails, up to 30 s, but keep answering flush requests
            delay = self.interval if ok else min(max(delay * 2, 0.5), 30.0)

    def _take(self) -> tuple[list[tuple[Any, ...]], dict[str, list[Metric]]]:
        """The queued items, then the metric values: in that order, so that every value logged
        before a flush marker that was taken is taken too."""
        items: list[tuple[Any, ...]] = list(self._retry)
        self._retry.clear()
        queue = self._queue
        popleft = queue.popleft
        # Only this thread removes items, so at least len(queue) of them are there to pop.
        while queue:
            items.extend([popleft() for _ in range(len(queue))])
        metrics, self._carry = self._carry, {}
        for run_id, values in list(self._metrics.items()):
            if values:
                take = values.popleft
                taken = [take() for _ in range(len(values))]
                earlier = metrics.get(run_id)
                metrics[run_id] = earlier + taken if earlier else taken
            elif run_id in self._ended:
                # ended and emptied: nothing more comes (a client logging to an ended run is
                # refused), so the process keeps no state per finished run
                del self._metrics[run_id]
                self._ended.discard(run_id)
                self._ready.discard(run_id)
        return items, metrics

    def _drain(self) -> bool:
        """Write everything queued; True if the store took it all."""
        self._busy = True
        try:
            items, metrics = self._take()
            if not items and not metrics:
                return True
            unwritten = self._write(items, metrics)
            if unwritten is None:
                if self._failing is not None:
                    _logger().warning("autolog: the tracking store works again; backlog written")
                    self._failing = None
                return True
            self._keep_for_retry(unwritten)
            return False
        finally:
            self._busy = False

    def _write(
        self, items: list[tuple[Any, ...]], metrics: dict[str, list[Metric]]
    ) -> list[tuple[Any, ...]] | None:
        """Apply items in order, with each run's metric values before anything that ends or
        follows it; return what was not stored (to retry), None if all was."""
        batches: dict[str, _Batch] = {}
        for run_id, values in metrics.items():
            seeded = batches[run_id] = _Batch()
            seeded.metrics = values
        last_run: str | None = None
        last_metrics: list[Metric] = []
        for index, item in enumerate(items):
            kind, run_id = item[0], item[1]
            if kind == METRIC and run_id == last_run:
                last_metrics.append(item[2])  # the common case, kept cheap
                continue
            if kind in _DATA_KINDS:
                batch = batches.get(run_id)
                if batch is None:
                    batch = batches[run_id] = _Batch()
                if kind == METRIC:
                    batch.metrics.append(item[2])
                    last_run, last_metrics = run_id, batch.metrics
                elif kind == PARAM:
                    batch.params.append(item[2])
                else:
                    batch.tags.append(item[2])
                continue
            last_run = None
            if kind == FLUSH:
                if not self._write_batches(batches):
                    return _unwritten(batches, items[index:])
                item[2].set()  # everything before the marker is stored
                continue
            # Anything else concerns one run and must follow that run's earlier data.
            if run_id in batches and run_id in self._ready:
                if not self._store_batch(run_id, batches[run_id]):
                    return _unwritten(batches, items[index:])
                del batches[run_id]
            if not self._apply(item):
                return _unwritten(batches, items[index:])
        if not self._write_batches(batches, final=True):
            return _unwritten(batches, [])
        return None

    def _write_batches(self, batches: dict[str, _Batch], *, final: bool = False) -> bool:
        """Store each batch, removing the stored ones from ``batches``; False on a failure.

        A run whose creation is still queued behind this point keeps its batch (its values
        were logged after the flush or barrier being written); at the ``final`` write they are
        carried to the next round, when its creation will have been applied."""
        for run_id in list(batches):
            if run_id not in self._ready:
                if final:
                    self._carry[run_id] = batches.pop(run_id).metrics
                continue
            if not self._store_batch(run_id, batches[run_id]):
                return False
            del batches[run_id]
        return True

    def _store_batch(self, run_id: str, batch: _Batch) -> bool:
        try:
            self.store.log_batch(run_id, batch.metrics, batch.params, batch.tags)
            return True
        except (InvalidInputError, NotFoundError):
            pass  # refused for good: find out which part, keep the rest
        except Exception as exc:
            self._report_failure(exc)
            return False
        # Store what the store accepts, part by part (the tags; each metric key; each param),
        # and drop (with a warning) only the parts it refuses. ``batch`` keeps what is left, so
        # a transient failure half-way retries only the parts not stored yet.
        by_key: dict[str, list[Metric]] = {}
        for metric in batch.metrics:
            by_key.setdefault(metric.key, []).append(metric)
        parts: list[tuple[list[Metric], list[Param], list[RunTag]]] = [
            ([], [], batch.tags),
            *((metrics, [], []) for metrics in by_key.values()),
            *(([], [p], []) for p in batch.params),
        ]
        for index, (metrics, params, tags) in enumerate(parts):
            try:
                if metrics or params or tags:
                    self.store.log_batch(run_id, metrics, params, tags)
            except (InvalidInputError, NotFoundError) as exc:
                self.dropped += len(metrics) + len(params) + len(tags)
                self._warn_once(f"refused:{type(exc).__name__}:{run_id}", f"dropped: {exc}")
            except Exception as exc:
                rest = parts[index:]
                batch.metrics = [m for part in rest for m in part[0]]
                batch.params = [p for part in rest for p in part[1]]
                batch.tags = [t for part in rest for t in part[2]]
                self._report_failure(exc)
                return False
        return True

    def _apply(self, item: tuple[Any, ...]) -> bool:
        kind, run_id = item[0], item[1]
        try:
            if kind == CREATE_RUN:
                self.store.create_run(run_id, **_with_later_tags(item[2]))
                self._ready.add(run_id)
            elif kind == END_RUN:
                self.store.update_run(run_id, item[2], item[3])
                self._ended.add(run_id)
            elif kind == HASHES:
                self.store.record_artifact_hashes(run_id, item[2])
            elif kind == CALL:
                item[2]()
            return True
        except (InvalidInputError, NotFoundError) as exc:
            if kind == CREATE_RUN:
                self._ready.add(run_id)  # its values will be refused and reported, not kept
            self._warn_once(f"refused:{kind}:{run_id}", f"could not record run {run_id}: {exc}")
            return True
        except Exception as exc:
            if not is_transient(exc):
                # Retrying cannot help (a path that is a file, no permission, a bug): drop this
                # one item rather than hold up everything queued behind it.
                self._warn_once(
                    f"failed:{kind}:{run_id}", f"could not record for run {run_id}: {exc}"
                )
                return True
            self._report_failure(exc)
            return False

    def _report_failure(self, exc: Exception) -> None:
        if self._failing is None:
            self._failing = repr(exc)
            self._warn_once(
                f"failing:{type(exc).__name__}",
                f"the tracking store failed ({exc}); logged data is kept in memory and retried",
            )

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warn(f"autolog: {message}")
        _logger().debug("autolog writer: %s", message)

    def _keep_for_retry(self, items: list[tuple[Any, ...]]) -> None:
        # Flush markers stay queued with the data they wait for: a flush() with a timeout
        # returns False meanwhile, and is released once the store takes the backlog.
        kept = deque(items)
        overflow = len(kept) + len(self._queue) - self.max_pending
        if overflow > 0:
            # Keep runs' lifecycle records and drop the oldest metric values first.
            survivors: deque[tuple[Any, ...]] = deque()
            for item in kept:
                if overflow > 0 and item[0] == METRIC:
                    overflow -= 1
                    self.dropped += 1
                    continue
                survivors.append(item)
            kept = survivors
            self._warn_once(
                "overflow",
                f"the tracking store is failing and more than {self.max_pending} values are "
                "waiting; the oldest metric values are being dropped",
            )
        self._retry = kept


def _with_later_tags(kwargs: dict[str, Any]) -> dict[str, Any]:
    """create_run's arguments, with the tags that ``tags_later()`` finds (on this thread)."""
    kwargs = dict(kwargs)
    later = kwargs.pop("tags_later", None)
    if later is not None:
        try:
            kwargs["tags"] = {**later(), **kwargs["tags"]}
        except Exception as exc:  # context is a nicety: the run is created without it
            _logger().debug("autolog: run context not found: %r", exc)
    return kwargs


def warn(message: str, stacklevel: int = 3) -> None:
    """Issue an AutologWarning that can never raise, even where warnings are made errors:
    the writer thread must survive it, and so must the user's training."""
    try:
        warnings.warn(message, AutologWarning, stacklevel=stacklevel)
    except Warning:
        _logger().warning("%s", message)


def _unwritten(batches: dict[str, _Batch], rest: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Queue items again for what ``batches`` still hold, followed by the unprocessed ``rest``."""
    items: list[tuple[Any, ...]] = []
    for run_id, batch in batches.items():
        items.extend((METRIC, run_id, m) for m in batch.metrics)
        items.extend((PARAM, run_id, p) for p in batch.params)
        items.extend((TAG, run_id, t) for t in batch.tags)
    items.extend(rest)
    return items
