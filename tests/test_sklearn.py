"""The scikit-learn integration, on real estimators and small real data."""

from __future__ import annotations

import csv
import inspect
import io
import json
import math
import pickle
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import metrics
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.datasets import make_classification, make_regression
from sklearn.decomposition import PCA, IncrementalPCA
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import LinearRegression, LogisticRegression, SGDClassifier
from sklearn.model_selection import GridSearchCV, HalvingGridSearchCV, RandomizedSearchCV
from sklearn.multioutput import MultiOutputClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC, LinearSVC
from support import run_script

import autolog
from autolog import RunStatus

X, Y = make_classification(300, 6, n_informative=4, random_state=0)
XR, YR = make_regression(200, 5, noise=0.1, random_state=0)


@pytest.fixture(autouse=True)
def _autolog() -> None:
    autolog.autolog(integrations=["sklearn"])


def _trainings() -> list[autolog.Run]:
    """The runs of trainings: the evaluation runs of held-out scores left out."""
    return [r for r in autolog.search_runs() if "autolog.evaluates" not in r.data.tags]


def _only_run() -> autolog.Run:
    runs = _trainings()
    assert len(runs) == 1, [r.data.tags.get("autolog.estimator") for r in runs]
    return runs[0]


def _model_meta(run: autolog.Run) -> dict[str, Any]:
    root = Path(run.info.artifact_uri.removeprefix("file://"))
    return json.loads((root / "model" / "autolog-model.json").read_text())  # type: ignore[no-any-return]


def test_a_classifier_fit_records_params_scores_and_model() -> None:
    model = LogisticRegression(C=0.5, max_iter=200)
    assert model.fit(X, Y) is model
    run = _only_run()
    assert run.info.status is RunStatus.FINISHED
    assert run.data.params["C"] == "0.5"
    assert run.data.params["max_iter"] == "200"
    assert set(run.data.params) == set(model.get_params(deep=True))
    m = run.data.metrics
    y_pred = model.predict(X)
    proba = model.predict_proba(X)
    assert m["training_accuracy"] == pytest.approx(metrics.accuracy_score(Y, y_pred))
    assert m["training_f1"] == pytest.approx(metrics.f1_score(Y, y_pred, average="weighted"))
    assert m["training_log_loss"] == pytest.approx(metrics.log_loss(Y, proba))
    assert m["training_roc_auc"] == pytest.approx(metrics.roc_auc_score(Y, proba[:, 1]))
    assert {"training_precision", "training_recall", "fit_time", "n_iter"} <= set(m)
    assert 0 < m["fit_time"] < 60
    assert run.data.tags["autolog.estimator"] == "LogisticRegression"
    loaded = autolog.load_model(f"runs:/{run.info.run_id}/model")
    assert np.array_equal(loaded.predict_proba(X), proba)  # type: ignore[attr-defined]
    assert _model_meta(run)["signature"] == {
        "inputs": {"type": "tensor", "shape": [-1, 6], "dtype": "float64"},
        "outputs": {"type": "tensor", "shape": [-1], "dtype": str(y_pred.dtype)},
    }
    assert _model_meta(run)["input_example"] == {"data": X[:5].tolist()}
    assert autolog.last_active_run() == run
    # sklearn's own helper fits (LabelBinarizer inside log_loss) are not the user's training
    assert len(_trainings()) == 1


def test_a_regressor_fit_records_regression_scores() -> None:
    model = LinearRegression().fit(XR, YR)
    m = _only_run().data.metrics
    pred = model.predict(XR)
    mse = metrics.mean_squared_error(YR, pred)
    assert m["training_mse"] == pytest.approx(mse)
    assert m["training_rmse"] == pytest.approx(math.sqrt(mse))
    assert m["training_mae"] == pytest.approx(metrics.mean_absolute_error(YR, pred))
    assert m["training_r2"] == pytest.approx(metrics.r2_score(YR, pred))


def test_pandas_input_gives_a_column_schema() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=[f"f {i}/x" for i in range(6)])
    frame["f 0/x"] = frame["f 0/x"].astype("float32")
    LogisticRegression().fit(frame, pd.Series(Y, name="target"))
    schema = _model_meta(_only_run())["signature"]["inputs"]
    assert schema["type"] == "dataframe"
    assert schema["columns"][0] == {"name": "f 0/x", "dtype": "float32"}
    assert len(schema["columns"]) == 6


