"""The background writer: the only way logged data reaches a store.

Callers append small tuples to a deque (microseconds, no lock, no I/O). One daemon thread per
store wakes every ``interval`` seconds, or sooner when much is queued or someone flushes, drains
the deque, groups what it took by run and writes it in as few store calls as possible. The
store itself is opened on that thread, when there is first something to write: a store that is
locked, slow or down never holds up the caller.

Heavy jobs (artifact copies, model files) run on a second thread, so that a large file never
delays the metrics queued behind it; what they produce (artifact hashes, model records) then
joins the queue. A run's end and a flush wait for the jobs queued before them. A job that waits
for its run to be stored is woken as soon as the writer has stored it, not by a timer.

A short run found whole in one pass (its creation, what was logged to it and its end, with no
call on it between) is written with one ``Store.write_run``: one unit of work, not one per
record. Should the store refuse it for good, the records are written one by one instead, so
that only the refused one is dropped.

Failures:

- a transient one (``errors.is_transient``: locked, disk full, network) is reported once as a
  warning; what could not be written stays queued and is retried with back-off. The queue is
  bounded (``max_pending``): beyond it the oldest metric values are dropped as new ones arrive.
- any other failure is a record the store refuses for good (a param that would change, a value
  it cannot hold, a run that has ended): that record alone is dropped, with a warning naming
  it, and everything else is written.
- a writer thread that died is noticed by the next call that queues something: it warns and
  starts a new one.

At exit, once the writer is abandoned (no store call starts any more), everything logged is
counted once: written (``written_by_kind``), not written (``unwritten``), or given to a store
call that has not returned (``in_flight``: it may land yet, or not).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from autolog import lifecycle
from autolog.entities import Metric, Param, RunStatus, RunTag
from autolog.errors import (
    NotFoundError,
    StoreReplacedError,
    background_thread,
    is_transient,
    issue_warning,
)
from autolog.stores.base import RunCreation, RunWrites, Store

__all__ = ["NotYet", "Writer"]


class NotYet(Exception):
    """Raised by a heavy job that cannot run yet (its run is not stored): it is tried again
    later, quietly."""


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
MODEL: Final = 8
LATER: Final = 9
# in a run creation's arguments: the run is created again in a store that lost it
_AGAIN: Final = "_again"
# what an item written with its whole run (``_Whole``) is replaced by in the pass's items
_DONE: Final = -1
_DONE_ITEM: Final = (_DONE, None)

_DATA_KINDS = (METRIC, PARAM, TAG)
# what each kind of item is called in the report at exit (flush markers and calls: nobody's data)
_NAMES: Final = {
    METRIC: "metric values",
    PARAM: "params",
    TAG: "tags",
    CREATE_RUN: "run creations",
    END_RUN: "run ends",
    HASHES: "artifact hash records",
    MODEL: "model records",
    LATER: "metric computations",
}
# the kinds that a whole run's one ``write_run`` carries between its creation and its end
_RUN_WRITE_KINDS = frozenset((METRIC, PARAM, TAG, HASHES, MODEL))
# how long the file thread sleeps with nothing to do (a new job or a stored run wakes it)
_IDLE = 3600.0
_MAX_BACKOFF = 30.0
# A run created less than this long ago (ms) and not ended when the writer takes its records is
# held back for the next pass (at most one tick) unless a flush follows it: a short run is then
# written whole, in one unit of work, not split at whatever moment another run woke the writer.
_YOUNG_MS = 250
# While the writer is behind, the bound on what waits is checked once per this many values.
_BOUND_EVERY = 1024


class _Batch:
    __slots__ = ("metrics", "params", "tags")

    def __init__(self) -> None:
        self.metrics: list[Metric] = []
        self.params: list[Param] = []
        self.tags: list[RunTag] = []


class _Whole:
    """A run found whole in one pass: its creation and end, the items between them that it
    takes (``items``, replaced by ``_DONE`` once stored), and what they hold."""

    __slots__ = ("batch", "create", "end", "hashes", "items", "models", "positions", "run_id")

    def __init__(self, run_id: str, create: tuple[Any, ...], positions: list[int]) -> None:
        self.run_id = run_id
        self.create = create
        self.positions = positions  # of its items in the pass's list, the creation first
        self.batch = _Batch()
        self.items: list[tuple[Any, ...]] = [create]
        self.hashes: dict[str, str] = {}
        self.models: dict[str, Mapping[str, str]] = {}
        self.end: tuple[Any, ...] | None = None

    def take(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == METRIC:
            self.batch.metrics.append(item[2])
        elif kind == PARAM:
            self.batch.params.append(item[2])
        elif kind == TAG:
            self.batch.tags.append(item[2])
        elif kind == HASHES:
            self.hashes.update(item[2])
        elif kind == MODEL:
            self.models[item[2]] = item[3]
        else:
            self.end = item
        self.items.append(item)

    def writes(self, store: Store) -> RunWrites:
        batch = self.batch
        assert self.end is not None
        return RunWrites(
            create=RunCreation(**_create_arguments(store, self.create[2])),
            metrics=batch.metrics,
            params=batch.params,
            tags=batch.tags,
            hashes=self.hashes or None,
            models=self.models or None,
            end=(self.end[2], self.end[3]),
        )

    def count(self, counts: dict[str, int]) -> None:
        """Add what this run's write holds to ``counts``, by kind."""
        for name, n in (
            ("metric values", len(self.batch.metrics)),
            ("params", len(self.batch.params)),
            ("tags", len(self.batch.tags)),
        ):
            if n:
                counts[name] = counts.get(name, 0) + n
        for item in self.items:
            if item[0] not in _DATA_KINDS:
                name = _NAMES[item[0]]
                counts[name] = counts.get(name, 0) + 1


class _Abandoned(Exception):
    """Raised on the writer thread instead of a store call once the writer is abandoned: what
    it holds stays as it is, to be reported as not written."""


