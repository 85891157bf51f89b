"""scikit-learn: every estimator's fit, fit_transform, fit_predict and partial_fit.

What one outermost training call records:

- params: ``get_params(deep=True)`` (so a Pipeline's or a search's nested estimators too);
- metrics: ``fit_time`` in seconds; training scores (classifiers: ``training_accuracy``,
  ``training_precision``, ``training_recall``, ``training_f1``, ``training_log_loss`` and
  ``training_roc_auc`` where defined; regressors: ``training_mse``, ``training_rmse``,
  ``training_mae``, ``training_r2``); learning curves as step metrics (``loss_curve_`` ->
  ``training_loss``, ``validation_scores_`` -> ``validation_score``, ``train_score_`` ->
  ``train_score``, ``oob_scores_`` -> ``oob_score``) and ``n_iter``;
- the fitted estimator as the model ``model``, with an input schema in its metadata;
- searches (GridSearchCV, RandomizedSearchCV, the halving ones): ``best_<param>`` params, the
  ``best_cv_score`` metric, ``cv_results.csv``, and child runs for the best candidates.

``partial_fit`` calls on one estimator make one run whose metrics are steps, one per call.
Fits that scikit-learn makes itself (steps of a pipeline, clones in a search or in
``cross_val_score``, helpers fitted inside metric functions) are part of the outer call or not
recorded at all: a run is what the user's own code trained.
Classes are patched as their modules are imported, so nothing of scikit-learn is imported
here that the program does not import itself.
"""

from __future__ import annotations

import atexit
import csv
import math
import os
import tempfile
import threading
import time
import warnings
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import autolog
from autolog.integrations.patching import (
    Call,
    HookGenerator,
    Patcher,
    outermost,
    typed_options,
)
from autolog.integrations.session import Session, open_session, training_session

__all__ = ["INTEGRATION", "SklearnOptions", "training_scores"]

_FIT_METHODS = ("fit", "fit_transform", "fit_predict")
# sklearn folders that hold no estimators users train
_SKIPPED_DIRS = {"tests", "externals", "_build_utils", "__check_build", "__pycache__", "datasets"}


class SklearnOptions(NamedTuple):
    #: child runs for the best N candidates of a hyperparameter search
    max_tuning_runs: int = 5
    #: compute training scores (one predict on the training data after fit)
    log_training_metrics: bool = True


class _Sklearn:
    name = "sklearn"
    framework = "sklearn"

    def make_options(self, options: dict[str, Any]) -> SklearnOptions:
        made: SklearnOptions = typed_options("sklearn", SklearnOptions, options)
        return made

    def patch(self, patcher: Patcher) -> None:
        import sklearn

        root = Path(sklearn.__file__).parent
        for name in _module_names(root):
            patcher.when_imported(name, lambda module: _patch_module(patcher, module))


INTEGRATION = _Sklearn()


def _module_names(root: Path) -> list[str]:
    """Every importable module of the sklearn package, found without importing any."""
    names = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith(".")]
        package = ".".join(("sklearn", *Path(folder).relative_to(root).parts))
        for file in files:
            stem, _, suffix = file.partition(".")
            if suffix in ("py",) or (suffix.endswith("so") and stem.isidentifier()):
                names.append(package if stem == "__init__" else f"{package}.{stem}")
    return sorted(set(names))


def _patch_module(patcher: Patcher, module: Any) -> None:
    from sklearn.base import BaseEstimator

    for obj in list(vars(module).values()):
        if not isinstance(obj, type) or obj.__module__ != module.__name__:
            continue
        if not (issubclass(obj, BaseEstimator) or obj.__module__ == "sklearn.base"):
            continue
        for method in _FIT_METHODS:
            patcher.wrap(obj, method, _fit_hook)
        patcher.wrap(obj, "partial_fit", _partial_fit_hook)


# -- fit ------------------------------------------------------------------------------------


def _fit_hook(call: Call) -> HookGenerator:
    # Not outermost: a step of a pipeline, a clone fitted by a search, LabelBinarizer fitted
    # inside log_loss, folds of cross_val_score; the user's own call records those, or nothing.
    if not outermost(call, "sklearn"):
        return
    estimator = call.instance
    _end_incremental(estimator, "FINISHED")  # fit starts over: an incremental run is complete
    with training_session(call, tags={"autolog.estimator": _class_name(estimator)}) as session:
        started = time.perf_counter()
        yield call.args, call.kwargs
        _log_fit(session, call, estimator, time.perf_counter() - started)


def _log_fit(session: Session, call: Call, estimator: Any, fit_time: float) -> None:
    session.log_params(_params(estimator))  # first: it may move the session to a child run
    client, run_id = session.client, session.run_id
    metrics: dict[str, float] = {"fit_time": fit_time}
    X, y, sample_weight = _training_data(call)
    options: SklearnOptions = call.settings.options
    if options.log_training_metrics and X is not None and y is not None:
        metrics.update(training_scores(estimator, X, y, sample_weight))
    _log_curves(client, run_id, estimator, metrics)
    client.log_metrics(run_id, metrics)
    if _is_search(estimator):
        _log_search(session, estimator, options.max_tuning_runs)
    if call.settings.log_models:
        client.log_model(run_id, estimator, "model", metadata={"input_schema": _schema(X)})


