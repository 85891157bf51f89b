"""Training scores computed with NumPy alone, for every estimator that follows scikit-learn's
API (scikit-learn's own, LightGBM's, XGBoost's): ``training_scores``, exported by the
integration contract (``autolog.integrations.training_scores``).

scikit-learn's metric functions validate their inputs at length (about 8 ms a call on
5,000 rows here, more than fitting a small model); these compute the same values directly,
in one pass over the predictions. Each returns None where the score is undefined for the data
(one class, labels the model never saw, multi-output targets).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["classifier_scores", "regressor_scores", "scores_later", "training_scores"]

Array = Any  # numpy arrays: numpy's own typing adds nothing at these call sites


def _weights(n: int, sample_weight: Any) -> Array:
    if sample_weight is None:
        return np.ones(n)
    weights = np.asarray(sample_weight, dtype=float)
    return weights if weights.shape == (n,) else None


def classifier_scores(
    y: Any, y_pred: Any, proba: Any, classes: Any, sample_weight: Any
) -> dict[str, float]:
    """accuracy, weighted precision/recall/f1, log loss and ROC AUC (where defined)."""
    y, y_pred = np.asarray(y), np.asarray(y_pred)
    if y.ndim != 1 or y_pred.shape != y.shape or len(y) == 0:
        return {}
    w = _weights(len(y), sample_weight)
    if w is None or w.sum() <= 0:
        return {}
    total = w.sum()
    scores = {"training_accuracy": float(np.dot(w, y == y_pred) / total)}

    codes = _codes(y, y_pred, classes)
    if codes is None:
        return scores
    true_codes, pred_codes, n, columns = codes
    confusion = np.bincount(true_codes * n + pred_codes, weights=w, minlength=n * n)
    confusion = confusion.reshape(n, n)
    tp = np.diag(confusion)
    predicted, support = confusion.sum(axis=0), confusion.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros(n), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(n), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros(n), where=both > 0)
    # labels that are neither true nor predicted have no support: weight 0, as in sklearn
    share = support / support.sum()
    scores["training_precision"] = float(share @ precision)
    scores["training_recall"] = float(share @ recall)
    scores["training_f1"] = float(share @ f1)

    if proba is not None and columns is not None:
        scores.update(_probability_scores(columns, np.asarray(proba), n, w))
    return scores


def _codes(y: Array, y_pred: Array, classes: Any) -> tuple[Array, Array, int, Array | None] | None:
    """Integer codes of true and predicted labels, the number of codes, and each sample's
    column in predict_proba (None when the labels are not the model's classes)."""
    if classes is not None:
        classes = np.asarray(classes)
        if classes.ndim == 1 and len(classes) > 0:
            # the model's own classes: a binary search per sample instead of sorting them all
            order = np.argsort(classes, kind="stable")
            ordered = classes[order]
            last = len(classes) - 1
            true_pos = np.clip(np.searchsorted(ordered, y), 0, last)
            pred_pos = np.clip(np.searchsorted(ordered, y_pred), 0, last)
            if np.array_equal(ordered[true_pos], y) and np.array_equal(ordered[pred_pos], y_pred):
                return true_pos, pred_pos, len(classes), order[true_pos]
    try:
        labels, codes = np.unique(np.concatenate([y, y_pred]), return_inverse=True)
    except TypeError:
        return None  # labels of mixed types that do not sort
    codes = codes.reshape(-1)
    return codes[: len(y)], codes[len(y) :], len(labels), None


def _probability_scores(index: Array, proba: Array, n_classes: int, w: Array) -> dict[str, float]:
    """Log loss and ROC AUC from predict_proba; ``index``: each sample's true column."""
    if proba.ndim != 2 or proba.shape != (len(index), n_classes) or n_classes < 2:
        return {}
    counts = np.bincount(index, minlength=n_classes)
    present = np.count_nonzero(counts)
    if present < 2:
        return {}  # one class: log loss and AUC say nothing
    scores = {}
    eps = np.finfo(proba.dtype if proba.dtype.kind == "f" else float).eps
    rows = np.arange(len(index))
    picked = np.clip(proba[rows, index] / proba.sum(axis=1), eps, 1 - eps)
    scores["training_log_loss"] = float(-np.dot(w, np.log(picked)) / w.sum())
    auc: float | None
    if n_classes == 2:
        auc = _binary_auc(index == 1, proba[:, 1], w)
    elif present == n_classes:
        # one-vs-rest, weighted by each class's share of the (sample-weighted) data
        aucs = [_binary_auc(index == c, proba[:, c], w) for c in range(n_classes)]
        defined = [a for a in aucs if a is not None]
        weights = [np.dot(w, index == c) for c in range(n_classes)]
        auc = float(np.average(defined, weights=weights)) if len(defined) == len(aucs) else None
    else:
        auc = None
    if auc is not None:
        scores["training_roc_auc"] = auc
    return scores


def _binary_auc(positive: Array, score: Array, w: Array) -> float | None:
    """Area under the ROC curve, ties counted as the curve's diagonal steps."""
    # Order within a run of equal scores does not matter: only each run's last cumulative
    # count is used, so the faster unstable sort will do.
    order = np.argsort(-score)
    score, positive, w = score[order], positive[order], w[order]
    last_of_each = np.flatnonzero(score[1:] != score[:-1])
    last_of_each = np.append(last_of_each, len(score) - 1)
    weighted = w * positive
    tps = np.cumsum(weighted)[last_of_each]
    fps = np.cumsum(w - weighted)[last_of_each]
    if tps[-1] <= 0 or fps[-1] <= 0:
        return None
    x = np.concatenate(([0.0], fps / fps[-1]))
    y = np.concatenate(([0.0], tps / tps[-1]))
    return float(np.dot(x[1:] - x[:-1], y[1:] + y[:-1]) / 2)


def regressor_scores(y: Any, y_pred: Any, sample_weight: Any) -> dict[str, float]:
    """mse, rmse, mae and r2, averaged uniformly over outputs as scikit-learn does."""
    y = np.asarray(y, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    if y_pred.ndim == 1:
        y_pred = y_pred[:, None]
    if y.shape != y_pred.shape or len(y) == 0:
        return {}
    w = _weights(len(y), sample_weight)
    if w is None or w.sum() <= 0:
        return {}
    total = w.sum()
    errors = y - y_pred
    mse = (w @ errors**2) / total
    mae = (w @ np.abs(errors)) / total
    scores = {
        "training_mse": float(np.mean(mse)),
        "training_rmse": float(np.mean(np.sqrt(mse))),
        "training_mae": float(np.mean(mae)),
    }
    if len(y) >= 2:
        mean = (w @ y) / total
        ss_res = w @ errors**2
        ss_tot = w @ (y - mean) ** 2
        r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), 0.0)
        r2 = np.where((ss_tot == 0) & (ss_res == 0), 1.0, r2)
        scores["training_r2"] = float(np.mean(r2))
    return scores