def test_sparse_input() -> None:
    sparse = pytest.importorskip("scipy.sparse")
    LogisticRegression().fit(sparse.csr_matrix(X), Y)
    run = _only_run()
    assert "training_accuracy" in run.data.metrics
    assert _model_meta(run)["signature"]["inputs"]["sparse_format"] == "csr"


def test_awkward_targets_never_crash() -> None:
    DummyClassifier(strategy="most_frequent").fit(X, np.zeros(len(X)))  # one class
    LinearSVC().fit(X, Y)  # no predict_proba
    MultiOutputClassifier(LogisticRegression()).fit(X, np.c_[Y, 1 - Y])  # multi-output
    KNeighborsClassifier().fit(X, np.c_[Y, Y])  # multi-output without a wrapper
    runs = {r.data.tags["autolog.estimator"]: r for r in autolog.search_runs()}
    assert set(runs) == {
        "DummyClassifier",
        "LinearSVC",
        "MultiOutputClassifier",
        "KNeighborsClassifier",
    }
    assert runs["DummyClassifier"].data.metrics["training_accuracy"] == 1.0
    assert "training_roc_auc" not in runs["DummyClassifier"].data.metrics
    assert "training_log_loss" not in runs["LinearSVC"].data.metrics
    assert "training_accuracy" in runs["LinearSVC"].data.metrics
    assert all(r.info.status is RunStatus.FINISHED for r in runs.values())


def test_transformers_fitted_on_their_own_are_no_model_runs() -> None:
    scaled = StandardScaler().fit_transform(X)
    assert np.allclose(scaled.mean(axis=0), 0)
    MinMaxScaler().fit(X)
    make_pipeline(StandardScaler(), PCA(n_components=2)).fit(X)
    IncrementalPCA(n_components=2).partial_fit(X)
    labels = KMeans(n_clusters=2, n_init=2, random_state=0).fit_predict(X)
    assert len(labels) == len(X)
    runs = {r.data.tags["autolog.estimator"]: r for r in autolog.search_runs()}
    assert set(runs) == {"KMeans"}  # a clusterer predicts: a model
    assert runs["KMeans"].data.params["n_clusters"] == "2"


def test_transformers_are_runs_again_with_the_option() -> None:
    autolog.autolog(sklearn={"log_transformers": True})
    StandardScaler().fit_transform(X)
    make_pipeline(StandardScaler(), PCA(n_components=2)).fit(X)
    runs = {r.data.tags["autolog.estimator"]: r for r in autolog.search_runs()}
    assert set(runs) == {"StandardScaler", "Pipeline"}  # one run each, fit() inside not counted
    assert "fit_time" in runs["StandardScaler"].data.metrics
    with pytest.raises(autolog.InvalidInputError, match="log_transformers"):
        autolog.autolog(sklearn={"log_transformers": "yes"})


def test_a_pipeline_is_one_run_with_every_step() -> None:
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=2.0)).fit(X, Y)
    run = _only_run()
    assert run.data.tags["autolog.estimator"] == "Pipeline"
    assert run.data.params["logisticregression__C"] == "2.0"
    assert run.data.params["standardscaler__with_mean"] == "True"
    assert run.data.metrics["training_accuracy"] == pytest.approx(pipe.score(X, Y))


def test_grid_search_parent_and_children() -> None:
    autolog.autolog(integrations=["sklearn"], sklearn={"max_tuning_runs": 2})
    search = GridSearchCV(LogisticRegression(), {"C": [0.01, 0.1, 1.0]}, cv=3).fit(X, Y)
    runs = autolog.search_runs()
    parents = [r for r in runs if r.info.parent_run_id is None]
    assert len(parents) == 1  # the clones' fits started no runs
    parent = parents[0]
    assert parent.data.params["best_C"] == str(search.best_params_["C"])
    assert parent.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert parent.data.params["estimator__C"] == "1.0"
    children = [r for r in runs if r.info.parent_run_id == parent.info.run_id]
    assert len(children) == 2
    best_child = next(r for r in children if r.data.metrics["rank_test_score"] == 1)
    assert best_child.data.params["C"] == str(search.best_params_["C"])
    assert best_child.data.tags["autolog.candidate_rank"] == "1"
    assert best_child.data.tags["autolog.parentRunId"] == parent.info.run_id
    table = Path(autolog.download_artifacts(parent.info.run_id, "cv_results.csv"))
    rows = list(csv.DictReader(io.StringIO(table.read_text())))
    assert len(rows) == 3
    assert {row["param_C"] for row in rows} == {"0.01", "0.1", "1.0"}
    loaded = autolog.load_model(f"runs:/{parent.info.run_id}/model")
    assert np.array_equal(loaded.predict(X), search.predict(X))  # type: ignore[attr-defined]


