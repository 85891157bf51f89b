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
  ``oob_scores_`` -> ``oob_score``); the counts fitting decided (early stopping, convergence)
  as metrics beside the params that bounded them: ``n_iter`` (``n_iter_``, its largest where
  there is one per class) and ``n_estimators_fitted`` (GradientBoosting's ``n_estimators_``);
- the fitted estimator as the model ``model``, with an input schema in its metadata;
- searches (GridSearchCV, RandomizedSearchCV, the halving ones): ``best_<param>`` params, the
  ``best_cv_score`` metric where the search has a ``best_score_``, the refit candidate's mean
  test score for every scorer as ``best_cv_<scorer>`` (multi-metric searches, a callable
  ``refit`` too), ``cv_results.csv``, and child runs for the best candidates: the refit one
  first, then by the ranking of the ``refit`` scorer (of the first scorer where ``refit`` is a
  callable or False), each tagged ``autolog.candidate_rank``.

Held-out scores, after the fit: ``model.score(X_test, y_test)`` as ``score_<data>``, and the
``sklearn.metrics`` functions (``accuracy_score``, ``f1_score``, ``roc_auc_score``,
``mean_squared_error``, ... : ``_METRICS``) given a prediction of the model
(``predict``, ``predict_proba``, ``predict_log_proba``, ``decision_function``, or a view of one
such as ``predict_proba(X)[:, 1]``) as ``<metric>_<data>``. ``<data>`` is the name the data
predicted on has in the frame that scores it (locals, then globals: ``X_test``), else
``dataset_<n>``, the n-th distinct unnamed data of that model (``model.score(X[100:], ...)``). A
metric called again on the same data with other arguments gets its own key,
``f1_score-2_X_test``, and the tag ``autolog.sklearn.call.<key>`` says how it was called
(``average='micro'``); a value that is no single number (``average=None``) is not recorded.
Never recorded: scoring that scikit-learn does itself (cross-validation, searches,
``permutation_importance``, a pipeline scoring its last step) or that runs while a fit is in
progress. The scores go to the model's run while it runs (the user's run, an Optuna trial's);
a run that has ended takes no writes (the store's rule), so the scores of a model whose run has
ended, which is every run a fit opened itself, go to one child run of it, ``evaluation``,
tagged ``autolog.evaluates=<the model's run id>``, which ends FINISHED when the model is fitted
again, garbage-collected, or at exit. The prediction is remembered by the array's id and a
weak reference, so patching ``predict`` costs a dict lookup for models autolog did not record.
The metric functions are patched in ``sklearn.metrics``: a name imported from it before
``autolog()`` ran is the original function, and is not recorded.

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

import csv
import functools
import inspect
import math
import numbers
import os
import sys
import tempfile
import threading
import time
import warnings
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import autolog
from autolog import lifecycle, signatures
from autolog.entities import RunStatus
from autolog.errors import InvalidInputError
from autolog.integrations.patching import (
    Call,
    HookGenerator,
    Patcher,
    outermost,
    typed_options,
)
from autolog.integrations.session import Session, current, open_session, training_session
from autolog.rendering import render
from autolog.runs import end_status

__all__ = ["INTEGRATION", "SklearnOptions"]

_FIT_METHODS = ("fit", "fit_transform", "fit_predict")
#: methods whose output is a prediction a metric function may be given
_PREDICT_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function")
#: the ``sklearn.metrics`` functions whose held-out values are recorded: ``(y_true, y_pred,
#: ...)`` returning a number
_METRICS = (
    "accuracy_score",
    "balanced_accuracy_score",
    "f1_score",
    "fbeta_score",
    "precision_score",
    "recall_score",
    "jaccard_score",
    "matthews_corrcoef",
    "cohen_kappa_score",
    "hamming_loss",
    "zero_one_loss",
    "log_loss",
    "brier_score_loss",
    "hinge_loss",
    "roc_auc_score",
    "average_precision_score",
    "top_k_accuracy_score",
    "d2_log_loss_score",
    "d2_brier_score",
    "mean_squared_error",
    "root_mean_squared_error",
    "mean_absolute_error",
    "r2_score",
    "explained_variance_score",
    "max_error",
    "median_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_log_error",
    "root_mean_squared_log_error",
    "mean_pinball_loss",
    "mean_poisson_deviance",
    "mean_gamma_deviance",
    "mean_tweedie_deviance",
    "d2_absolute_error_score",
    "d2_pinball_score",
    "d2_tweedie_score",
)
# sklearn folders that hold no estimators users train
_SKIPPED_DIRS = {"tests", "externals", "_build_utils", "__check_build", "__pycache__", "datasets"}
_MAX_KEY = 250


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

    if module.__name__ == "sklearn.metrics":
        _patch_metrics(patcher, module)
    for obj in list(vars(module).values()):
        if not isinstance(obj, type) or obj.__module__ != module.__name__:
            continue
        # Mixins outside sklearn.base define predict too (LinearClassifierMixin): the light
        # path costs an instance no model of ours a dict lookup.
        for method in _PREDICT_METHODS:
            if _is_method(vars(obj).get(method)):
                patcher.observe(obj, method, _predicting, _predicted)
        if _is_method(vars(obj).get("score")):
            patcher.observe(obj, "score", _scoring, _scored)
        if not (issubclass(obj, BaseEstimator) or obj.__module__ == "sklearn.base"):
            continue
        for method in _FIT_METHODS:
            patcher.wrap(obj, method, _fit_hook)
        patcher.wrap(obj, "partial_fit", _partial_fit_hook)


def _is_method(attribute: Any) -> bool:
    """A plain function, or scikit-learn's ``available_if`` descriptor around one (not a
    property, static or class method)."""
    return inspect.isfunction(attribute) or inspect.isfunction(getattr(attribute, "fn", None))


def _patch_metrics(patcher: Patcher, metrics: Any) -> None:
    """The metric functions of ``sklearn.metrics``, where they are defined and where the
    package re-exports them (the name users import)."""
    for name in _METRICS:
        function = getattr(metrics, name, None)
        owner = sys.modules.get(getattr(function, "__module__", "") or "")
        if function is None or owner is None or vars(owner).get(name) is not function:
            continue
        # the predictions are the second argument, whatever its name (y_pred, y_score, ...)
        names = list(inspect.signature(vars(owner)[name]).parameters)[:2]
        before = functools.partial(_metric_called, name, tuple(names))
        patcher.observe(owner, name, before, _scored, aliases=[(metrics, name)])


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
    _forget_model(estimator)  # and its held-out scores so far belong to the model it was
    with training_session(call, tags={"autolog.estimator": _class_name(estimator)}) as session:
        # Before training: a fit that raises keeps the params it was given. First, too: it
        # may move the session to a child run.
        session.log_params(_params(estimator))
        started = time.perf_counter()
        yield call.args, call.kwargs
        seconds = time.perf_counter() - started
        _track_model(session, estimator)
        _log_fit(session, call, estimator, seconds)


def _log_fit(session: Session, call: Call, estimator: Any, fit_time: float) -> None:
    client, run_id = session.client, session.run_id
    metrics: dict[str, float] = {"fit_time": fit_time}
    X, y, sample_weight = _training_data(call)
    options: SklearnOptions = call.settings.options
    signature = None
    if options.log_training_metrics and X is not None and y is not None:
        from autolog.integrations._scores import scores_later

        # The prediction is made now (it needs the estimator and X as they are); the
        # arithmetic leaves the training thread, on copies. It shows the model's outputs.
        scores, predicted = scores_later(estimator, X, y, sample_weight)
        client.log_metrics_later(run_id, scores)
        if predicted is not None:
            signature = signatures.infer(X, predicted)
    _log_curves(client, run_id, estimator, metrics)
    client.log_metrics(run_id, metrics)
    if _is_search(estimator):
        _log_search(session, estimator, options.max_tuning_runs)
    if call.settings.log_models:
        client.log_model(run_id, estimator, "model", input_example=X, signature=signature)


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
    for attribute, key in _FITTED_COUNTS:
        count = getattr(estimator, attribute, None)
        if count is not None:
            try:
                import numpy as np

                metrics[key] = float(np.max(count))
            except (TypeError, ValueError):
                pass


#: counts that fitting decides (early stopping, convergence), as metrics: what training did,
#: beside the params that bounded it (``n_estimators``, ``max_iter``). ``n_iter_`` per class or
#: output (LogisticRegression) as its largest.
_FITTED_COUNTS = (("n_iter_", "n_iter"), ("n_estimators_", "n_estimators_fitted"))


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


# -- held-out scores: score() and sklearn.metrics on a fitted model's predictions -----------


class _Model:
    """A model fitted by a recorded call, and where its held-out scores go."""

    __slots__ = (
        "client",
        "estimator",
        "evaluation",
        "experiment_id",
        "finalizer",
        "keys",
        "lock",
        "name",
        "owned",
        "run_id",
        "unnamed",
    )

    def __init__(self, session: Session, estimator: Any) -> None:
        self.client = session.client
        self.run_id = session.run_id
        self.experiment_id = session.experiment_id
        #: the session started the run: it has ended by the time the model is scored
        self.owned = session.owned
        self.name = _class_name(estimator)
        self.estimator = weakref.ref(estimator)
        self.evaluation: str | None = None
        self.finalizer: Any = None
        #: (metric, dataset) -> the descriptions of its calls, in order: each its own key
        self.keys: dict[tuple[str, str], list[str]] = {}
        #: data with no name in the caller's frame, in order of first use
        self.unnamed: list[Any] = []
        self.lock = threading.Lock()

    def dataset(self, X: Any, frame: Any) -> str:
        """The name ``X`` has in the caller's frame (its locals, then its globals), else
        ``dataset_<n>``: the n-th distinct unnamed data this model was scored on.

        Reading a function frame's ``f_locals`` (before Python 3.13) leaves a snapshot of its
        locals on the frame, read again at the next such read: a local deleted meanwhile lives
        until then or until the function returns, as under a debugger."""
        if X is not None and frame is not None:
            for scope in (frame.f_locals, frame.f_globals):
                # list() copies in one step: another thread may bind a global meanwhile
                names = [str(name) for name, value in list(scope.items()) if value is X]
                if names:
                    public = [n for n in names if not n.startswith("_")]
                    return (public or names)[0]
        with self.lock:
            for index, known in enumerate(self.unnamed):
                if (known() if isinstance(known, weakref.ref) else known) is X:
                    return f"dataset_{index}"
            try:
                entry: Any = weakref.ref(X)
            except TypeError:
                entry = None  # cannot be told again without holding it: a new number each time
            self.unnamed.append(entry)
            return f"dataset_{len(self.unnamed) - 1}"

    def record(self, metric: str, dataset: str, description: str, value: Any) -> None:
        """Log ``value`` as ``<metric>_<dataset>``; another call of the same metric on the
        same data with other arguments (``average="macro"``, then ``"micro"``) is
        ``<metric>-2_<dataset>``, and so on, each described in a tag."""
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return  # an array (average=None, multioutput="raw_values"): no one number
        with self.lock:
            calls = self.keys.setdefault((metric, dataset), [])
            new = description not in calls
            if new:
                calls.append(description)
            index = calls.index(description)
            name = metric if index == 0 else f"{metric}-{index + 1}"
            key = f"{name}_{dataset}"[:_MAX_KEY]
            run_id = self._log(key, float(value))
        if new and description:
            self.client.set_tags(run_id, {f"autolog.sklearn.call.{key}": description[:1000]})

    def _log(self, key: str, value: float) -> str:
        if self.evaluation is None and not self.owned:
            try:
                self.client.log_metric(self.run_id, key, value)
                return self.run_id
            except InvalidInputError:
                pass  # the user's run has ended since: as for a run of our own
        if self.evaluation is None:
            self.evaluation = self._open_evaluation()
        self.client.log_metric(self.evaluation, key, value)
        return self.evaluation

    def _open_evaluation(self) -> str:
        # A run that has ended takes no writes (the store's rule): the scores of a model whose
        # run has ended go to one child run of it, ended with the model (refit, garbage
        # collection, exit).
        run = self.client.create_run(
            experiment_id=self.experiment_id or None,
            run_name="evaluation",
            parent_run_id=self.run_id,
            tags={"autolog.estimator": self.name, "autolog.evaluates": self.run_id},
        )
        run_id = run.info.run_id
        estimator = self.estimator()
        if estimator is not None:
            self.finalizer = weakref.finalize(estimator, _end_evaluation, self.client, run_id)
        with _models_lock:
            _evaluations[run_id] = self
        return run_id

    def end(self, status: RunStatus = RunStatus.FINISHED) -> None:
        with self.lock:
            run_id, self.evaluation = self.evaluation, None
        if run_id is not None:
            if self.finalizer is not None:
                self.finalizer.detach()
            _end_evaluation(self.client, run_id, status)


def _end_evaluation(
    client: autolog.Client, run_id: str, status: RunStatus = RunStatus.FINISHED
) -> None:
    with _models_lock:
        _evaluations.pop(run_id, None)
    client.set_terminated(run_id, status)


class _Prediction:
    __slots__ = ("X", "model", "ref")

    def __init__(self, ref: Any, model: _Model, X: Any) -> None:
        self.ref = ref
        self.model = model
        self.X = X  # a weak reference to the data predicted on, or None


# Fitted estimators (by id, checked by a weak reference: a lookup with no allocation, since
# every predict asks) -> their _Model; predictions (the same way) -> theirs.
_models: dict[int, tuple[Any, _Model]] = {}
_predictions: dict[int, _Prediction] = {}
_evaluations: dict[str, _Model] = {}
_models_lock = threading.Lock()


def _track_model(session: Session, estimator: Any) -> None:
    """Remember a fitted model's run for its held-out scores (a search's best estimator
    scores for the search)."""
    model = _Model(session, estimator)
    for tracked in (estimator, getattr(estimator, "best_estimator_", None)):
        if tracked is None:
            continue
        key = id(tracked)
        try:
            ref = weakref.ref(tracked, functools.partial(_forget_estimator, key))
        except TypeError:
            continue  # an estimator that cannot be weakly referenced is not tracked
        with _models_lock:
            _models[key] = (ref, model)


def _forget_estimator(key: int, ref: Any) -> None:
    with _models_lock:
        entry = _models.get(key)
        if entry is not None and entry[0] is ref:
            del _models[key]


def _forget_model(estimator: Any) -> None:
    """The estimator is fitted again: its held-out scores so far were the old model's."""
    model = _model_of(estimator)
    if model is not None:
        with _models_lock:
            _models.pop(id(estimator), None)
        model.end()


def _model_of(estimator: Any) -> _Model | None:
    entry = _models.get(id(estimator))
    if entry is None or entry[0]() is not estimator:
        return None
    return entry[1]


def _users_frame() -> Any:
    """The frame of the code that called the patched method: None when that code is
    scikit-learn's own (a scorer in a search, ``permutation_importance``, ``Pipeline.score``
    calling its last step's) or a fit is in progress in this context."""
    if current() is not None:
        return None
    frame: Any = sys._getframe(2)  # 0: this function, 1: the observer
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module not in _OWN_MODULES and not module.startswith("wrapt"):
            break
        frame = frame.f_back
    if frame is None:
        return None
    module = frame.f_globals.get("__name__", "")
    internal = module == "sklearn" or module.startswith("sklearn.")
    return None if internal and ".tests." not in module else frame


_OWN_MODULES = frozenset({__name__, "autolog.integrations.patching"})


def _predicting(estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    model = _model_of(estimator)
    if model is None or _users_frame() is None:
        return None
    return model, args[0] if args else kwargs.get("X")


def _predicted(state: Any, result: Any, error: BaseException | None) -> None:
    """Remember which model made ``result`` (weakly: forgotten with the array)."""
    if error is not None:
        return
    model, X = state
    try:
        data = weakref.ref(X)
    except TypeError:
        data = None
    for made in (result, getattr(result, "base", None)):  # predict_proba(X)[:, 1] is a view
        if made is None:
            continue
        key = id(made)
        try:
            ref = weakref.ref(made, functools.partial(_forget_prediction, key))
        except TypeError:
            return
        _predictions[key] = _Prediction(ref, model, data)


def _forget_prediction(key: int, ref: Any) -> None:
    entry = _predictions.get(key)
    if entry is not None and entry.ref is ref:
        _predictions.pop(key, None)


def _prediction_of(values: Any) -> _Prediction | None:
    for candidate in (values, getattr(values, "base", None)):
        if candidate is None:
            continue
        entry = _predictions.get(id(candidate))
        if entry is not None and entry.ref() is candidate:
            return entry
    return None


def _metric_called(
    name: str, data_names: tuple[str, ...], _: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if not _predictions:
        return None  # no prediction of a recorded model alive: the common case, one check
    entry = None
    # the predictions where they belong, or first: scikit-learn's own getting-started guide
    # writes accuracy_score(pipe.predict(X_test), y_test)
    for position in range(len(data_names) - 1, -1, -1):
        given = args[position] if len(args) > position else kwargs.get(data_names[position])
        entry = _prediction_of(given)
        if entry is not None:
            break
    if entry is None:
        return None
    frame = _users_frame()
    if frame is None:
        return None
    X = entry.X() if entry.X is not None else None
    dataset = entry.model.dataset(X, frame)
    return entry.model, name, dataset, _describe(args[2:], kwargs, data_names)


def _scoring(estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    model = _model_of(estimator)
    if model is None:
        return None
    frame = _users_frame()
    if frame is None:
        return None
    X = args[0] if args else kwargs.get("X")
    dataset = model.dataset(X, frame)
    return model, "score", dataset, _describe(args[2:], kwargs, ("X", "y", "Y"))


def _scored(state: Any, result: Any, error: BaseException | None) -> None:
    if error is None:
        model, metric, dataset, description = state
        model.record(metric, dataset, description, result)


def _describe(args: tuple[Any, ...], kwargs: Mapping[str, Any], data: tuple[str, ...]) -> str:
    """The other arguments of a scoring call, as ``average='macro', sample_weight=<ndarray>``."""
    parts = [_short(value) for value in args]
    parts += [f"{key}={_short(value)}" for key, value in kwargs.items() if key not in data]
    return ", ".join(parts)


def _short(value: Any) -> str:
    if getattr(value, "shape", None) is not None or isinstance(value, (list, tuple)):
        return f"<{type(value).__name__}>"
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def _end_evaluations(event: lifecycle.Shutdown) -> None:
    """At exit (or autolog's shutdown): end the evaluation runs, forget the models."""
    with _models_lock:
        models = list(_evaluations.values())
        _models.clear()
    _predictions.clear()
    for model in models:
        model.end(RunStatus.KILLED if event.killed else RunStatus.FINISHED)


def _forget_models_after_fork() -> None:
    # A forked child's models are copies: the parent ends its evaluation runs.
    global _models_lock
    for model in list(_evaluations.values()):
        if model.finalizer is not None:
            model.finalizer.detach()
    _evaluations.clear()
    _models.clear()
    _predictions.clear()
    _models_lock = threading.Lock()


lifecycle.on_shutdown(lifecycle.Layer.INTEGRATION, _end_evaluations)
lifecycle.on_fork(lifecycle.Layer.INTEGRATION, after_in_child=_forget_models_after_fork)


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
        except BaseException as error:
            _end_incremental(estimator, end_status(error))
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
        client.log_model(run_id, estimator, "model", input_example=X)


def _end_incremental(estimator: Any, status: RunStatus | str) -> None:
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


def _end_incremental_runs(event: lifecycle.Shutdown) -> None:
    """At exit (or autolog's shutdown): end the runs of estimators still fitted step by step,
    before the writers write what is queued (KILLED on SIGTERM)."""
    with _incremental_lock:
        states = list(_incremental.values())
        _incremental.clear()
    status = RunStatus.KILLED if event.killed else RunStatus.FINISHED
    for state in states:
        if state.owned and state.finalizer is not None and state.finalizer.detach():
            state.client.set_terminated(state.run_id, status)


lifecycle.on_shutdown(lifecycle.Layer.INTEGRATION, _end_incremental_runs)
lifecycle.on_fork(lifecycle.Layer.INTEGRATION, after_in_child=_forget_incremental_after_fork)
