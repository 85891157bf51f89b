"""LightGBM: ``lightgbm.train``, ``lightgbm.cv`` and the scikit-learn API's ``fit``.

What one outermost training call records:

- params: for ``train`` and ``cv``, the booster params as given, over the full configuration
  LightGBM resolved from them (aliases, defaults) where the booster reports it, and the other
  training arguments (``num_boost_round``, ``valid_names``, ``nfold``, ...); for
  ``LGBMClassifier``, ``LGBMRegressor`` and ``LGBMRanker``, ``get_params()`` over the same;
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
and leaves a ``_FitState`` note in it; the train hook finds the note and adds the iteration
metrics, feature importance and resolved params to that run, while the estimator is the model.
A session without the note (a Pipeline or a search recorded by the scikit-learn integration)
is left alone: its own record stands for the whole call, whatever LightGBM trains inside it.
Fits that scikit-learn makes itself are no runs of their own either (``_INTERNAL``): with the
scikit-learn integration off, a search over an LGBMClassifier records nothing rather than a run
per clone.
"""

from __future__ import annotations

import csv
import functools
import inspect
import io
import json
import numbers
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import autolog
from autolog.errors import InvalidInputError
from autolog.integrations import patching
from autolog.integrations.patching import (
    Call,
    Guard,
    HookGenerator,
    Patcher,
    made_by,
    outermost,
    typed_options,
)
from autolog.integrations.session import Session, current, training_session

__all__ = ["FLAVOR", "INTEGRATION", "LightGBMFlavor", "LightGBMOptions"]

_FIT_NOTE = "lightgbm.fit"
#: how often, at most, the collecting callback hands metrics to the client during training
_LIVE_INTERVAL_S = 1.0
#: LightGBM runs callbacks by ascending ``order`` (its own use 10, 20, 30; the user's without
#: one get -len(callbacks)..-1): ours runs first, so it sees every iteration, the one that a
#: later callback stops with EarlyStopException included.
_FIRST = -(1 << 30)
#: training arguments that are data or code, not settings: never logged as params
_NOT_PARAMS = {"params", "train_set", "valid_sets", "callbacks"}
_MAX_KEY = 250
_BAD_KEY_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


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

        # train and cv are re-exported by the package, and the scikit-learn API calls the
        # `train` it imported into lightgbm.sklearn: every route gets the same wrapper.
        sklearn_api = sys.modules.get("lightgbm.sklearn")
        train_routes = [(lightgbm, "train")]
        if sklearn_api is not None:
            train_routes.append((sklearn_api, "train"))
        train_hook = functools.partial(_booster_hook, "train", inspect.signature(engine.train))
        patcher.wrap(engine, "train", train_hook, aliases=train_routes)
        cv_hook = functools.partial(_booster_hook, "cv", inspect.signature(engine.cv))
        patcher.wrap(engine, "cv", cv_hook, aliases=[(lightgbm, "cv")])
        if sklearn_api is not None:
            for name in ("LGBMModel", "LGBMClassifier", "LGBMRegressor", "LGBMRanker"):
                cls = getattr(sklearn_api, name, None)
                if cls is not None:
                    patcher.wrap(cls, "fit", _fit_hook)


INTEGRATION = _LightGBM()


# -- the collecting callback ----------------------------------------------------------------