def pick_simplest(cv_results: dict[str, Any]) -> int:
    """A callable refit: the smallest C among the candidates within 0.05 of the best recall."""
    recall = cv_results["mean_test_recall"]
    good = [i for i, r in enumerate(recall) if r >= max(recall) - 0.05]
    return min(good, key=lambda i: cv_results["param_C"][i])


def test_multi_metric_search_with_a_callable_refit() -> None:
    search = GridSearchCV(
        SVC(),
        {"C": [0.1, 1.0, 10.0], "kernel": ["rbf", "linear"]},
        scoring=["precision", "recall"],
        refit=pick_simplest,
        cv=3,
    ).fit(X, Y)
    runs = autolog.search_runs()
    (parent,) = [r for r in runs if r.info.parent_run_id is None]
    assert parent.data.params["refit"] == f"{__name__}.pick_simplest"
    assert parent.data.params["scoring"] == "['precision', 'recall']"
    assert parent.data.params["best_kernel"] == search.best_params_["kernel"]  # no quotes
    assert parent.data.params["best_C"] == str(search.best_params_["C"])
    best = search.best_index_
    results = search.cv_results_
    assert parent.data.metrics["best_cv_precision"] == pytest.approx(
        results["mean_test_precision"][best]
    )
    assert parent.data.metrics["best_cv_recall"] == pytest.approx(results["mean_test_recall"][best])
    assert "best_cv_score" not in parent.data.metrics  # scikit-learn has none to give
    children = [r for r in runs if r.info.parent_run_id == parent.info.run_id]
    assert len(children) == 5
    (first,) = [c for c in children if c.data.tags["autolog.candidate_rank"] == "1"]
    assert first.info.run_name == f"candidate-{best}"
    assert first.data.params["kernel"] == search.best_params_["kernel"]
    assert first.data.metrics["mean_test_recall"] == pytest.approx(
        results["mean_test_recall"][best]
    )
    found = autolog.search_runs(
        filter_string=f"params.best_kernel = '{search.best_params_['kernel']}'"
    )
    assert [r.info.run_id for r in found] == [parent.info.run_id]


def test_multi_metric_search_refit_on_one_scorer() -> None:
    search = GridSearchCV(
        LogisticRegression(), {"C": [0.01, 1.0]}, scoring=["precision", "recall"], refit="recall"
    ).fit(X, Y)
    (parent,) = [r for r in autolog.search_runs() if r.info.parent_run_id is None]
    assert parent.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert parent.data.metrics["best_cv_recall"] == pytest.approx(search.best_score_)
    assert "best_cv_precision" in parent.data.metrics


def test_the_same_params_are_the_same_strings_in_every_run() -> None:
    from sklearn.preprocessing import FunctionTransformer

    for _ in range(2):
        make_pipeline(FunctionTransformer(np.log1p), LogisticRegression()).fit(np.abs(X), Y)
    first, second = autolog.search_runs()
    assert first.data.params == second.data.params
    assert first.data.params["functiontransformer__func"] == "numpy.log1p"


def test_hist_gradient_boosting_validation_scores() -> None:
    model = HistGradientBoostingRegressor(
        max_iter=30, early_stopping=True, validation_fraction=0.2, n_iter_no_change=5
    ).fit(XR, YR)
    run_id = _only_run().info.run_id
    validation = autolog.get_metric_history(run_id, "validation_score")
    assert [m.value for m in validation] == pytest.approx(list(model.validation_score_))
    assert [m.step for m in validation] == list(range(len(model.validation_score_)))
    train = autolog.get_metric_history(run_id, "train_score")
    assert [m.value for m in train] == pytest.approx(list(model.train_score_))


