"""Optuna: ``Study.optimize``, a parent run per study and a child run per trial.

Written against the integration contract alone (``autolog.integrations``, see
``docs/integrations.md``). What one ``study.optimize(...)`` call records:

- the study run (nested under the user's active run, if any): params ``study_name``,
  ``direction`` (``directions`` for several objectives), ``sampler`` and ``pruner`` (class
  names) and the call's ``n_trials``, ``timeout`` and ``n_jobs``; once optimize returns or
  raises, the metric ``best_value``, a ``best_<name>`` param for each of the best trial's
  params and the tags ``optuna.best_trial_number`` and ``optuna.best_trial_run_id`` (the best
  over the whole study, an earlier ``optimize`` call's trial included), and the metrics
  ``trials_complete``, ``trials_pruned`` and ``trials_failed`` (this call's trials). A
  multi-objective study has no single best trial: none is recorded, and the run is tagged
  ``autolog.optuna.best`` saying so;
- a child run per trial, ``trial-<number>``, the active run while the objective runs: the
  params as the trial suggested them (``trial.suggest_*``, logged as they are suggested, before
  any training in the objective sees them), the objective's value as the metric ``value``
  (``study.metric_names`` where set; ``value_<i>`` for several objectives), every
  ``trial.report(value, step)`` as the step metric ``intermediate_value`` (the first value of a
  step, as Optuna keeps it), each param's distribution as the tag
  ``optuna.distribution.<name>``, and the trial's state as the tag ``optuna.trial_state``
  (``COMPLETE``, ``PRUNED`` or ``FAIL``).

Run status: a complete trial's run ends FINISHED; a pruned trial is no failure, its run ends
FINISHED too, with ``optuna.trial_state=PRUNED`` (KILLED means a process died, FAILED an error:
neither is what pruning is); a failed trial's run ends FAILED. The study run ends FINISHED, or
FAILED when optimize raised (KILLED for KeyboardInterrupt).

Training calls inside the objective (scikit-learn, LightGBM, XGBoost, PyTorch) record into the
trial's run, by the integrations' rule for a user's run: the first training logs into it
(params the framework saw with another value than the trial suggested move that training to a
child run of the trial's), later ones into child runs. Each trial runs in a copy of the context
``optimize`` was called in, with its run active there; this is what carries the study run to
the threads of ``n_jobs > 1``. A ContextVar the objective sets is therefore not seen by the
next trial.

The trial's final state is read from the ``FrozenTrial`` Optuna hands its ``callbacks``: the
patch puts a callback of its own first in the call's copy of ``callbacks``. A trial whose
exception optimize does not catch (``catch``) ends FAILED as optimize raises. ``study.ask()``
and ``study.tell()`` used directly, without ``optimize``, are not recorded.
"""

from __future__ import annotations

import contextvars
import inspect
import threading
import weakref
from collections.abc import Mapping
from typing import Any, NamedTuple

import autolog
from autolog.entities import RunStatus
from autolog.errors import InvalidInputError, ParamCollisionError
from autolog.integrations.patching import (
    Call,
    CallbackFirewall,
    Hook,
    HookGenerator,
    Patcher,
    Settings,
    current_settings,
    notify,
    typed_options,
)
from autolog.integrations.session import current
from autolog.runs import end_status

__all__ = ["INTEGRATION", "OptunaOptions"]

NAME = "optuna"
#: the suggest methods whose values become the trial's params (the deprecated ones, such as
#: suggest_uniform, call suggest_float)
_SUGGEST = ("suggest_float", "suggest_int", "suggest_categorical")
_INTERMEDIATE = "intermediate_value"
#: the study run's metric counting the trials of each final state
_COUNTS = {"COMPLETE": "trials_complete", "PRUNED": "trials_pruned", "FAIL": "trials_failed"}


class OptunaOptions(NamedTuple):
    """The Optuna integration has no options of its own (yet)."""


class _Optuna:
    name = NAME
    framework = "optuna"

    def make_options(self, options: dict[str, Any]) -> OptunaOptions:
        made: OptunaOptions = typed_options(NAME, OptunaOptions, options)
        return made

    def patch(self, patcher: Patcher) -> None:
        from optuna.study.study import Study
        from optuna.trial import Trial

        signature = inspect.signature(Study.optimize)
        # bound calls: the hook sees the arguments after self
        parameters = list(signature.parameters.values())[1:]
        hook = _optimize_hook(signature.replace(parameters=parameters))
        patcher.wrap(Study, "optimize", hook)
        for method in _SUGGEST:
            patcher.observe(Trial, method, _suggested, _log_suggested)
        patcher.observe(Trial, "report", _reported, _log_reported)


INTEGRATION = _Optuna()


# -- what one optimize call keeps ------------------------------------------------------------


class _TrialRun:
    """One trial's run while the trial runs."""

    __slots__ = ("client", "ended", "number", "run", "run_id", "steps")

    def __init__(self, run: autolog.ActiveRun, number: int, client: autolog.Client) -> None:
        self.run = run
        self.run_id = run.info.run_id
        self.client = client
        self.number = number
        #: steps reported so far: Optuna keeps the first value of a step, and so do we
        self.steps: set[int] = set()
        #: the trial has ended: what its Trial object does later is not recorded
        self.ended = False


