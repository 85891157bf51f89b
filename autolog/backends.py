"""Backends: one store and its background writer per tracking URI, shared by every client
of that URI in the process, and what happens to them at exit and across a fork.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from autolog import context, lifecycle
from autolog.entities import Experiment, Param, RunStatus, RunTag
from autolog.errors import background_thread, is_transient
from autolog.stores.base import Store, check_uri, open_store
from autolog.stores.common import redact_uri
from autolog.stores.uris import absolute_uri
from autolog.writer import Writer

if TYPE_CHECKING:
    from autolog.run_state import RunState

_T = TypeVar("_T")

__all__ = [
    "HEARTBEAT_SECONDS",
    "KEPT",
    "Backend",
    "Late",
    "acquire",
    "flush_all",
    "release",
    "spool_notices",
    "spooled",
]

#: how often a process tells readers that the runs it owns are alive (``context.TAG_HEARTBEAT``)
HEARTBEAT_SECONDS = 10.0
#: how many ended runs (and runs looked up, not started here) each backend remembers
KEPT = 1_000


def _now() -> int:
    return time.time_ns() // 1_000_000


class Late(Exception):
    """The store did not answer in time (or is known to be failing)."""


class _Answer(Generic[_T]):
    """What one question to the store came to: a value, an exception, or not yet (a
    ``concurrent.futures.Future`` costs ``import autolog`` 6 ms: logging and more)."""

    __slots__ = ("_done", "_error", "_value", "cancelled")

    def __init__(self) -> None:
        self._done = threading.Event()
        self._value: _T | None = None
        self._error: BaseException | None = None
        self.cancelled = False

    def give(self, value: _T | None = None, error: BaseException | None = None) -> None:
        self._value, self._error = value, error
        self._done.set()

    def wait(self, timeout: float) -> _T:
        """The value (or its exception); ``Late`` when none came within ``timeout``."""
        if not self._done.wait(timeout):
            raise Late(f"no answer from the store in {timeout:g} s")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class _Asker:
    """One daemon thread that asks the store for callers that may not wait long (starting a
    run, looking one up): a store that hangs holds this one thread, not a thread per question,
    and never holds up the interpreter's exit (``concurrent.futures`` joins its workers)."""

    def __init__(self) -> None:
        self._questions: deque[tuple[Callable[[], Any], _Answer[Any]]] = deque()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def submit(self, fn: Callable[[], _T]) -> _Answer[_T]:
        future: _Answer[_T] = _Answer()
        with self._ready:
            if self._stopped:
                raise Late("this store's client is closed")
            self._questions.append((fn, future))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="autolog-ask", daemon=True)
                self._thread.start()
            self._ready.notify()
        return future

    def stop(self) -> None:
        with self._ready:
            self._stopped = True
            for _, future in self._questions:
                future.cancelled = True
                future.give(error=Late("this store's client is closed"))
            self._questions.clear()
            self._ready.notify()

    def _loop(self) -> None:
        background_thread()
        while True:
            with self._ready:
                while not self._questions and not self._stopped:
                    self._ready.wait()
                if self._stopped:
                    return
                fn, future = self._questions.popleft()
            if future.cancelled:
                continue
            try:
                future.give(fn())
            except BaseException as exc:
                future.give(error=exc)