class _Recorder:
    """The callback the patch adds: keeps every iteration's evaluation results."""

    def __init__(self, session: Session, *, cv: bool) -> None:
        # Instance attributes: LightGBM sets ``order`` in the instance dict unless it is there.
        self.order = _FIRST
        self.before_iteration = False
        self.client = session.client
        self.run_id = session.run_id
        self.guard = Guard("lightgbm", session.settings)
        self.cv = cv
        #: (iteration, timestamp in ms, LightGBM's evaluation list of that iteration)
        self.history: list[tuple[int, int, list[Any]]] = []
        self.model: Any = None  # the Booster (train) or CVBooster (cv) being trained
        self._logged = 0
        self._keys: dict[tuple[str, str], tuple[str, ...]] = {}
        self._next_drain = time.monotonic() + _LIVE_INTERVAL_S

    def __call__(self, env: Any) -> None:
        self.guard(self._record, env)  # LightGBM calls this: our bug must not stop training

    def _record(self, env: Any) -> None:
        self.model = env.model
        results = env.evaluation_result_list
        if results:
            self.history.append((env.iteration + 1, time.time_ns() // 1_000_000, results))
            if time.monotonic() >= self._next_drain:
                self.drain()

    def drain(self) -> None:
        """Queue the metrics collected since the last drain (training thread, no I/O)."""
        if self.guard.failed:
            return  # reported once already: what was collected may be incomplete
        history, log, run_id, cv = self.history, self.client.log_metric, self.run_id, self.cv
        for step, timestamp, results in history[self._logged :]:
            for result in results:
                keys = self._keys.get((result[0], result[1])) or self._make_keys(result)
                log(run_id, keys[0], result[2], step, timestamp)
                if cv and len(result) > 4 and result[4] is not None:
                    log(run_id, keys[1], result[4], step, timestamp)
        self._logged = len(history)
        self._next_drain = time.monotonic() + _LIVE_INTERVAL_S

    def _make_keys(self, result: Any) -> tuple[str, ...]:
        base = f"{result[0]}-{result[1]}"
        suffixes = ("-mean", "-stdv") if self.cv else ("",)
        keys = self._keys[result[0], result[1]] = tuple(_metric_key(base + s) for s in suffixes)
        return keys

    def metrics(self, result: Any) -> Iterator[tuple[str, Any]]:
        """(key, value) pairs of one evaluation result: the value, or cv's mean and stdv."""
        keys = self._keys.get((result[0], result[1])) or self._make_keys(result)
        yield keys[0], result[2]
        if self.cv and len(result) > 4 and result[4] is not None:
            yield keys[1], result[4]


def _metric_key(text: str) -> str:
    """``text`` as a valid metric key: names of datasets and custom metrics are the user's."""
    text = _BAD_KEY_CHARS.sub("_", text)
    parts = ["_" if part in ("", ".", "..") else part for part in text.split("/")]
    return "/".join(parts)[:_MAX_KEY]


# -- train and cv ---------------------------------------------------------------------------


class _FitState:
    """What the train hook inside an ``LGBMModel.fit`` session leaves for the fit hook."""

    __slots__ = ("params", "trained")

    def __init__(self) -> None:
        self.trained = False
        self.params: dict[str, str] = {}


# Calls that scikit-learn or LightGBM make themselves are not outermost. Fits scikit-learn
# makes (a pipeline's steps, a search's clones, the folds of ``cross_val_score``) are recorded
# by the scikit-learn integration's outer run or not at all: as that integration has it, a run
# is what the user's own code trained. What LightGBM calls itself (``LGBMModel.fit`` from a
# subclass's ``fit``, ``train`` from ``fit``) belongs to the outer call, recorded or not.
_INTERNAL = ("sklearn", "lightgbm")


def _booster_hook(kind: str, signature: inspect.Signature, call: Call) -> HookGenerator:
    session = current()
    state = None
    if session is None and made_by(call, *_INTERNAL):
        return  # train() of an LGBMModel.fit we do not record
    if session is not None:
        # Only the inner train() of an LGBMModel.fit we record adds to an open session.
        state = session.notes.get(_FIT_NOTE)
        if kind != "train" or not isinstance(state, _FitState) or state.trained:
            return
    try:
        bound = signature.bind(*call.args, **call.kwargs)
    except TypeError:
        return  # a call LightGBM itself will refuse: let it, untouched
    callbacks = bound.arguments.get("callbacks")
    if callbacks is not None and not isinstance(callbacks, (list, tuple)):
        return  # an iterable we could only read by consuming it
    arguments = {
        name: parameter.default for name, parameter in signature.parameters.items()
    } | dict(bound.arguments)
    if session is not None and state is not None:
        state.trained = True
        yield from _record_booster(kind, call, session, bound, arguments, state)
        return
    with training_session(call, tags={"autolog.estimator": f"lightgbm.{kind}"}) as session:
        yield from _record_booster(kind, call, session, bound, arguments, None)


def _record_booster(
    kind: str,
    call: Call,
    session: Session,
    bound: inspect.BoundArguments,
    arguments: Mapping[str, Any],
    state: _FitState | None,
) -> HookGenerator:
    recorder = _Recorder(session, cv=kind == "cv")
    # Ours goes first: the user's callbacks keep the positions, hence the order, they had.
    bound.arguments["callbacks"] = [recorder, *(arguments.get("callbacks") or ())]
    try:
        result = yield bound.args, bound.kwargs
    finally:
        recorder.drain()  # the iterations done, before a failure too
    if kind == "train":
        _log_train(session, call, recorder, result, arguments, state)
    else:
        _log_cv(session, recorder, arguments)


def _log_train(
    session: Session,
    call: Call,
    recorder: _Recorder,
    booster: Any,
    arguments: Mapping[str, Any],
    state: _FitState | None,
) -> None:
    params = {**_training_arguments(arguments), **_resolved(booster)}
    params.update(_texts(arguments["params"] or {}))
    if state is None:
        session.log_params(params)  # first: it may move the session to a child run
    client, run_id = session.client, session.run_id
    client.log_metrics(run_id, _early_stopping(recorder, booster.best_iteration))
    options: LightGBMOptions = call.settings.options
    if options.log_feature_importance:
        _log_importance(client, run_id, booster)
    if state is not None:
        state.params = params  # the fit hook logs them under the estimator's own params
        return
    if call.settings.log_models:
        client.log_model(run_id, booster, "model", flavor="lightgbm")


def _log_cv(session: Session, recorder: _Recorder, arguments: Mapping[str, Any]) -> None:
    client, run_id = session.client, session.run_id
    best = getattr(recorder.model, "best_iteration", 0)
    client.log_metrics(run_id, _early_stopping(recorder, best))
    params = _training_arguments(arguments)
    params.update(_texts(arguments["params"] or {}))
    session.log_params(params)


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
                    metrics[f"best_{key}"[:_MAX_KEY]] = value
            break
    return metrics


def _training_arguments(arguments: Mapping[str, Any]) -> dict[str, str]:
    """The call's settings other than params: num_boost_round, valid_names, nfold, ..."""
    params = {
        name: _text(value)
        for name, value in arguments.items()
        if name not in _NOT_PARAMS and value is not None
    }
    for callback in arguments.get("callbacks") or ():
        rounds = getattr(callback, "stopping_rounds", None)  # lightgbm.early_stopping(...)
        if isinstance(rounds, int) and not isinstance(rounds, bool):
            params["early_stopping_rounds"] = str(rounds)
    return params


def _resolved(booster: Any) -> dict[str, str]:
    """The configuration the booster trained with, aliases and defaults resolved."""
    # train() reloads its booster from the model string unless keep_training_booster=True;
    # LightGBM then knows the whole configuration it read back. Otherwise we have what the
    # Python side resolved (num_iterations, objective, ...).
    loaded = getattr(booster, "_get_loaded_param", None)
    full = loaded() if callable(loaded) else {}
    return _texts({**(booster.params or {}), **(full or {})})


def _texts(values: Mapping[str, Any]) -> dict[str, str]:
    return {str(key): _text(value) for key, value in values.items()}


def _text(value: Any) -> str:
    """A param value as text: names for functions and objects, no memory addresses."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, numbers.Number)) or value is None:
        return str(value)
    if isinstance(value, os.PathLike):
        return str(os.fspath(value))
    if callable(getattr(value, "tolist", None)) and not isinstance(value, type):
        return _text(value.tolist())  # numpy arrays and scalars (np.bool_ is no Number)
    if isinstance(value, (list, tuple)):
        items = ", ".join(repr(v) if isinstance(v, str) else _text(v) for v in value)
        return f"[{items}]" if isinstance(value, list) else f"({items})"
    if isinstance(value, dict):
        return repr(value)
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}".lstrip(".")
    return type(value).__name__


def _log_importance(client: autolog.Client, run_id: str, booster: Any) -> None:
    names = booster.feature_name()
    split = booster.feature_importance(importance_type="split")
    gain = booster.feature_importance(importance_type="gain")
    with tempfile.TemporaryDirectory(prefix="autolog-") as folder:
        table = Path(folder) / "feature_importance.csv"
        with table.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["feature", "split", "gain"])
            for name, s, g in zip(names, split, gain, strict=True):
                writer.writerow([str(name), int(s), float(g)])
        client.log_artifact(run_id, table)


# -- the scikit-learn API -------------------------------------------------------------------


def _fit_hook(call: Call) -> HookGenerator:
    if not outermost(call, *_INTERNAL):
        return  # LGBMClassifier.fit calling LGBMModel.fit, a pipeline's step, a search's clone
    estimator = call.instance
    with training_session(call, tags={"autolog.estimator": type(estimator).__name__}) as session:
        state = session.notes[_FIT_NOTE] = _FitState()
        started = time.perf_counter()
        yield call.args, call.kwargs
        _log_fit(session, call, estimator, state, time.perf_counter() - started)


def _log_fit(
    session: Session, call: Call, estimator: Any, state: _FitState, seconds: float
) -> None:
    session.log_params({**state.params, **_texts(estimator.get_params(deep=True))})
    client, run_id = session.client, session.run_id
    client.log_metrics(run_id, {"fit_time": seconds, **_training_scores(call, estimator)})
    if call.settings.log_models:
        client.log_model(run_id, estimator, "model", flavor="lightgbm")


def _training_scores(call: Call, estimator: Any) -> dict[str, float]:
    """The scikit-learn integration's training scores, when that integration is on too."""
    settings = patching.current_settings("sklearn")
    if settings is None or settings.disable:
        return {}
    if not getattr(settings.options, "log_training_metrics", False):
        return {}
    args, kwargs = call.args, call.kwargs
    X = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    weight = args[2] if len(args) > 2 else kwargs.get("sample_weight")
    if X is None or y is None:
        return {}
    from autolog.integrations import sklearn as sklearn_integration

    scores: dict[str, float] = sklearn_integration.training_scores(estimator, X, y, weight)
    return scores


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