# Trial objects of the trials running now -> their runs (suggest and report look them up).
_trials: weakref.WeakKeyDictionary[Any, _TrialRun] = weakref.WeakKeyDictionary()
# Study objects -> trial number -> run id, over every optimize call (for the best trial's id).
_study_runs: weakref.WeakKeyDictionary[Any, dict[int, str]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


class _StudyRecord:
    """One ``optimize`` call: its study run, the context its trials run in, its trials."""

    def __init__(self, study: Any, settings: Settings, context: contextvars.Context) -> None:
        self.study = study
        self.settings = settings
        self.context = context
        self.guard = CallbackFirewall(NAME, settings)
        self.run: autolog.ActiveRun | None = None
        self.client = autolog.Client(autolog.get_tracking_uri())
        self.open: dict[int, _TrialRun] = {}
        self.states = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0}
        with _lock:
            self.run_ids = _study_runs.setdefault(study, {})

    def start(self, arguments: Mapping[str, Any]) -> None:
        study = self.study
        self.run = self.context.run(
            autolog.start_run,
            run_name=str(study.study_name),
            nested=self.context.run(autolog.active_run) is not None,
            tags={"autolog.estimator": "optuna.Study", "optuna.study_name": study.study_name},
        )
        directions = [d.name.lower() for d in study.directions]
        params: dict[str, Any] = {
            "study_name": study.study_name,
            "sampler": type(study.sampler).__name__,
            "pruner": type(study.pruner).__name__,
            "n_jobs": arguments.get("n_jobs", 1),
        }
        if len(directions) == 1:
            params["direction"] = directions[0]
        else:
            params["directions"] = directions
        for name in ("n_trials", "timeout"):
            if arguments.get(name) is not None:
                params[name] = arguments[name]
        self.client.log_params(self.run.info.run_id, params)

    # -- trials: in the trial's own copy of the context, on whichever thread runs it -----------

    def start_trial(self, trial: Any) -> _TrialRun:
        assert self.run is not None
        number = int(trial.number)
        run = autolog.start_run(
            run_name=f"trial-{number}",
            nested=True,
            tags={"optuna.trial_number": number, "optuna.study_name": self.study.study_name},
        )
        record = _TrialRun(run, number, self.client)
        with _lock:
            _trials[trial] = record
            self.open[number] = record
            self.run_ids[number] = record.run_id
        _log_params(record, dict(trial.params), self.settings)  # fixed or enqueued params
        return record

    def finish_trial(self, frozen: Any) -> None:
        """Optuna's callback: the trial has ended, in the state Optuna recorded."""
        with _lock:
            record = self.open.pop(int(frozen.number), None)
        if record is None:
            return  # a trial whose run could not start
        try:
            _log_params(record, dict(frozen.params), self.settings)
            client, run_id = record.client, record.run_id
            missed = {s: v for s, v in frozen.intermediate_values.items() if s not in record.steps}
            for step, value in sorted(missed.items()):
                client.log_metric(run_id, _INTERMEDIATE, float(value), int(step))
            values = frozen.values
            if values is not None:
                client.log_metrics(run_id, dict(zip(_value_keys(self.study), values, strict=True)))
            tags = {
                f"optuna.distribution.{name}": repr(distribution)
                for name, distribution in frozen.distributions.items()
            }
            state = frozen.state.name
            tags["optuna.trial_state"] = state
            client.set_tags(run_id, tags)
            self._count(state)
        finally:
            failed = frozen.state.name == "FAIL"
            _end_trial(record, "FAILED" if failed else "FINISHED")

    # -- the end of the optimize call ------------------------------------------------------------

    def finish(self, error: BaseException | None) -> None:
        """Record the best trial and end every run still open: trials first, then the study."""
        run = self.run
        if run is None:
            return
        try:
            with _lock:
                left = list(self.open.values())
                self.open.clear()
            for record in left:  # trials whose exception optimize did not catch
                try:
                    record.client.set_tags(record.run_id, {"optuna.trial_state": "FAIL"})
                    self._count("FAIL")
                finally:  # Ctrl-C stopped them: KILLED, as every interrupted run
                    _end_trial(record, "FAILED" if error is None else end_status(error))
            self._log_best()
        finally:
            if error is None:
                status = "FINISHED"
            elif isinstance(error, KeyboardInterrupt):
                status = "KILLED"
            else:
                status = "FAILED"
            run.end(status)

    def _count(self, state: str) -> None:
        with _lock:  # trials end on several threads with n_jobs > 1
            if state in self.states:
                self.states[state] += 1

    def _log_best(self) -> None:
        assert self.run is not None
        study, client, run_id = self.study, self.client, self.run.info.run_id
        counts = {_COUNTS[state]: float(n) for state, n in self.states.items()}
        client.log_metrics(run_id, counts)
        if len(study.directions) > 1:
            client.set_tags(
                run_id,
                {"autolog.optuna.best": "several objectives: no single best trial is recorded"},
            )
            return
        try:
            best = study.best_trial
        except ValueError:
            return  # no complete trial: nothing is best
        client.log_metrics(run_id, {"best_value": float(best.value)})
        tags: dict[str, Any] = {"optuna.best_trial_number": best.number}
        with _lock:
            best_run = self.run_ids.get(best.number)
        if best_run is not None:
            tags["optuna.best_trial_run_id"] = best_run
        client.set_tags(run_id, tags)
        params = {f"best_{name}": value for name, value in best.params.items()}
        _log_some_params(client, run_id, params, self.settings)


