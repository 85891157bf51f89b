"""LightGBM: ``lightgbm.train``, ``lightgbm.cv`` and the scikit-learn API's ``fit``.

What one outermost training call records:

- params: for ``train`` and ``cv``, the booster params as given, over the full configuration
  LightGBM resolved from them (aliases, defaults) where the booster reports it, and the other
  training arguments (``num_boost_round``, ``valid_names``, ``nfold``, ``feval``, ...); for
  ``LGBMClassifier``, ``LGBMRegressor`` and ``LGBMRanker``, ``get_params()`` over the same, and
  the settings among ``fit``'s arguments (``eval_metric``, ``eval_names``, ``feature_name``,
  ``categorical_feature``, ``init_model``). Values as the core stores every param
  (``autolog.rendering``): ``metric={"l2", "l1"}`` as ``{'l1', 'l2'}``, functions (a custom
  objective, ``feval``, an ``eval_metric`` callable) by qualified name;
- early stopping under LightGBM's own name, ``early_stopping_round``, with the rounds LightGBM
  used: an ``early_stopping()`` callback's (with its ``early_stopping_min_delta`` and
  ``first_metric_only``), else the params' ``early_stopping_round`` or any alias of it, else 0;
  the aliases are not logged beside it;
- the params as given are logged before training starts, so a training that raises (a
  pruning callback's ``TrialPruned``, an error at some iteration) keeps them; what LightGBM
  resolved besides (defaults, aliases) is added once it returns;
- ``reset_parameter`` schedules: each as the param ``reset_parameter.<name>`` (its list, or its
  function by name), and the value used at every iteration as the step metric ``<name>``
  (``learning_rate``, ``bagging_fraction``, ...);
- step metrics: every validation set's every metric at every iteration, ``<valid_name>-<metric>``,
  with the iteration as step (1-based: the number of boosting rounds done, as LightGBM counts
  ``best_iteration``); for ``cv`` the mean and standard deviation over the folds,
  ``<name>-<metric>-mean`` and ``<name>-<metric>-stdv``;
- early stopping: ``best_iteration``, ``stopped_iteration`` and the best iteration's scores,
  ``best_<valid_name>-<metric>``;
- ``feature_importance.csv``: split and gain per feature name;
- the model ``model``, flavor "lightgbm": ``model.txt`` in LightGBM's own text format (loadable
  without unpickling) and ``model.pkl``; ``load_model`` gives a Booster for ``train`` (read from
  the text) and the fitted estimator for the scikit-learn API. ``cv`` trains no single model;
- the scikit-learn API also logs ``fit_time`` and, when the scikit-learn integration is enabled
  too, the training scores that integration computes.

The metrics are collected by a callback the patch puts first in the call's own copy of
``callbacks``: it keeps each iteration's evaluation list (no copy, no store I/O) and hands what
it has to the client's queue about once a second and when training ends.

``LGBMClassifier.fit`` calling ``lightgbm.train`` makes one run: the fit hook opens the session
and leaves a ``FitState`` note in it; the train hook finds the note and adds the iteration
metrics, feature importance and resolved params to that run, while the estimator is the model.
A session without the note (a Pipeline or a search recorded by the scikit-learn integration)
is left alone: its own record stands for the whole call, whatever LightGBM trains inside it.
Fits that scikit-learn makes itself are no runs of their own either (``Framework.internal``):
with the scikit-learn integration off, a search over an LGBMClassifier records nothing rather
than a run per clone. The hooks' shape is the XGBoost integration's too:
``autolog.integrations._boosting``.
"""

from __future__ import annotations

import functools
import inspect
import io
import json
import numbers
import time
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import autolog
from autolog.errors import InvalidInputError
from autolog.integrations._boosting import (
    MAX_KEY,
    FitState,
    Framework,
    Training,
    log_new_params,
    log_table,
    metric_key,
    record_fit,
    wrap_train_and_cv,
)
from autolog.integrations.patching import (
    Call,
    CallbackFirewall,
    HookGenerator,
    Patcher,
    outermost,
    typed_options,
)
from autolog.integrations.session import Session
from autolog.rendering import render

