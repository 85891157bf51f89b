"""The module-level tracking API: an active run per context, and ``log_*`` calls into it.

The stack of active runs lives in a ``ContextVar``: each thread (and each asyncio task) has its
own, so threads that train independently never write into each other's runs. Runs started here
and still open when autolog shuts down (``autolog.lifecycle``) are ended: FINISHED at exit,
KILLED on SIGTERM, before everything queued is written.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

from autolog import lifecycle
from autolog.client import (
    DEFAULT_EXPERIMENT,
    Client,
    flush_all,
    resolve_tracking_uri,
    spool_notices,
)
from autolog.entities import FileInfo, Metric, ModelInfo, ModelVersion, Run, RunStatus
from autolog.errors import AutologWarning, InvalidInputError, RunStateError, StoreUnavailableError
from autolog.stores.base import check_uri
from autolog.validation import (
    check_key,
    check_mapping,
    check_name,
    check_text,
    final_status,
    to_float,
)

if TYPE_CHECKING:
    from autolog.predictor import Predictor
    from autolog.stores.spool import SyncReport

__all__ = [
    "ActiveRun",
    "active_run",
    "attach_run",
    "end_run",
    "end_status",
    "flush",
    "get_client",
    "get_experiment_name",
    "get_tracking_uri",
    "last_active_run",
    "set_experiment",
    "set_tracking_uri",
    "start_run",
    "sync",
]


class ActiveRun(Run):
    """A run started with ``start_run``; as a context manager it ends the run on exit.

    Leaving the ``with`` block normally ends it FINISHED, by an exception FAILED (KILLED for
    ``KeyboardInterrupt``), and the exception propagates unchanged.
    """

    __slots__ = ()

    def end(self, status: RunStatus | str = RunStatus.FINISHED) -> None:
        """End this run (and any run nested in it that is still open) with ``status``."""
        _end(self.info.run_id, final_status(status))

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _end(self.info.run_id, end_status(exc))


def end_status(error: BaseException | None) -> RunStatus:
    """How a run ends after ``error``: FINISHED for none, KILLED for an interrupt (Ctrl-C's
    ``KeyboardInterrupt``: a person or a signal stopped it, as a process that dies is KILLED),
    FAILED for any other exception. Every integration ends its runs by this rule."""
    if error is None:
        return RunStatus.FINISHED
    if isinstance(error, KeyboardInterrupt):
        return RunStatus.KILLED
    return RunStatus.FAILED


_stack: ContextVar[tuple[tuple[ActiveRun, Client], ...]] = ContextVar(
    "autolog_active_runs", default=()
)
_tracking_uri: str | None = None
_experiment: str | None = None
_client: Client | None = None
_last_run: tuple[str, Client] | None = None
# Every run started here and not ended yet, whatever context started it: ended at exit.
_open: dict[str, Client] = {}
# Reentrant: the SIGTERM handler takes it, and may interrupt the main thread holding it.
_lock = threading.RLock()
_default_uri: str | None = None
# A run this process records into but never ends (see attach_run): under every context's stack.
_attached: tuple[ActiveRun, Client] | None = None
# The active runs of the main thread (its last context to change them): the parent that
# start_run(nested=True) on another thread, which has no active run of its own, nests under.
_main_stack: tuple[tuple[ActiveRun, Client], ...] = ()


def _set_stack(stack: tuple[tuple[ActiveRun, Client], ...]) -> None:
    global _main_stack
    _stack.set(stack)
    if threading.current_thread() is threading.main_thread():
        _main_stack = stack


def _main_thread_run() -> ActiveRun | None:
    """The innermost run active on the main thread, if it is still open."""
    for entry, _ in reversed(_main_stack):
        if entry.info.run_id in _open:
            return entry
    return None


def set_tracking_uri(uri: str | None) -> None:
    """Where runs are recorded from now on (None: ``$AUTOLOG_TRACKING_URI`` or the default)."""
    global _tracking_uri, _client, _default_uri
    if uri is not None and (not isinstance(uri, str) or not uri.strip()):
        raise InvalidInputError(f"tracking URI must be a non-empty string, not {uri!r}")
    if uri is not None:
        check_text(uri, "tracking URI")
        check_uri(resolve_tracking_uri(uri))
    with _lock:
        _tracking_uri = None if uri is None else resolve_tracking_uri(uri)
        _client = None
        _default_uri = None


def get_tracking_uri() -> str:
    """The tracking URI in use. Without ``set_tracking_uri`` it is resolved once (environment
    or ./autolog-runs under the working directory of that moment), so a later ``os.chdir``
    does not split a program's runs across stores."""
    global _default_uri
    if _tracking_uri is not None:
        return resolve_tracking_uri(_tracking_uri)
    if _default_uri is None:
        _default_uri = resolve_tracking_uri(None)
    return _default_uri