def _class_name(estimator: Any) -> str:
    return type(estimator).__name__


def _params(estimator: Any) -> dict[str, str]:
    params = {}
    for key, value in estimator.get_params(deep=True).items():
        params[key] = value if isinstance(value, str) else repr(value)
    return params


def _training_data(call: Call) -> tuple[Any, Any, Any]:
    """(X, y, sample_weight) of a fit-like call, however they were passed."""
    args, kwargs = call.args, call.kwargs
    X = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y", kwargs.get("Y"))
    return X, y, kwargs.get("sample_weight")


def training_scores(estimator: Any, X: Any, y: Any, sample_weight: Any) -> dict[str, float]:
    """The training scores of a fitted classifier or regressor (other estimators: none).

    Shared with integrations whose estimators follow scikit-learn's API (LightGBM's)."""
    from sklearn.base import is_classifier, is_regressor

    from autolog.integrations._scores import classifier_scores, regressor_scores

    if is_classifier(estimator):
        proba = None
        if getattr(y, "ndim", 1) == 1 and hasattr(estimator, "predict_proba"):
            # hasattr is False where available_if hides predict_proba
            proba = estimator.predict_proba(X)
        classes = getattr(estimator, "classes_", None)
        if proba is not None and classes is not None and _predict_is_argmax(estimator):
            y_pred = classes.take(proba.argmax(axis=1))  # what predict() computes, for free
        else:
            y_pred = estimator.predict(X)
        return classifier_scores(y, y_pred, proba, classes, sample_weight)
    if is_regressor(estimator):
        return regressor_scores(y, estimator.predict(X), sample_weight)
    return {}


def _predict_is_argmax(estimator: Any) -> bool:
    """Whether the estimator's predict() is, in its own code, the class of highest
    predict_proba (forests and trees: a second pass over every tree is saved)."""
    from sklearn.ensemble._forest import ForestClassifier
    from sklearn.tree._classes import BaseDecisionTree

    predict = getattr(type(estimator), "predict", None)
    single = getattr(estimator, "n_outputs_", 1) == 1
    return single and predict in (ForestClassifier.predict, BaseDecisionTree.predict)


def _defined(compute: Any, *args: Any, **kwargs: Any) -> float | None:
    """A score, or None where the data make it undefined."""
    try:
        return float(compute(*args, **kwargs))
    except (ValueError, TypeError, IndexError):
        return None


_CURVES = (
    ("loss_curve_", "training_loss"),
    ("validation_scores_", "validation_score"),
    ("train_score_", "train_score"),
    ("oob_scores_", "oob_score"),
)


def _log_curves(
    client: autolog.Client, run_id: str, estimator: Any, metrics: dict[str, float]
) -> None:
    """Per-iteration histories that iterative estimators keep, as step metrics."""
    for attribute, key in _CURVES:
        curve = getattr(estimator, attribute, None)
        if curve is None:
            continue
        try:
            values = [float(v) for v in curve]
        except (TypeError, ValueError):
            continue
        timestamp = time.time_ns() // 1_000_000
        for step, value in enumerate(values):
            client.log_metric(run_id, key, value, step, timestamp)
    n_iter = getattr(estimator, "n_iter_", None)
    if n_iter is not None:
        try:
            import numpy as np

            metrics["n_iter"] = float(np.max(n_iter))
        except (TypeError, ValueError):
            pass


def _schema(X: Any) -> dict[str, Any]:
    """Column names and dtypes (DataFrames) or shape and dtype (arrays, sparse matrices)."""
    if X is None:
        return {}
    columns = getattr(X, "columns", None)
    dtypes = getattr(X, "dtypes", None)
    if columns is not None and dtypes is not None:
        return {
            "type": "dataframe",
            "columns": [
                {"name": str(c), "dtype": str(t)} for c, t in zip(columns, dtypes, strict=True)
            ],
        }
    shape = getattr(X, "shape", None)
    schema: dict[str, Any] = {"type": type(X).__name__}
    if shape is not None:
        schema["shape"] = [None, *[int(d) for d in shape[1:]]]
    if getattr(X, "dtype", None) is not None:
        schema["dtype"] = str(X.dtype)
    if hasattr(X, "format"):
        schema["sparse_format"] = str(X.format)
    return schema


# -- hyperparameter searches ----------------------------------------------------------------


def _is_search(estimator: Any) -> bool:
    from sklearn.model_selection._search import BaseSearchCV

    return isinstance(estimator, BaseSearchCV) and hasattr(estimator, "cv_results_")


def _log_search(session: Session, search: Any, max_runs: int) -> None:
    client, run_id = session.client, session.run_id
    best = getattr(search, "best_params_", None)
    if best:
        client.log_params(run_id, {f"best_{k}": repr(v) for k, v in best.items()})
    best_score = getattr(search, "best_score_", None)
    if best_score is not None:
        client.log_metric(run_id, "best_cv_score", float(best_score))
    results = search.cv_results_
    with tempfile.TemporaryDirectory(prefix="autolog-") as folder:
        path = Path(folder) / "cv_results.csv"
        _write_csv(path, results)
        client.log_artifact(run_id, path)
    _log_candidates(session, results, _rank_key(search), max_runs)


