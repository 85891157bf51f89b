"""XGBoost: ``xgboost.train``, ``xgboost.cv`` and the scikit-learn API's ``fit``.

Written against the integration contract (``autolog.integrations``, see
``docs/integrations.md``) and the hooks it shares with the LightGBM integration
(``autolog.integrations._boosting``). What one outermost training call records:

- params: for ``train`` and ``cv``, the booster params as given and the other training
  arguments (``num_boost_round``, ``early_stopping_rounds``, ``maximize``, the eval sets'
  names as ``evals``, ``nfold``, ``metrics``, custom objectives and metrics by name, ...); for
  ``XGBClassifier``, ``XGBRegressor``, ``XGBRanker`` (and the random-forest classes),
  ``get_params()`` over the booster params the estimator trained with. Calls are read as
  XGBoost accepts them: the keyword-only arguments given positionally too
  (``xgb.train(params, dtrain, num_round, watchlist)``, as XGBoost's own guide writes it,
  with XGBoost's FutureWarning). They are logged before training starts, so a training that
  raises keeps them;
- the callbacks passed (``callbacks``, their class names) with the settings of XGBoost's own
  ones: ``callback_EarlyStopping_<rounds|metric_name|data_name|maximize|save_best|min_delta>``
  and ``callback_TrainingCheckPoint_<directory|name|as_pickle|interval>`` (a second one of a
  class: ``callback_EarlyStopping_1_...``); the files a ``TrainingCheckPoint`` writes during
  the call are logged under ``checkpoints/`` with their own names, also when training raises;
- ``device``: the device XGBoost trained on, from the booster's configuration after training
  (``device="cuda"`` on a machine without a GPU trains on ``cpu``, with XGBoost's warning);
  the device asked for is ``device_requested``;
- step metrics: every eval set's every metric at every iteration, ``<eval name>-<metric>``
  (the scikit-learn API names its eval sets ``validation_0``, ``validation_1``, ...), with
  XGBoost's iteration as step (0-based, as XGBoost counts ``best_iteration``); for ``cv`` the
  mean and standard deviation over the folds, ``<name>-<metric>-mean`` and
  ``<name>-<metric>-std``, as in the table ``cv`` returns;
- early stopping: ``best_iteration``, ``stopped_iteration`` (the last iteration trained) and
  the best iteration's scores, ``best_<eval name>-<metric>``;
- ``feature_importance.csv``: weight, gain and cover per feature (0 for features no tree
  splits on);
- the model ``model``, flavor "xgboost": ``model.ubj``, the booster in XGBoost's own UBJSON
  format (``xgboost.Booster(model_file=...)`` loads it, no unpickling), and ``model.pkl``;
  ``load_model`` gives a Booster for ``train`` (read from the UBJSON) and the fitted estimator
  for the scikit-learn API. ``cv`` trains no single model. Its signature and input example:
  for the scikit-learn API, the ``X`` given to ``fit``; for ``train``, the first rows of the
  training DMatrix read back (feature names and types as columns, NaN where a value is
  missing), where they can be: not from a ``QuantileDMatrix``, categorical features or a
  ``missing`` other than NaN (see ``_example_rows``);
- the scikit-learn API also logs ``fit_time`` and, when the scikit-learn integration is
  enabled too, the training scores that integration computes.

The metrics are collected by a ``TrainingCallback`` the patch puts first in the call's own copy
of ``callbacks``, under a ``CallbackFirewall``: it reads the latest value of each eval set's
metrics from the evaluation history XGBoost keeps anyway (no evaluation of its own, no store
I/O).

``XGBClassifier.fit`` calling ``xgboost.train`` makes one run: the fit hook opens the session
and leaves a ``FitState`` note in it; the train hook finds the note and adds the iteration
metrics, early stopping and feature importance to that run, while the estimator is the model.
Fits that scikit-learn or XGBoost make themselves (a search's clones, ``XGBRFClassifier.fit``
calling ``XGBClassifier.fit``) are part of the outer call, recorded or not.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import autolog
from autolog.errors import InvalidInputError, ParamCollisionError
from autolog.integrations import (
    Call,
    CallbackFirewall,
    HookGenerator,
    Patcher,
    Session,
    outermost,
    typed_options,
)
from autolog.integrations._boosting import (
    MAX_KEY,
    Framework,
    Training,
    log_new_params,
    log_table,
    metric_key,
    record_fit,
    wrap_train_and_cv,
)

__all__ = ["FLAVOR", "INTEGRATION", "XGBoostFlavor", "XGBoostOptions"]

# Calls that scikit-learn or XGBoost make themselves are not outermost: a search's clones, the
# folds of cross_val_score, ``train`` from ``XGBModel.fit``, a subclass's ``fit`` calling its
# base's.
_XGBOOST = Framework("xgboost", internal=("sklearn", "xgboost"))
#: training arguments that are data or the training's own bookkeeping: never logged as params
_NOT_PARAMS = {"params", "dtrain", "evals", "evals_result", "callbacks", "folds", "xgb_model"}
_IMPORTANCE = ("weight", "gain", "cover")
#: the settings of XGBoost's own callbacks logged as params: (param name, attribute)
_CALLBACK_SETTINGS: dict[str, tuple[tuple[str, str], ...]] = {
    "EarlyStopping": (
        ("rounds", "rounds"),
        ("metric_name", "metric_name"),
        ("data_name", "data"),
        ("maximize", "maximize"),
        ("save_best", "save_best"),
        ("min_delta", "_min_delta"),
    ),
    "TrainingCheckPoint": (
        ("directory", "_path"),
        ("name", "_name"),
        ("as_pickle", "_as_pickle"),
        ("interval", "_iterations"),
    ),
}


class XGBoostOptions(NamedTuple):
    #: log feature_importance.csv (weight, gain and cover per feature) after training
    log_feature_importance: bool = True


class _XGBoost:
    name = "xgboost"
    framework = "xgboost"

    def make_options(self, options: dict[str, Any]) -> XGBoostOptions:
        made: XGBoostOptions = typed_options(self.name, XGBoostOptions, options)
        return made

    def patch(self, patcher: Patcher) -> None:
        import sys

        import xgboost
        from xgboost import training

        wrap_train_and_cv(patcher, _XGBOOST, xgboost, training, _accepted, _record_booster)
        sklearn_api = sys.modules.get("xgboost.sklearn")
        if sklearn_api is not None:
            base = sklearn_api.XGBModel
            for cls in list(vars(sklearn_api).values()):
                fit = vars(cls).get("fit") if isinstance(cls, type) else None
                if isinstance(cls, type) and issubclass(cls, base) and fit is not None:
                    patcher.wrap(cls, "fit", functools.partial(_fit_hook, _accepted(fit)))


def _accepted(function: Callable[..., Any]) -> inspect.Signature:
    """The signature that calls of ``function`` are bound with: as XGBoost accepts them.

    XGBoost's ``_deprecate_positional_args`` (on ``train``, ``cv`` and every ``fit``) takes
    the keyword-only arguments positionally too, in the order they are declared, with a
    FutureWarning: its outer function takes ``*args``. For such a function the keyword-only
    parameters become positional-or-keyword; any other keeps its signature.
    """
    signature = inspect.signature(function)
    outer = inspect.signature(function, follow_wrapped=False).parameters.values()
    if not any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in outer):
        return signature
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [
        p.replace(kind=positional) if p.kind is inspect.Parameter.KEYWORD_ONLY else p
        for p in signature.parameters.values()
    ]
    try:
        return signature.replace(parameters=parameters)
    except ValueError:  # a keyword-only one without a default after defaults: keep it so
        return signature


def _bind(
    signature: inspect.Signature, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> inspect.BoundArguments | None:
    """The call's arguments by name, or None for a call XGBoost itself will refuse."""
    try:
        return signature.bind(*args, **kwargs)
    except TypeError:
        return None