def set_experiment(name: str | None) -> None:
    """Runs started without an explicit experiment go to ``name`` (default: "Default")."""
    global _experiment
    if name is not None:
        check_name(name, "experiment name")
    _experiment = name


def get_experiment_name() -> str:
    """The experiment runs go to when none is named: ``set_experiment``'s, else
    ``$AUTOLOG_EXPERIMENT_NAME``, else "Default"."""
    return _experiment or os.environ.get("AUTOLOG_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT


def get_client() -> Client:
    """The client behind the module-level API (for the current tracking URI)."""
    global _client
    client = _client
    if client is None or client.tracking_uri != get_tracking_uri():
        with _lock:
            client = _client = Client(get_tracking_uri())
        lifecycle.install_signal_handler()
    return client


def start_run(
    run_name: str | None = None,
    experiment: str | None = None,
    tags: Mapping[str, Any] | None = None,
    nested: bool = False,
) -> ActiveRun:
    """Start a run and make it the active run of this context.

    Example::

        with autolog.start_run(run_name="baseline", tags={"team": "vision"}) as run:
            autolog.log_param("lr", 0.01)
            autolog.log_metric("loss", 0.25, step=1)

    ``nested=True`` makes the run a child of this context's active run. A worker thread
    starts with no active run of its own: there it is a child of the main thread's active run
    (the innermost one open), so that ``start_run(nested=True)`` in a thread pool nests under
    the run the program started; with no run active anywhere it is a top-level run, as on
    the main thread. To nest under another run, use ``Client.create_run(parent_run_id=...)``.

    Raises:
        RunStateError: a run is already active and ``nested`` is False.
    """
    stack = _stack.get()
    while stack and not nested and lifecycle.makes_way(stack[-1][0].info.run_id):
        _end(stack[-1][0].info.run_id, RunStatus.FINISHED)
        stack = _stack.get()
    if stack and not nested:
        raise RunStateError(
            f"run {stack[-1][0].info.run_id} is already active; end it first or pass nested=True"
        )
    client = get_client()
    parent = stack[-1][0] if stack else None
    if parent is None and nested and threading.current_thread() is not threading.main_thread():
        parent = _main_thread_run()
    if parent is None:
        parent = _attached_run()
    if tags is not None:
        check_mapping(tags, "tags")
    run = client.create_run(
        experiment or (None if parent else get_experiment_name()),
        # a nested run stays in its parent's experiment unless told otherwise
        experiment_id=parent.info.experiment_id or None if parent and not experiment else None,
        run_name=run_name,
        tags=tags,
        parent_run_id=parent.info.run_id if parent else None,
    )
    active = ActiveRun(run.info, run.data)
    _set_stack((*stack, (active, client)))
    with _lock:
        _open[run.info.run_id] = client
    lifecycle.install_signal_handler()
    return active


def _end(run_id: str, status: RunStatus | str) -> None:
    global _last_run
    stack = _stack.get()
    ids = [entry[0].info.run_id for entry in stack]
    if run_id in ids:
        # Ending a run ends the nested runs still open above it.
        index = ids.index(run_id)
        _set_stack(stack[:index])
        failure: BaseException | None = None
        for entry, client in reversed(stack[index:]):
            if entry.info.run_id not in _open:
                continue  # ended already (by a shutdown, SIGTERM's, on another thread)
            try:
                lifecycle.run_ending(entry.info.run_id, status)
            except BaseException as exc:  # still end every run, then let it be known
                failure = failure or exc
            client.set_terminated(entry.info.run_id, status)
            _forget(entry.info.run_id)
            _last_run = (entry.info.run_id, client)
        if failure is not None:
            raise failure
    elif run_id in _open:
        client = _open[run_id]
        try:
            lifecycle.run_ending(run_id, status)
        finally:
            client.set_terminated(run_id, status)
            _forget(run_id)
            _last_run = (run_id, client)


def _forget(run_id: str) -> None:
    with _lock:
        _open.pop(run_id, None)


def end_run(status: RunStatus | str = "FINISHED") -> None:
    """End the active run of this context (no-op when there is none)."""
    final = final_status(status)  # validated before anything changes
    stack = _stack.get()
    if stack:
        _end(stack[-1][0].info.run_id, final)


def active_run() -> ActiveRun | None:
    """The innermost active run of this context, or None."""
    stack = _stack.get()
    return stack[-1][0] if stack else _attached_run()


def attach_run(run_id: str) -> ActiveRun:
    """Record into the existing RUNNING run ``run_id`` whenever no run is active, in every
    thread of this process, and never end it: its owner (another process) does.

    This is how ``autolog run`` hands its run to the script it runs: the script's first
    training call logs into it, its ``start_run()`` calls make child runs of it, its
    ``end_run()`` leaves it alone. It applies while the tracking URI is the one in use now.

    Raises:
        NotFoundError: no run ``run_id`` in the current store.
        InvalidInputError: the run is not RUNNING.
    """
    global _attached
    client = get_client()
    run = client.get_run(run_id)
    if run.info.status is not RunStatus.RUNNING:
        raise InvalidInputError(f"run {run_id} is {run.info.status}; only a RUNNING run attaches")
    active = ActiveRun(run.info, run.data)
    with _lock:
        _attached = (active, client)
    return active


def _attached_run() -> ActiveRun | None:
    attached = _attached
    if attached is None or attached[1].tracking_uri != get_tracking_uri():
        return None
    return attached[0]


def last_active_run() -> Run | None:
    """The run most recently ended through this API, as stored now."""
    if _last_run is None:
        return None
    run_id, client = _last_run
    return client.get_run(run_id)


def _current() -> tuple[str, Client]:
    stack = _stack.get()
    if stack:
        entry = stack[-1]
        return entry[0].info.run_id, entry[1]
    attached = _attached
    if attached is not None and _attached_run() is not None:
        return attached[0].info.run_id, attached[1]
    run = start_run()  # logging with no active run starts one, ended at exit
    return run.info.run_id, _stack.get()[-1][1]


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Log one metric value to the active run; returns in microseconds."""
    stack = _stack.get()
    if stack:
        run, client = stack[-1]
        client.log_metric(run.info.run_id, key, value, step)
    else:
        check_key(key)  # bad input must not leave a stray run behind
        to_float(key, value)
        run_id, client = _current()
        client.log_metric(run_id, key, value, step)


def _checked(values: object, what: str) -> Mapping[str, Any]:
    """Validate keys (and the mapping itself) before a run is started for them."""
    mapping = check_mapping(values, what)
    for key in mapping:
        check_key(key)
    return mapping


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    for key, value in _checked(metrics, "metrics").items():
        to_float(key, value)
    run_id, client = _current()
    client.log_metrics(run_id, metrics, step)


def log_param(key: str, value: Any) -> None:
    log_params({check_key(key): value})


def log_params(params: Mapping[str, Any]) -> None:
    _checked(params, "params")
    run_id, client = _current()
    client.log_params(run_id, params)


def set_tag(key: str, value: Any) -> None:
    set_tags({check_key(key): value})


def set_tags(tags: Mapping[str, Any]) -> None:
    _checked(tags, "tags")
    run_id, client = _current()
    client.set_tags(run_id, tags)


def delete_tag(key: str) -> None:
    """Remove the active run's tag ``key`` (one it does not have is no change).

    Raises:
        RunStateError: no run is active (none is started only to lose a tag).
    """
    checked = check_key(key)
    if active_run() is None:
        raise RunStateError(f"no active run to delete the tag {checked!r} from")
    run_id, client = _current()
    client.delete_tag(run_id, checked)


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None) -> str:
    if not isinstance(local_path, (str, os.PathLike)) or not os.path.isfile(local_path):
        raise InvalidInputError(f"log_artifact needs an existing file, not {local_path!r}")
    run_id, client = _current()
    return client.log_artifact(run_id, local_path, artifact_path)


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> list[str]:
    if not isinstance(local_dir, (str, os.PathLike)) or not os.path.isdir(local_dir):
        raise InvalidInputError(f"log_artifacts needs an existing directory, not {local_dir!r}")
    run_id, client = _current()
    return client.log_artifacts(run_id, local_dir, artifact_path)


def log_input(path: str | os.PathLike[str], name: str | None = None) -> str:
    """Record a data file's or folder's size and SHA-256 in the active run, as the tag
    ``autolog.input.<NAME>`` (``name`` defaults to the path's base name); returns the name.

    The path must exist now; it is hashed on the writer's file thread, not this one, and
    the tag is set once that is done. Logging a name again replaces it. ``autolog rerun``
    says which inputs differ from the run's.

    Example::

        autolog.log_input("data/train.csv")            # tag autolog.input.train.csv

    Raises:
        InvalidInputError: no file or folder at ``path``.
        InvalidKeyError: ``name`` cannot be part of a tag key.
    """
    from pathlib import PurePath

    from autolog.projects.inputs import input_name

    if not isinstance(path, (str, os.PathLike)) or not os.path.exists(path):
        raise InvalidInputError(f"log_input needs an existing file or folder, not {path!r}")
    input_name(PurePath(os.path.abspath(path)), name)  # a bad name starts no run
    run_id, client = _current()
    return client.log_input(run_id, path, name)


def log_model(
    model: object,
    name: str = "model",
    *,
    flavor: str = "pickle",
    metadata: Mapping[str, Any] | None = None,
    input_example: Any = None,
    signature: Mapping[str, Any] | None = None,
) -> str:
    """Log ``model`` into the active run; returns ``runs:/<run_id>/<name>``.

    ``input_example``: data the model takes (the training data will do): its signature is
    read from it unless ``signature`` is given, and its first rows are kept as an example
    (see ``Client.log_model``).
    """
    run_id, client = _current()
    return client.log_model(
        run_id,
        model,
        name,
        flavor=flavor,
        metadata=metadata,
        input_example=input_example,
        signature=signature,
    )


def flush(timeout: float | None = 60.0) -> None:
    """Block until everything logged so far is stored.

    Where a tracking server does not answer, what it did not take is spooled on disk instead
    (sent as soon as it answers, or by ``autolog sync``): training goes on, and an
    ``AutologWarning`` says so, once per outage. ``Client.flush`` returns False then.

    Raises:
        StoreUnavailableError: the store did not take it within ``timeout`` seconds.
    """
    if not flush_all(timeout):
        raise StoreUnavailableError(f"logged data was not stored within {timeout} s")
    for notice in spool_notices(timeout):
        warnings.warn(notice, AutologWarning, stacklevel=2)


def get_run(run_id: str) -> Run:
    return get_client().get_run(run_id)


@overload
def search_runs(
    experiment_names: Sequence[str] | str | None = None,
    filter_string: str = "",
    order_by: Sequence[str] | str | None = None,
    max_results: int = 1000,
    output_format: Literal["list"] = "list",
) -> list[Run]: ...


@overload
def search_runs(
    experiment_names: Sequence[str] | str | None = None,
    filter_string: str = "",
    order_by: Sequence[str] | str | None = None,
    max_results: int = 1000,
    *,
    output_format: Literal["pandas"],
) -> Any: ...


def search_runs(
    experiment_names: Sequence[str] | str | None = None,
    filter_string: str = "",
    order_by: Sequence[str] | str | None = None,
    max_results: int = 1000,
    output_format: str = "list",
) -> Any:
    """Runs matching ``filter_string`` (None: every experiment), newest first unless
    ``order_by`` says otherwise: a list of ``Run``, or with ``output_format="pandas"`` a
    DataFrame, one row per run with ``params.<key>``, ``metrics.<key>`` and ``tags.<key>``
    columns (pandas must be installed).

    Example::

        df = autolog.search_runs("mnist", "metrics.acc > 0.9", output_format="pandas")
        df[["run_id", "params.lr", "metrics.acc"]]
    """
    client = get_client()
    if output_format == "pandas":
        return client.search_runs(
            experiment_names, filter_string, order_by, max_results, output_format="pandas"
        )
    if output_format != "list":
        raise InvalidInputError(f"output_format is 'list' or 'pandas', not {output_format!r}")
    return client.search_runs(experiment_names, filter_string, order_by, max_results)


def sync(
    tracking_uri: str | None = None,
    *,
    folder: str | os.PathLike[str] | None = None,
    progress: bool | Callable[[int, int, int], None] = True,
) -> SyncReport:
    """Send what was logged while a tracking server did not answer, exactly once.

    Processes that could not reach their server keep those writes in
    ``./autolog-runs/spool`` (``folder`` instead of the working folder); this sends them to
    the server each was meant for (or to ``tracking_uri``) and removes what was sent. A sync
    cut short is finished by the next one without doubling anything. ``progress`` draws a
    progress bar on stderr, or is called with (writes sent, writes in all, values sent).

    Example::

        report = autolog.sync()
        print(report.values, "values of", report.runs, "runs sent")

    Raises:
        StoreUnavailableError: a server does not answer (what was not sent stays spooled).
    """
    from autolog.cli.progress import sync_progress_bar
    from autolog.stores.rest import sync as send

    callback = sync_progress_bar() if progress is True else progress or None
    return send(tracking_uri, folder=folder, progress=callback)


def delete_run(run_id: str) -> None:
    """Soft-delete a run: hidden from ``search_runs`` and the UI until ``restore_run``;
    ``autolog gc`` removes deleted runs, artifacts included, for good.

    Example::

        autolog.delete_run(run.info.run_id)
        autolog.restore_run(run.info.run_id)    # changed our mind
    """
    get_client().delete_run(run_id)


def restore_run(run_id: str) -> None:
    """Bring back a run deleted with ``delete_run`` (before ``autolog gc`` removed it)."""
    get_client().restore_run(run_id)


def get_metric_history(run_id: str, key: str) -> list[Metric]:
    return get_client().get_metric_history(run_id, key)


def list_artifacts(run_id: str, path: str | None = None) -> list[FileInfo]:
    return get_client().list_artifacts(run_id, path)


def download_artifacts(
    run_id: str, path: str = "", dst_path: str | os.PathLike[str] | None = None
) -> str:
    return get_client().download_artifacts(run_id, path, dst_path)


def load_model(model_uri: str) -> object:
    return get_client().load_model(model_uri)


def get_model_info(model_uri: str) -> ModelInfo:
    """Flavor, signature, input example, requirements, run and registered versions of the
    model at ``model_uri``, without unpickling anything."""
    return get_client().get_model_info(model_uri)


def load_predictor(model_uri: str) -> Predictor:
    """The model at ``model_uri`` behind ``predict(data)``, data checked against its
    signature (see ``Client.load_predictor``)."""
    return get_client().load_predictor(model_uri)


def register_model(model_uri: str, name: str) -> ModelVersion:
    return get_client().register_model(model_uri, name)


def set_model_alias(name: str, alias: str, version: int) -> None:
    get_client().set_model_alias(name, alias, version)


def _end_open_runs(status: RunStatus) -> None:
    with _lock:
        pending = list(_open.items())
        _open.clear()
    for run_id, client in pending:
        with contextlib.suppress(Exception):  # ending what we can matters more than why not
            lifecycle.run_ending(run_id, status)
        with contextlib.suppress(Exception):
            client.set_terminated(run_id, status)


def _shut_down(event: lifecycle.Shutdown) -> None:
    global _client, _last_run, _attached
    _end_open_runs(RunStatus.KILLED if event.killed else RunStatus.FINISHED)
    _set_stack(())  # every run in it has ended
    if event.reason == "shutdown":
        # autolog goes on being usable: the clients these point to are closed now
        _client = None
        _last_run = None
        _attached = None


def _after_fork_in_child() -> None:
    # A forked child may log (into the runs it inherited, through connections of its own), but
    # the parent's runs are not the child's to end when it exits.
    global _client, _lock
    _client = None
    _open.clear()
    _lock = threading.RLock()  # the parent may have held it at the fork


lifecycle.on_shutdown(lifecycle.Layer.RUNS, _shut_down)
lifecycle.on_fork(lifecycle.Layer.RUNS, after_in_child=_after_fork_in_child)