class Backend:
    """One store and its writer, shared by every client of the same tracking URI.

    The store is opened by whichever thread needs it first: the writer's, for a write; the
    caller's, for a read.
    """

    def __init__(self, uri: str) -> None:
        check_uri(uri)  # bad input fails now; the store itself is opened when first needed
        self.uri = uri
        interval = lifecycle.seconds_setting("AUTOLOG_FLUSH_INTERVAL", 1.0)
        self.writer = Writer(partial(open_store, uri), interval=interval)
        self.writer.on_tick = self._heartbeat
        self.writer.on_created = self._created
        self.writer.on_replaced = self._recreate
        self.writer.on_ended = self._end_written
        # runs this process started whose creation the writer has not stored yet
        self.creating: dict[str, RunState] = {}
        self.runs: dict[str, RunState] = {}
        # runs this process started and ended whose end the writer has not written yet: they
        # are created again too, should the store be replaced meanwhile
        self.ending: dict[str, RunState] = {}
        # experiments by name and by id, as the store gave them
        self.experiments: dict[str, Experiment] = {}
        self.experiment_ids: dict[str, Experiment] = {}
        # runs this process ended, and how (the last KEPT): refused at once, no store read (an
        # older one is looked up in the store, which refuses writes to an ended run anyway)
        self.ended: dict[str, RunStatus] = {}
        # runs this process writes to but did not start (looked up), the last KEPT: an older
        # one is forgotten (looked up again if logged to), so memory stays flat over any
        # number of runs
        self.looked_up: dict[str, None] = {}
        self.lock = threading.Lock()
        self._asker = _Asker()
        self.clients = 0  # open Client objects using this backend
        self.closed = False

    @property
    def store(self) -> Store:
        return self.writer.store

    def forget(self, name: str) -> None:
        found = self.experiments.pop(name, None)
        if found is not None:
            self.experiment_ids.pop(found.experiment_id, None)

    def remember(self, experiment: Experiment) -> Experiment:
        self.experiments[experiment.name] = experiment
        self.experiment_ids[experiment.experiment_id] = experiment
        return experiment

    def ask(self, what: str, fn: Callable[[Store], _T], timeout: float) -> _T:
        """``fn(store)``, waited for at most ``timeout`` seconds on a helper thread.

        Raises ``Late`` when it takes longer (the answer then goes nowhere) or the store is
        known to be failing; what ``fn`` raises otherwise.
        """
        if self.writer.failing is not None:
            raise Late(self.writer.failing)
        future = self._asker.submit(lambda: fn(self.store))  # opened there, not here
        try:
            return future.wait(timeout)
        except Late as exc:
            # the answer goes nowhere; a store that hangs holds this one worker, not a thread
            # per question, and the next questions are late in turn
            raise Late(f"{what}: {exc}") from None
        except Exception as exc:
            if is_transient(exc):
                raise Late(f"{what}: {exc}") from exc
            raise

    def _created(self, run_id: str) -> None:
        """Writer thread: the run is in the store (or refused for good): jobs waiting for it go."""
        state = self.creating.pop(run_id, None)
        if state is not None:
            state.created.set()

    def _recreate(self) -> int:
        """Writer thread, the store replaced (a SQLite file deleted): create each live run this
        process started again, with its params and tags, in the experiment of the same name
        (the experiments this process knew are forgotten: the new store numbers its own).
        Its artifact folder stays where it was. Returns how many."""
        names = {e.experiment_id: e.name for e in list(self.experiment_ids.values())}
        self.experiments.clear()
        self.experiment_ids.clear()
        count = 0
        live = [(i, s) for i, s in list(self.runs.items()) if s.owned]
        for run_id, state in [*live, *list(self.ending.items())]:
            creation = state.creation
            if creation is None or run_id in self.creating:
                continue  # not ours, or its first creation is still queued
            name = state.experiment_name or names.get(state.experiment_id or "")
            if name is None:
                continue  # its experiment is known by an id only: it cannot be found again
            params = [Param(k, v) for k, v in (state.params or {}).items()]
            tags = [RunTag(k, v) for k, v in (state.tags or {}).items()]
            resolve = partial(_resolve_again, self, state, run_id, name)
            self.writer.recreate_run(run_id, {**creation, "resolve": resolve}, params, tags)
            count += 1
        return count

    def _end_written(self, run_id: str) -> None:
        """Writer thread: the run's end is written (or dropped): nothing more to create again."""
        self.ending.pop(run_id, None)

    def _heartbeat(self) -> None:
        """Writer thread: tell readers that the runs this process owns are still alive."""
        now = time.monotonic()
        for run_id, state in list(self.runs.items()):
            if state.owned and now - state.last_heartbeat >= HEARTBEAT_SECONDS:
                state.last_heartbeat = now
                # Queued, not written here: it then follows the run's creation in any case.
                self.writer.tag(run_id, RunTag(context.TAG_HEARTBEAT, str(_now())))

    def close(self, timeout: float | None, *, until_failure: bool = False) -> bool:
        """Write what is queued (within ``timeout``), stop the writer, close the store; True if
        everything was written."""
        self.closed = True
        self.runs.clear()
        self.ending.clear()
        self._asker.stop()
        written = False
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            written = self.writer.close(timeout, until_failure=until_failure)
            return written
        finally:
            if not written:
                self.writer.abandon()  # what is left goes nowhere once the store is closed
            if self.writer.store_is_open:
                left = None if deadline is None or written else deadline - time.monotonic()
                close_store(self.store, left)