def training_scores(estimator: Any, X: Any, y: Any, sample_weight: Any) -> dict[str, float]:
    """The training scores of a fitted classifier or regressor (other estimators: none):
    one predict_proba (or predict) on the training data. scikit-learn is imported here, when
    it is called: the estimator follows its API."""
    return scores_later(estimator, X, y, sample_weight)[0]()


def scores_later(
    estimator: Any, X: Any, y: Any, sample_weight: Any
) -> tuple[Callable[[], dict[str, float]], Any]:
    """``training_scores`` in two parts: the predictions now, since they need the estimator
    and ``X`` as they are; the arithmetic when the returned function is called, on copies of
    ``y`` and ``sample_weight`` and on predictions nobody else holds, so it may run on another
    thread at any time after (``Client.log_metrics_later``). With it, what ``predict(X)``
    returned (None where the estimator is no classifier or regressor): the model's outputs,
    for its signature."""
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(estimator):
        proba = None
        if getattr(y, "ndim", 1) == 1 and hasattr(estimator, "predict_proba"):
            # hasattr is False where available_if hides predict_proba
            proba = estimator.predict_proba(X)
        classes = getattr(estimator, "classes_", None)
        y_pred = None
        if proba is not None and classes is not None:
            y_pred = _argmax_prediction(estimator, proba, classes)
        if y_pred is None:
            y_pred = estimator.predict(X)
        if classes is not None:
            classes = np.array(classes, copy=True)
        scores = functools.partial(
            classifier_scores, _copy(y), y_pred, proba, classes, _copy(sample_weight)
        )
        return scores, y_pred
    if is_regressor(estimator):
        y_pred = estimator.predict(X)
        return functools.partial(regressor_scores, _copy(y), y_pred, _copy(sample_weight)), y_pred
    return dict, None


def _copy(values: Any) -> Any:
    """An array of ``values`` that the caller cannot change any more (None stays None)."""
    return None if values is None else np.array(values, copy=True)


def _argmax_prediction(estimator: Any, proba: Array, classes: Any) -> Array | None:
    """What ``estimator.predict()`` returns, read from ``predict_proba`` where that is exact,
    sparing a second pass over the data; None where it is not (then ``predict`` is called).

    Forests and trees predict, in their own code, the class of highest probability.
    LogisticRegression predicts the class of highest decision function, and its probabilities
    are a non-decreasing function of it (expit, softmax) within a row: the unique highest
    probability is the highest decision. Only where the top two probabilities are equal
    (rounding can make a hair's difference in the decision a tie) is ``predict`` needed.
    """
    from sklearn.ensemble._forest import ForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.linear_model._base import LinearClassifierMixin
    from sklearn.tree._classes import BaseDecisionTree

    cls = type(estimator)
    predict = getattr(cls, "predict", None)
    if getattr(estimator, "n_outputs_", 1) != 1 or getattr(proba, "ndim", 0) != 2:
        return None
    if predict in (ForestClassifier.predict, BaseDecisionTree.predict):
        return classes.take(proba.argmax(axis=1))
    monotone = (
        predict is LinearClassifierMixin.predict
        and getattr(cls, "predict_proba", None) is LogisticRegression.predict_proba
    )
    if not monotone or proba.shape[1] < 2:
        return None
    top_two = np.partition(proba, -2, axis=1)[:, -2:]
    if np.any(top_two[:, 0] == top_two[:, 1]):
        return None
    return classes.take(proba.argmax(axis=1))
