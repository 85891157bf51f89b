"""``Client``: every tracking operation with explicit run ids and no global state.

Writes (params, metrics, tags, run creation and end, model files) are validated on the caller's
thread and queued to the background writer of the store; reads first wait for this process's
own queued writes, so a client always reads what it wrote.

The caller's thread never waits on the store for a write: the store is opened, runs are
created and everything is written on the writer's threads. Starting a run needs its
experiment's id; when this process has not seen the experiment yet, the caller waits for the
store at most ``AUTOLOG_START_TIMEOUT`` seconds (default 1) and otherwise starts the run
without it: everything is recorded once the store answers (see ``Client.create_run``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload
from urllib.parse import urlsplit

from autolog import context, lifecycle, registry
from autolog.backends import (
    KEPT,
    Backend,
    Late,
    acquire,
    flush_all,
    release,
    spool_notices,
    spooled,
)
from autolog.entities import (
    Experiment,
    FileInfo,
    Metric,
    ModelInfo,
    ModelVersion,
    Param,
    RegisteredModel,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
)
from autolog.errors import (
    InvalidInputError,
    NotFoundError,
    ParamCollisionError,
    RunStateError,
    StoreError,
    StoreReplacedError,
    StoreUnavailableError,
    issue_warning,
)
from autolog.projects.capture import (
    TAG_COMMAND,
    command_line,
    logging_code,
    process_argv,
    record_run_context,
)
from autolog.run_state import (
    Creation,
    RunState,
    check_run_id,
    experiment_named,
    random_bits,
    start_timeout,
)
from autolog.run_state import run_name as new_run_name
from autolog.staging import ArtifactJob, file_stamp, mkdtemp, path_arg, place, same_bytes
from autolog.stores.base import Store
from autolog.stores.common import DEFAULT_DIR, Lifecycle, check_lifecycle
from autolog.stores.uris import absolute_uri
from autolog.validation import (
    CHECKED_KEYS,
    STEP_MAX,
    STEP_MIN,
    check_artifact_path,
    check_key,
    check_mapping,
    check_name,
    check_text,
    final_status,
    stringify,
    to_float,
    to_step,
    to_timestamp,
)
from autolog.writer import NotYet

if TYPE_CHECKING:
    from autolog.artifacts import ArtifactRepository
    from autolog.predictor import Predictor
    from autolog.purge import PurgeReport

_T = TypeVar("_T")

__all__ = [
    "DEFAULT_EXPERIMENT",
    "Client",
    "check_run_id",
    "flush_all",
    "resolve_tracking_uri",
    "spool_notices",
]

DEFAULT_EXPERIMENT = "Default"

#: called as ``hook(backend, run_id, state)`` on the caller's thread each time this process
#: starts a top-level run (``Client.create_run`` with no parent): what follows the live runs
#: (``autolog.system_metrics``) registers here. A hook is quick, does no I/O and never raises.
RUN_STARTED_HOOKS: list[Callable[[Backend, str, RunState], None]] = []


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``uri``, else ``$AUTOLOG_TRACKING_URI``, else the SQLite database under ./autolog-runs/."""
    from pathlib import Path

    chosen = uri or os.environ.get("AUTOLOG_TRACKING_URI")
    if chosen:
        check_text(chosen, "tracking URI")
    if not chosen:
        return f"sqlite:///{(Path.cwd() / DEFAULT_DIR / 'autolog.db').resolve()}"
    # sqlite:///runs.db and ./runs are relative to the working folder of this call: said as
    # absolute URIs, they mean the same store after an os.chdir, in a server or in a child
    return absolute_uri(chosen)


time_ns = time.time_ns
_new_tuple = tuple.__new__


def _now() -> int:
    return time_ns() // 1_000_000


_last_start = 0
_start_lock = threading.Lock()


def _start_time() -> int:
    """Now, but after every run this process started before: "newest first" is exact."""
    global _last_start
    with _start_lock:
        _last_start = max(_now(), _last_start + 1)
        return _last_start


def _tag_key(key: str) -> str:
    """A tag key the caller may set: any valid key but the one that marks a run a reader
    presumed killed (it lets the run take writes after KILLED, see ``stores.common``)."""
    if check_key(key) == context.TAG_PRESUMED_KILLED:
        raise InvalidInputError(f"the tag {key!r} is set by autolog only")
    return key