def _resolve_again(
    backend: Backend,
    state: RunState,
    run_id: str,
    name: str,
    store: Store,
    arguments: dict[str, Any],
) -> dict[str, Any]:
    """Writer thread: where a run created again goes (its experiment, found or made again by
    name; its artifacts where they were)."""
    found = backend.remember(store.get_or_create_experiment(name))
    state.experiment_id = found.experiment_id
    uri = state.artifact_uri or f"{found.artifact_location}/{run_id}/artifacts"
    state.artifact_uri = uri
    return {**arguments, "experiment_id": found.experiment_id, "artifact_uri": uri}


def close_store(store: Store, timeout: float | None) -> None:
    """Close ``store``, waiting at most ``timeout`` seconds (None: as long as it takes): an
    abandoned writer may still be inside a store call that holds the store's lock (a locked
    SQLite file, a database that does not answer), and exit must keep its bound."""
    if timeout is None:
        store.close()
        return

    def close() -> None:
        background_thread()
        with contextlib.suppress(Exception):  # the process is leaving: closing is a courtesy
            store.close()

    closer = threading.Thread(target=close, name="autolog-close", daemon=True)
    closer.start()
    closer.join(max(timeout, 0.1))


_backends: dict[str, Backend] = {}
_backends_lock = threading.RLock()


def acquire(uri: str) -> Backend:
    """The backend of ``uri`` (opened if needed), counted as used by one more client.

    A relative path in ``uri`` (``sqlite:///runs.db``, ``./runs``) is taken against the working
    folder of this call (``stores.uris.absolute_uri``): the store itself is opened later, on
    another thread, and an ``os.chdir`` meanwhile must not move it; clients of one file by
    two spellings share its backend."""
    check_uri(uri)
    uri = absolute_uri(uri)
    with _backends_lock:
        backend = _backends.get(uri)
        if backend is None:
            backend = _backends[uri] = Backend(uri)
            lifecycle.watch_multiprocessing_child()
        backend.clients += 1
        return backend


def release(backend: Backend, timeout: float | None) -> bool:
    """One client less; the last one closes the backend. True if everything was written."""
    with _backends_lock:
        backend.clients -= 1
        if backend.clients > 0 or backend.closed:
            return backend.closed or backend.writer.flush(timeout)
        if _backends.get(backend.uri) is backend:
            del _backends[backend.uri]
    return backend.close(timeout)


def flush_all(timeout: float | None = None) -> bool:
    """Flush every store this process writes to."""
    flushed = True
    for backend in list(_backends.values()):  # every one, even after one timed out
        flushed = backend.writer.flush(timeout) and flushed
    return flushed


def spooled(writer: Writer, timeout: float | None) -> int:
    """Values a tracking server did not take and its store keeps spooled on disk, after one
    more try to send them (0 for every other store)."""
    settle = getattr(writer.store, "settle", None) if writer.store_is_open else None
    return int(settle(timeout)) if settle is not None else 0


