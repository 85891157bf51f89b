"""scikit-learn: every estimator's fit, fit_transform, fit_predict and partial_fit.

What one outermost training call records:

- params: ``get_params(deep=True)`` (so a Pipeline's or a search's nested estimators too),
  stored as the core renders every value (``autolog.rendering``): strings as they are, numbers
  as Python prints them, functions and classes by qualified name (``refit=refit_strategy`` is
  ``__main__.refit_strategy``, never an address), estimators as their repr;
- metrics: ``fit_time`` in seconds; training scores (classifiers: ``training_accuracy``,
  ``training_precision``, ``training_recall``, ``training_f1``, ``training_log_loss`` and
  ``training_roc_auc`` where defined; regressors: ``training_mse``, ``training_rmse``,
  ``training_mae``, ``training_r2``); learning curves as step metrics (``loss_curve_`` ->
  ``training_loss``, ``validation_scores_`` (MLP) and ``validation_score_``
  (HistGradientBoosting) -> ``validation_score``, ``train_score_`` -> ``train_score``,
  ``oob_scores_`` -> ``oob_score``) and ``n_iter``;
- the fitted estimator as the model ``model``, with an input schema in its metadata;
- searches (GridSearchCV, RandomizedSearchCV, the halving ones): ``best_<param>`` params, the
  ``best_cv_score`` metric where the search has a ``best_score_``, the refit candidate's mean
  test score for every scorer as ``best_cv_<scorer>`` (multi-metric searches, a callable
  ``refit`` too), ``cv_results.csv``, and child runs for the best candidates: the refit one
  first, then by the ranking of the ``refit`` scorer (of the first scorer where ``refit`` is a
  callable or False), each tagged ``autolog.candidate_rank``.

A transformer fitted on its own (a scaler, an encoder, PCA, a pipeline of them: it transforms
and predicts nothing) is preprocessing, not a model: no run, unless
``sklearn={"log_transformers": True}``. ``partial_fit`` calls on one estimator make one run
whose metrics are steps, one per call.
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
from autolog.rendering import render

__all__ = ["INTEGRATION", "SklearnOptions"]

_FIT_METHODS = ("fit", "fit_transform", "fit_predict")
# sklearn folders that hold no estimators users train
_SKIPPED_DIRS = {"tests", "externals", "_build_utils", "__check_build", "__pycache__", "datasets"}


class SklearnOptions(NamedTuple):
    #: child runs for the best N candidates of a hyperparameter search
    max_tuning_runs: int = 5
    #: compute training scores (one predict on the training data after fit)
    log_training_metrics: bool = True
    #: record a transformer fitted on its own (a scaler, an encoder, PCA) as a run too
    log_transformers: bool = False


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
    if not call.settings.options.log_transformers and _is_transformer(estimator):
        return  # preprocessing, not a model: what it feeds is recorded
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
        from autolog.integrations._scores import scores_later

        # The prediction is made now (it needs the estimator and X as they are); the
        # arithmetic leaves the training thread, on copies.
        client.log_metrics_later(run_id, scores_later(estimator, X, y, sample_weight))
    _log_curves(client, run_id, estimator, metrics)
    client.log_metrics(run_id, metrics)
    if _is_search(estimator):
        _log_search(session, estimator, options.max_tuning_runs)
    if call.settings.log_models:
        client.log_model(run_id, estimator, "model", metadata={"input_schema": _schema(X)})


def _class_name(estimator: Any) -> str:
    return type(estimator).__name__


def _is_transformer(estimator: Any) -> bool:
    """A preprocessing step fitted on its own (a scaler, an encoder, PCA, a pipeline of them):
    it transforms data and predicts nothing."""
    from sklearn.base import TransformerMixin

    if not (isinstance(estimator, TransformerMixin) or hasattr(estimator, "transform")):
        return False
    return not any(
        hasattr(estimator, method) for method in ("predict", "predict_proba", "decision_function")
    )


def _params(estimator: Any) -> dict[str, Any]:
    # stored as the core renders every param value (autolog.rendering): strings as they are,
    # functions and classes by qualified name, never a memory address
    return dict(estimator.get_params(deep=True))


def _training_data(call: Call) -> tuple[Any, Any, Any]:
    """(X, y, sample_weight) of a fit-like call, however they were passed."""
    args, kwargs = call.args, call.kwargs
    X = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y", kwargs.get("Y"))
    return X, y, kwargs.get("sample_weight")


def _defined(compute: Any, *args: Any, **kwargs: Any) -> float | None:
    """A score, or None where the data make it undefined."""
    try:
        return float(compute(*args, **kwargs))
    except (ValueError, TypeError, IndexError):
        return None


_CURVES = (
    ("loss_curve_", "training_loss"),
    ("validation_scores_", "validation_score"),  # MLP
    ("validation_score_", "validation_score"),  # HistGradientBoosting
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
        client.log_params(run_id, {f"best_{k}": v for k, v in best.items()})
    results = search.cv_results_
    best_index = _best_index(search, results)
    client.log_metrics(run_id, _best_scores(search, results, best_index))
    with tempfile.TemporaryDirectory(prefix="autolog-") as folder:
        path = Path(folder) / "cv_results.csv"
        _write_csv(path, results)
        client.log_artifact(run_id, path)
    _log_candidates(session, results, _candidate_order(search, results, best_index), max_runs)


def _best_index(search: Any, results: Mapping[str, Any]) -> int | None:
    """The candidate the search refit (a ``refit`` metric's best, or the one a callable
    ``refit`` chose), or None without refit."""
    index = getattr(search, "best_index_", None)
    try:
        index = int(index)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return index if 0 <= index < len(results["params"]) else None


def _best_scores(search: Any, results: Mapping[str, Any], best: int | None) -> dict[str, float]:
    """``best_cv_score`` where the search has one, and the refit candidate's mean test score
    for every scorer, ``best_cv_<scorer>`` (multi-metric searches, callable ``refit`` too)."""
    scores = {}
    best_score = getattr(search, "best_score_", None)  # absent with a callable refit
    if best_score is not None:
        scores["best_cv_score"] = float(best_score)
    if best is not None:
        for key in results:
            if key.startswith("mean_test_"):
                value = _number(results[key][best])
                if value is not None:
                    scores[f"best_cv_{key.removeprefix('mean_test_')}"] = value
    return scores


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _candidate_order(search: Any, results: Mapping[str, Any], best: int | None) -> list[int]:
    """Candidates best first: the refit one, then by the ranking of the ``refit`` scorer (or
    the only one, or the first of several when ``refit`` is a callable or False)."""
    refit = search.refit
    ranks = [k for k in results if k.startswith("rank_test_")]
    if isinstance(refit, str) and f"rank_test_{refit}" in results:
        key: str | None = f"rank_test_{refit}"
    elif "rank_test_score" in results:
        key = "rank_test_score"
    else:
        key = ranks[0] if ranks else None
    count = len(results["params"])
    if key is None:
        order = list(range(count))
    else:
        rank = results[key]
        order = sorted(range(count), key=lambda i: (int(rank[i]), i))
    if best is not None:
        order.remove(best)
        order.insert(0, best)
    return order


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
    return render(value) if isinstance(value, dict) else value


def _log_candidates(
    session: Session, results: Mapping[str, Any], order: list[int], max_runs: int
) -> None:
    if max_runs == 0:
        return
    client = session.client
    metric_keys = [
        k for k in results if k.startswith(("mean_", "std_", "rank_")) and "split" not in k
    ]
    for position, i in enumerate(order[:max_runs]):
        child = client.create_run(
            experiment_id=session.experiment_id,
            run_name=f"candidate-{i}",
            parent_run_id=session.run_id,
            tags={"autolog.candidate_rank": position + 1},
        )
        child_id = child.info.run_id
        client.log_params(child_id, dict(results["params"][i]))
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
    if not call.settings.options.log_transformers and _is_transformer(estimator):
        return
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