def _value_keys(study: Any) -> list[str]:
    names = getattr(study, "metric_names", None)
    count = len(study.directions)
    if names and len(names) == count:
        return [str(n) for n in names]
    return ["value"] if count == 1 else [f"value_{i}" for i in range(count)]


def _end_trial(record: _TrialRun, status: RunStatus | str) -> None:
    record.ended = True
    record.run.end(status)


def _log_params(record: _TrialRun, params: Mapping[str, Any], settings: Settings | None) -> None:
    _log_some_params(record.client, record.run_id, params, settings)


def _log_some_params(
    client: autolog.Client, run_id: str, params: Mapping[str, Any], settings: Settings | None
) -> None:
    """Log params one by one: a name the store cannot take, or a value a training already
    logged differently (a param suggested after the fit that used it), is left out and said
    in the tag ``autolog.optuna.params``, with one warning."""
    problems = []
    for name, value in params.items():
        try:
            client.log_params(run_id, {name: value})
        except (InvalidInputError, ParamCollisionError) as exc:
            problems.append(f"{name!r}: {exc}")
    if problems:
        text = "params not logged: " + "; ".join(problems)
        client.set_tags(run_id, {"autolog.optuna.params": text[:4000]})
        notify(NAME, f"autolog: optuna trial {text}", settings)


# -- the patches ----------------------------------------------------------------------------------


def _optimize_hook(signature: inspect.Signature) -> Hook:
    def hook(call: Call) -> HookGenerator:
        # This part runs as a plain function, before the firewall marks what runs as autolog's
        # own code: the copy of the context is the caller's, as the objective would see it.
        context = contextvars.copy_context()
        return _record_study(call, signature, context)

    return hook


def _record_study(
    call: Call, signature: inspect.Signature, context: contextvars.Context
) -> HookGenerator:
    if current() is not None:
        return  # inside a training call being recorded: that call's record stands
    try:
        bound = signature.bind(*call.args, **call.kwargs)
    except TypeError:
        return  # a call Optuna itself refuses: let it, untouched
    callbacks = bound.arguments.get("callbacks")
    if callbacks is not None and not isinstance(callbacks, (list, tuple)):
        return  # an iterable we could only read by consuming it
    func = bound.arguments.get("func")
    if not callable(func):
        return
    record = _StudyRecord(call.instance, call.settings, context)
    try:
        record.start(bound.arguments)
    except Exception:
        if record.run is not None:
            record.run.end("FAILED")  # our failure: optimize runs unrecorded, no run left open
        raise
    bound.arguments["func"] = _objective(record, func)
    bound.arguments["callbacks"] = [_callback(record), *(callbacks or ())]
    try:
        yield bound.args, bound.kwargs
    except BaseException as error:
        record.finish(error)
        raise
    record.finish(None)


def _objective(record: _StudyRecord, func: Any) -> Any:
    def objective(trial: Any) -> Any:
        # A copy per trial: threads (n_jobs > 1) may run several trials at once.
        return record.context.copy().run(_run_trial, record, func, trial)

    return objective


def _run_trial(record: _StudyRecord, func: Any, trial: Any) -> Any:
    record.guard(record.start_trial, trial)
    return func(trial)


def _callback(record: _StudyRecord) -> Any:
    def callback(study: Any, frozen: Any) -> None:
        record.guard(record.finish_trial, frozen)

    return callback


def _suggested(trial: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    record = _trials.get(trial)
    if record is None or record.ended:
        return None
    name = args[0] if args else kwargs.get("name")
    return (record, name) if isinstance(name, str) else None


def _log_suggested(state: Any, value: Any, error: BaseException | None) -> None:
    if error is None:
        record, name = state
        _log_params(record, {name: value}, current_settings(NAME))


def _reported(trial: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    record = _trials.get(trial)
    if record is None or record.ended:
        return None
    value = args[0] if args else kwargs.get("value")
    step = args[1] if len(args) > 1 else kwargs.get("step")
    return record, value, step


def _log_reported(state: Any, result: Any, error: BaseException | None) -> None:
    if error is not None:
        return  # Optuna refused it (not a number, a negative step): so do we
    record, value, step = state
    step = int(step)
    if step in record.steps:
        return  # Optuna ignores a step reported again, with a warning of its own
    record.steps.add(step)
    record.client.log_metric(record.run_id, _INTERMEDIATE, float(value), step)