def test_randomized_and_halving_searches() -> None:
    RandomizedSearchCV(
        LogisticRegression(), {"C": [0.1, 1.0, 10.0]}, n_iter=2, cv=2, random_state=0
    ).fit(X, Y)
    HalvingGridSearchCV(
        LogisticRegression(), {"C": [0.1, 1.0, 10.0]}, cv=2, min_resources=50, random_state=0
    ).fit(X, Y)
    parents = [r for r in autolog.search_runs() if r.info.parent_run_id is None]
    assert sorted(r.data.tags["autolog.estimator"] for r in parents) == [
        "HalvingGridSearchCV",
        "RandomizedSearchCV",
    ]
    for parent in parents:
        assert "best_cv_score" in parent.data.metrics
        assert "best_C" in parent.data.params


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_learning_curves_become_step_metrics() -> None:
    mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=15, random_state=0)
    mlp.fit(X, Y)
    GradientBoostingClassifier(n_estimators=12, subsample=0.8, random_state=0).fit(X, Y)
    runs = {r.data.tags["autolog.estimator"]: r for r in autolog.search_runs()}
    mlp_run = runs["MLPClassifier"].info.run_id
    history = autolog.get_metric_history(mlp_run, "training_loss")
    assert [m.value for m in history] == pytest.approx(mlp.loss_curve_)
    assert [m.step for m in history] == list(range(len(mlp.loss_curve_)))
    gb_run = runs["GradientBoostingClassifier"].info.run_id
    assert len(autolog.get_metric_history(gb_run, "train_score")) == 12
    assert len(autolog.get_metric_history(gb_run, "oob_score")) == 12


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_validation_scores() -> None:
    mlp = MLPClassifier(max_iter=30, early_stopping=True, n_iter_no_change=50, random_state=0)
    mlp.fit(X, Y)
    history = autolog.get_metric_history(_only_run().info.run_id, "validation_score")
    assert [m.value for m in history] == pytest.approx(mlp.validation_scores_)


def test_partial_fit_calls_are_steps_of_one_run() -> None:
    sgd = SGDClassifier(random_state=0)
    for start in (0, 100, 200):
        sgd.partial_fit(X[start : start + 100], Y[start : start + 100], classes=[0, 1])
    run = _only_run()
    scores = autolog.get_metric_history(run.info.run_id, "training_score")
    assert [m.step for m in scores] == [0, 1, 2]
    assert scores[-1].value == pytest.approx(sgd.score(X[200:300], Y[200:300]))
    assert run.info.status is RunStatus.RUNNING  # training may go on
    loaded = autolog.load_model(f"runs:/{run.info.run_id}/model")
    assert np.array_equal(loaded.predict(X), sgd.predict(X))  # type: ignore[attr-defined]
    sgd.fit(X, Y)  # starting over completes the incremental run and makes a new one
    runs = autolog.search_runs()
    assert len(runs) == 2
    assert autolog.get_run(run.info.run_id).info.status is RunStatus.FINISHED


