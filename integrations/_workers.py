"""Training in worker processes: recorded in the run of the process that started them.

Installed by the torch integration's ``patch()``. A process started with ``multiprocessing``
(any start method: fork, spawn, forkserver; ``torch.multiprocessing.spawn`` too) to run a
function of the user's gets, in place of its target, a ``WorkerTarget`` carrying what
``autolog()`` was given in the parent, the tracking URI, the experiment and the run to log into;
under spawn and forkserver it is pickled with the process, as the target would have been. In the
child it turns autolog on as the parent had it, attaches the parent's run (``attach_run``: the
child logs into it and never ends it; the parent owns it), runs the target, ends the target's
plain training loop (its last epoch) and flushes before the child leaves through ``os._exit``.

What a worker records into the parent's run is named after the worker (``worker_<i>``, in the
order the parent started them): ``training_loss/worker_0``, ``checkpoints/worker_0/``. Hogwild
workers train one shared model without synchronising: each worker's loss is a true series, a
mean of theirs would be none. The run's params are worker 0's; another worker's that differ
are logged as ``<key>/worker_<i>`` once the parent has joined the workers (see
``_WorkerClient``; tag ``autolog.workers.params.worker_<i>`` says which).
A model the workers share (passed to them, in shared memory) is no worker's to log
mid-training: the run autolog opened for the workers logs it as ``model`` when that run ends,
if every worker is done; a model of a worker's own is ``model_worker_<i>``. Under
``torch.distributed`` rank 0 speaks for the training, with plain names, as it does in any
process.

The parent's run: its active run (yours, or a plain loop's: never ended here), else one opened
for the workers at the first worker's start, active in the parent like a plain loop's run. That
one ends when the parent has joined every worker it was given (FAILED if one exited with an
error; tag ``autolog.workers.failed``), else like a plain loop's (``autolog.end_run()``, another
run starting, exit). If the workers recorded nothing in it (they were not training), it is
deleted once they are joined. A worker that cannot attach the parent's run (ended before the worker
began) says so once and records into runs of its own.

Processes of libraries and of the standard library (DataLoader workers, ``Pool`` and
``ProcessPoolExecutor`` workers, joblib's loky workers, managers) are left alone, and so is a
process whose class overrides ``run()`` (it cannot be given a wrapped target; a warning says so
once).
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import os
import pickle
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

import autolog
from autolog.entities import Metric, RunStatus
from autolog.errors import AutologError, ParamCollisionError
from autolog.integrations.patching import (
    Call,
    CallbackFirewall,
    HookGenerator,
    Patcher,
    Settings,
    configure,
    current_settings,
    notify,
    registered,
    report,
)
from autolog.lifecycle import Layer, exit_timeout, on_fork, on_run_end
from autolog.runs import attach_run
from autolog.validation import stringify

__all__ = ["TAG", "WorkerTarget", "install", "worker_client"]

logger = logging.getLogger(__name__)

NAME = "torch"
#: tag of a run autolog opened for worker processes
TAG = "autolog.workers"
#: packages whose processes are their own machinery, not a user's training (beside the
#: standard library's): DataLoader workers, joblib's loky workers, ...
LIBRARIES = frozenset(
    {
        "autolog",
        "accelerate",
        "dask",
        "distributed",
        "joblib",
        "lightgbm",
        "lightning",
        "loky",
        "pytorch_lightning",
        "ray",
        "sklearn",
        "torch",
        "transformers",
        "xgboost",
    }
)
# torch.multiprocessing.spawn's own target, which calls the user's function
_TORCH_SPAWN = ("torch.multiprocessing.spawn", "_wrap")
_FLUSH_TIMEOUT = 10.0

# In a worker: (the parent's run id, this worker's index), once attached; the modules the
# parent passed it.
_worker: tuple[str, int] | None = None
_received: list[Any] = []
# In a parent: the workers of each run (a group per batch of workers, until they are all
# joined), the workers started per run, the group of each worker process.
_groups: dict[str, _Workers] = {}
_started: dict[str, int] = {}
_workers_of: weakref.WeakKeyDictionary[Any, _Workers] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_said: set[str] = set()


class WorkerTarget:
    """What a worker process runs in place of its target: ``autolog()`` as the parent had it,
    logging into the parent's run, then the target itself. Picklable with the process."""

    __slots__ = ("experiment", "index", "run_id", "settings", "target", "tracking_uri")

    def __init__(
        self,
        target: Callable[..., Any],
        settings: Mapping[str, Settings],
        tracking_uri: str,
        experiment: str,
        run_id: str,
        index: int,
    ) -> None:
        self.target = target
        self.settings = dict(settings)
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.run_id = run_id
        self.index = index

    def __repr__(self) -> str:
        return f"<autolog worker {self.index} of run {self.run_id}: {self.target!r}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        recording = _enter(self)
        _received.extend(_modules(args, kwargs))
        # A fresh context: a forked child inherits the parent's active runs and training
        # state, which are the parent's, not this worker's.
        return contextvars.Context().run(self._run, recording, args, kwargs)

    def _run(self, recording: bool, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            result = self.target(*args, **kwargs)
        except SystemExit as exc:
            if recording:
                _leave(self, done=exc.code in (0, None))
            raise
        except BaseException:
            if recording:
                _leave(self, done=False)
            raise
        if recording:
            _leave(self, done=True)
        return result


# -- in the worker ---------------------------------------------------------------------------


def _enter(target: WorkerTarget) -> bool:
    """Turn autolog on as the parent had it and attach its run; False if nothing records."""
    global _worker
    try:
        if autolog.get_tracking_uri() != target.tracking_uri:
            autolog.set_tracking_uri(target.tracking_uri)
        autolog.set_experiment(target.experiment)
        autolog.autolog(integrations=[])  # finds the integrations, installs the exit handlers
        for name, settings in target.settings.items():
            if name in registered():
                configure(name, settings)
    except Exception as exc:
        report(NAME, exc, target.settings.get(NAME))
        return False
    try:
        attach_run(target.run_id)
    except AutologError as exc:
        # the parent's run ended before this worker began, or its store does not answer
        _say_once(
            "attach",
            f"autolog: worker process {target.index} cannot record into run {target.run_id} "
            f"of the process that started it ({exc}); it records into runs of its own",
            target.settings.get(NAME),
        )
        return True
    _worker = (target.run_id, target.index)
    return True


def _leave(target: WorkerTarget, *, done: bool) -> None:
    """The target returned (``done``) or raised: end its plain loop (its last epoch), and
    write everything before the child leaves through ``os._exit`` (atexit never runs in a
    multiprocessing child)."""
    settings = target.settings.get(NAME)
    try:
        loop = sys.modules.get("autolog.integrations._torch_loop")
        if loop is not None:
            status = RunStatus.FINISHED if done else RunStatus.FAILED
            CallbackFirewall(NAME, settings)(loop.end_plain_runs, status)
        autolog.flush(_FLUSH_TIMEOUT)
    except Exception as exc:
        report(NAME, exc, settings)


def worker_client(client: autolog.Client, run_id: str) -> autolog.Client:
    """The client a training loop logs ``run_id`` through: ``client`` itself, or in a worker
    process logging into the run of the process that started it, one that names what it logs
    after the worker (``training_loss/worker_0``)."""
    worker = _worker
    if worker is None or worker[0] != run_id or _distributed():
        return client
    return cast("autolog.Client", _WorkerClient(client, worker[1]))


def _distributed() -> bool:
    dist = sys.modules.get("torch.distributed")
    return dist is not None and bool(dist.is_available()) and bool(dist.is_initialized())


class _WorkerClient:
    """A client of one worker: metrics and artifacts by worker, params shared where equal.
    What the tracker reads back (a metric's history) it reads by the same names.

    Params: worker 0's are the run's (``lr``). Another worker's go into a tag of its own
    (``autolog.workers.params.worker_<i>``) for the parent, which logs the ones that differ
    from the run's as ``lr/worker_<i>`` once the workers are joined: workers logging one key
    at the same time would race for it in the store, and a tag is theirs alone.
    """

    __slots__ = ("_client", "_deferred", "_index", "_keys", "_suffix")

    def __init__(self, client: autolog.Client, index: int) -> None:
        self._client = client
        self._index = index
        self._suffix = f"worker_{index}"
        self._keys: dict[str, str] = {}
        #: params of a worker other than worker 0, as stored
        self._deferred: dict[str, str] = {}

    def _key(self, key: str) -> str:
        named = self._keys.get(key)
        if named is None:
            named = self._keys[key] = f"{key}/{self._suffix}"
        return named

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        step: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        self._client.log_metric(run_id, self._key(key), value, step, timestamp)

    def log_metrics(
        self,
        run_id: str,
        metrics: Mapping[str, float],
        step: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        named = {self._key(key): value for key, value in metrics.items()}
        self._client.log_metrics(run_id, named, step, timestamp)

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        if self._index != 0:
            for key, value in params.items():
                self._deferred.setdefault(key, stringify(key, value))
            self._client.set_tag(run_id, _params_tag(self._index), json.dumps(self._deferred))
            return
        differing = {}
        for key, value in params.items():
            try:
                self._client.log_params(run_id, {key: value})
            except ParamCollisionError:  # yours, logged before the workers began
                differing[key] = value
        if differing:
            self._client.log_params(run_id, {self._key(k): v for k, v in differing.items()})
            self._client.set_tag(run_id, _params_tag(0), _differ(differing, 0))

    def _folder(self, artifact_path: str | None) -> str:
        """``checkpoints/x`` -> ``checkpoints/worker_0/x``: each worker's files apart."""
        if not artifact_path:
            return self._suffix
        head, _, rest = artifact_path.partition("/")
        return f"{head}/{self._suffix}/{rest}" if rest else f"{head}/{self._suffix}"

    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> str:
        return self._client.log_artifact(run_id, local_path, self._folder(artifact_path))

    def log_artifacts(
        self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[str]:
        return self._client.log_artifacts(run_id, local_dir, self._folder(artifact_path))

    def log_artifact_later(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> str:
        return self._client.log_artifact_later(run_id, local_path, self._folder(artifact_path))

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self._client.get_metric_history(run_id, self._key(key))

    def log_model(self, run_id: str, model: object, name: str = "model", **kwargs: Any) -> str:
        if any(model is module for module in _received) and _shared(model):
            # the workers train it together: what this one sees as it ends is a snapshot taken
            # while others may still train (the run opened for the workers logs it at its end)
            return ""
        return self._client.log_model(run_id, model, f"{name}_{self._suffix}", **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _params_tag(index: int) -> str:
    return f"{TAG}.params.worker_{index}"


def _differ(keys: Iterable[str], index: int) -> str:
    return (
        f"{', '.join(keys)}: this worker's value differs from the run's (worker 0's, or "
        f"yours) and is logged as <key>/worker_{index}"
    )


def _shared(model: object) -> bool:
    """Whether every parameter of ``model`` is in memory other processes share (CPU shared
    memory; a CUDA tensor always answers yes, and is shared when it reaches another process)."""
    parameters = getattr(model, "parameters", None)
    if not callable(parameters):
        return False
    tensors = list(parameters())
    return bool(tensors) and all(t.is_shared() for t in tensors)


# -- in the parent -----------------------------------------------------------------------------


class _Workers:
    """The worker processes started with one run, in the parent, and the run itself where
    autolog opened it for them (``active``)."""

    __slots__ = (
        "active",
        "client",
        "closed",
        "empty",
        "model",
        "processes",
        "run_id",
        "settings",
        "settled",
    )

    def __init__(self, run_id: str, settings: Settings, active: autolog.ActiveRun | None) -> None:
        self.run_id = run_id
        self.settings = settings
        self.active = active
        self.client = autolog.Client(autolog.get_tracking_uri())
        self.model: Any = None
        #: (worker index, process) of every worker started
        self.processes: list[tuple[int, weakref.ref[Any]]] = []
        self.closed = False  # every worker ended, or the run did
        self.settled = False  # the workers' params are logged
        #: nothing was recorded in the run by the time its workers ended
        self.empty = False

    def _exit_codes(self) -> list[tuple[int, int | None]]:
        """(worker index, exit code: None while it runs) of every worker started."""
        codes = []
        for index, ref in self.processes:
            process = ref()
            if process is None:
                continue  # gone: it was joined or never matters again
            try:
                codes.append((index, process.exitcode))
            except ValueError:
                continue  # closed: it had ended
        return codes

    def joined(self) -> None:
        """A worker was joined: once every one has ended, their params are logged, and a run
        opened for them ends (FAILED if one failed) with the model they share; one they
        recorded nothing in is dropped (deleted): they were not training."""
        codes = self._exit_codes()
        if self.closed or any(code is None for _, code in codes):
            return
        self.closed = True
        with _lock:
            if _groups.get(self.run_id) is self:
                del _groups[self.run_id]
        self.settle()
        if self.active is None:
            return
        self.empty = self._empty()
        failed = any(code != 0 for _, code in codes)
        self.active.end(RunStatus.FAILED if failed else RunStatus.FINISHED)
        if self.empty:
            self.client.delete_run(self.run_id)

    def settle(self) -> None:
        """Log each worker's params that differ from the run's (worker 0's) under its name."""
        if self.settled:
            return
        self.settled = True
        run = self.client.get_run(self.run_id)
        if run.info.status is not RunStatus.RUNNING:
            return  # ended before its workers were joined (the tags keep their params)
        for index, _ in self.processes:
            tag = _params_tag(index)
            try:
                params = json.loads(run.data.tags.get(tag, ""))
            except ValueError:
                continue  # none (worker 0, or nothing trained), or said already
            if not isinstance(params, dict):
                continue
            differing = {k: v for k, v in params.items() if run.data.params.get(k) != v}
            if differing:
                named = {f"{key}/worker_{index}": value for key, value in differing.items()}
                self.client.log_params(self.run_id, named)
            self.client.set_tag(
                self.run_id,
                tag,
                _differ(differing, index) if differing else "equal to the run's (worker 0's)",
            )

    def ended(self, status: RunStatus) -> None:
        """The run opened for the workers ends (they were joined, ``end_run``, another run,
        exit): say which workers failed or still run, and log the model they share."""
        self.closed = True
        with _lock:
            if _groups.get(self.run_id) is self:
                del _groups[self.run_id]
        model, self.model = self.model, None
        if self.empty:
            return
        codes = self._exit_codes()
        running = [f"worker_{i}" for i, code in codes if code is None]
        failed = [f"worker_{i} (exit status {code})" for i, code in codes if code not in (0, None)]
        if not running:
            self.settle()
        run_id = self.run_id
        if failed:
            self.client.set_tag(run_id, f"{TAG}.failed", ", ".join(failed))
        if status is not RunStatus.FINISHED or not self.settings.log_models or model is None:
            return
        if running:
            self.client.set_tag(
                run_id,
                f"{TAG}.model",
                f"not logged: the run ended while {', '.join(running)} still trained it",
            )
            return
        self.client.log_model(run_id, model, "model", flavor="torch")

    def _empty(self) -> bool:
        run = self.client.get_run(self.run_id)
        return (
            not run.data.metrics
            and not run.data.params
            and not self.client.list_artifacts(self.run_id)
        )


def _say_if_run_is_overridden(process: Any, settings: Settings) -> None:
    """A process of a user's class that overrides ``run()``: it cannot be given a target."""
    from multiprocessing.process import BaseProcess

    kind = type(process)
    if kind.run is not BaseProcess.run and not _library(kind.__module__):
        _say_once(
            f"run:{kind.__qualname__}",
            f"autolog: {kind.__qualname__} overrides run(): its processes cannot be given "
            "autolog's settings and run, and what they train is not recorded (pass the "
            "function as Process(target=...) instead)",
            settings,
        )


def _records(target: Callable[..., Any]) -> bool:
    """Whether ``target`` is a user's function (not a library's machinery)."""
    function = target.func if isinstance(target, functools.partial) else target
    module = getattr(function, "__module__", None) or type(function).__module__
    if (module, getattr(function, "__name__", "")) == _TORCH_SPAWN:
        return True
    return not _library(module)


def _library(module: str) -> bool:
    top = module.partition(".")[0]
    return top in LIBRARIES or top in sys.stdlib_module_names


def _say_once(topic: str, message: str, settings: Settings | None) -> None:
    with _lock:
        if topic in _said:
            return
        _said.add(topic)
    notify(NAME, message, settings)


def _inherited() -> dict[str, Settings]:
    """What ``autolog()`` gave each integration that is on, where a child can be given it."""
    inherited = {}
    for name in registered():
        settings = current_settings(name)
        if settings is None or settings.disable:
            continue
        try:
            pickle.dumps(settings)
        except Exception as exc:  # a third party's options object: its child records without
            logger.debug("autolog: %s settings cannot reach worker processes: %r", name, exc)
            continue
        inherited[name] = settings
    return inherited


def _workers_for(settings: Settings) -> _Workers:
    """The workers of the parent's active run, else of a run opened for them (a plain loop's
    kind: active in the parent, making way for a run started later)."""
    active = autolog.active_run()
    if active is not None:
        run_id = active.info.run_id
        with _lock:
            group = _groups.get(run_id)
            if group is None:
                group = _groups[run_id] = _Workers(run_id, settings, None)
        return group
    run = autolog.start_run(
        tags={TAG: "opened for the worker processes started here; each logs as <key>/worker_<i>"}
    )
    group = _Workers(run.info.run_id, settings, run)
    with _lock:
        _groups[group.run_id] = group
    guard = CallbackFirewall(NAME, settings)
    on_run_end(group.run_id, lambda status: guard(group.ended, status), makes_way=True)
    return group


def _modules(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> list[Any]:
    """The modules among a target's arguments (one level into tuples and lists: the user's
    arguments that ``torch.multiprocessing.spawn`` passes on)."""
    values = [*args, *kwargs.values()]
    for value in list(values):
        if isinstance(value, (tuple, list)):
            values.extend(value)
    return [v for v in values if callable(getattr(v, "state_dict", None)) and _has_params(v)]


def _has_params(value: Any) -> bool:
    return callable(getattr(value, "parameters", None))


def start_hook(call: Call) -> HookGenerator:
    """``Process.start``: give a worker that runs a user's function autolog and a run."""
    process = call.instance
    target = getattr(process, "_target", None)
    if target is None:
        _say_if_run_is_overridden(process, call.settings)
        return
    if isinstance(target, WorkerTarget) or not _records(target):
        return
    group = _workers_for(call.settings)
    run_id = group.run_id
    with _lock:
        index = _started[run_id] = _started.get(run_id, -1) + 1
    wrapped = WorkerTarget(
        target,
        _inherited(),
        autolog.get_tracking_uri(),
        autolog.get_experiment_name(),
        run_id,
        index,
    )
    # start() lets go of the arguments; spawn's pickling moves their tensors to shared memory
    modules = _modules(getattr(process, "_args", ()), getattr(process, "_kwargs", {}))
    # the run (the parent's, or opened just now) is stored before the child looks it up
    autolog.flush(min(_FLUSH_TIMEOUT, exit_timeout()))
    process._target = wrapped
    try:
        yield call.args, call.kwargs
    except BaseException:
        process._target = target  # it did not start: as it was
        if not group.processes:
            group.joined()  # no worker to wait for: a run opened for it ends (dropped, empty)
        raise
    group.processes.append((index, weakref.ref(process)))
    _workers_of[process] = group
    if group.active is not None and group.model is None:
        group.model = next((module for module in modules if _shared(module)), None)


def join_hook(call: Call) -> HookGenerator:
    """``Process.join``: once every worker of a run has ended, their params are logged, and a
    run opened for them ends."""
    group = _workers_of.get(call.instance)
    if group is None:
        return
    yield call.args, call.kwargs
    group.joined()


def _after_fork_in_child() -> None:
    # The parent's runs and workers are the parent's: a forked worker starting processes of
    # its own gives them the run it attached (see ``WorkerTarget``), and never ends a run here.
    global _lock, _worker
    _lock = threading.Lock()  # the parent may have held it at the fork
    _groups.clear()
    _started.clear()
    _workers_of.clear()
    _received.clear()
    _worker = None


def install(patcher: Patcher) -> None:
    """Wrap ``multiprocessing``'s ``Process.start`` (which every start method goes through)
    and ``Process.join``."""
    from multiprocessing import process

    patcher.wrap(process.BaseProcess, "start", start_hook)
    patcher.wrap(process.BaseProcess, "join", join_hook)
    on_fork(Layer.INTEGRATION, after_in_child=_after_fork_in_child)