class _Progress:
    """What one pass of the writer took and has not seen stored: ``batches`` (values per run,
    a stored one is removed), ``items[index:]`` (not looked at yet) and ``handed`` (what the
    store call now running was given: its outcome is unknown until it returns)."""

    __slots__ = ("batches", "handed", "index", "items")

    def __init__(self, items: list[tuple[Any, ...]], batches: dict[str, _Batch]) -> None:
        self.items = items
        self.batches = batches
        self.index = 0
        self.handed: _Batch | _Whole | tuple[Any, ...] | None = None


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
    """Batches everything logged for one store and writes it from a background thread.

    ``store`` is a store, or a function that opens one: it is then called on the writer thread
    when there is first something to write (and again after a failure to open).
    """

    def __init__(
        self,
        store: Store | Callable[[], Store],
        *,
        interval: float = 1.0,
        batch_size: int = 50_000,
        max_pending: int = 2_000_000,
    ) -> None:
        if callable(store) and not isinstance(store, Store):
            self._opener: Callable[[], Store] | None = store
            self._store: Store | None = None
        else:
            self._opener = None
            self._store = store
        self._open_lock = threading.Lock()
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
        # Runs whose deques (and every other trace here) go once they are empty: ended ones,
        # and runs a client no longer writes to (``release``). Nothing is kept per finished run.
        self._ended: set[str] = set()
        # runs the store refused to create: what is logged to them is dropped (said once)
        self._refused: set[str] = set()
        # runs a heavy job waits to see created: never held back (``_held_back``)
        self._awaited: set[str] = set()
        # Items taken from the queue whose write failed; retried before anything newer.
        self._retry: deque[tuple[Any, ...]] = deque()
        # Taken by whoever removes metric values: the writer thread, and the bound.
        self._take_lock = threading.Lock()
        self._behind = 0
        self._wake = threading.Event()
        self._busy = False
        # what the pass under way took (None between passes), read by ``unwritten``
        self._progress: _Progress | None = None
        self._closed = False
        self._abandoned = False
        self._thread: threading.Thread | None = None
        self._start_lock = threading.RLock()
        self._failing: str | None = None
        self._failures = 0  # failed attempts to write, ever
        self._warned: set[str] = set()
        # heavy jobs: (run_id, job, on_drop), or (None, item, None) to pass an item on to the
        # queue once every job before it is done
        self._jobs: deque[tuple[str | None, Any, Callable[[], None] | None]] = deque()
        self._jobs_wake = threading.Event()
        self._jobs_busy = False
        self._jobs_thread: threading.Thread | None = None
        #: values and records dropped so far, by what they were (reported at exit)
        self.dropped_by_kind: dict[str, int] = {}
        #: values and records the store took, by what they were (reported at exit)
        self.written_by_kind: dict[str, int] = {}
        #: called on the writer thread after each drain (the client's heartbeat)
        self.on_tick: Callable[[], None] | None = None
        #: called on the writer thread with a run id once its creation is stored, or refused
        #: for good: what waited for the run in the store may go on
        self.on_created: Callable[[str], None] | None = None
        #: called on the writer thread with a run id once its end is written (or dropped)
        self.on_ended: Callable[[str], None] | None = None
        #: called on the writer thread once the store said it was replaced (a SQLite file
        #: deleted): it calls ``recreate_run`` for each live run, and returns how many
        self.on_replaced: Callable[[], int] | None = None
        self._replaced: BaseException | None = None  # told, not handled yet
        self._recreations: list[tuple[Any, ...]] = []
        #: what the store first refused for good (named in the report at exit: the cause,
        #: where what follows is refused for it)
        self.refusal: str | None = None
        _writers.add(self)

    def _after_fork(self) -> None:
        """In a forked child: no writer thread runs, and the queue is the parent's to write.

        The locks are new too: the parent's writer thread may have held one at the fork.
        """
        self._queue = deque()
        self._retry = deque()
        self._jobs = deque()
        # The same deques (clients hold them), emptied; the parent wrote their runs' creation
        # before the fork, so the child may write into every one of them.
        for queue in self._metrics.values():
            queue.clear()
        self._ready.update(self._metrics)
        self._carry = {}
        self._progress = None
        self._wake = threading.Event()
        self._jobs_wake = threading.Event()
        self._start_lock = threading.RLock()
        self._open_lock = threading.Lock()
        self._take_lock = threading.Lock()
        self._thread = None
        self._jobs_thread = None
        self._busy = False
        self._jobs_busy = False
        self._closed = False

    @property
    def dropped(self) -> int:
        """How many values and records were dropped (refused by the store, or over the bound)."""
        return sum(self.dropped_by_kind.values())

    # the store --------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The store, opened now if it is not open yet (on the calling thread)."""
        store = self._store
        if store is not None:
            return store
        with self._open_lock:
            if self._store is None:
                assert self._opener is not None
                self._store = self._opener()
            return self._store

    @property
    def store_is_open(self) -> bool:
        return self._store is not None

    @property
    def failing(self) -> str | None:
        """What the store's last failure was, while it keeps failing; None when it works."""
        return self._failing

    # caller side ------------------------------------------------------------------------------

    def put(self, item: tuple[Any, ...]) -> None:
        """Queue one item; never blocks on I/O."""
        queue = self._queue
        queue.append(item)
        thread = self._thread
        if thread is None or not thread.is_alive():
            self._start()
        if len(queue) >= self.batch_size:
            self.wake()

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
            self._behind = 0
            return
        # Woken before and not come yet: the writer is behind (a failing or a slow store). The
        # bound applies as values arrive, not only when the writer gets round to a retry.
        self._behind += 1
        if self._behind % _BOUND_EVERY == 0:
            thread = self._thread
            if thread is not None and not thread.is_alive():
                self._start()
            self._bound()

    def metric(self, run_id: str, metric: Metric) -> None:
        queue = self.metric_queue(run_id)
        queue.append(metric)
        if len(queue) >= self.batch_size:
            self.wake()

    def param(self, run_id: str, param: Param) -> None:
        self.put((PARAM, run_id, param))

    def tag(self, run_id: str, tag: RunTag) -> None:
        self.put((TAG, run_id, tag))

    def create_run(self, run_id: str, **kwargs: Any) -> None:
        """Queue the run's creation. ``kwargs`` are ``Store.create_run``'s arguments; a
        ``resolve`` function among them is called with the store on the writer thread and
        gives the final ones (an experiment looked up, the context found)."""
        self.put((CREATE_RUN, run_id, kwargs))

    def end_run(self, run_id: str, status: RunStatus, end_time: int) -> None:
        """Queue the run's end, behind every heavy job queued for it before."""
        if self._put_after_jobs((END_RUN, run_id, status, end_time)):
            # a finished run is written now, not at the next tick (behind jobs, the file thread
            # wakes the writer when it lets the end through: not before, so that the run's
            # records and its end are written together)
            self.wake()

    def hashes(self, run_id: str, hashes: Mapping[str, str]) -> None:
        self.put((HASHES, run_id, dict(hashes)))

    def metrics_later(self, run_id: str, compute: Callable[[], Sequence[Metric]]) -> None:
        """Queue values that ``compute()`` gives on the writer thread, when it takes them
        (after what was queued before for the run): they go with the run's other values, so
        a short run stays one unit of work (a ``call`` would split it)."""
        self.put((LATER, run_id, compute))

    def model(
        self,
        run_id: str,
        path: str,
        files: Mapping[str, str],
        done: Callable[[], None] | None = None,
    ) -> None:
        """Queue ``Store.record_model``'s record of a model logged at ``path``: written with
        the run's other records (one unit of work, where the run is queued whole). ``done``
        is called on the writer thread once it is written (or dropped)."""
        self.put((MODEL, run_id, path, dict(files), done))

    def replaced(self, exc: BaseException) -> None:
        """The store was found replaced (``StoreReplacedError``, by a reader as well): the
        live runs are created again in it before anything more is written to them."""
        self._replaced = exc
        self.wake()

    def recreate_run(
        self,
        run_id: str,
        arguments: Mapping[str, Any],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        """From ``on_replaced``: create ``run_id`` again (``create_run``'s ``arguments``), with
        the ``params`` and ``tags`` set since, ahead of what is queued for it; its values wait
        meanwhile."""
        self._ready.discard(run_id)
        self._recreations.append((CREATE_RUN, run_id, {**arguments, _AGAIN: True}))
        self._recreations.extend((PARAM, run_id, p) for p in params)
        self._recreations.extend((TAG, run_id, t) for t in tags)

    def refused(self, run_id: str) -> bool:
        """Whether the store refused to create ``run_id`` (for good)."""
        return run_id in self._refused

    def release(self, run_id: str) -> None:
        """Forget ``run_id`` once what is queued for it is written: its caller no longer logs
        to it (a run it looked up, not its own). Logging to it again starts over."""
        self._ended.add(run_id)

    def call(self, run_id: str, job: Callable[[], None]) -> None:
        """Run ``job`` on the writer thread, after everything queued before it for ``run_id``."""
        self.put((CALL, run_id, job))

    def heavy(
        self,
        run_id: str,
        job: Callable[[], None],
        *,
        what: str = "a file write",
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        """Run ``job`` on the writer's second thread (large files: it never delays metrics),
        after the heavy jobs queued before it. A job that fails for now (or raises ``NotYet``)
        is tried again later; one that fails for good is dropped with a warning naming
        ``what``, and ``on_drop`` cleans up after it."""
        self._jobs.append((run_id, (job, what), on_drop))
        thread = self._jobs_thread
        if thread is None or not thread.is_alive():
            self._start_jobs()
        self._jobs_wake.set()

    def _put_after_jobs(self, item: tuple[Any, ...]) -> bool:
        """Queue ``item`` behind the heavy jobs queued before it; True if it was queued for
        the writer at once (no job before it)."""
        if self._jobs or self._jobs_busy:
            self._jobs.append((None, item, None))
            self._jobs_wake.set()
            return False
        self.put(item)
        return True

    @property
    def pending(self) -> int:
        """How many values and records are waiting to be written (an estimate while it runs)."""
        queued = sum(len(q) for q in list(self._metrics.values()))
        carried = sum(len(m) for m in list(self._carry.values()))
        # what the store is being given now counts too: a store call may hang with it
        progress = self._progress
        flying = 0
        if progress is not None:
            flying = len(progress.items) - progress.index
            flying += sum(_size(b) for b in list(progress.batches.values()))
        busy = max(flying, 1 if self._busy else 0) + (1 if self._jobs_busy else 0)
        return len(self._queue) + len(self._retry) + len(self._jobs) + queued + carried + busy

    def unwritten(self) -> dict[str, int]:
        """What is waiting, by kind (for the report at exit): not given to the store yet, or
        given in a call that failed. Not what a store call under way holds (``in_flight``)."""
        return self._counts()[0]

    def in_flight(self) -> dict[str, int]:
        """What the store call under way was given, by kind: its outcome is unknown until it
        returns (a store that hangs at exit)."""
        return self._counts()[1]

    def _counts(self) -> tuple[dict[str, int], dict[str, int]]:
        waiting: dict[str, int] = {}
        flying: dict[str, int] = {}

        def add(kind: str, n: int = 1, counts: dict[str, int] = waiting) -> None:
            if n:
                counts[kind] = counts.get(kind, 0) + n

        def add_batch(batch: _Batch, counts: dict[str, int]) -> None:
            add("metric values", len(batch.metrics), counts)
            add("params", len(batch.params), counts)
            add("tags", len(batch.tags), counts)

        # Under the lock that the writer takes to account for a store call that returned:
        # each value is counted once, as written, in flight or waiting.
        with self._take_lock:
            progress = self._progress
            items: list[tuple[Any, ...]] = []
            if progress is not None:
                handed = progress.handed
                whole = handed if isinstance(handed, _Whole) else None
                if isinstance(handed, _Batch):
                    add_batch(handed, flying)
                elif isinstance(handed, _Whole):
                    handed.count(flying)  # with the values it took from ``batches``
                elif handed is not None and handed[0] in _NAMES:
                    add(_NAMES[handed[0]], 1, flying)
                for owner, batch in list(progress.batches.items()):
                    if batch is not handed and (whole is None or owner != whole.run_id):
                        add_batch(batch, waiting)
                given = {id(i) for i in whole.items} if whole is not None else {id(handed)}
                items = [i for i in progress.items[progress.index :] if id(i) not in given]
            for values in [*list(self._metrics.values()), *list(self._carry.values())]:
                add("metric values", len(values))
            for item in [*items, *list(self._retry), *list(self._queue)]:
                if item[0] in _NAMES:  # flush markers and internal calls are nobody's data
                    add(_NAMES[item[0]])
            jobs = list(self._jobs)
            busy = self._jobs_busy  # the first job is running: a file half written, or not
            for index, (run_id, job, _) in enumerate(jobs):
                if run_id is None:
                    if job[0] in _NAMES:
                        add(_NAMES[job[0]])
                else:
                    add("artifact and model writes", 1, flying if busy and index == 0 else waiting)
        return waiting, flying

    def flush(self, timeout: float | None = None, *, until_failure: bool = False) -> bool:
        """Block until everything queued before this call is stored.

        Returns False if that did not happen within ``timeout`` (a store that keeps failing),
        or, with ``until_failure``, as soon as an attempt to write after this call fails (at
        exit: try once more, then go).
        """
        failures = self._failures
        if (
            self._thread is None
            and not self._queue
            and not self._retry
            and not self._jobs
            and not self._jobs_busy
        ):
            if not any(self._metrics.values()):
                return True  # no writer has run, nothing is queued: nothing can be in flight
            self._start()  # values appended since a fork, when no thread was running
        thread = self._thread
        if thread is not None and not thread.is_alive():
            self._start()
        done = threading.Event()
        self._put_after_jobs((FLUSH, None, done))
        self._wake.set()
        self._jobs_wake.set()
        if not until_failure:
            return done.wait(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not done.wait(0.02):
            if self._failures > failures:
                return False
            if deadline is not None and time.monotonic() > deadline:
                return False
        return True

    def close(self, timeout: float | None = 10.0, *, until_failure: bool = False) -> bool:
        """Flush and stop the threads (within ``timeout`` in all); later puts start them again.

        Returns False if not everything was written (``until_failure``: see ``flush``)."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        flushed = self.flush(timeout, until_failure=until_failure)
        if not flushed and until_failure:
            return False  # the threads stay: daemons, holding what could not be written
        self._closed = True
        self._wake.set()
        self._jobs_wake.set()
        for thread in (self._thread, self._jobs_thread):
            if thread is not None and thread is not threading.current_thread():
                thread.join(left())
                if thread.is_alive():
                    return False  # still writing: keep it the one consumer of its queue
        self._thread = None
        self._jobs_thread = None
        self._closed = False
        return flushed

    def abandon(self, settle: float = 0.2) -> None:
        """Stop the threads without writing what is left (its store is being closed). No store
        call starts after this; one under way is waited for at most ``settle`` seconds, so
        that ``unwritten`` and ``in_flight`` then say what became of each value."""
        self._abandoned = True
        self._wake.set()
        self._jobs_wake.set()
        thread = self._thread
        deadline = time.monotonic() + settle
        while thread is not None and thread.is_alive() and thread is not threading.current_thread():
            progress = self._progress
            if not self._busy or (progress is not None and progress.handed is not None):
                return  # between passes, or in a store call (hung): nothing moves meanwhile
            if time.monotonic() > deadline:
                return
            time.sleep(0.005)

    # writer side ------------------------------------------------------------------------------

    def _start(self) -> None:
        with self._start_lock:
            thread = self._thread
            if thread is not None and thread.is_alive():
                return
            if thread is not None:
                self._warn_once(
                    "restarted",
                    "the writer thread had stopped; a new one writes what was queued",
                )
            thread = threading.Thread(target=self._loop, name="autolog-writer", daemon=True)
            self._thread = thread
            thread.start()

    def _start_jobs(self) -> None:
        with self._start_lock:
            thread = self._jobs_thread
            if thread is not None and thread.is_alive():
                return
            thread = threading.Thread(target=self._jobs_loop, name="autolog-files", daemon=True)
            self._jobs_thread = thread
            thread.start()

    def _loop(self) -> None:
        background_thread()
        delay = self.interval
        while True:
            self._wake.wait(delay)
            self._wake.clear()
            if self._abandoned:
                return
            ok = False
            try:
                ok = self._drain()
                if ok and self.on_tick is not None:
                    try:
                        self.on_tick()
                    except Exception as exc:
                        self._report_failure(exc)
            except BaseException as exc:  # nothing of ours may end the only writer thread
                self._warn_once(f"loop:{type(exc).__name__}", f"writer error: {exc!r}")
            if self._closed and ok and not self._queue and not self.pending:
                return
            # back off while the store fails, up to 30 s, but keep answering flush requests
            delay = self.interval if ok else min(max(delay * 2, 0.5), _MAX_BACKOFF)

    def _jobs_loop(self) -> None:
        background_thread()
        delay = _IDLE
        while True:
            self._jobs_wake.wait(delay)
            self._jobs_wake.clear()
            if self._abandoned:
                return
            ok: bool | None = True
            while self._jobs and ok:
                run_id, job, on_drop = self._jobs[0]
                self._jobs_busy = True
                try:
                    ok = self._run_job(run_id, job, on_drop)
                finally:
                    if ok:
                        self._jobs.popleft()
                    self._jobs_busy = False
            if self._closed and not self._jobs:
                return
            if ok:
                delay = _IDLE
            elif ok is None:
                # Waiting for a run to be stored: the writer wakes this thread once it has
                # stored a run or run a call (``_stored``); the timer is only a safety net.
                delay = 0.01 if delay >= _IDLE else min(delay * 2, 1.0)
            else:
                delay = min(max(delay * 2, 0.5), _MAX_BACKOFF)

    def _run_job(
        self, run_id: str | None, job: Any, on_drop: Callable[[], None] | None
    ) -> bool | None:
        """Run one heavy job: True when done (or dropped), False if it failed and should be
        tried again later, None if it must wait for its run's creation."""
        if run_id is None:
            self.put(job)  # an item that waited for the jobs before it
            self.wake()
            return True
        function, what = job
        try:
            function()
            return True
        except NotYet:
            # the run's creation is queued: have it written now (not held back as young)
            self._awaited.add(run_id)
            self.wake()
            return None
        except BaseException as exc:
            if isinstance(exc, Exception) and is_transient(exc):
                self._report_failure(exc)
                return False
            self._drop("artifact and model writes", 1, run_id, what, exc)
        if on_drop is not None:
            try:
                on_drop()
            except Exception as exc:
                _logger().debug("autolog: cleanup after a dropped job failed: %r", exc)
        return True

    def _take(self) -> tuple[list[tuple[Any, ...]], dict[str, list[Metric]]]:
        """The queued items, then the metric values: in that order, so that every value logged
        before a flush marker that was taken is taken too."""
        with self._take_lock:
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
                    # ended and emptied: nothing more comes (a client logging to an ended run
                    # is refused), so the process keeps no state per finished run
                    del self._metrics[run_id]
                    self._forget(run_id)
        return items, metrics

    def _held_back(
        self, items: list[tuple[Any, ...]], metrics: dict[str, list[Metric]]
    ) -> list[tuple[Any, ...]]:
        """``items`` without those of runs created moments ago and not ended yet (their
        creation among ``items``, no flush after it): those go back to the front of the queue,
        their values from ``metrics`` with them, for the next pass. Most short runs end
        before it, and are then written whole."""
        if self._closed:
            return items
        young: set[str] = set()
        now = time.time_ns() // 1_000_000
        for item in items:
            kind = item[0]
            if kind == FLUSH:
                young.clear()  # everything before a flush marker is written now
            elif kind == CREATE_RUN:
                started = item[2].get("start_time")
                if isinstance(started, int) and now - started < _YOUNG_MS:
                    young.add(item[1])
            elif kind == END_RUN:
                young.discard(item[1])
        young -= self._ready
        young -= self._awaited
        if not young:
            return items
        kept = [item for item in items if item[1] not in young]
        with self._take_lock:
            self._retry.extend(item for item in items if item[1] in young)
            for run_id in young:
                values = metrics.pop(run_id, None)
                if values:
                    self._carry[run_id] = values + self._carry.get(run_id, [])
        return kept

    def _computed(self, items: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """``items`` with each ``metrics_later`` replaced by the values it computes now; one
        that fails is dropped with a warning naming it, as a value the store refuses."""
        if not any(item[0] == LATER for item in items):
            return items
        computed: list[tuple[Any, ...]] = []
        for item in items:
            if item[0] != LATER:
                computed.append(item)
                continue
            try:
                metrics = item[2]()
            except Exception as exc:
                self._drop("metric computations", 1, item[1], "metrics computed later", exc)
                continue
            computed.extend((METRIC, item[1], metric) for metric in metrics)
        return computed

    def _forget(self, run_id: str) -> None:
        self._ended.discard(run_id)
        self._ready.discard(run_id)
        self._refused.discard(run_id)
        self._awaited.discard(run_id)

    def _drain(self) -> bool:
        """Write everything queued; True if the store took it all."""
        self._busy = True
        try:
            if self._abandoned:
                return False
            self._recreate()
            items, metrics = self._take()
            items = self._held_back(self._computed(items), metrics)
            if not items and not metrics:
                return True
            batches: dict[str, _Batch] = {}
            for run_id, values in metrics.items():
                seeded = batches[run_id] = _Batch()
                seeded.metrics = values
            # what is being written now, for the report at exit should this never return
            self._progress = _Progress(items, batches)
            try:
                self.store  # noqa: B018  (opened here, on this thread, on first use)
            except Exception as exc:
                self._report_failure(exc)
                self._keep_for_retry(_unwritten({}, items), metrics)
                return False
            try:
                unwritten = self._write(items, batches)
            except _Abandoned:
                return False  # what it held stays in _progress: reported as not written
            if unwritten is None:
                self._progress = None
                if self._failing is not None:
                    _logger().warning("autolog: the tracking store works again; backlog written")
                    self._failing = None
                return True
            self._keep_for_retry(unwritten, {})
            return False
        finally:
            if not self._abandoned:
                self._progress = None  # kept, written, or (a bug of ours) lost: not in flight
            self._busy = False

    def _recreate(self) -> None:
        """After the store was replaced: queue the live runs' creations ahead of the rest, and
        say once what became of them."""
        exc, hook = self._replaced, self.on_replaced
        if exc is None or hook is None:
            return
        self._replaced = None
        try:
            count = hook()
        except Exception as error:  # a bug of ours: the runs' later writes are refused
            _logger().debug("autolog: on_replaced failed: %r", error)
            count = 0
        with self._take_lock:
            self._retry = deque([*self._recreations, *self._retry])
            self._recreations = []
        self._failures += 1
        if self._failing is None:
            self._failing = f"{type(exc).__name__}: {exc}"
        issue_warning(
            f"autolog: the tracking store failed ({exc}); "
            + (
                f"{count} live run(s) of this process are created again in it, with their "
                "params and tags, and logging to them goes on (their values stored before "
                "are lost)"
                if count
                else "no run of this process was live"
            )
        )

    def _handing(self, handed: _Batch | _Whole | tuple[Any, ...]) -> None:
        """Just before a store call: what it is given (in flight until it returns). Once the
        writer is abandoned no call starts: ``unwritten`` counts what was not given."""
        progress = self._progress
        if progress is not None:
            progress.handed = handed
        if self._abandoned:
            if progress is not None:
                progress.handed = None
            raise _Abandoned

    def _handed(
        self,
        kind: str | None = None,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Just after a store call returned: count what it stored (``kind``: one record of
        that kind; else the values given) as written."""
        with self._take_lock:
            progress = self._progress
            if progress is not None:
                progress.handed = None
            written = self.written_by_kind
            if kind is not None:
                written[kind] = written.get(kind, 0) + 1
            for name, values in (("metric values", metrics), ("params", params), ("tags", tags)):
                if values:
                    written[name] = written.get(name, 0) + len(values)

    def _write(
        self, items: list[tuple[Any, ...]], batches: dict[str, _Batch]
    ) -> list[tuple[Any, ...]] | None:
        """Apply items in order, with each run's metric values (``batches``, seeded with the
        values taken from the deques) before anything that ends or follows it; return what
        was not stored (to retry), None if all was."""
        progress = self._progress
        wholes = self._wholes(items)
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
            if kind == _DONE:
                continue  # written with its whole run
            if progress is not None:
                progress.index = index  # the items before are in ``batches`` or done
            if kind == FLUSH:
                if not self._write_batches(batches):
                    return _unwritten(batches, items[index:])
                item[2].set()  # everything before the marker is stored
                continue
            positions = wholes.get(run_id) if kind == CREATE_RUN else None
            if positions is not None:
                stored = self._write_whole(_Whole(run_id, item, positions), items, batches)
                if stored is None:
                    return _unwritten(batches, items[index:])
                if stored:
                    continue
                # refused for good: record by record below, so only the refused one is dropped
            # Anything else concerns one run and must follow that run's earlier data.
            if run_id in batches and run_id in self._ready:
                if not self._store_batch(run_id, batches[run_id]):
                    return _unwritten(batches, items[index:])
                with self._take_lock:
                    del batches[run_id]
            if not self._apply(item):
                return _unwritten(batches, items[index:])
        if progress is not None:
            progress.index = len(items)
        if not self._write_batches(batches, final=True):
            return _unwritten(batches, [])
        return None

    def _wholes(self, items: list[tuple[Any, ...]]) -> dict[str, list[int]]:
        """The runs whose creation and end are both among ``items`` with nothing between them
        that must come between (a call on the run, a second creation): run id -> positions of
        its creation, of the records between that ``write_run`` carries, and of its end."""
        open_runs: dict[str, list[int]] = {}
        found: dict[str, list[int]] = {}
        skip = (self._ready, self._refused)
        for index, item in enumerate(items):
            kind = item[0]
            if kind in (FLUSH, _DONE):
                continue  # a flush marker between: the whole run is stored before it anyway
            run_id = item[1]
            if kind == CREATE_RUN:
                if run_id in open_runs or run_id in found or any(run_id in s for s in skip):
                    open_runs.pop(run_id, None)
                    found.pop(run_id, None)
                else:
                    open_runs[run_id] = [index]
            elif run_id in open_runs:
                if kind in _RUN_WRITE_KINDS:
                    open_runs[run_id].append(index)
                elif kind == END_RUN:
                    found[run_id] = [*open_runs.pop(run_id), index]
                else:
                    del open_runs[run_id]  # a call on the run runs after what precedes it
        return found

    def _write_whole(
        self, whole: _Whole, items: list[tuple[Any, ...]], batches: dict[str, _Batch]
    ) -> bool | None:
        """Store a whole run with one ``write_run``: True once stored, None after a failure
        worth retrying, False where the store refused it for good (nothing of it stored)."""
        run_id = whole.run_id
        earlier = batches.get(run_id)  # values taken from its deque, records before creation
        if earlier is not None:
            whole.batch.metrics.extend(earlier.metrics)
            whole.batch.params.extend(earlier.params)
            whole.batch.tags.extend(earlier.tags)
        for position in whole.positions[1:]:
            whole.take(items[position])
        store = self.store
        self._handing(whole)
        try:
            store.write_run(run_id, whole.writes(store))
        except Exception as exc:
            self._handed()
            if is_transient(exc):
                self._report_failure(exc)
                return None
            _logger().debug("autolog: run %s written record by record: %r", run_id, exc)
            return False
        with self._take_lock:  # counted once: written, no longer waiting or in flight
            progress = self._progress
            if progress is not None:
                progress.handed = None
            whole.count(self.written_by_kind)
            batches.pop(run_id, None)
            for position in whole.positions:
                items[position] = _DONE_ITEM
        self._created(run_id)
        self._ended_run(run_id)
        for item in whole.items:
            self._model_done(item)
        if run_id in self._metrics:
            self._ended.add(run_id)  # its deque goes once empty (``_take``)
        else:
            self._forget(run_id)
        self._stored()
        return True

    def _write_batches(self, batches: dict[str, _Batch], *, final: bool = False) -> bool:
        """Store each batch, removing the stored ones from ``batches``; False on a failure.

        A run whose creation is still queued behind this point keeps its batch (its values
        were logged after the flush or barrier being written); at the ``final`` write they are
        carried to the next round, when its creation will have been applied."""
        for run_id in list(batches):
            if run_id not in self._ready:
                if final:
                    carried = batches.pop(run_id)
                    # Params and tags of a run not created yet wait in the queue (rare: a
                    # flush between the creation being queued and applied).
                    self._carry[run_id] = carried.metrics
                    self._retry.extend((PARAM, run_id, p) for p in carried.params)
                    self._retry.extend((TAG, run_id, t) for t in carried.tags)
                continue
            if not self._store_batch(run_id, batches[run_id]):
                return False
            with self._take_lock:  # stored: counted as written, no longer as waiting
                del batches[run_id]
        return True

    def _store_batch(self, run_id: str, batch: _Batch) -> bool:
        if run_id in self._refused:
            n = len(batch.metrics) + len(batch.params) + len(batch.tags)
            self._count_dropped("values of runs that could not be created", n)
            return True
        self._handing(batch)
        try:
            self.store.log_batch(run_id, batch.metrics, batch.params, batch.tags)
            self._handed(None, batch.metrics, batch.params, batch.tags)
            return True
        except Exception as exc:
            self._handed()
            if is_transient(exc):
                self._report_failure(exc)
                return False
            # refused for good: find out which part, keep the rest
        # Store what the store accepts, part by part (the tags; each metric key; each param),
        # and drop (with a warning) only the parts it refuses. ``batch`` keeps what is left, so
        # a transient failure half-way retries only the parts not stored yet.
        by_key: dict[str, list[Metric]] = {}
        for metric in batch.metrics:
            by_key.setdefault(metric.key, []).append(metric)
        parts: list[tuple[list[Metric], list[Param], list[RunTag]]] = [
            *(([], [], [t]) for t in _last_tags(batch.tags)),
            *((metrics, [], []) for metrics in by_key.values()),
            *(([], [p], []) for p in batch.params),
        ]
        for index, (metrics, params, tags) in enumerate(parts):
            self._handing(batch)  # outcome unknown for what is left of the batch
            try:
                self.store.log_batch(run_id, metrics, params, tags)
                self._handed(None, metrics, params, tags)
            except Exception as exc:
                self._handed()
                if is_transient(exc):
                    rest = parts[index:]
                    batch.metrics = [m for part in rest for m in part[0]]
                    batch.params = [p for part in rest for p in part[1]]
                    batch.tags = [t for part in rest for t in part[2]]
                    self._report_failure(exc)
                    return False
                if metrics:
                    what = f"{len(metrics)} value(s) of metric {metrics[0].key!r}"
                    self._drop("metric values", len(metrics), run_id, what, exc)
                elif params:
                    self._drop("params", 1, run_id, f"param {params[0].key!r}", exc)
                else:
                    self._drop("tags", 1, run_id, f"tag {tags[0].key!r}", exc)
        return True

    def _apply(self, item: tuple[Any, ...]) -> bool:
        kind, run_id = item[0], item[1]
        written = _NAMES.get(kind)  # what is counted as written once the call returns
        store = self.store
        self._handing(item)
        try:
            if kind == CREATE_RUN:
                try:
                    store.create_run(run_id, **_create_arguments(store, item[2]))
                except NotFoundError:
                    refresh = item[2].get("refresh")
                    if refresh is None:
                        raise
                    refresh()  # what the caller knew of the experiment is out of date
                    store.create_run(run_id, **_create_arguments(store, item[2]))
                self._created(run_id)
                self._stored()
            elif kind == END_RUN:
                if run_id in self._refused:
                    # nothing is written (the run is not there): not counted as written
                    self._count_dropped("values of runs that could not be created", 1)
                    written = None
                else:
                    store.update_run(run_id, item[2], item[3])
                self._ended_run(run_id)
                if run_id in self._metrics:
                    self._ended.add(run_id)  # its deque goes once empty (``_take``)
                else:
                    self._forget(run_id)
            elif kind in (HASHES, MODEL) and run_id in self._refused:
                # of a run the store would not create: said once, with the run's creation
                self._count_dropped("values of runs that could not be created", 1)
                self._model_done(item)
                written = None
            elif kind == HASHES:
                store.record_artifact_hashes(run_id, item[2])
            elif kind == MODEL:
                store.record_model(run_id, item[2], item[3])
                self._model_done(item)
            elif kind == CALL:
                item[2]()
                self._stored()  # the call may be what a heavy job waits for (a run stored)
            self._handed(written)
            return True
        except Exception as exc:
            self._handed()
            if is_transient(exc):
                self._report_failure(exc)
                return False
            self._refused_for_good(item, exc)
            return True

    def _refused_for_good(self, item: tuple[Any, ...], exc: Exception) -> None:
        """Retrying cannot help (a record refused, a path that is a file, a bug): drop this
        one item rather than hold up everything queued behind it."""
        kind, run_id = item[0], item[1]
        if kind == CREATE_RUN and item[2].get(_AGAIN):
            # the store has the run after all (a file replaced by a copy holding it): its
            # writes go on there
            _logger().debug("autolog: run %s not created again: %r", run_id, exc)
            self._created(run_id)
        elif kind == CREATE_RUN:
            self._refused.add(run_id)
            self._created(run_id)
            self._drop("run creations", 1, run_id, "the run's creation", exc)
        elif kind == END_RUN:
            self._ended_run(run_id)
            self._drop("run ends", 1, run_id, f"the run's end ({item[2]})", exc)
        elif kind == HASHES:
            what = f"artifact hashes of {', '.join(sorted(item[2]))[:200]}"
            self._drop("artifact hash records", 1, run_id, what, exc)
        elif kind == MODEL:
            self._model_done(item)
            self._drop("model records", 1, run_id, f"the record of model {item[2]!r}", exc)
        else:
            self._drop("jobs", 1, run_id, "a job", exc)

    def _stored(self) -> None:
        """A run was stored or a call ran: wake the file thread if a job may wait for it.

        Set whenever a job is queued or running, so a job that found its run not stored just
        before this cannot miss it: the wake is kept until the file thread next waits."""
        if self._jobs:
            self._jobs_wake.set()

    def _created(self, run_id: str) -> None:
        """The run's creation is stored (or refused for good): its later records may follow,
        and whoever waits for it is told."""
        self._ready.add(run_id)
        self._awaited.discard(run_id)
        hook = self.on_created
        if hook is not None:
            try:
                hook(run_id)
            except Exception as exc:  # a bug of ours must not stop the writer
                _logger().debug("autolog: on_created for %s failed: %r", run_id, exc)

    def _model_done(self, item: tuple[Any, ...]) -> None:
        """A model's record was written (or dropped): tell whoever waits (a job that logs a
        model at the same path again, see ``Client.log_model``), and wake the jobs."""
        done = item[4] if item[0] == MODEL and len(item) > 4 else None
        if done is not None:
            try:
                done()
            except Exception as exc:  # a bug of ours must not stop the writer
                _logger().debug("autolog: a model's done callback failed: %r", exc)
            self._jobs_wake.set()

    def _ended_run(self, run_id: str) -> None:
        hook = self.on_ended
        if hook is not None:
            try:
                hook(run_id)
            except Exception as exc:  # a bug of ours must not stop the writer
                _logger().debug("autolog: on_ended for %s failed: %r", run_id, exc)

    def _drop(self, kind: str, n: int, run_id: str, what: str, exc: BaseException) -> None:
        self._count_dropped(kind, n, exc)
        self._warn_once(
            f"dropped:{run_id}:{what}",
            f"could not record {what} of run {run_id}, dropped it: {type(exc).__name__}: {exc}",
        )

    def _count_dropped(self, kind: str, n: int, why: BaseException | None = None) -> None:
        if why is not None and self.refusal is None:
            self.refusal = f"{type(why).__name__}: {why}"
        self.dropped_by_kind[kind] = self.dropped_by_kind.get(kind, 0) + n

    def _report_failure(self, exc: BaseException) -> None:
        if isinstance(exc, StoreReplacedError) and self.on_replaced is not None:
            self.replaced(exc)  # said once the live runs are created again (``_recreate``)
            return
        self._failures += 1
        if self._failing is None:
            self._failing = f"{type(exc).__name__}: {exc}"
        # once per kind of failure, even while another is being reported (a lock held, then
        # the database deleted)
        self._warn_once(
            f"failing:{type(exc).__name__}",
            f"the tracking store failed ({exc}); logged data is kept in memory "
            f"(up to {self.max_pending:,} values) and retried",
        )

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            if len(self._warned) < 10_000:
                self._warned.add(key)
            issue_warning(f"autolog: {message}")
        _logger().debug("autolog writer: %s", message)

    def _keep_for_retry(
        self, items: list[tuple[Any, ...]], metrics: dict[str, list[Metric]]
    ) -> None:
        # Flush markers stay queued with the data they wait for: a flush() with a timeout
        # returns False meanwhile, and is released once the store takes the backlog.
        with self._take_lock:
            self._progress = None  # counted once: as kept, no longer as being written
            # What this pass put back already (params and tags of a run whose creation is
            # still queued) stays, after what was not written.
            self._retry = deque([*items, *self._retry])
            for run_id, values in metrics.items():
                earlier = self._carry.get(run_id)
                self._carry[run_id] = earlier + values if earlier else values
        self._bound()

    def _bound(self) -> None:
        """Drop the oldest metric values beyond ``max_pending`` (runs' lifecycle records, params
        and tags are kept)."""
        with self._take_lock:
            overflow = self.pending - self.max_pending
            if overflow <= 0:
                return
            dropped = 0
            if any(item[0] == METRIC for item in self._retry):
                survivors: deque[tuple[Any, ...]] = deque()
                for item in self._retry:
                    if dropped < overflow and item[0] == METRIC:
                        dropped += 1
                        continue
                    survivors.append(item)
                self._retry = survivors
            for run_id, values in list(self._carry.items()):
                cut = min(len(values), overflow - dropped)
                if cut > 0:
                    self._carry[run_id] = values[cut:]
                    dropped += cut
            # then the oldest values of the runs with the most waiting
            for queue in sorted(self._metrics.values(), key=len, reverse=True):
                while dropped < overflow and queue:
                    try:
                        queue.popleft()
                    except IndexError:
                        break
                    dropped += 1
        if dropped:
            self._count_dropped("metric values", dropped)
            self._warn_once(
                "overflow",
                f"the tracking store is failing or slow and more than {self.max_pending:,} "
                "values are waiting; the oldest metric values are being dropped",
            )


def _last_tags(tags: list[RunTag]) -> list[RunTag]:
    """One tag per key, the last logged: what the store would keep of them."""
    return list({tag.key: tag for tag in tags}.values())


def _create_arguments(store: Store, kwargs: dict[str, Any]) -> dict[str, Any]:
    """create_run's arguments: ``resolve(store, kwargs)`` where given, and the tags that
    ``tags_later()`` finds (on this thread)."""
    kwargs = dict(kwargs)
    kwargs.pop(_AGAIN, None)
    resolve = kwargs.pop("resolve", None)
    kwargs.pop("refresh", None)
    if resolve is not None:
        kwargs = resolve(store, kwargs)
    later = kwargs.pop("tags_later", None)
    if later is not None:
        try:
            kwargs["tags"] = {**later(), **kwargs["tags"]}
        except Exception as exc:  # context is a nicety: the run is created without it
            _logger().debug("autolog: run context not found: %r", exc)
    return kwargs


def _size(batch: _Batch) -> int:
    return len(batch.metrics) + len(batch.params) + len(batch.tags)


def _unwritten(batches: dict[str, _Batch], rest: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Queue items again for what ``batches`` still hold, followed by the unprocessed ``rest``."""
    items: list[tuple[Any, ...]] = []
    for run_id, batch in batches.items():
        items.extend((METRIC, run_id, m) for m in batch.metrics)
        items.extend((PARAM, run_id, p) for p in batch.params)
        items.extend((TAG, run_id, t) for t in batch.tags)
    items.extend(item for item in rest if item[0] != _DONE)
    return items