@pytest.mark.slow
def test_partial_fit_run_ends_at_exit(tmp_path: Path) -> None:
    done = run_script(
        """
        import autolog
        autolog.autolog()
        from sklearn.linear_model import SGDRegressor
        model = SGDRegressor()
        model.partial_fit([[1.0], [2.0]], [1.0, 2.0])
        model.partial_fit([[3.0], [4.0]], [3.0, 4.0])
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    runs = autolog.Client(f"sqlite:///{tmp_path}/autolog-runs/autolog.db").search_runs()
    assert [r.info.status for r in runs] == [RunStatus.FINISHED]


def test_log_models_false() -> None:
    autolog.autolog(integrations=["sklearn"], log_models=False)
    LogisticRegression().fit(X, Y)
    assert autolog.list_artifacts(_only_run().info.run_id) == []


def test_patched_estimators_look_and_behave_the_same() -> None:
    autolog.autolog(integrations=["sklearn"], disable=True)
    original = vars(LogisticRegression)["fit"]
    signature = inspect.signature(LogisticRegression.fit)
    doc = LogisticRegression.fit.__doc__
    bare = LogisticRegression().fit(X, Y)
    autolog.autolog(integrations=["sklearn"])
    assert vars(LogisticRegression)["fit"] is not original
    assert inspect.signature(LogisticRegression.fit) == signature
    assert LogisticRegression.fit.__doc__ == doc
    logged = LogisticRegression().fit(X, Y)
    assert np.array_equal(logged.coef_, bare.coef_)
    assert np.array_equal(pickle.loads(pickle.dumps(logged)).coef_, bare.coef_)
    assert clone(logged).get_params() == logged.get_params()
    assert pickle.loads(pickle.dumps(metrics.accuracy_score)) is metrics.accuracy_score
    assert pickle.loads(pickle.dumps(logged.fit)).__self__.C == 1.0
    autolog.autolog(integrations=["sklearn"], disable=True)
    assert vars(LogisticRegression)["fit"] is original


@pytest.mark.slow
def test_autolog_before_importing_sklearn(tmp_path: Path) -> None:
    done = run_script(
        """
        import sys
        import autolog
        autolog.autolog()
        assert "sklearn" not in sys.modules
        from sklearn.tree import DecisionTreeClassifier
        DecisionTreeClassifier().fit([[0], [1], [2], [3]], [0, 1, 0, 1])
        run = autolog.last_active_run()
        print(run.data.tags["autolog.estimator"], run.data.metrics["training_accuracy"])
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["DecisionTreeClassifier", "1.0"]


def test_errors_in_fit_reach_the_caller_and_fail_the_run() -> None:
    with pytest.raises(ValueError, match=r"at least 2 classes|one class|1 class"):
        LogisticRegression().fit(X, np.zeros(len(X)))
    assert _only_run().info.status is RunStatus.FAILED


def test_a_fit_that_raises_keeps_the_params_it_was_given() -> None:
    with pytest.raises(ValueError, match=r"at least 2 classes|one class|1 class"):
        LogisticRegression(C=0.25, max_iter=50).fit(X, np.zeros(len(X)))
    run = _only_run()
    assert run.info.status is RunStatus.FAILED
    assert run.data.params["C"] == "0.25"
    assert run.data.params["max_iter"] == "50"


def test_user_runs_own_the_first_fit_and_nest_the_rest() -> None:
    with autolog.start_run() as user_run:
        LogisticRegression(C=1.0).fit(X, Y)
        LogisticRegression(C=2.0).fit(X, Y)  # would collide on C: goes to a child run
    stored = autolog.get_run(user_run.info.run_id)
    assert stored.data.params["C"] == "1.0"
    children = [r for r in autolog.search_runs() if r.info.parent_run_id == user_run.info.run_id]
    assert [r.data.params["C"] for r in children] == ["2.0"]
    assert stored.info.status is RunStatus.FINISHED


def test_threads_get_a_run_each() -> None:
    def fit(c: float) -> None:
        LogisticRegression(C=c).fit(X, Y)

    threads = [threading.Thread(target=fit, args=(c,)) for c in (0.5, 1.5, 2.5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.data.params["C"] for r in autolog.search_runs()) == ["0.5", "1.5", "2.5"]


class _BrokenPredict(LogisticRegression):
    def predict(self, X: Any) -> Any:
        raise RuntimeError("predict is broken")


def test_a_fault_while_scoring_warns_and_keeps_the_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOLOG_STRICT", "0")
    with pytest.warns(autolog.AutologWarning, match="predict is broken"):
        model = _BrokenPredict().fit(X, Y)
    assert hasattr(model, "coef_")
    run = _only_run()
    assert run.info.status is RunStatus.FINISHED


def test_bad_sklearn_options() -> None:
    with pytest.raises(autolog.InvalidInputError, match="max_tuning_runs"):
        autolog.autolog(sklearn={"max_tuning_runs": -1})
    with pytest.raises(autolog.InvalidInputError, match="unexpected keyword"):
        autolog.autolog(sklearn={"nope": 1})


def test_forest_scores_use_the_probabilities_once() -> None:
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(10, random_state=0).fit(X, Y)
    m = _only_run().data.metrics
    assert m["training_accuracy"] == pytest.approx(metrics.accuracy_score(Y, forest.predict(X)))
    assert m["training_roc_auc"] == pytest.approx(
        metrics.roc_auc_score(Y, forest.predict_proba(X)[:, 1])
    )


def test_a_user_param_with_another_value_moves_the_fit_to_a_child_run() -> None:
    with autolog.start_run() as user_run:
        autolog.log_param("C", "0.5")
        LogisticRegression(C=1.0).fit(X, Y)
    stored = autolog.get_run(user_run.info.run_id)
    assert stored.data.params == {"C": "0.5"}
    children = [r for r in autolog.search_runs() if r.info.parent_run_id == user_run.info.run_id]
    assert len(children) == 1
    assert children[0].data.params["C"] == "1.0"
    assert "training_accuracy" in children[0].data.metrics
    assert autolog.list_artifacts(children[0].info.run_id)[0].path == "model"
    assert children[0].info.experiment_id == stored.info.experiment_id


# -- held-out scores --------------------------------------------------------------------------

X_TRAIN, X_TEST, Y_TRAIN, Y_TEST = X[:200], X[200:], Y[:200], Y[200:]


def _evaluation_of(run: autolog.Run) -> autolog.Run:
    (found,) = [
        r
        for r in autolog.search_runs()
        if r.info.parent_run_id == run.info.run_id and "autolog.evaluates" in r.data.tags
    ]
    assert found.data.tags["autolog.evaluates"] == run.info.run_id
    assert found.info.run_name == "evaluation"
    return found


def test_held_out_scores_go_to_the_models_run_as_scored() -> None:
    model = LogisticRegression().fit(X_TRAIN, Y_TRAIN)
    score = model.score(X_TEST, Y_TEST)
    accuracy = metrics.accuracy_score(Y_TEST, model.predict(X_TEST))
    auc = metrics.roc_auc_score(Y_TEST, model.predict_proba(X_TEST)[:, 1])  # a view
    loss = metrics.log_loss(Y_TEST, model.predict_proba(X_TEST))
    swapped = metrics.accuracy_score(model.predict(X_TEST), Y_TEST)  # as sklearn's guide does
    run = _only_run()
    # the fit's run ended as the fit returned, and an ended run takes no writes: the scores go
    # to the one evaluation run under it
    assert run.info.status is RunStatus.FINISHED
    assert not any(k.endswith("X_TEST") for k in run.data.metrics)
    evaluation = _evaluation_of(run)
    assert evaluation.data.metrics == {
        "score_X_TEST": score,
        "accuracy_score_X_TEST": swapped,
        "roc_auc_score_X_TEST": auc,
        "log_loss_X_TEST": loss,
    }
    assert accuracy == swapped
    history = autolog.get_metric_history(evaluation.info.run_id, "accuracy_score_X_TEST")
    assert [m.value for m in history] == [accuracy, swapped]
    assert evaluation.info.status is RunStatus.RUNNING
    assert evaluation.data.tags["autolog.estimator"] == "LogisticRegression"
    model.fit(X_TRAIN, Y_TRAIN)  # another model now: the evaluation of the first one is done
    autolog.flush()
    assert autolog.get_run(evaluation.info.run_id).info.status is RunStatus.FINISHED


def test_held_out_scores_go_into_the_users_run_while_it_runs() -> None:
    with autolog.start_run() as user_run:
        model = LinearRegression().fit(XR[:150], YR[:150])
        X_holdout, y_holdout = XR[150:], YR[150:]
        r2 = model.score(X_holdout, y_holdout)
        mse = metrics.mean_squared_error(y_holdout, model.predict(X_holdout))
    autolog.flush()
    stored = autolog.get_run(user_run.info.run_id)
    assert stored.data.metrics["score_X_holdout"] == r2
    assert stored.data.metrics["mean_squared_error_X_holdout"] == mse
    assert len(autolog.search_runs()) == 1
    # the user's run has ended: later scores go to an evaluation run under it
    model.score(X_holdout, y_holdout)
    assert _evaluation_of(stored).data.metrics == {"score_X_holdout": r2}


def test_scikit_learns_own_scoring_is_never_recorded() -> None:
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import cross_val_score

    model = LogisticRegression().fit(X_TRAIN, Y_TRAIN)
    cross_val_score(model, X_TEST, Y_TEST, cv=3)  # clones, scored by sklearn
    permutation_importance(model, X_TEST, Y_TEST, n_repeats=2, random_state=0)  # the model
    GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=3).fit(X_TRAIN, Y_TRAIN)
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X_TRAIN, Y_TRAIN)
    pipe.score(X_TEST, Y_TEST)  # the pipeline's score, not its last step's too
    autolog.flush()
    scored = {
        key: run.data.tags["autolog.estimator"]
        for run in autolog.search_runs()
        for key in run.data.metrics
        if key.endswith("X_TEST")
    }
    assert scored == {"score_X_TEST": "Pipeline"}