class Client:
    """Tracking operations against one tracking URI.

    Clients of one tracking URI share its store and background writer. ``close()`` (or the
    end of a ``with`` block) writes out what the client logged; the store closes with the last
    client using it, and at exit in any case.

    Writes never raise for a store that fails: they are queued, written in the background and
    retried (one ``AutologWarning`` says so); bad input raises at the call.

    Example::

        with autolog.Client("sqlite:///runs.db") as client:  # ./runs.db
            run = client.create_run(experiment_name="demo")
            client.log_metric(run.info.run_id, "loss", 0.5, step=1)
            client.set_terminated(run.info.run_id)
    """

    def __init__(self, tracking_uri: str | None = None) -> None:
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self._backend = acquire(self.tracking_uri)
        self._closed = False
        lifecycle.install_signal_handler()  # SIGTERM writes out what was logged (main thread only)
        self._runs = self._backend.runs
        self._batch_size = self._backend.writer.batch_size
        self._wake = self._backend.writer.wake

    def close(self, timeout: float | None = None) -> None:
        """Write out what was logged through this client and release its store.

        Waits at most ``timeout`` seconds (default ``AUTOLOG_EXIT_TIMEOUT``, 10). Using the
        client afterwards raises ``StoreError``; closing it again does nothing.

        Raises:
            StoreUnavailableError: what was logged could not be written within ``timeout``
                (it stays queued while other clients of the store are open).
        """
        if self._closed:
            return
        self._closed = True
        self._runs = {}
        wait = lifecycle.exit_timeout() if timeout is None else timeout
        if not release(self._backend, wait):
            raise StoreUnavailableError(
                f"the tracking store at {self.tracking_uri} has not taken queued writes in {wait} s"
            )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def _live(self) -> Backend:
        """The backend, for an operation: StoreError once this client (or autolog) closed."""
        backend = self._backend
        if self._closed or backend.closed:
            raise StoreError(f"this client of {self.tracking_uri} is closed")
        return backend

    @property
    def store(self) -> Store:
        """The tracking store (opened now, on this thread, if nothing opened it yet)."""
        return self._live.store

    # experiments ------------------------------------------------------------------------------

    def get_or_create_experiment(self, name: str = DEFAULT_EXPERIMENT) -> Experiment:
        check_name(name, "experiment name")
        backend = self._live
        cached = backend.experiments.get(name)
        if cached is None:
            cached = backend.remember(self.store.get_or_create_experiment(name))
        return cached

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        check_name(name, "experiment name")
        return self.store.get_experiment_by_name(name)

    def list_experiments(self, lifecycle: Lifecycle = "active") -> list[Experiment]:
        """Experiments in creation order: "active" ones, "deleted" ones, or "all"."""
        return self.store.list_experiments(check_lifecycle(lifecycle))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Rename an experiment (its runs stay in it); a name in use is an error."""
        check_name(new_name, "experiment name")
        self.store.rename_experiment(check_text(experiment_id, "experiment id"), new_name)
        self._forget_experiments()

    def delete_experiment(self, experiment_id: str) -> None:
        """Soft-delete an experiment: it and its runs are hidden until restored, and removed
        for good by ``purge_deleted``. Its name stays taken until then."""
        self.store.delete_experiment(check_text(experiment_id, "experiment id"))
        self._forget_experiments()

    def restore_experiment(self, experiment_id: str) -> None:
        self.store.restore_experiment(check_text(experiment_id, "experiment id"))
        self._forget_experiments()

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        """Set a tag of the experiment itself (a value is stored as text, as a run tag's is);
        a deleted experiment takes none. Written at once, not queued."""
        checked = check_key(key)
        text = stringify(checked, value)
        self.store.set_experiment_tag(check_text(experiment_id, "experiment id"), checked, text)
        self._forget_experiments()

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove the experiment's tag ``key`` (one it does not have is no change)."""
        checked = check_key(key)
        self.store.delete_experiment_tag(check_text(experiment_id, "experiment id"), checked)
        self._forget_experiments()

    def _forget_experiments(self) -> None:
        backend = self._live
        backend.experiments.clear()
        backend.experiment_ids.clear()

    def _experiment_now(self, name: str | None, experiment_id: str | None) -> Experiment | None:
        """The experiment, if known here or found within the start timeout; else None (the
        writer finds it when it creates the run)."""
        backend = self._live
        if experiment_id is not None:
            cached = backend.experiment_ids.get(experiment_id)
        else:
            assert name is not None
            cached = backend.experiments.get(name)
        if cached is not None:
            return cached

        def find(store: Store) -> Experiment:
            if experiment_id is not None:
                return store.get_experiment(experiment_id)
            assert name is not None
            return experiment_named(store, name, create=True)

        try:
            return backend.remember(backend.ask("starting a run", find, start_timeout()))
        except Late:
            return None
        except (NotFoundError, InvalidInputError):
            raise  # an experiment id that does not exist, a deleted one: the caller's mistake
        except Exception as exc:
            # The store cannot be opened or refused: the writer reports it (once) and retries.
            _logger().debug("autolog: experiment not found now: %r", exc)
            return None

    # runs -------------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_name: str | None = None,
        *,
        experiment_id: str | None = None,
        run_name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        parent_run_id: str | None = None,
    ) -> Run:
        """Start a RUNNING run owned by this process; it is stored in the background.

        The run's experiment must be known to give its id: when this process has not seen it
        yet and the store does not answer within ``AUTOLOG_START_TIMEOUT`` seconds (default
        1; the store is locked, slow or down), the run starts anyway. What is logged to it is
        kept and written once the store answers, and the returned ``info`` then has an empty
        ``experiment_id`` and ``artifact_uri`` (``get_run`` gives them once it is stored).

        ``experiment_name`` is a name (the experiment is made if none has it); an id goes in
        ``experiment_id``. A name that no experiment has but that is an experiment's id ("0")
        is refused, not made into a new experiment.

        Raises:
            NotFoundError: ``experiment_id`` names no experiment (where the store answered).
            InvalidInputError: a bad name, tag or parent; an experiment id given as the name.
        """
        if experiment_id == "":
            experiment_id = None  # unknown (a parent started while the store was late)
        if experiment_id is not None:
            check_text(experiment_id, "experiment id")
        else:
            check_name(experiment_name or DEFAULT_EXPERIMENT, "experiment name")
        if run_name is not None:
            check_text(run_name, "run_name")
        if parent_run_id is not None:
            check_run_id(parent_run_id)
        all_tags = context.cheap_tags()
        if parent_run_id is not None:
            all_tags[context.TAG_PARENT] = parent_run_id
        for key, value in check_mapping(tags or {}, "tags").items():
            all_tags[_tag_key(key)] = stringify(key, value)
        # autolog(log_code=True): a top-level run records how to run it again
        argv = process_argv() if parent_run_id is None and logging_code() else None
        if argv:  # not for a notebook or a shell: no command runs them again
            all_tags.setdefault(TAG_COMMAND, command_line(argv))
        backend = self._live
        if experiment_id is None and parent_run_id is not None and not experiment_name:
            # a nested run stays in its parent's experiment (known by name if not by id yet)
            parent = backend.runs.get(parent_run_id)
            if parent is not None:
                experiment_id = parent.experiment_id
                experiment_name = None if experiment_id else parent.experiment_name
        name = experiment_name or DEFAULT_EXPERIMENT
        experiment = self._experiment_now(name, experiment_id)
        run_id = f"{random_bits(128):032x}"
        run_name = run_name or new_run_name()
        start = _start_time()
        state = RunState(None, {}, owned=True, queue=backend.writer.metric_queue(run_id))
        state.experiment_name = name if experiment_id is None else None
        state.tags = {}
        if experiment is not None:
            state.experiment_name = experiment.name
            state.experiment_id = experiment.experiment_id
            state.artifact_uri = f"{experiment.artifact_location}/{run_id}/artifacts"
        creation = Creation(backend, state, run_id, experiment, name, experiment_id)
        backend.creating[run_id] = state  # told by the writer once the run is stored
        # kept while the run is live: to create it again in a store that lost it
        state.creation = {
            "run_name": run_name,
            "start_time": start,
            "parent_run_id": parent_run_id,
            "tags": all_tags,
            "tags_later": context.background_tags,
        }
        backend.writer.create_run(
            run_id,
            run_name=run_name,
            start_time=start,
            parent_run_id=parent_run_id,
            tags=all_tags,
            resolve=creation.resolve,
            refresh=creation.refresh,
            # git dirty flag, package versions: slower to find, so found on the writer thread
            tags_later=context.background_tags,
        )
        # Registered after the create is queued: anything queued for the run (heartbeats from
        # the writer thread included) follows its creation.
        backend.runs[run_id] = state
        if parent_run_id is None:
            for hook in RUN_STARTED_HOOKS:
                hook(backend, run_id, state)
        if argv is not None:  # its code and environment, found on the writer's file thread
            record_run_context(self, run_id, argv, later=True)
        info = RunInfo(
            run_id,
            state.experiment_id or "",
            run_name,
            RunStatus.RUNNING,
            start,
            None,
            state.artifact_uri or "",
            parent_run_id,
        )
        return Run(info, RunData({}, {}, all_tags))

    def set_terminated(
        self, run_id: str, status: RunStatus | str = RunStatus.FINISHED, end_time: int | None = None
    ) -> None:
        """End a run: FINISHED, FAILED or KILLED. Its data is written right away."""
        final = final_status(status)
        check_run_id(run_id)
        if end_time is not None:
            end_time = to_timestamp("end_time", end_time)
        backend = self._live
        state = backend.runs.pop(run_id, None)
        if state is not None:
            if state.owned and state.creation is not None:
                backend.ending[run_id] = state  # until its end is written
            state.owned = False
        backend.looked_up.pop(run_id, None)
        if len(backend.ended) >= KEPT:
            backend.ended.pop(next(iter(backend.ended)), None)
        backend.ended[run_id] = final
        backend.writer.end_run(run_id, final, end_time or _now())

    def rename_run(self, run_id: str, name: str) -> None:
        """Give the run another name, at once; a run that has ended is renamed too (a name is
        metadata), a deleted one is not (``RunStateError``)."""
        check_run_id(run_id)
        check_name(name, "run name")
        self._sync()  # the run's creation, if this process has it queued, goes first
        self._read(lambda store: store.rename_run(run_id, name))

    def update_run(
        self, run_id: str, status: RunStatus | str | None = None, name: str | None = None
    ) -> None:
        """MLflow's ``update_run``: rename the run (``name``, see ``rename_run``), end it
        (``status``: FINISHED, FAILED or KILLED, see ``set_terminated``), or both; the name
        first. Neither is an error.

        Example::

            client.update_run(run_id, name="baseline")
            client.update_run(run_id, status="FAILED", name="diverged")
        """
        if status is None and name is None:
            raise InvalidInputError("update_run changes a run's status, its name or both")
        final = None if status is None else final_status(status)
        if name is not None:
            self.rename_run(run_id, name)
        if final is not None:
            self.set_terminated(run_id, final)

    def get_run(self, run_id: str) -> Run:
        check_run_id(run_id)
        self._sync()
        return self._read(lambda store: store.get_run(run_id))

    @overload
    def search_runs(
        self,
        experiment_names: Sequence[str] | str | None = None,
        filter_string: str = "",
        order_by: Sequence[str] | str | None = None,
        max_results: int = 1000,
        *,
        experiment_ids: Sequence[str] | None = None,
        output_format: Literal["list"] = "list",
        lifecycle: Lifecycle = "active",
    ) -> list[Run]: ...

    @overload
    def search_runs(
        self,
        experiment_names: Sequence[str] | str | None = None,
        filter_string: str = "",
        order_by: Sequence[str] | str | None = None,
        max_results: int = 1000,
        *,
        experiment_ids: Sequence[str] | None = None,
        output_format: Literal["pandas"],
        lifecycle: Lifecycle = "active",
    ) -> Any: ...

    def search_runs(
        self,
        experiment_names: Sequence[str] | str | None = None,
        filter_string: str = "",
        order_by: Sequence[str] | str | None = None,
        max_results: int = 1000,
        *,
        experiment_ids: Sequence[str] | None = None,
        output_format: str = "list",
        lifecycle: Lifecycle = "active",
    ) -> Any:
        """Runs matching ``filter_string``, newest first unless ``order_by`` says otherwise.

        ``experiment_names`` are names, ``experiment_ids`` ids (None for both: every
        experiment); a name that no experiment has but that is an experiment's id is refused
        (``InvalidInputError``), as it would silently match nothing.

        ``lifecycle``: "active" runs (the default), "deleted" ones (see ``delete_run``), or
        "all".

        ``output_format="list"`` gives ``Run`` objects; ``"pandas"`` a DataFrame with a row per
        run: ``run_id``, ``run_name``, ``experiment_id``, ``experiment_name``, ``status``,
        ``start_time`` and ``end_time`` (UTC), ``parent_run_id``, ``artifact_uri``, then
        ``params.<key>``, ``metrics.<key>`` and ``tags.<key>`` columns.
        """
        from autolog.search import parse_filter, parse_order_by

        if output_format not in ("list", "pandas"):
            raise InvalidInputError(f"output_format is 'list' or 'pandas', not {output_format!r}")

        if filter_string is not None and not isinstance(filter_string, str):
            raise InvalidInputError(f"filter_string must be a string, not {filter_string!r}")
        if order_by is not None and (
            not isinstance(order_by, (str, list, tuple))
            or any(
                not isinstance(c, str)
                for c in ([order_by] if isinstance(order_by, str) else order_by)
            )
        ):
            raise InvalidInputError(
                f"order_by takes strings like 'metrics.acc DESC', not {order_by!r}"
            )
        if experiment_names is not None and (
            not isinstance(experiment_names, (str, list, tuple))
            or not all(
                isinstance(n, str)
                for n in (
                    [experiment_names] if isinstance(experiment_names, str) else experiment_names
                )
            )
        ):
            raise InvalidInputError(
                f"experiment_names takes a name or a list of names, not {experiment_names!r}"
            )
        filters = parse_filter(filter_string)
        clauses = parse_order_by(order_by)
        if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
            raise InvalidInputError(f"max_results must be a positive integer, not {max_results!r}")
        ids: list[str] | None = None
        if experiment_ids is not None:
            ids = [check_text(i, "experiment id") for i in experiment_ids]
        if experiment_names is not None:
            names = [experiment_names] if isinstance(experiment_names, str) else experiment_names
            for n in names:
                check_text(n, "experiment name")
            found = [experiment_named(self.store, n) for n in names]
            ids = (ids or []) + [e.experiment_id for e in found if e is not None]
        self._sync()
        check_lifecycle(lifecycle)
        runs = self._read(
            lambda store: store.search_runs(ids, filters, clauses, max_results, lifecycle)
        )
        if output_format == "pandas":
            from autolog import tabular

            experiments = {e.experiment_id: e.name for e in self.store.list_experiments("all")}
            return tabular.to_dataframe(runs, experiments)
        return runs

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run: hidden from searches (and the UI) until ``restore_run``; removed
        for good, artifacts included, by ``purge_deleted`` (``autolog gc``)."""
        self._sync()
        self.store.delete_run(check_run_id(run_id))

    def restore_run(self, run_id: str) -> None:
        """Bring a deleted run back."""
        self._sync()
        self.store.restore_run(check_run_id(run_id))

    def purge_deleted(self, older_than: float = 0.0, *, dry_run: bool = False) -> PurgeReport:
        """Remove for good the runs and experiments deleted at least ``older_than`` seconds
        ago, with their artifact files; a run that registered model versions point at is
        kept. ``dry_run``: only say what would go."""
        from autolog.purge import purge

        if not isinstance(older_than, (int, float)) or older_than < 0:
            raise InvalidInputError(f"older_than is seconds >= 0, not {older_than!r}")
        self._sync()
        return purge(self.store, _now() - int(older_than * 1000), dry_run=dry_run)

    def _read(self, read: Callable[[Store], _T]) -> _T:
        """``read(store)``; where it finds the store replaced (a SQLite file deleted), the
        writer is told (it creates this process's live runs again there) before reading again."""
        try:
            return read(self.store)
        except StoreReplacedError as exc:
            self._live.writer.replaced(exc)
            self._sync()
            return read(self.store)

    def _sync(self) -> None:
        """Wait for this process's queued writes so that reads see them."""
        if not self._live.writer.flush(timeout=30.0):
            raise StoreUnavailableError(
                f"the tracking store at {self.tracking_uri} has not taken queued writes in 30 s"
            )

    # logging ----------------------------------------------------------------------------------

    def _state(self, run_id: str) -> RunState:
        """What is known of ``run_id``; a run this process did not start is looked up once,
        waiting at most the start timeout (and else taken to be RUNNING: the store refuses
        what it must when the writer comes to it)."""
        state = self._live.runs.get(run_id)
        if state is not None:
            return state
        ended, run = self._look_up(run_id)
        if ended is not None:
            raise InvalidInputError(f"run {run_id} is {ended}; only RUNNING runs can be logged to")
        return self._follow(run_id, run)

    def _look_up(self, run_id: str) -> tuple[RunStatus | None, Run | None]:
        """How a run this process is not writing to has ended (None: not, or not known) and
        the run as the store gave it (None: not asked, or no answer within the start
        timeout)."""
        backend = self._live
        check_run_id(run_id)
        status = backend.ended.get(run_id)
        if status is not None:
            return status, None
        try:
            run: Run | None = backend.ask(
                "looking up a run", lambda store: store.get_run(run_id), start_timeout()
            )
        except Late:
            run = None
        except NotFoundError:
            raise
        except Exception as exc:  # the store cannot be opened: the writer will say so
            _logger().debug("autolog: run %s not looked up: %r", run_id, exc)
            run = None
        if run is not None and run.info.status is not RunStatus.RUNNING:
            return run.info.status, run
        return None, run

    def _follow(self, run_id: str, run: Run | None) -> RunState:
        """Start writing to a RUNNING run this process did not start (``run``: as the store
        gave it, None where it did not answer)."""
        backend = self._live
        queue = backend.writer.metric_queue(run_id, exists=True)
        if run is None:
            state = RunState(None, None, False, queue)
            # heavy jobs go ahead once what is queued before them is written
            backend.writer.call(run_id, state.created.set)
        else:
            state = RunState(run.info.artifact_uri, dict(run.data.params), False, queue)
            state.experiment_id = run.info.experiment_id
            state.created.set()
        backend.runs[run_id] = state
        looked_up = backend.looked_up
        looked_up[run_id] = None
        if len(looked_up) > KEPT:
            oldest = next(iter(looked_up))
            looked_up.pop(oldest, None)
            if backend.runs.pop(oldest, None) is not None:
                backend.writer.release(oldest)  # its deque goes once written
        return state

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        step: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        """Queue one metric value; without ``step`` it follows the key's previous step."""
        # The hot path of every integration: each line here is measured (bench_core.py).
        if type(key) is not str or key not in CHECKED_KEYS:
            check_key(key)
        if type(value) is not float:
            value = to_float(key, value)
        state = self._runs.get(run_id) or self._state(run_id)
        next_step = state.next_step
        if step is None:
            step = next_step.get(key, 0)
        elif type(step) is not int or not STEP_MIN <= step <= STEP_MAX:
            step = to_step(key, step)
        next_step[key] = step + 1
        if timestamp is None:
            timestamp = time_ns() // 1_000_000
        elif type(timestamp) is not int or not 0 <= timestamp <= STEP_MAX:
            timestamp = to_timestamp(key, timestamp)
        # tuple.__new__ builds the Metric without the Python-level NamedTuple constructor, and
        # the run's own deque takes it as it is: one object per value.
        queue = state.queue
        queue.append(_new_tuple(Metric, (key, value, step, timestamp)))
        if len(queue) >= self._batch_size:
            self._wake()

    def log_metrics(
        self,
        run_id: str,
        metrics: Mapping[str, float],
        step: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        timestamp = timestamp if timestamp is not None else _now()
        checked = [
            (check_key(k), to_float(k, v)) for k, v in check_mapping(metrics, "metrics").items()
        ]
        for key, value in checked:
            self.log_metric(run_id, key, value, step, timestamp)

    def log_metrics_later(
        self,
        run_id: str,
        compute: Callable[[], Mapping[str, float]],
        step: int = 0,
        timestamp: int | None = None,
    ) -> None:
        """Log the metrics ``compute()`` returns, computed on the writer thread rather than the
        caller's: for arithmetic that can leave a training thread (training scores from
        predictions already made). It runs after everything queued before for the run, and
        its values get ``step`` and the timestamp of this call. ``compute`` must read only
        what nobody changes meanwhile (copies, results of its own): it runs later. A value
        the store cannot take is dropped with a warning, like any refused write.
        """
        self._state(run_id)  # raises unless the run is RUNNING
        at = step if type(step) is int and STEP_MIN <= step <= STEP_MAX else to_step("step", step)
        stamp = _now() if timestamp is None else to_timestamp("timestamp", timestamp)

        def values() -> list[Metric]:
            # on the writer thread, with the run's other values (one unit of work)
            found = check_mapping(compute(), "metrics")
            return [Metric(check_key(k), to_float(k, v), at, stamp) for k, v in found.items()]

        self._live.writer.metrics_later(run_id, values)

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        self.log_params(run_id, {check_key(key): value})

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Queue params; one that was logged before with another value raises at once (where
        this process knows the run's params: else the store refuses it, with a warning)."""
        checked = []
        for key, value in check_mapping(params, "params").items():
            check_key(key)
            checked.append(Param(key, stringify(key, value)))
        state = self._state(run_id)
        if state.params is None:
            state.params = {}  # not known: collisions with what this process logs still raise
        for param in checked:
            old = state.params.get(param.key)
            if old is not None and old != param.value:
                raise ParamCollisionError(run_id, param.key, old, param.value)
        for param in checked:
            if param.key not in state.params:
                state.params[param.key] = param.value
                self._live.writer.param(run_id, param)

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.set_tags(run_id, {_tag_key(key): value})

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        """Set tags: queued for a RUNNING run; written at once to one that has ended (tags
        are metadata: an ended run takes them, unless it is deleted)."""
        checked = [
            RunTag(_tag_key(k), stringify(k, v)) for k, v in check_mapping(tags, "tags").items()
        ]
        state = self._runs.get(run_id)
        if state is None:
            ended, run = self._look_up(run_id)
            if ended is not None:
                self._sync()  # what this process queued for the run goes first
                self._read(lambda store: store.log_batch(run_id, tags=checked))
                return
            state = self._follow(run_id, run)
        if state.tags is not None:  # a run of this process's: kept to create it again
            state.tags.update((tag.key, tag.value) for tag in checked)
        for tag in checked:
            self._live.writer.tag(run_id, tag)

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove the run's tag ``key``, at once (after what this process queued for the
        run); one the run does not have is no change. An ended run's tags change too, a
        deleted ended run's do not (``RunStateError``)."""
        checked = _tag_key(key)
        check_run_id(run_id)
        self._sync()
        self._read(lambda store: store.delete_tag(run_id, checked))
        state = self._live.runs.get(run_id)
        if state is not None and state.tags is not None:
            state.tags.pop(checked, None)  # not set again if the run is created again

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        check_run_id(run_id)
        check_key(key)
        self._sync()
        return self._read(lambda store: store.get_metric_history(run_id, key))

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything logged so far through this store is stored.

        Returns False where it was not within ``timeout`` seconds, and where a tracking
        server did not take it: then it is spooled on disk (sent as soon as the server
        answers, or by ``autolog sync``), not stored.
        """
        return self._live.writer.flush(timeout) and not spooled(self._live.writer, timeout)

    # artifacts --------------------------------------------------------------------------------

    def _repository(self, run_id: str) -> ArtifactRepository:
        """The artifacts of a run, to read."""
        from autolog.artifacts import artifact_repository

        check_run_id(run_id)
        state = self._live.runs.get(run_id)
        uri = state.artifact_uri if state is not None else None
        if uri is None:
            uri = self.get_run(run_id).info.artifact_uri
        return artifact_repository(uri, store=self.store, run_id=run_id)

    def _wait_created(self, state: RunState) -> None:
        """Wait a little for a run's creation to be stored (no wait while the store fails)."""
        writer = self._live.writer
        if not state.created.is_set() and writer.failing is None:
            writer.wake()
            state.created.wait(start_timeout())

    def _later_repository(
        self, state: RunState, run_id: str, *, early: bool = False
    ) -> ArtifactRepository:
        """In a heavy job: the run's artifacts, once the run is stored (``NotYet`` before).

        ``early``: a local folder whose place is known is given before the run is stored (its
        files need no record of the run: a model's files go first, its record follows them,
        and a short run's records stay one unit of work)."""
        from autolog.artifacts import artifact_repository, local_or_remote

        writer = self._backend.writer  # at exit as well: a job not done is "not written"
        if not state.created.is_set():
            uri = state.artifact_uri
            local = uri is not None and urlsplit(uri).scheme in ("file", "")
            if not (early and local and uri is not None):
                raise NotYet("the run is not stored yet")
            if getattr(writer.store, "run_artifacts", None) is not None:
                raise NotYet("the run is not stored yet")  # a server's files follow its runs
            return local_or_remote(uri)
        store = writer.store
        if writer.refused(run_id):
            # a run the store never took: the job is dropped (its record would be refused),
            # rather than tried for ever ahead of every run's end
            raise RunStateError(f"run {run_id} could not be created in the store")
        if state.artifact_uri is None:
            # A run looked up while the store was slow or away, or created while its experiment
            # was unknown: ask the store now.
            state.artifact_uri = store.get_run(run_id).info.artifact_uri
        return artifact_repository(state.artifact_uri, store=store, run_id=run_id)

    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> str:
        """Log a file as one of the run's artifacts; the caller never waits for its copy.

        The file is snapshotted at the call in microseconds and copied, hashed and put in
        place on the writer's file thread; it appears among the run's artifacts once the
        store has recorded its SHA-256. What the caller may do with its file afterwards:

        - files up to 256 KiB are copied at the call: anything goes;
        - a larger file may be replaced (a new file renamed over it) or deleted at once:
          what was logged is what the file held at the call (a copy-on-write clone where
          the file system has them, else a hard link, on the same file system as the
          run's artifacts or the temporary folder);
        - a larger file rewritten in place (opened for writing again) before its copy is
          done is not logged: one ``AutologWarning`` says so, since the bytes of the call
          are gone (where the file system clones files, this never happens). So is one
          replaced or deleted where no link could be made. Write a new file, or log the
          file again after the change, when it must change right away.

        A store that fails (a full disk) does not raise: the copy is retried, as logged
        values are, until it lands (one ``AutologWarning`` says the store is failing), and
        counted at exit if it never did. Returns the artifact's path.
        """
        return self._log_files(run_id, local_path, artifact_path, single=True)[0]

    def log_artifacts(
        self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[str]:
        """Log every file under ``local_dir`` as the run's artifacts, keeping the layout.

        As ``log_artifact``: each file is snapshotted at the call and copied in the
        background (what the caller may do with its files meanwhile is said there); a store
        that fails does not raise, the copies are retried.
        """
        return self._log_files(run_id, local_dir, artifact_path, single=False)

    def _log_files(
        self,
        run_id: str,
        local: str | os.PathLike[str],
        artifact_path: str | None,
        *,
        single: bool,
    ) -> list[str]:
        from pathlib import Path

        from autolog.artifacts import LocalArtifactRepository
        from autolog.artifacts.local import Snapshot, discard_snapshot, snapshot_file

        what = "log_artifact" if single else "log_artifacts"
        source = Path(path_arg(local, what))
        check_text(str(source), f"{what} path")
        if single and not source.is_file():
            raise InvalidInputError(f"log_artifact needs an existing file, not {str(source)!r}")
        if not single and not source.is_dir():
            raise InvalidInputError(
                f"log_artifacts needs an existing directory, not {str(source)!r}"
            )
        folder = check_artifact_path(artifact_path)
        files: list[tuple[Path, str]] = []
        if single:
            name = source.name
            files.append((source, check_artifact_path(f"{folder}/{name}" if folder else name)))
        else:
            for path in sorted(source.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    relative = path.relative_to(source).as_posix()
                    target = check_artifact_path(f"{folder}/{relative}" if folder else relative)
                    files.append((path, target))
        state = self._state(run_id)
        if state.artifact_uri is None:
            self._wait_created(state)
        # A snapshot now (microseconds: see log_artifact), beside the run's artifacts where
        # they are a local folder (else in a temporary folder); the writer's file thread
        # copies and hashes it, and puts it in place once the store has recorded its hash.
        uri = state.artifact_uri
        beside = None  # a run's own folder where it is one (a rename puts the copy in place)
        if uri is not None and urlsplit(uri).scheme in ("file", ""):
            beside = LocalArtifactRepository(uri)
        snapshots: list[tuple[Snapshot, str]] = []
        try:
            for path, target in files:
                snapshots.append((snapshot_file(path, beside), target))
        except OSError as exc:  # removed meanwhile (a race with the caller's own code)
            for snapshot, _ in snapshots:
                discard_snapshot(snapshot)
            issue_warning(f"autolog: {what} did not log {str(source)!r} to run {run_id}: {exc}")
            return [target for _, target in files]
        except BaseException:
            for snapshot, _ in snapshots:
                discard_snapshot(snapshot)
            raise
        job = ArtifactJob(
            partial(self._later_repository, state, run_id),
            lambda: self._backend.writer.store,
            state,
            run_id,
            snapshots,
        )
        self._live.writer.heavy(
            run_id,
            job.run,
            what=f"artifacts {', '.join(t for _, t in files)[:200]}",
            on_drop=job.drop,
        )
        return [target for _, target in files]

    def log_artifact_later(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> str:
        """Like ``log_artifact``, but the copy is made on the writer's file thread: the caller
        does no I/O beyond one ``stat``. A file rewritten before its copy is complete is not
        logged by this call (the call made for the rewrite logs the new content)."""
        from pathlib import Path

        source = Path(os.path.abspath(path_arg(local_path, "log_artifact")))
        try:
            stamp = file_stamp(source)
        except OSError:
            raise InvalidInputError(
                f"log_artifact needs an existing file, not {str(source)!r}"
            ) from None
        folder = check_artifact_path(artifact_path)
        target = check_artifact_path(f"{folder}/{source.name}" if folder else source.name)
        state = self._state(run_id)

        from autolog.artifacts import LocalArtifactRepository
        from autolog.artifacts.local import discard_staged, stage_file

        def copy() -> None:
            repo = self._later_repository(state, run_id)
            try:
                if file_stamp(source) != stamp:
                    return
                local = repo if isinstance(repo, LocalArtifactRepository) else None
                staged, digest = stage_file(source, local)
            except FileNotFoundError:
                return  # removed since: nothing left to log (and nothing to retry)
            try:
                if file_stamp(source) != stamp:
                    return
                self._backend.writer.store.record_artifact_hashes(run_id, {target: digest})
                if not same_bytes(repo, state, target, digest):
                    place(repo, staged, target)
            finally:
                discard_staged([staged])

        self._live.writer.heavy(run_id, copy, what=f"artifact {target}")
        return target

    def record_later(
        self,
        run_id: str,
        produce: Callable[[], tuple[Mapping[str, str], Mapping[str, bytes]]],
        *,
        what: str,
    ) -> None:
        """Run ``produce`` on the writer's file thread and record what it returns: tags, and
        artifacts given as their bytes (artifact path -> bytes). For work that may take a
        while (hashing data, asking git) and must not hold up the caller; the run's end, if
        it comes meanwhile, waits for it. ``produce`` runs once (its result is kept if the
        store fails for now); what it raises drops the job with one warning naming ``what``.
        """
        checked = check_text(what, "what")
        state = self._state(run_id)  # raises unless the run is RUNNING
        produced: list[tuple[Mapping[str, str], Mapping[str, bytes]]] = []

        def job() -> None:
            import hashlib

            repo = self._later_repository(state, run_id)  # NotYet until the run is stored
            if not produced:
                try:
                    produced.append(produce())
                except Exception as exc:  # not the store's failure: no retry, one warning
                    raise InvalidInputError(f"{checked} could not be recorded: {exc}") from exc
            tags, found = produced[0]
            files = {check_artifact_path(path): data for path, data in found.items()}
            digests = {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}
            if digests:  # recorded first, as log_artifact's are: a file is never unaccounted
                self._backend.writer.store.record_artifact_hashes(run_id, digests)
            for path, data in files.items():
                repo.put_bytes(path, data, digests[path])
            checked_tags = [RunTag(_tag_key(k), stringify(k, v)) for k, v in tags.items()]
            if state.tags is not None:
                state.tags.update((tag.key, tag.value) for tag in checked_tags)
            for tag in checked_tags:
                self._backend.writer.tag(run_id, tag)

        self._live.writer.heavy(run_id, job, what=checked)

    def log_input(self, run_id: str, path: str | os.PathLike[str], name: str | None = None) -> str:
        """Record a data file's or folder's size and SHA-256 as the run's tag
        ``autolog.input.<NAME>`` (``name``: the path's base name by default); returns the
        name. The path is checked now and hashed on the writer's file thread; the tag is set
        once that is done. A name logged again is replaced.

        Raises:
            InvalidInputError: no file or folder at ``path``.
            InvalidKeyError: ``name`` cannot be part of a tag key.
        """
        from autolog.projects.inputs import log_input

        return log_input(self, run_id, path, name)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        from autolog.artifacts import listed

        relative = check_artifact_path(path)
        self._sync()
        repository = self._repository(run_id)
        recorded = self._read(lambda store: store.get_artifact_hashes(run_id, relative))
        return listed(repository, relative, recorded)

    def download_artifacts(
        self, run_id: str, path: str = "", dst_path: str | os.PathLike[str] | None = None
    ) -> str:
        """Copy an artifact file or folder to ``dst_path`` (a new temp dir by default)."""
        from pathlib import Path

        relative = check_artifact_path(path)
        if dst_path is not None:
            check_text(str(path_arg(dst_path, "download_artifacts")), "dst_path")
        self._sync()
        destination = Path(path_arg(dst_path, "download_artifacts") if dst_path else mkdtemp())
        return str(self._repository(run_id).download(relative, destination))

    # models -----------------------------------------------------------------------------------

    def log_model(
        self,
        run_id: str,
        model: object,
        name: str = "model",
        *,
        flavor: str = "pickle",
        metadata: Mapping[str, Any] | None = None,
        input_example: Any = None,
        signature: Mapping[str, Any] | None = None,
    ) -> str:
        """Snapshot ``model`` now; its files and its record in the store are written in the
        background (on the writer's file thread: a large model never delays metrics).

        ``input_example``: data the model takes (the training data will do: its first
        ``signatures.EXAMPLE_ROWS`` rows are kept). The model's signature is read from it: its
        columns or shape and dtypes, and the output of a prediction on those rows, unless
        ``signature`` gives it (``{"inputs": ..., "outputs": ...}``, see ``autolog.signatures``;
        ``signatures.infer(X, model.predict(X))`` makes one).

        Returns the model's URI, ``runs:/<run_id>/<name>``.
        """
        path = check_artifact_path(name)
        if not path:
            raise InvalidInputError("a model needs a non-empty name")
        from autolog import models
        from autolog.tracking import marked_incomplete

        state = self._state(run_id)
        files, meta = models.prepare(model, flavor, metadata, input_example, signature)
        # A first model at ``path`` of a run this process started cannot be registered yet
        # (nothing was recorded there), so nothing can forbid writing it: its files go first,
        # then its record is queued with the run's other records (a model is recorded only
        # once all of its files are in place, and a short run is one unit of work). Else the
        # record goes first, marked incomplete: the store refuses a model that may not be
        # replaced (its run has ended, a registered version points at it) before a file of it
        # is touched, and a process killed while the files are written leaves a model that is
        # never loaded, listed or registered. The record without the mark follows the files.
        first = state.owned and path not in state.models
        state.models.add(path)
        writer = self._live.writer

        def write() -> None:
            if not first and path in state.unrecorded:
                # the record of the model logged here before is still queued: written after
                # this one's, it would name the files this one replaces
                raise NotYet(f"the record of model {path!r} is not written yet")
            # hashed here, not on the training thread; what it needs is read here too
            hashes, meta_bytes = models.digest(files, models.finish(meta))
            record = {f"{path}/{n}": d for n, d in hashes.items()}
            repo = self._later_repository(state, run_id, early=first)
            if not first:
                writer.store.record_model(run_id, path, marked_incomplete(path, record))
            models.write(
                repo, path, files, meta_bytes, hashes, same=partial(same_bytes, repo, state)
            )
            if not first:
                writer.store.record_model(run_id, path, record)
            else:
                state.unrecorded.add(path)
                writer.model(run_id, path, record, partial(state.unrecorded.discard, path))

        self._live.writer.heavy(run_id, write, what=f"model {path!r}")
        return f"runs:/{run_id}/{path}"

    def load_model(self, model_uri: str) -> object:
        """Load a model from ``runs:/<run_id>/<name>``, ``models:/<name>/<version>``,
        ``models:/<name>@<alias>``, ``models:/<name>/latest`` or a local folder (an exported
        model), after checking every file against its recorded SHA-256.

        Raises:
            ModelDependencyError: a library the model needs is not installed (the message
                gives the ``pip install`` line).
        """
        from autolog import models

        meta, files = self.verified_model(model_uri)
        return models.load_verified(meta, files, model_uri)

    def get_model_info(self, model_uri: str) -> ModelInfo:
        """What the model at ``model_uri`` is, takes and needs (flavor, signature, input
        example, requirements, the run and the registered versions made from it), read from
        its verified metadata: nothing is unpickled."""
        from autolog import models

        meta, _ = self.verified_model(model_uri)
        run_id: str | None = None
        path: str | None = None
        registered: tuple[str, ...] = ()
        if models.local_folder(model_uri) is None:
            run_id, path = self._model_location(model_uri)
            source = f"runs:/{run_id}/{path}"
            registered = tuple(
                f"{v.name}/{v.version}"
                for v in self.store.list_model_versions()
                if v.source.rstrip("/") == source
            )
        signature = models.mapping(meta, "signature") or None
        example = models.mapping(meta, "input_example") or None
        libraries = models.mapping(meta, "libraries")
        return ModelInfo(
            uri=model_uri,
            flavor=str(meta["flavor"]),
            model_class=str(meta.get("model_class", "")),
            signature=signature,
            input_example=example,
            requirements=tuple(str(r) for r in meta.get("requirements", ())),
            python_version=str(meta.get("python_version", "")),
            libraries={str(k): str(v) for k, v in libraries.items()},
            created_time=meta.get("created_time")
            if type(meta.get("created_time")) is int
            else None,
            files=tuple(sorted({*models.mapping(meta, "files"), models.MODEL_META})),
            run_id=run_id,
            path=path,
            registered=registered,
        )

    def load_predictor(self, model_uri: str) -> Predictor:
        """The model at ``model_uri`` behind one ``predict(data)`` for every flavor: data (a
        DataFrame, an array, a list of records, a dict of columns) is checked against the
        model's signature first (``InvalidInputError`` naming a missing column or a wrong
        dtype)."""
        from autolog import models
        from autolog.predictor import Predictor

        meta, files = self.verified_model(model_uri)
        model = models.load_verified(meta, files, model_uri)
        return Predictor(model, meta, model_uri)

    def verified_model(
        self, model_uri: str
    ) -> tuple[dict[str, Any], Callable[[], dict[str, bytes]]]:
        """The metadata of the model at ``model_uri``, checked (against the store's record for
        a logged model, against its own hashes for a local folder), and a function that reads
        its files and checks each one: what ``load_model`` and an export read, nothing
        unpickled."""
        from autolog import models

        if not isinstance(model_uri, str):
            raise InvalidInputError(f"a model URI is a string, not {model_uri!r}")
        folder = models.local_folder(model_uri)
        if folder is not None:
            return models.folder_verified(folder)
        run_id, path = self._model_location(model_uri)
        return models.verified(self.store, self._repository(run_id), run_id, path)

    def _model_location(self, model_uri: str) -> tuple[str, str]:
        self._sync()
        return registry.model_location(self.store, model_uri)

    def register_model(self, model_uri: str, name: str) -> ModelVersion:
        """Register the model ``log_model`` logged at ``model_uri`` as the next version of
        ``name``. From then on that model cannot be replaced (``log_model`` again under its
        name in its run is refused).

        Raises:
            NotFoundError: no model was logged at ``model_uri`` (a folder of files that looks
                like one is not a model: only ``log_model`` makes one).
        """
        registry.check_model_name(name)  # before the URI is resolved: a bad name is heard first
        run_id, path = self._model_location(model_uri)
        return self.store.create_model_version(name, f"runs:/{run_id}/{path}", run_id)

    def set_model_alias(self, name: str, alias: str, version: int) -> None:
        check_name(name, "registered model name")  # the store checks the name and alias rules
        self.store.set_model_alias(name, alias, registry.version_arg(version))

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        check_name(name, "registered model name")
        return self.store.get_model_version(name, registry.version_arg(version))

    def get_registered_model(self, name: str) -> RegisteredModel:
        """The registered model ``name``: description, tags, aliases, latest version."""
        return self.store.get_registered_model(check_name(name, "registered model name"))

    def search_registered_models(
        self, filter_string: str = "", max_results: int = 100
    ) -> list[RegisteredModel]:
        """Registered models matching ``filter_string``, by name.

        Example::

            client.search_registered_models("name LIKE 'churn%' and tags.team = 'ml'")
        """
        return self.store.search_registered_models(filter_string, max_results)

    def list_model_versions(self, name: str | None = None) -> list[ModelVersion]:
        """Every version of ``name`` (None: of every model), by model name then number."""
        return self.store.list_model_versions(
            None if name is None else check_name(name, "registered model name")
        )

    def delete_model_version(self, name: str, version: int) -> None:
        """Delete a version with its aliases and tags; its number is not given again. A run
        none of whose versions remain may be purged (``autolog gc``) again."""
        check_name(name, "registered model name")
        self.store.delete_model_version(name, registry.version_arg(version))

    def delete_registered_model(self, name: str) -> None:
        """Delete the model with every version, alias and tag; the name is free again."""
        self.store.delete_registered_model(check_name(name, "registered model name"))

    def delete_model_alias(self, name: str, alias: str) -> None:
        check_name(name, "registered model name")
        self.store.delete_model_alias(name, registry.check_alias(alias))

    def rename_registered_model(self, name: str, new_name: str) -> None:
        """Rename a model: its versions, aliases and tags follow (``models:/NEW/1`` loads)
        and the old name is free."""
        check_name(name, "registered model name")
        # checked here too: the REST store sends ``new_name`` as given, whatever its type
        self.store.rename_registered_model(name, registry.check_model_name(new_name))

    def update_registered_model(self, name: str, description: str | None) -> None:
        """Set the model's description (None or "": none)."""
        check_name(name, "registered model name")
        self.store.update_registered_model(name, _description(description))

    def update_model_version(self, name: str, version: int, description: str | None) -> None:
        check_name(name, "registered model name")
        number = registry.version_arg(version)
        self.store.update_model_version(name, number, _description(description))

    def set_registered_model_tag(self, name: str, key: str, value: object) -> None:
        check_name(name, "registered model name")
        self.store.set_registered_model_tag(name, check_key(key), stringify(key, value))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        check_name(name, "registered model name")
        self.store.delete_registered_model_tag(name, check_key(key))

    def set_model_version_tag(self, name: str, version: int, key: str, value: object) -> None:
        check_name(name, "registered model name")
        number = registry.version_arg(version)
        self.store.set_model_version_tag(name, number, check_key(key), stringify(key, value))

    def delete_model_version_tag(self, name: str, version: int, key: str) -> None:
        check_name(name, "registered model name")
        number = registry.version_arg(version)
        self.store.delete_model_version_tag(name, number, check_key(key))


def _description(description: object) -> str | None:
    if description is not None and not isinstance(description, str):
        raise InvalidInputError(f"a description is text, not {description!r}")
    return None if description is None else check_text(description, "description")


def _logger() -> Any:
    import logging

    return logging.getLogger(__name__)