def _rank_key(search: Any) -> str:
    refit = search.refit
    if isinstance(refit, str) and f"rank_test_{refit}" in search.cv_results_:
        return f"rank_test_{refit}"
    return "rank_test_score"


def _write_csv(path: Path, results: Mapping[str, Any]) -> None:
    keys = list(results)
    rows = len(results["params"])
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(keys)
        for i in range(rows):
            writer.writerow([_cell(results[k][i]) for k in keys])


def _cell(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    return repr(value) if isinstance(value, dict) else value


def _log_candidates(session: Session, results: Mapping[str, Any], rank: str, max_runs: int) -> None:
    if max_runs == 0 or rank not in results:
        return
    client = session.client
    order = sorted(range(len(results["params"])), key=lambda i: (int(results[rank][i]), i))
    metric_keys = [
        k for k in results if k.startswith(("mean_", "std_", "rank_")) and "split" not in k
    ]
    for i in order[:max_runs]:
        child = client.create_run(
            experiment_id=session.experiment_id,
            run_name=f"candidate-{i}",
            parent_run_id=session.run_id,
        )
        child_id = child.info.run_id
        client.log_params(child_id, {k: repr(v) for k, v in results["params"][i].items()})
        values = {}
        for key in metric_keys:
            try:
                value = float(results[key][i])
            except (TypeError, ValueError):
                continue
            if not math.isnan(value):
                values[key] = value
        client.log_metrics(child_id, values)
        client.set_terminated(child_id, "FINISHED")


# -- partial_fit: one run per estimator, one step per call -----------------------------------


class _Incremental:
    __slots__ = ("client", "finalizer", "owned", "run_id", "step")

    def __init__(self, client: autolog.Client, run_id: str, owned: bool) -> None:
        self.client = client
        self.run_id = run_id
        self.owned = owned
        self.step = 0
        self.finalizer: Any = None


_incremental: weakref.WeakKeyDictionary[Any, _Incremental] = weakref.WeakKeyDictionary()
_incremental_lock = threading.Lock()


def _partial_fit_hook(call: Call) -> HookGenerator:
    if not outermost(call, "sklearn"):
        return
    estimator = call.instance
    state = _incremental.get(estimator)
    if state is None:
        state = _start_incremental(call, estimator)
    # A session of the run the estimator's steps share: nested fits see it; leaving it does
    # not end the run.
    with Session("sklearn", call.settings, state.run_id, "", owned=False).enter():
        started = time.perf_counter()
        try:
            yield call.args, call.kwargs
        except BaseException:
            _end_incremental(estimator, "FAILED")
            raise
        _log_partial_fit(call, state, estimator, time.perf_counter() - started)


def _start_incremental(call: Call, estimator: Any) -> _Incremental:
    # The run outlives this call, so it is not made the active run: it ends when the estimator
    # is fitted from scratch, garbage-collected, or at exit.
    params = _params(estimator)  # before the run exists: a failure here leaves no run behind
    session = open_session(
        "sklearn", call.settings, tags={"autolog.estimator": _class_name(estimator)}, detached=True
    )
    session.close()
    client = session.client
    state = _Incremental(client, session.run_id, session.owned)
    if session.owned:
        state.finalizer = weakref.finalize(estimator, client.set_terminated, state.run_id)
    with _incremental_lock:
        _incremental[estimator] = state
    client.log_params(state.run_id, params)
    return state


def _log_partial_fit(call: Call, state: _Incremental, estimator: Any, seconds: float) -> None:
    client, run_id, step = state.client, state.run_id, state.step
    state.step += 1
    metrics = {"partial_fit_time": seconds}
    X, y, _ = _training_data(call)
    if call.settings.options.log_training_metrics and X is not None and y is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = _defined(estimator.score, X, y)
        if score is not None:
            metrics["training_score"] = score
    client.log_metrics(run_id, metrics, step=step)
    if call.settings.log_models:
        client.log_model(run_id, estimator, "model", metadata={"input_schema": _schema(X)})


def _end_incremental(estimator: Any, status: str) -> None:
    with _incremental_lock:
        state = _incremental.pop(estimator, None)
    if state is not None and state.owned:
        state.finalizer.detach()
        state.client.set_terminated(state.run_id, status)


def _forget_incremental_after_fork() -> None:
    # A forked child's estimators are copies: the parent ends the runs, the child starts its own.
    global _incremental_lock
    for state in list(_incremental.values()):
        if state.finalizer is not None:
            state.finalizer.detach()
    _incremental.clear()
    _incremental_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_incremental_after_fork)


@atexit.register
def _end_incremental_runs() -> None:
    with _incremental_lock:
        states = list(_incremental.values())
        _incremental.clear()
    for state in states:
        if state.owned and state.finalizer is not None and state.finalizer.detach():
            state.client.set_terminated(state.run_id, "FINISHED")