def test_a_search_and_its_best_estimator_score_into_the_search_run() -> None:
    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=3).fit(X_TRAIN, Y_TRAIN)
    search.score(X_TEST, Y_TEST)
    f1 = metrics.f1_score(Y_TEST, search.best_estimator_.predict(X_TEST))
    (parent,) = [r for r in _trainings() if r.info.parent_run_id is None]
    assert _evaluation_of(parent).data.metrics == {
        "score_X_TEST": search.score(X_TEST, Y_TEST),
        "f1_score_X_TEST": f1,
    }


def test_dataset_names_and_repeated_metrics() -> None:
    model = LogisticRegression().fit(X_TRAIN, Y_TRAIN)
    tail = X[250:]
    predicted = model.predict(tail)
    metrics.f1_score(Y[250:], predicted, average="macro")
    metrics.f1_score(Y[250:], predicted, average="micro")
    metrics.f1_score(Y[250:], predicted, average=None)  # an array: not one number
    model.score(X[250:], Y[250:])  # no name: a number, per distinct data
    data = {"test": X[260:]}
    model.score(data["test"], Y[260:])
    model.score(data["test"], Y[260:])
    metrics.accuracy_score(Y[260:], model.predict(data["test"]))

    def helper(features: Any, labels: Any) -> float:
        return float(model.score(features, labels))

    helper(X[270:], Y[270:])
    evaluation = _evaluation_of(_only_run())
    assert set(evaluation.data.metrics) == {
        "f1_score_tail",
        "f1_score-2_tail",
        "score_dataset_0",
        "score_dataset_1",
        "accuracy_score_dataset_1",
        "score_features",  # the name in the frame that scored it
    }
    assert evaluation.data.tags["autolog.sklearn.call.f1_score_tail"] == "average='macro'"
    assert evaluation.data.tags["autolog.sklearn.call.f1_score-2_tail"] == "average='micro'"
    assert len(autolog.get_metric_history(evaluation.info.run_id, "score_dataset_1")) == 2