__all__ = ["FLAVOR", "INTEGRATION", "LightGBMFlavor", "LightGBMOptions"]

# Calls that scikit-learn or LightGBM make themselves are not outermost. Fits scikit-learn
# makes (a pipeline's steps, a search's clones, the folds of ``cross_val_score``) are recorded
# by the scikit-learn integration's outer run or not at all: as that integration has it, a run
# is what the user's own code trained. What LightGBM calls itself (``LGBMModel.fit`` from a
# subclass's ``fit``, ``train`` from ``fit``) belongs to the outer call, recorded or not.
_LIGHTGBM = Framework("lightgbm", internal=("sklearn", "lightgbm"))
#: how often, at most, the collecting callback hands metrics to the client during training
_LIVE_INTERVAL_S = 1.0
#: LightGBM runs callbacks by ascending ``order`` (its own use 10, 20, 30; the user's without
#: one get -len(callbacks)..-1): ours runs first, so it sees every iteration, the one that a
#: later callback stops with EarlyStopException included.
_FIRST = -(1 << 30)
#: training arguments that are data or code, not settings: never logged as params
_NOT_PARAMS = {"params", "train_set", "valid_sets", "callbacks"}
_EARLY_STOPPING = "early_stopping_round"
_EARLY_STOPPING_ALIASES = ("early_stopping_rounds", "early_stopping", "n_iter_no_change")
#: ``LGBMModel.fit`` arguments that are settings, not data
_FIT_SETTINGS = frozenset(
    {"eval_metric", "eval_names", "feature_name", "categorical_feature", "init_model"}
)


class LightGBMOptions(NamedTuple):
    #: log feature_importance.csv (split and gain per feature) after training
    log_feature_importance: bool = True


class _LightGBM:
    name = "lightgbm"
    framework = "lightgbm"

    def make_options(self, options: dict[str, Any]) -> LightGBMOptions:
        made: LightGBMOptions = typed_options("lightgbm", LightGBMOptions, options)
        return made

    def patch(self, patcher: Patcher) -> None:
        import sys

        import lightgbm
        from lightgbm import engine

        wrap_train_and_cv(patcher, _LIGHTGBM, lightgbm, engine, inspect.signature, _record_booster)
        sklearn_api = sys.modules.get("lightgbm.sklearn")
        if sklearn_api is not None:
            for name in ("LGBMModel", "LGBMClassifier", "LGBMRegressor", "LGBMRanker"):
                cls = getattr(sklearn_api, name, None)
                if cls is not None:
                    patcher.wrap(cls, "fit", _fit_hook)


INTEGRATION = _LightGBM()


# -- the collecting callback ----------------------------------------------------------------