def _call_with(
    bound: inspect.BoundArguments, positional: int
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``bound``'s arguments split as the caller gave them: the first ``positional`` ones
    by position (XGBoost warns about those as it would have), the rest by keyword."""
    names = list(bound.signature.parameters)[:positional]
    args = tuple(bound.arguments[name] for name in names)
    kwargs = {k: v for k, v in bound.arguments.items() if k not in names}
    return args, kwargs


INTEGRATION = _XGBoost()


# -- the collecting callback ----------------------------------------------------------------


@functools.cache
def _recorder_class() -> type[Any]:
    """The callback class, a TrainingCallback (XGBoost accepts only those), made once."""
    from xgboost.callback import TrainingCallback

    class Recorder(TrainingCallback):
        """Logs the latest value of each eval set's metrics after every iteration."""

        def __init__(self, session: Session, *, cv: bool) -> None:
            super().__init__()
            self.client = session.client
            self.run_id = session.run_id
            self.firewall = CallbackFirewall("xgboost", session.settings)
            self.cv = cv
            #: XGBoost's evaluation history: {eval name: {metric: [value or (mean, std)]}}
            self.history: Mapping[str, Mapping[str, list[Any]]] = {}
            self.model: Any = None  # the Booster (train) or cv's packed folds being trained
            #: rounds the model had before this call (training continued from ``xgb_model``):
            #: XGBoost numbers each call's iterations from 0, its best_iteration counts on
            self.start = 0
            self.first: int | None = None  # the first iteration logged, counted on
            self.last: int | None = None
            self._keys: dict[tuple[str, str], tuple[str, ...]] = {}

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            self.model = model
            self.firewall(self._record, model, epoch, evals_log)
            return False  # never stops the training

        def _record(
            self, model: Any, epoch: int, evals_log: Mapping[str, Mapping[str, list[Any]]]
        ) -> None:
            if self.first is None:
                # Read after the first update, never before: the booster's first call into
                # XGBoost's library configures it, and the warnings that raises (a device
                # fallen back from) must name XGBoost's code, as unpatched, not ours.
                rounds = getattr(model, "num_boosted_rounds", None)
                self.start = int(rounds()) - epoch - 1 if callable(rounds) else 0
                self.first = self.start + epoch
            epoch += self.start
            self.last = epoch
            self.history = evals_log
            timestamp = time.time_ns() // 1_000_000
            log, run_id = self.client.log_metric, self.run_id
            for data, metrics in evals_log.items():
                for metric, values in metrics.items():
                    if not values:
                        continue
                    keys = self.keys(data, metric)
                    value = values[-1]
                    if self.cv:
                        log(run_id, keys[0], value[0], epoch, timestamp)
                        log(run_id, keys[1], value[1], epoch, timestamp)
                    else:
                        log(run_id, keys[0], value, epoch, timestamp)

        def keys(self, data: str, metric: str) -> tuple[str, ...]:
            keys = self._keys.get((data, metric))
            if keys is None:
                base = f"{data}-{metric}"
                suffixes = ("-mean", "-std") if self.cv else ("",)
                keys = self._keys[data, metric] = tuple(metric_key(base + s) for s in suffixes)
            return keys

        def best(self, best: int) -> dict[str, float]:
            """best_iteration, stopped_iteration and the best iteration's scores."""
            if self.first is None or self.last is None or not self.first <= best <= self.last:
                return {}
            metrics = {"best_iteration": float(best), "stopped_iteration": float(self.last)}
            index = best - self.first
            for data, values_of in self.history.items():
                for metric, values in values_of.items():
                    if index < len(values):
                        value = values[index]
                        parts = value if self.cv else (value,)  # cv: (mean, std)
                        for key, part in zip(self.keys(data, metric), parts, strict=False):
                            metrics[f"best_{key}"[:MAX_KEY]] = float(part)
            return metrics

    return Recorder


# -- train and cv ---------------------------------------------------------------------------


def _record_booster(training: Training) -> HookGenerator:
    """Record one ``train`` or ``cv`` call (``booster_hook`` chose it, and its session)."""
    kind, call, session, bound = training.kind, training.call, training.session, training.bound
    arguments, state = training.arguments, training.fit
    recorder = _recorder_class()(session, cv=kind == "cv")
    callbacks = list(arguments.get("callbacks") or ())
    # Ours goes first: XGBoost stops asking the callbacks after the first that says stop.
    bound.arguments["callbacks"] = [recorder, *callbacks]
    # First: it may move the session to a child run. Inside a fit, under the estimator's own
    # params, logged by the fit hook.
    log_new_params(
        session, _training_params(arguments), state.logged if state is not None else set()
    )
    checkpoints = _Checkpoints(callbacks)
    try:
        result = yield _call_with(bound, len(call.args))
    finally:
        # what a TrainingCheckPoint wrote is kept, from a training that raised too
        checkpoints.log(session.client, session.run_id)
    client, run_id = session.client, session.run_id
    device = _device_used(recorder.model if recorder.first is not None else None)
    if device is not None:
        # a user's run that holds a device of its own keeps it (and no child run is opened)
        with contextlib.suppress(ParamCollisionError):
            client.log_params(run_id, {"device": device})
    best = _best_iteration(recorder.model)
    if best is not None:
        client.log_metrics(run_id, recorder.best(best))
    if kind == "cv":
        return  # no single model
    options: XGBoostOptions = call.settings.options
    if options.log_feature_importance:
        _log_importance(client, run_id, result)
    if state is None and call.settings.log_models:
        example = _example_rows(arguments.get("dtrain"))
        client.log_model(run_id, result, "model", flavor="xgboost", input_example=example)


#: the NumPy dtype of each of XGBoost's feature types that a signature can name (categories
#: are left out: their values are codes a caller could not know)
_FEATURE_DTYPES = {"float": "float32", "q": "float32", "int": "int64", "i": "bool"}


def _example_rows(dtrain: Any) -> Any:
    """The first rows of a training DMatrix as XGBoost holds them, for the model's signature:
    a DataFrame of its feature names, each column of its feature type's dtype (float32 where
    a row of it is missing), or an array of float32 where the features have no names. None
    where the rows cannot be read back as they were given: a QuantileDMatrix (it keeps bins,
    not values), categorical features, a ``missing`` other than NaN (the rows show only that
    a value was missing; a predictor's NaN would not be read as it), or no pandas for names.

    Read once after training from a slice of at most five rows (no copy of the data)."""
    import xgboost

    from autolog.signatures import EXAMPLE_ROWS

    if type(dtrain) is not xgboost.DMatrix or not _is_nan(dtrain.missing):
        return None
    names, types = dtrain.feature_names, dtrain.feature_types
    if types is not None and any(t not in _FEATURE_DTYPES for t in types):
        return None
    try:
        rows = _dense(dtrain.slice(list(range(min(EXAMPLE_ROWS, dtrain.num_row())))).get_data())
    except xgboost.core.XGBoostError:  # data XGBoost cannot slice or give back (split by columns)
        return None
    if names is None:
        return rows
    try:
        import pandas as pd
    except ImportError:
        return None
    columns = {}
    for i, name in enumerate(names):
        values = rows[:, i]
        dtype = _FEATURE_DTYPES[types[i] if types is not None else "float"]
        columns[name] = values if _has_nan(values) else values.astype(dtype)
    return pd.DataFrame(columns)


def _dense(matrix: Any) -> Any:
    """A DMatrix's rows (CSR, holding what is not missing) as a dense float32 array with NaN
    where a value is missing (a stored 0 is a 0)."""
    import numpy as np

    coo = matrix.tocoo()
    dense = np.full(matrix.shape, np.nan, dtype=np.float32)
    dense[coo.row, coo.col] = coo.data
    return dense


def _is_nan(value: Any) -> bool:
    try:
        return math.isnan(value)
    except TypeError:
        return False


def _has_nan(values: Any) -> bool:
    import numpy as np

    return bool(np.isnan(values).any())


def _training_params(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The booster params as given, and the call's other settings: num_boost_round,
    early_stopping_rounds, nfold, the eval sets' names, custom objectives and metrics..."""
    given = arguments.get("params") or {}
    params: dict[str, Any] = {}
    for name, value in given.items() if isinstance(given, Mapping) else given:
        key = str(name)
        if key in params:  # [("eval_metric", "rmse"), ("eval_metric", "mae")]: every value
            earlier = params[key]
            params[key] = [*earlier, value] if isinstance(earlier, list) else [earlier, value]
        else:
            params[key] = value
    for name, value in arguments.items():
        if name not in _NOT_PARAMS and value is not None and name not in params:
            params[name] = value
    evals = arguments.get("evals")
    if isinstance(evals, (list, tuple)) and evals:
        params["evals"] = [str(pair[1]) for pair in evals if isinstance(pair, (list, tuple))]
    params.update(_callback_params(arguments.get("callbacks")))
    return _requested_device(params)


def _requested_device(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the ``device`` asked for as ``device_requested``: ``device`` is the one
    XGBoost trained on, known after training (it falls back to the CPU where it finds no GPU)."""
    if "device" in params:
        requested = params.pop("device")
        if requested is not None:
            params["device_requested"] = requested
    return params


def _device_used(model: Any) -> str | None:
    """The device in the trained booster's configuration (None: no iteration was trained,
    whose configuration would be XGBoost's guess; or no booster to read)."""
    if model is None:
        return None
    folds = getattr(model, "cvfolds", None)  # cv: every fold trains as the first did
    booster = folds[0].bst if isinstance(folds, list) and folds else model
    config = json.loads(booster.save_config())
    device = config.get("learner", {}).get("generic_param", {}).get("device")
    return device if isinstance(device, str) and device else None


def _callback_params(callbacks: Any) -> dict[str, Any]:
    """The callbacks passed, by class name, and the settings of XGBoost's own ones."""
    if not isinstance(callbacks, (list, tuple)) or not callbacks:
        return {}
    names = [type(callback).__name__ for callback in callbacks]
    params: dict[str, Any] = {"callbacks": names}
    seen: dict[str, int] = {}
    for callback, name in zip(callbacks, names, strict=True):
        settings = _CALLBACK_SETTINGS.get(name)
        if settings is None or type(callback).__module__ != "xgboost.callback":
            continue
        count = seen[name] = seen.get(name, -1) + 1
        prefix = f"callback_{name}_{count}_" if count else f"callback_{name}_"
        for key, attribute in settings:
            value = getattr(callback, attribute, None)
            if value is not None:
                params[prefix + key] = value
    return params


class _Checkpoints:
    """The files the ``TrainingCheckPoint`` callbacks of one call write: their folders are
    listed before training and after it, and what is new or rewritten is logged."""

    def __init__(self, callbacks: Sequence[Any]) -> None:
        #: (folder, file name pattern, {name: (mtime, size)} before training)
        self.places: list[tuple[Path, re.Pattern[str], dict[str, tuple[int, int]]]] = []
        for callback in callbacks:
            if type(callback).__name__ != "TrainingCheckPoint":
                continue
            folder, name = getattr(callback, "_path", None), getattr(callback, "_name", None)
            if isinstance(folder, str) and isinstance(name, str):
                pattern = re.compile(rf"{re.escape(name)}_\d+\.(?:ubj|json|pkl)")
                place = Path(folder)
                self.places.append((place, pattern, _files(place, pattern)))

    def log(self, client: autolog.Client, run_id: str) -> None:
        for folder, pattern, before in self.places:
            now = _files(folder, pattern)
            written = [name for name, seen in now.items() if before.get(name) != seen]
            for name in sorted(written, key=_checkpoint_order):
                client.log_artifact(run_id, folder / name, "checkpoints")


def _files(folder: Path, pattern: re.Pattern[str]) -> dict[str, tuple[int, int]]:
    """{name: (mtime, size)} of the files in ``folder`` whose names match ``pattern``."""
    found: dict[str, tuple[int, int]] = {}
    try:
        entries = list(os.scandir(folder))
    except OSError:  # not there (yet): XGBoost's own error, if any, is the user's
        return found
    for entry in entries:
        if pattern.fullmatch(entry.name) and entry.is_file():
            stat = entry.stat()
            found[entry.name] = (stat.st_mtime_ns, stat.st_size)
    return found


def _checkpoint_order(name: str) -> tuple[int, str]:
    """``model_9.ubj`` before ``model_10.ubj``."""
    digits = re.findall(r"\d+", name)
    return (int(digits[-1]) if digits else -1, name)


def _best_iteration(model: Any) -> int | None:
    """The best iteration early stopping found (None: training did not stop early)."""
    try:
        best = model.best_iteration  # a Booster's, or cv's CVPack's (its first fold's)
    except (AttributeError, TypeError, ValueError):
        return None
    return best if isinstance(best, int) and not isinstance(best, bool) else None


def _log_importance(client: autolog.Client, run_id: str, booster: Any) -> None:
    names = booster.feature_names or [f"f{i}" for i in range(booster.num_features())]
    scores = {kind: booster.get_score(importance_type=kind) for kind in _IMPORTANCE}
    rows = [[str(name), *(float(scores[k].get(name, 0.0)) for k in _IMPORTANCE)] for name in names]
    log_table(client, run_id, "feature_importance.csv", ["feature", *_IMPORTANCE], rows)


# -- the scikit-learn API -------------------------------------------------------------------


def _fit_hook(signature: inspect.Signature, call: Call) -> HookGenerator:
    if not outermost(call, *_XGBOOST.internal):
        return  # XGBRFClassifier.fit calling XGBClassifier.fit, a pipeline's step, a clone
    estimator = call.instance
    bound = _bind(signature, (estimator, *call.args), call.kwargs)
    if bound is None:
        return  # a call XGBoost itself will refuse: let it, untouched
    given = bound.arguments
    data = (given.get("X"), given.get("y"), given.get("sample_weight"))
    yield from record_fit(_XGBOOST, call, functools.partial(_estimator_params, estimator), data)


def _estimator_params(estimator: Any) -> dict[str, Any]:
    """``get_params()``, the callbacks by name and setting, the device as asked for."""
    params = dict(estimator.get_params())
    callbacks = params.pop("callbacks", None)
    params.update(_callback_params(callbacks))
    return _requested_device(params)


# -- the model flavor -----------------------------------------------------------------------


class XGBoostFlavor:
    """A Booster or a fitted scikit-learn API estimator.

    Files: ``model.ubj`` (the booster in XGBoost's UBJSON model format, every iteration and
    its attributes, the best iteration among them), ``model.pkl`` (the object, cloudpickled)
    and ``xgboost.json`` (which of the two it is). A Booster is loaded from the UBJSON alone,
    never unpickled.
    """

    name = "xgboost"

    def save(self, model: object) -> dict[str, bytes]:
        import cloudpickle
        import xgboost

        booster = model
        if isinstance(model, xgboost.XGBModel):
            try:
                booster = model.get_booster()
            except xgboost.core.XGBoostError:  # "need to call fit ... beforehand"
                booster = None
        if not isinstance(booster, xgboost.Booster):
            raise InvalidInputError(
                "the xgboost flavor saves a Booster or a fitted XGBModel, "
                f"not {type(model).__name__}"
            )
        info = {"model": "booster" if booster is model else "estimator", "format": "ubj"}
        return {
            "model.ubj": bytes(booster.save_raw(raw_format="ubj")),
            "model.pkl": cloudpickle.dumps(model),
            "xgboost.json": json.dumps(info).encode(),
        }

    def load(self, files: Mapping[str, bytes], meta: Mapping[str, Any]) -> object:
        info = json.loads(files["xgboost.json"])
        # XGBoost reads either model format from the bytes; JSON: a model imported from MLflow
        model_file = bytearray(files["model.json" if info.get("format") == "json" else "model.ubj"])
        if info.get("model") == "booster":
            import xgboost

            return xgboost.Booster(model_file=model_file)
        if "model.pkl" not in files:  # imported from MLflow: the estimator's class, named
            return _estimator(str(info.get("model_class")), model_file)
        import cloudpickle

        return cloudpickle.loads(files["model.pkl"])

    def predict(self, model: Any, data: Any) -> Any:
        """A Booster predicts on the data as given (no DMatrix to build); an estimator as its
        ``predict`` does."""
        import xgboost

        if isinstance(model, xgboost.Booster):
            return model.inplace_predict(data)
        return model.predict(data)


def _estimator(model_class: str, model_file: bytearray) -> Any:
    """A new scikit-learn API model of XGBoost's class ``model_class``, loaded from its model
    file (which keeps the estimator's settings). Any other class is refused: a model file
    names a class, never code to import."""
    import importlib

    import xgboost

    module, _, name = model_class.rpartition(".")
    found = importlib.import_module(module) if module.split(".")[0] == "xgboost" else None
    cls = getattr(found, name, None)
    if not (isinstance(cls, type) and issubclass(cls, xgboost.XGBModel)):
        raise InvalidInputError(f"{model_class!r} is not a scikit-learn API model of XGBoost's")
    model = cls()
    model.load_model(model_file)
    return model


#: the flavor's entry point (group ``autolog.flavors``, in pyproject.toml)
FLAVOR = XGBoostFlavor()