def test_an_evaluation_run_ends_with_its_model() -> None:
    import gc

    def fit_and_score() -> None:
        # in a function of its own: looking for the data's name reads the frame's locals,
        # which keeps a snapshot of them (the model too) until the function returns
        model = LogisticRegression().fit(X_TRAIN, Y_TRAIN)
        model.score(X_TEST, Y_TEST)

    fit_and_score()
    evaluation = _evaluation_of(_only_run())
    gc.collect()
    autolog.flush()
    assert autolog.get_run(evaluation.info.run_id).info.status is RunStatus.FINISHED


def test_patched_predictions_behave_the_same() -> None:
    svc = SVC().fit(X_TRAIN, Y_TRAIN)
    assert not hasattr(svc, "predict_proba")  # available_if still decides
    assert not hasattr(make_pipeline(StandardScaler(), SVC()), "predict_proba")
    assert hasattr(make_pipeline(StandardScaler(), LogisticRegression()), "predict_proba")
    autolog.autolog(integrations=["sklearn"], disable=True)
    bare = svc.predict(X_TEST), svc.decision_function(X_TEST), svc.score(X_TEST, Y_TEST)
    autolog.autolog(integrations=["sklearn"])
    logged = svc.predict(X_TEST), svc.decision_function(X_TEST), svc.score(X_TEST, Y_TEST)
    assert np.array_equal(bare[0], logged[0])
    assert np.array_equal(bare[1], logged[1])
    assert bare[2] == logged[2]


@pytest.mark.slow
def test_counts_early_stopping_decided_are_logged() -> None:
    model = GradientBoostingClassifier(
        n_estimators=200, n_iter_no_change=3, validation_fraction=0.3, random_state=0
    ).fit(X, Y)
    assert model.n_estimators_ < 200
    run = _only_run()
    assert run.data.params["n_estimators"] == "200"
    assert run.data.metrics["n_estimators_fitted"] == model.n_estimators_
    hgb = HistGradientBoostingClassifier(
        max_iter=200, early_stopping=True, n_iter_no_change=3, random_state=0
    ).fit(X, Y)
    (hgb_run,) = [r for r in _trainings() if r.info.run_id != run.info.run_id]
    assert hgb_run.data.params["max_iter"] == "200"
    assert hgb_run.data.metrics["n_iter"] == hgb.n_iter_ < 200