def spool_notices(timeout: float | None = None) -> list[str]:
    """What tracking servers that do not answer left spooled, said once per outage."""
    notices = []
    for backend in list(_backends.values()):
        if spooled(backend.writer, timeout):
            notice = getattr(backend.writer.store, "spool_notice", None)
            text = notice() if notice is not None else None
            if text:
                notices.append(str(text))
    return notices


def _shut_down(event: lifecycle.Shutdown) -> None:
    """Write what every backend has queued, within the shutdown's deadline, close them, and say
    on stderr what could not be written or was dropped."""
    # Each backend stays registered until it is closed: SIGTERM may interrupt this shutdown
    # (a multiprocessing child's), and the handler's own shutdown must find them all.
    backends = list(_backends.values())
    # Every backend gets one more attempt (within the deadline); a store that still fails is
    # not waited for any longer.
    written = {
        id(backend): backend.writer.flush(event.remaining(), until_failure=True)
        for backend in backends
    }
    for backend in backends:
        writer = backend.writer
        closed = False
        with contextlib.suppress(Exception):  # closing what we can matters more than why not
            closed = backend.close(event.remaining(), until_failure=True)
        with _backends_lock:
            if _backends.get(backend.uri) is backend:
                del _backends[backend.uri]
        # Counted once the writer has stopped (abandoned: no store call starts any more), not
        # before: a batch in a store call may still land meanwhile, and is then written.
        unwritten, in_flight = {}, {}
        if not (written.get(id(backend)) or closed):
            unwritten, in_flight = writer.unwritten(), writer.in_flight()
        _report_losses(
            backend.uri,
            unwritten,
            writer.dropped_by_kind,
            writer.failing,
            in_flight=in_flight,
            written=writer.written_by_kind,
            refusal=writer.refusal,
        )


def _report_losses(
    uri: str,
    unwritten: Mapping[str, int],
    dropped: Mapping[str, int],
    failing: str | None,
    *,
    in_flight: Mapping[str, int] | None = None,
    written: Mapping[str, int] | None = None,
    refusal: str | None = None,
) -> None:
    """Say on stderr what is known of what this process logged to ``uri``: not written (still
    held here), in flight (given to a store call that has not returned: it may yet land, or
    not), dropped while running, and (where something is missing) what was written.

    Each names why: ``failing`` (the store's failure while it lasts: a permission denied, a
    full disk), ``refusal`` (the first record the store refused for good: a read-only SQLite
    file refuses the run itself, and then what was logged to it). "Slow or stalled" is said
    only where the store reported nothing: a call that never returned."""
    where = redact_uri(uri)
    reason = f" (the store: {failing})" if failing else " (the store is slow or stalled)"
    if unwritten:
        lifecycle.report(f"not written to {where}{reason}: {_counts(unwritten)}")
    if in_flight:
        lifecycle.report(
            f"in flight to {where} at exit, outcome unknown (a store call that had not "
            f"returned){'' if unwritten else reason}: {_counts(in_flight)}"
        )
    if dropped:
        why = f" (first refused: {refusal})" if refusal else ""
        lifecycle.report(f"dropped while running, for {where}{why}: {_counts(dropped)}")
    if (unwritten or in_flight or dropped) and written:
        lifecycle.report(f"written to {where}: {_counts(written)}")


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n:,} {kind}" for kind, n in sorted(counts.items()))


def _disown_after_fork() -> None:
    # The child keeps these backends (each writer starts over empty, see writer.py, and the SQL
    # store opens a connection of its own), but the runs are the parent's: no heartbeats.
    for backend in list(_backends.values()):
        backend._asker = _Asker()  # the parent's thread is not here, its lock may be held
        backend.ending.clear()
        for state in list(backend.runs.values()):
            state.owned = False


lifecycle.on_shutdown(lifecycle.Layer.CLIENT, _shut_down)
lifecycle.on_fork(lifecycle.Layer.CLIENT, after_in_child=_disown_after_fork)
