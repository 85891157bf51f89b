"""The NumPy training scores agree with scikit-learn's metric functions."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from autolog.integrations._scores import classifier_scores, regressor_scores

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def metrics() -> ModuleType:
    """scikit-learn's metric functions, the reference: imported by a test, not at collection."""
    from sklearn import metrics

    return metrics


def _classification(n_classes: int, weighted: bool, labels: str) -> tuple:
    n = 400
    classes = (
        np.array([f"c{i}" for i in range(n_classes)])
        if labels == "str"
        else np.arange(n_classes) * 3
    )
    y = classes[RNG.integers(0, n_classes, n)]
    proba = RNG.random((n, n_classes)).round(1) + 0.05  # rounding makes ties
    proba /= proba.sum(axis=1, keepdims=True)
    y_pred = classes[np.argmax(proba + (classes[None, :] == y[:, None]) * 0.3, axis=1)]
    weights = RNG.random(n) * 3 if weighted else None
    return y, y_pred, proba, classes, weights


@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("labels", ["int", "str"])
def test_classifier_scores_match_sklearn(
    n_classes: int, weighted: bool, labels: str, metrics: ModuleType
) -> None:
    y, y_pred, proba, classes, w = _classification(n_classes, weighted, labels)
    got = classifier_scores(y, y_pred, proba, classes, w)
    kw = {"sample_weight": w}
    assert got["training_accuracy"] == pytest.approx(metrics.accuracy_score(y, y_pred, **kw))
    for name, func in (
        ("training_precision", metrics.precision_score),
        ("training_recall", metrics.recall_score),
        ("training_f1", metrics.f1_score),
    ):
        expected = func(y, y_pred, average="weighted", zero_division=0, **kw)
        assert got[name] == pytest.approx(expected), name
    assert got["training_log_loss"] == pytest.approx(
        metrics.log_loss(y, proba, labels=classes, **kw)
    )
    if n_classes == 2:
        auc = metrics.roc_auc_score(y, proba[:, 1], **kw)
    else:
        auc = metrics.roc_auc_score(
            y, proba, multi_class="ovr", average="weighted", labels=classes, **kw
        )
    assert got["training_roc_auc"] == pytest.approx(auc)


def test_undefined_classifier_scores_are_left_out() -> None:
    one_class = classifier_scores(np.zeros(5), np.zeros(5), np.ones((5, 1)), np.array([0.0]), None)
    assert one_class["training_accuracy"] == 1.0
    assert "training_roc_auc" not in one_class
    assert "training_log_loss" not in one_class
    unseen = classifier_scores(
        np.array([0, 1, 2]), np.array([0, 1, 1]), np.full((3, 2), 0.5), np.array([0, 1]), None
    )
    assert "training_log_loss" not in unseen
    assert classifier_scores(np.zeros((4, 2)), np.zeros((4, 2)), None, None, None) == {}
    missing_class = classifier_scores(
        np.array([0, 1, 0, 1]),
        np.array([0, 1, 0, 0]),
        np.full((4, 3), 1 / 3),
        np.array([0, 1, 2]),
        None,
    )
    assert "training_roc_auc" not in missing_class
    assert "training_log_loss" in missing_class


@pytest.mark.parametrize("outputs", [1, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_regressor_scores_match_sklearn(outputs: int, weighted: bool, metrics: ModuleType) -> None:
    n = 300
    y = RNG.normal(size=(n, outputs)).squeeze()
    pred = y + RNG.normal(scale=0.3, size=y.shape)
    w = RNG.random(n) if weighted else None
    got = regressor_scores(y, pred, w)
    assert got["training_mse"] == pytest.approx(
        metrics.mean_squared_error(y, pred, sample_weight=w)
    )
    assert got["training_rmse"] == pytest.approx(
        metrics.root_mean_squared_error(y, pred, sample_weight=w)
    )
    assert got["training_mae"] == pytest.approx(
        metrics.mean_absolute_error(y, pred, sample_weight=w)
    )
    assert got["training_r2"] == pytest.approx(metrics.r2_score(y, pred, sample_weight=w))


def test_constant_targets(metrics: ModuleType) -> None:
    perfect = regressor_scores(np.ones(4), np.ones(4), None)
    assert perfect["training_r2"] == metrics.r2_score(np.ones(4), np.ones(4)) == 1.0
    off = regressor_scores(np.ones(4), np.zeros(4), None)
    assert off["training_r2"] == metrics.r2_score(np.ones(4), np.zeros(4)) == 0.0
    assert "training_r2" not in regressor_scores(np.ones(1), np.ones(1), None)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_logistic_regression_is_predicted_once_and_exactly(
    n_classes: int, monkeypatch: pytest.MonkeyPatch, metrics: ModuleType
) -> None:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    from autolog.integrations._scores import training_scores

    X, y = make_classification(600, 8, n_informative=5, n_classes=n_classes, random_state=0)
    model = LogisticRegression(max_iter=500).fit(X, y)
    expected = metrics.accuracy_score(y, model.predict(X))
    calls: list[int] = []
    original = model.predict

    def counting(data: object) -> object:
        calls.append(1)
        return original(data)

    monkeypatch.setattr(model, "predict", counting)
    # predict() is what predict_proba() says: no second pass over the data
    assert training_scores(model, X, y, None)["training_accuracy"] == pytest.approx(expected)
    assert calls == []
    # a tie in the probabilities: predict() decides, as it would have
    tie = model.predict_proba(X)
    tie[0, :2] = 0.5
    tie[0, 2:] = 0.0
    monkeypatch.setattr(model, "predict_proba", lambda data: tie)
    training_scores(model, X, y, None)
    assert calls == [1]