class _Recorder:
    """The callback the patch adds: keeps every iteration's evaluation results."""

    def __init__(self, session: Session, *, cv: bool, scheduled: tuple[str, ...] = ()) -> None:
        # Instance attributes: LightGBM sets ``order`` in the instance dict unless it is there.
        self.order = _FIRST
        self.before_iteration = False
        self.client = session.client
        self.run_id = session.run_id
        self.firewall = CallbackFirewall("lightgbm", session.settings)
        self.cv = cv
        #: (iteration, timestamp in ms, LightGBM's evaluation list of that iteration)
        self.history: list[tuple[int, int, list[Any]]] = []
        #: params that ``reset_parameter`` callbacks change, and their value at each iteration
        self.scheduled = scheduled
        self.schedule: list[tuple[int, int, list[Any]]] = []
        self._scheduled_logged = 0
        self.model: Any = None  # the Booster (train) or CVBooster (cv) being trained
        self._logged = 0
        self._keys: dict[tuple[str, str], tuple[str, ...]] = {}
        self._next_drain = time.monotonic() + _LIVE_INTERVAL_S

    def __call__(self, env: Any) -> None:
        self.firewall(self._record, env)  # LightGBM calls this: our bug must not stop training

    def _record(self, env: Any) -> None:
        self.model = env.model
        results = env.evaluation_result_list
        if self.scheduled:
            # reset_parameter updates env.params before the iteration: what it trained with
            values = [env.params.get(name) for name in self.scheduled]
            self.schedule.append((env.iteration + 1, time.time_ns() // 1_000_000, values))
        if results:
            self.history.append((env.iteration + 1, time.time_ns() // 1_000_000, results))
            if time.monotonic() >= self._next_drain:
                self.drain()

    def drain(self) -> None:
        """Queue the metrics collected since the last drain (training thread, no I/O)."""
        if self.firewall.failed:
            return  # reported once already: what was collected may be incomplete
        history, log, run_id, cv = self.history, self.client.log_metric, self.run_id, self.cv
        for step, timestamp, results in history[self._logged :]:
            for result in results:
                keys = self._keys.get((result[0], result[1])) or self._make_keys(result)
                log(run_id, keys[0], result[2], step, timestamp)
                if cv and len(result) > 4 and result[4] is not None:
                    log(run_id, keys[1], result[4], step, timestamp)
        self._logged = len(history)
        for step, timestamp, values in self.schedule[self._scheduled_logged :]:
            for name, value in zip(self.scheduled, values, strict=True):
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    log(run_id, metric_key(name), float(value), step, timestamp)
        self._scheduled_logged = len(self.schedule)
        self._next_drain = time.monotonic() + _LIVE_INTERVAL_S

    def _make_keys(self, result: Any) -> tuple[str, ...]:
        base = f"{result[0]}-{result[1]}"
        suffixes = ("-mean", "-stdv") if self.cv else ("",)
        keys = self._keys[result[0], result[1]] = tuple(metric_key(base + s) for s in suffixes)
        return keys

    def metrics(self, result: Any) -> Iterator[tuple[str, Any]]:
        """(key, value) pairs of one evaluation result: the value, or cv's mean and stdv."""
        keys = self._keys.get((result[0], result[1])) or self._make_keys(result)
        yield keys[0], result[2]
        if self.cv and len(result) > 4 and result[4] is not None:
            yield keys[1], result[4]


# -- train and cv ---------------------------------------------------------------------------


def _record_booster(training: Training) -> HookGenerator:
    """Record one ``train`` or ``cv`` call (``booster_hook`` chose it, and its session)."""
    kind, call, session, bound = training.kind, training.call, training.session, training.bound
    arguments, state = training.arguments, training.fit
    # The params as given, before training starts: a training that raises (a pruning
    # callback, an error at iteration 50) keeps the params it was given. First, too: logging
    # them may move the session to a child run, which the recorder must write to.
    logged = state.logged if state is not None else set()
    _log_new_params(session, _given_params(arguments, fit=state is not None), logged)
    callbacks = arguments.get("callbacks")
    recorder = _Recorder(session, cv=kind == "cv", scheduled=tuple(_schedules(callbacks)))
    # Ours goes first: the user's callbacks keep the positions, hence the order, they had.
    bound.arguments["callbacks"] = [recorder, *(arguments.get("callbacks") or ())]
    # the first rows of the training data, for the model's signature: taken now, since a
    # Dataset lets go of its data once constructed (free_raw_data, the default)
    logs_model = kind == "train" and state is None and call.settings.log_models
    example = _example_rows(arguments.get("train_set")) if logs_model else None
    try:
        result = yield bound.args, bound.kwargs
    finally:
        recorder.drain()  # the iterations done, before a failure too
    if kind == "train":
        _log_train(session, call, recorder, result, arguments, state, logged, example)
    else:
        _log_early_stopping(session, recorder, getattr(recorder.model, "best_iteration", 0))


def _example_rows(train_set: Any) -> Any:
    """A copy of the first rows of a Dataset's data where it holds them in memory (an array,
    a DataFrame, a sparse matrix), else None (a file path, a Dataset made from another)."""
    from autolog import signatures

    data = getattr(train_set, "data", None)
    if data is None or isinstance(data, (str, bytes)) or hasattr(data, "__fspath__"):
        return None
    try:
        return signatures.rows_of(data)
    except Exception:  # data of a kind without rows to take: no example, no signature
        return None


def _given_params(arguments: Mapping[str, Any], *, fit: bool) -> dict[str, Any]:
    """The params as given to ``train`` or ``cv``, with the other training arguments and early
    stopping under one name; ``fit``: inside ``LGBMModel.fit``, whose ``eval_metric`` is
    logged as given rather than as LightGBM's wrappers of it."""
    params = _training_arguments(arguments)
    params.update(arguments["params"] or {})
    _one_early_stopping(params, arguments)
    if fit:
        params.pop("feval", None)
    return params


def _log_new_params(session: Session, params: Mapping[str, Any], logged: set[str]) -> None:
    """``log_new_params`` of ``params`` as the core stores them (see ``_texts``)."""
    log_new_params(session, _texts(params), logged)


def _log_train(
    session: Session,
    call: Call,
    recorder: _Recorder,
    booster: Any,
    arguments: Mapping[str, Any],
    state: FitState | None,
    logged: set[str],
    example: Any = None,
) -> None:
    # The configuration LightGBM resolved (aliases, defaults) adds what was not given.
    _log_new_params(session, _resolved(booster), logged)
    client, run_id = session.client, session.run_id
    client.log_metrics(run_id, _early_stopping(recorder, booster.best_iteration))
    options: LightGBMOptions = call.settings.options
    if options.log_feature_importance:
        _log_importance(client, run_id, booster)
    if state is None and call.settings.log_models:
        client.log_model(run_id, booster, "model", flavor="lightgbm", input_example=example)


def _log_early_stopping(session: Session, recorder: _Recorder, best: int) -> None:
    session.client.log_metrics(session.run_id, _early_stopping(recorder, best))


def _early_stopping(recorder: _Recorder, best: int) -> dict[str, float]:
    """best_iteration, stopped_iteration and the best iteration's scores, if training stopped
    early (LightGBM reports a best iteration only then)."""
    history = recorder.history
    if not isinstance(best, int) or best <= 0 or not history:
        return {}
    metrics = {"best_iteration": float(best), "stopped_iteration": float(history[-1][0])}
    for step, _, results in reversed(history):
        if step == best:
            for result in results:
                for key, value in recorder.metrics(result):
                    metrics[f"best_{key}"[:MAX_KEY]] = value
            break
    return metrics


def _training_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The call's settings other than params: num_boost_round, valid_names, nfold, feval, ...,
    and every ``reset_parameter`` schedule as ``reset_parameter.<param>`` (its list, or its
    function by name)."""
    params = {
        name: value
        for name, value in arguments.items()
        if name not in _NOT_PARAMS and value is not None
    }
    feval = params.get("feval")
    if feval is not None:  # the sklearn API's wrappers name the function they wrap
        params["feval"] = (
            [getattr(f, "func", f) for f in feval] if isinstance(feval, list) else feval
        )
    for callback in arguments.get("callbacks") or ():
        for name, schedule in (_schedule_of(callback) or {}).items():
            params[f"reset_parameter.{name}"] = schedule
    return params


def _schedule_of(callback: Any) -> dict[str, Any] | None:
    """The params a ``lightgbm.reset_parameter(...)`` callback changes, with their schedules."""
    schedules = getattr(callback, "kwargs", None)
    if getattr(callback, "before_iteration", False) and type(callback).__name__ == (
        "_ResetParameterCallback"
    ):
        return dict(schedules) if isinstance(schedules, dict) else None
    return None


def _schedules(callbacks: Any) -> list[str]:
    names: list[str] = []
    for callback in callbacks or ():
        for name in _schedule_of(callback) or {}:
            if name not in names:
                names.append(name)
    return names


def _aliases(name: str, fallback: tuple[str, ...]) -> set[str]:
    try:
        from lightgbm.basic import _ConfigAliases

        aliases: set[str] = set(_ConfigAliases.get(name))
    except Exception:  # a LightGBM without the private table: the names known today
        aliases = set(fallback)
    return aliases | {name}


def _one_early_stopping(params: dict[str, Any], arguments: Mapping[str, Any]) -> None:
    """Early stopping as LightGBM used it, under its own name ``early_stopping_round``: the
    rounds of an ``early_stopping()`` callback (its ``min_delta`` and ``first_metric_only``
    too), else the params' ``early_stopping_round`` or an alias of it; 0 when off. The
    aliases and the resolved default (0) are dropped, so no two names disagree."""
    aliases = _aliases(_EARLY_STOPPING, _EARLY_STOPPING_ALIASES)
    given = arguments.get("params") or {}
    rounds = [given[a] for a in sorted(aliases, key=lambda a: a != _EARLY_STOPPING) if a in given]
    from_params = rounds[0] if rounds else None  # the name LightGBM itself reads first
    for alias in aliases:
        params.pop(alias, None)
    used = [_rounds(from_params)] if _rounds(from_params) else []
    for callback in arguments.get("callbacks") or ():
        stopping = _rounds(getattr(callback, "stopping_rounds", None))
        if stopping and getattr(callback, "enabled", True):
            used.append(stopping)
            params["early_stopping_min_delta"] = getattr(callback, "min_delta", 0.0)
            params["first_metric_only"] = getattr(callback, "first_metric_only", False)
    params[_EARLY_STOPPING] = min(used) if used else 0


def _rounds(value: Any) -> int:
    """A positive number of early-stopping rounds, else 0 (off)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return max(int(value), 0)
    return 0


def _resolved(booster: Any) -> dict[str, Any]:
    """The configuration the booster trained with, aliases and defaults resolved."""
    # train() reloads its booster from the model string unless keep_training_booster=True;
    # LightGBM then knows the whole configuration it read back. Otherwise we have what the
    # Python side resolved (num_iterations, objective, ...).
    loaded = getattr(booster, "_get_loaded_param", None)
    full = loaded() if callable(loaded) else {}
    return {**(booster.params or {}), **(full or {})}


def _texts(values: Mapping[str, Any]) -> dict[str, str]:
    """Params as the core stores them (``autolog.rendering``): a set like ``{"l2", "l1"}`` as
    ``{'l1', 'l2'}``, functions by qualified name, the same value always the same string."""
    return {str(key): render(value) for key, value in values.items()}


def _log_importance(client: autolog.Client, run_id: str, booster: Any) -> None:
    names = booster.feature_name()
    split = booster.feature_importance(importance_type="split")
    gain = booster.feature_importance(importance_type="gain")
    rows = [[str(name), int(s), float(g)] for name, s, g in zip(names, split, gain, strict=True)]
    log_table(client, run_id, "feature_importance.csv", ["feature", "split", "gain"], rows)


# -- the scikit-learn API -------------------------------------------------------------------


def _fit_hook(call: Call) -> HookGenerator:
    if not outermost(call, *_LIGHTGBM.internal):
        return  # LGBMClassifier.fit calling LGBMModel.fit, a pipeline's step, a search's clone
    yield from record_fit(_LIGHTGBM, call, functools.partial(_fit_params, call), _fit_data(call))


def _fit_params(call: Call) -> dict[str, str]:
    """The estimator's own params and ``fit``'s settings, as the core stores them: logged
    before train()'s, they win over LightGBM's view of them."""
    own = dict(call.instance.get_params(deep=True))
    for alias in _aliases(_EARLY_STOPPING, _EARLY_STOPPING_ALIASES):
        own.pop(alias, None)  # train() logs what LightGBM used, under one name
    return _texts({**own, **_fit_arguments(call)})


def _fit_arguments(call: Call) -> dict[str, Any]:
    """The settings among ``fit``'s arguments: ``eval_metric`` (names, or functions by
    qualified name), ``eval_names``, ``feature_name``, ``categorical_feature``,
    ``init_model``."""
    try:
        bound = inspect.signature(call.instance.fit).bind(*call.args, **call.kwargs)
    except TypeError:
        return {}
    return {
        name: value
        for name, value in bound.arguments.items()
        if name in _FIT_SETTINGS and value is not None and not _is_default(value)
    }


def _is_default(value: Any) -> bool:
    return isinstance(value, str) and value == "auto"


def _fit_data(call: Call) -> tuple[Any, Any, Any]:
    """``fit``'s X, y and sample_weight, for the training scores."""
    args, kwargs = call.args, call.kwargs
    X = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    weight = args[2] if len(args) > 2 else kwargs.get("sample_weight")
    return X, y, weight


# -- the model flavor -----------------------------------------------------------------------


class LightGBMFlavor:
    """A Booster or a fitted scikit-learn API estimator.

    Files: ``model.txt`` (the booster in LightGBM's text format, every iteration),
    ``model.pkl`` (the object, cloudpickled) and ``lightgbm.json`` (which of the two it is, and
    the best iteration). A Booster is loaded from the text alone, never unpickled.
    """

    name = "lightgbm"

    def save(self, model: object) -> dict[str, bytes]:
        import lightgbm

        booster = model if isinstance(model, lightgbm.Booster) else getattr(model, "booster_", None)
        if not isinstance(booster, lightgbm.Booster):
            raise InvalidInputError(
                "the lightgbm flavor saves a Booster or a fitted LGBMModel, "
                f"not {type(model).__name__}"
            )
        info = {
            "model": "booster" if booster is model else "estimator",
            "best_iteration": int(booster.best_iteration),
        }
        pickled, text = _dumps(model, booster)
        if text is None:
            text = booster.model_to_string(num_iteration=-1)
        return {
            "model.txt": text.encode(),
            "model.pkl": pickled,
            "lightgbm.json": json.dumps(info).encode(),
        }

    def load(self, files: Mapping[str, bytes], meta: Mapping[str, Any]) -> object:
        info = json.loads(files["lightgbm.json"])
        if info.get("model") == "booster":
            import lightgbm

            booster = lightgbm.Booster(model_str=files["model.txt"].decode())
            # predict() uses the best iteration by default: keep it, for identical predictions
            booster.best_iteration = int(info.get("best_iteration", 0))
            return booster
        import cloudpickle

        return cloudpickle.loads(files["model.pkl"])


def _dumps(model: object, booster: Any) -> tuple[bytes, str | None]:
    """``cloudpickle.dumps(model)``, and the model text the booster pickled itself as.

    A Booster pickles as its text (``model_to_string`` of every iteration), which costs as much
    as the pickle: taking the text from the state handed to the pickler, exactly as it is
    pickled, spares making it twice. None where the state holds no model text.
    """
    pickler = _text_catching_pickler()
    buffer = io.BytesIO()
    catcher = pickler(buffer, booster)
    catcher.dump(model)
    return buffer.getvalue(), catcher.text


@functools.cache
def _text_catching_pickler() -> type[Any]:
    import cloudpickle

    class TextCatchingPickler(cloudpickle.Pickler):  # type: ignore[misc]
        def __init__(self, file: Any, booster: Any) -> None:
            super().__init__(file, protocol=cloudpickle.DEFAULT_PROTOCOL)
            self.booster = booster
            self.text: str | None = None

        def reducer_override(self, obj: Any) -> Any:
            if obj is not self.booster:
                return super().reducer_override(obj)
            # What pickle itself would do with the object (Booster defines no reducer of its
            # own), keeping an eye on the state on its way to the pickle.
            reduced = obj.__reduce_ex__(cloudpickle.DEFAULT_PROTOCOL)
            state = reduced[2] if isinstance(reduced, tuple) and len(reduced) > 2 else None
            if isinstance(state, dict):
                for value in state.values():
                    if isinstance(value, str) and value.startswith("tree\n"):
                        self.text = value
            return reduced

    return TextCatchingPickler


#: the flavor's entry point (group ``autolog.flavors``, in pyproject.toml)
FLAVOR = LightGBMFlavor()
