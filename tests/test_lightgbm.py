"""The LightGBM integration, with real (small, single-threaded) LightGBM trainings.

Every training is also run unpatched where the outcome could differ: autologging must never
change what LightGBM trains or predicts. What holds alike for XGBoost is checked by the shared
``boosting_cases`` checks, with ``CASE``.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

import autolog
from autolog import RunStatus
from autolog.errors import InvalidInputError
from autolog.rendering import render

lgb = pytest.importorskip("lightgbm")
pd = pytest.importorskip("pandas")

import boosting_cases as cases  # noqa: E402
from boosting_cases import (  # noqa: E402
    ROUNDS,
    X_TRAIN,
    X_VALID,
    Y_TRAIN,
    Y_VALID,
    X,
    Y,
    artifact_paths,
    history,
    importance_rows,
    no_autolog_warning,  # noqa: F401  (a fixture, used by name)
    only_run,
    regression,
    runs,
)
from support import run_script  # noqa: E402

from autolog.integrations import lightgbm as integration  # noqa: E402  (registers the flavor)

T = TypeVar("T")
PARAMS = {"objective": "regression", "num_threads": 1, "verbose": -1, "seed": 1}


# -- helpers --------------------------------------------------------------------------------


def sets(X_train: Any = X_TRAIN, y_train: Any = Y_TRAIN) -> tuple[Any, Any]:
    """Fresh Datasets (LightGBM binds a Dataset to the first params it is built with)."""
    train_set = lgb.Dataset(X_train, y_train)
    return train_set, lgb.Dataset(X_VALID, Y_VALID, reference=train_set)


def enable(**options: Any) -> None:
    autolog.autolog(integrations=["lightgbm"], **options)


def bare_then_logged(train: Callable[[], T], **options: Any) -> tuple[T, T]:
    """``train()`` unpatched, then under autolog(): both results."""
    return cases.bare_then_logged("lightgbm", train, **options)


def same_model(a: Any, b: Any, X_new: Any = X) -> None:
    """Identical predictions and, for boosters, identical trees."""
    assert np.array_equal(a.predict(X_new), b.predict(X_new))
    booster_a = a if isinstance(a, lgb.Booster) else a.booster_
    booster_b = b if isinstance(b, lgb.Booster) else b.booster_
    assert booster_a.model_to_string(num_iteration=-1) == booster_b.model_to_string(
        num_iteration=-1
    )


def _train(rounds: int, callbacks: Sequence[Any], valid: bool) -> Any:
    train_set, valid_set = sets()
    kwargs: dict[str, Any] = {"valid_sets": [valid_set]} if valid else {}
    if callbacks:
        kwargs["callbacks"] = list(callbacks)
    return lgb.train(PARAMS, train_set, rounds, **kwargs)


def _watch(function: Callable[[], None]) -> Callable[[Any], None]:
    def watch(env: Any) -> None:
        function()

    return watch


CASE = cases.Boosting(
    name="lightgbm",
    module=lgb,
    train=_train,
    watch=_watch,
    regressor=lambda rounds: lgb.LGBMRegressor(n_estimators=rounds, verbose=-1, n_jobs=1),
    same_model=same_model,
    metric="valid_0-l2",
    grid={"num_leaves": [4, 8]},
)


# -- lightgbm.train -------------------------------------------------------------------------


def test_train_records_params_iteration_metrics_importance_and_model() -> None:
    def train() -> tuple[Any, dict[str, Any]]:
        evals: dict[str, Any] = {}
        train_set, valid_set = sets()
        booster = lgb.train(
            {**PARAMS, "metric": ["l2", "l1"], "eta": 0.2},
            train_set,
            num_boost_round=ROUNDS,
            valid_sets=[train_set, valid_set],
            valid_names=["train", "holdout"],
            callbacks=[lgb.record_evaluation(evals)],
        )
        return booster, evals

    (bare, bare_evals), (booster, evals) = bare_then_logged(train)
    same_model(bare, booster)
    assert evals == bare_evals

    run = only_run()
    assert run.info.status is RunStatus.FINISHED
    assert run.data.tags["autolog.estimator"] == "lightgbm.train"
    params = run.data.params
    # as given, resolved by LightGBM (aliases, defaults), and the training arguments
    assert params["eta"] == "0.2"
    assert params["metric"] == "['l2', 'l1']"
    assert params["learning_rate"] == "0.2"
    assert params["num_leaves"] == "31"
    assert params["num_boost_round"] == str(ROUNDS)
    assert params["valid_names"] == "['train', 'holdout']"
    assert params["keep_training_booster"] == "False"
    for data in ("train", "holdout"):
        for metric in ("l2", "l1"):
            steps = history(run, f"{data}-{metric}")
            assert steps == list(enumerate(evals[data][metric], start=1))
    assert "best_iteration" not in run.data.metrics  # no early stopping

    rows = importance_rows(run)
    assert [r["feature"] for r in rows] == booster.feature_name()
    assert [int(r["split"]) for r in rows] == list(booster.feature_importance("split"))
    gains = [float(r["gain"]) for r in rows]
    assert gains == pytest.approx(list(booster.feature_importance("gain")))

    assert artifact_paths(run, "model") == [
        "model/autolog-model.json",
        "model/lightgbm.json",
        "model/model.pkl",
        "model/model.txt",
    ]
    loaded = autolog.load_model(f"runs:/{run.info.run_id}/model")
    assert isinstance(loaded, lgb.Booster)
    same_model(loaded, booster)
    # LightGBM's own text format, readable by LightGBM without us
    text_file = autolog.download_artifacts(run.info.run_id, "model/model.txt")
    same_model(lgb.Booster(model_file=text_file), booster)


def test_booster_loads_from_its_text_without_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    import cloudpickle

    enable()
    train_set, valid_set = sets()
    booster = lgb.train(
        PARAMS, train_set, 30, valid_sets=[valid_set], callbacks=[lgb.early_stopping(2, False)]
    )
    run = only_run()

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("unpickled")

    monkeypatch.setattr(cloudpickle, "loads", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    loaded = autolog.load_model(f"runs:/{run.info.run_id}/model")
    assert isinstance(loaded, lgb.Booster)
    assert loaded.best_iteration == booster.best_iteration > 0
    same_model(loaded, booster)  # the best iteration predicts, as it does on the original
    assert np.array_equal(
        loaded.predict(X, num_iteration=booster.current_iteration()),
        booster.predict(X, num_iteration=booster.current_iteration()),
    )


@pytest.mark.parametrize("how", ["callback", "params", "alias"])
def test_early_stopping_best_and_stopped_iteration(how: str) -> None:
    def train() -> Any:
        train_set, valid_set = sets()
        params = {**PARAMS, "learning_rate": 0.3}
        callbacks = []
        if how == "callback":
            callbacks.append(lgb.early_stopping(3, verbose=False))
        elif how == "alias":
            params["early_stopping_rounds"] = 3
        else:
            params["early_stopping_round"] = 3
        return lgb.train(
            params,
            train_set,
            200,
            valid_sets=[valid_set],
            valid_names=["valid"],
            callbacks=callbacks,
        )

    bare, booster = bare_then_logged(train)
    same_model(bare, booster)
    # LightGBM keeps the trees up to the best iteration; training went 3 rounds further
    stopped = booster.best_iteration + 3
    assert 0 < booster.best_iteration < stopped < 200

    run = only_run()
    metrics = run.data.metrics
    assert metrics["best_iteration"] == booster.best_iteration
    assert metrics["stopped_iteration"] == stopped
    assert metrics["best_valid-l2"] == booster.best_score["valid"]["l2"]
    steps = history(run, "valid-l2")
    assert [s for s, _ in steps] == list(range(1, stopped + 1))  # the stopping round too
    assert dict(steps)[booster.best_iteration] == metrics["best_valid-l2"]
    # one name, with the rounds LightGBM used, whichever way they were given
    assert run.data.params["early_stopping_round"] == "3"
    assert "early_stopping_rounds" not in run.data.params
    assert "early_stopping" not in run.data.params


def test_user_callbacks_keep_their_list_order_and_calls() -> None:
    def train() -> tuple[list[Any], list[Any], list[tuple[str, int]]]:
        calls: list[tuple[str, int]] = []

        def first(env: Any) -> None:
            calls.append(("first", env.iteration))

        def second(env: Any) -> None:
            calls.append(("second", env.iteration))

        def before(env: Any) -> None:
            calls.append(("before", env.iteration))

        before.before_iteration = True  # type: ignore[attr-defined]
        callbacks = [first, second, before]
        given = list(callbacks)
        train_set, valid_set = sets()
        lgb.train(PARAMS, train_set, 3, valid_sets=[valid_set], callbacks=callbacks)
        assert callbacks == given  # the user's list is not touched
        return callbacks, [cb.order for cb in callbacks], calls

    (_, bare_orders, bare_calls), (_, orders, calls) = bare_then_logged(train)
    assert orders == bare_orders  # LightGBM numbers them from their positions
    assert calls == bare_calls
    assert len(history(only_run(), "valid_0-l2")) == 3


def test_training_that_raises_fails_the_run_with_the_same_exception() -> None:
    enable()
    error = ValueError("stop here")

    def explode(env: Any) -> None:
        if env.iteration == 3:
            raise error

    train_set, valid_set = sets()
    with pytest.raises(ValueError, match="stop here") as raised:
        lgb.train(PARAMS, train_set, ROUNDS, valid_sets=[valid_set], callbacks=[explode])
    assert raised.value is error
    run = only_run()
    assert run.info.status is RunStatus.FAILED
    # the iterations done before the failure are kept
    assert [s for s, _ in history(run, "valid_0-l2")] == [1, 2, 3, 4]
    assert autolog.active_run() is None


def test_training_that_raises_keeps_the_params_it_was_given() -> None:
    # A pruning callback (Optuna's TrialPruned) or an error at some iteration: the run ends
    # FAILED with the params as given, not with none.
    enable()

    def stop(env: Any) -> None:
        if env.iteration == 2:
            raise RuntimeError("pruned")

    train_set, valid_set = sets()
    params = {**PARAMS, "num_leaves": 7, "learning_rate": 0.05}
    with pytest.raises(RuntimeError, match="pruned"):
        lgb.train(params, train_set, ROUNDS, valid_sets=[valid_set], callbacks=[stop])
    run = only_run()
    assert run.info.status is RunStatus.FAILED
    assert run.data.params["num_leaves"] == "7"
    assert run.data.params["learning_rate"] == "0.05"
    assert run.data.params["num_boost_round"] == str(ROUNDS)
    assert run.data.params["early_stopping_round"] == "0"


def test_estimator_fit_that_raises_keeps_the_params_it_was_given() -> None:
    enable()

    def stop(env: Any) -> None:
        if env.iteration == 2:
            raise RuntimeError("pruned")

    model = lgb.LGBMRegressor(n_estimators=9, num_leaves=5, verbose=-1, n_jobs=1)
    with pytest.raises(RuntimeError, match="pruned"):
        model.fit(X_TRAIN, Y_TRAIN, eval_X=(X_VALID,), eval_y=(Y_VALID,), callbacks=[stop])
    run = only_run()
    assert run.info.status is RunStatus.FAILED
    assert run.data.params["n_estimators"] == "9"
    assert run.data.params["num_leaves"] == "5"
    assert run.data.params["objective"] == "None"  # the estimator's own value, as on success
    assert [s for s, _ in history(run, "valid_0-l2")] == [1, 2, 3]


def test_keyboard_interrupt_kills_the_run_and_propagates() -> None:
    cases.check_keyboard_interrupt_kills_the_run(CASE)


def test_lightgbm_errors_reach_the_caller_unchanged() -> None:
    enable()
    frame = pd.DataFrame(X_TRAIN[:, :2], columns=['a"b', "c"])
    with pytest.raises(lgb.basic.LightGBMError, match="special JSON characters"):
        lgb.train(PARAMS, lgb.Dataset(frame, Y_TRAIN), 3)
    assert only_run().info.status is RunStatus.FAILED
    with pytest.raises(TypeError, match="only accepts Dataset"):
        lgb.train(PARAMS, X_TRAIN, 3)


# -- the bad cases: train normally, identically, with no warning of ours ---------------------


@pytest.mark.usefixtures("no_autolog_warning")
def test_no_validation_set() -> None:
    def train() -> Any:
        return lgb.train(PARAMS, lgb.Dataset(X_TRAIN, Y_TRAIN), ROUNDS)

    bare, booster = bare_then_logged(train)
    same_model(bare, booster)
    run = only_run()
    assert run.info.status is RunStatus.FINISHED
    assert run.data.metrics == {}
    assert "feature_importance.csv" in artifact_paths(run)
    same_model(autolog.load_model(f"runs:/{run.info.run_id}/model"), booster)


@pytest.mark.usefixtures("no_autolog_warning")
def test_custom_feval_and_objective() -> None:
    def max_error(preds: Any, data: Any) -> tuple[str, float, bool]:
        return "max_error", float(np.max(np.abs(preds - data.get_label()))), False

    def squared(preds: Any, data: Any) -> tuple[Any, Any]:
        return preds - data.get_label(), np.ones_like(preds)

    def train() -> Any:
        train_set, valid_set = sets()
        return lgb.train(
            {**PARAMS, "objective": squared, "metric": "None"},
            train_set,
            ROUNDS,
            valid_sets=[valid_set],
            feval=max_error,
        )

    bare, booster = bare_then_logged(train)
    assert np.array_equal(bare.predict(X), booster.predict(X))
    run = only_run()
    steps = history(run, "valid_0-max_error")
    assert len(steps) == ROUNDS
    assert steps[-1][1] == pytest.approx(float(np.max(np.abs(booster.predict(X_VALID) - Y_VALID))))
    # functions are named, never shown with a memory address
    assert run.data.params["feval"].endswith("max_error")
    assert run.data.params["objective"].endswith("squared")


@pytest.mark.usefixtures("no_autolog_warning")
def test_categorical_features_and_odd_dataframe_column_names() -> None:
    rng = np.random.default_rng(3)
    columns = ["a b", "x/y", "名前", "1", "col.1"]
    frame = pd.DataFrame(X_TRAIN, columns=columns)
    frame["kind"] = pd.Categorical(rng.choice(["u", "v", "w"], len(frame)))
    valid = pd.DataFrame(X_VALID, columns=columns)
    valid["kind"] = pd.Categorical(rng.choice(["u", "v", "w"], len(valid)))

    def train() -> Any:
        train_set = lgb.Dataset(frame, Y_TRAIN, categorical_feature=["kind"])
        valid_set = lgb.Dataset(valid, Y_VALID, reference=train_set)
        return lgb.train(PARAMS, train_set, ROUNDS, valid_sets=[valid_set])

    bare, booster = bare_then_logged(train)
    same_model(bare, booster, valid)
    run = only_run()
    rows = importance_rows(run)
    assert [r["feature"] for r in rows] == ["a_b", "x/y", "名前", "1", "col.1", "kind"]
    loaded = autolog.load_model(f"runs:/{run.info.run_id}/model")
    same_model(loaded, booster, valid)  # pandas categories travel in the text format


@pytest.mark.usefixtures("no_autolog_warning")
def test_init_model_continuation_counts_on_from_the_first_model() -> None:
    def train() -> Any:
        train_set, valid_set = sets()
        first = lgb.train(PARAMS, train_set, 5, valid_sets=[valid_set])
        train_set, valid_set = sets()
        return lgb.train(PARAMS, train_set, 4, valid_sets=[valid_set], init_model=first)

    bare, booster = bare_then_logged(train)
    same_model(bare, booster)
    first, second = sorted(runs(), key=lambda r: r.info.start_time)
    assert [s for s, _ in history(first, "valid_0-l2")] == [1, 2, 3, 4, 5]
    assert [s for s, _ in history(second, "valid_0-l2")] == [6, 7, 8, 9]
    assert second.data.params["init_model"] == "lightgbm.basic.Booster"
    same_model(autolog.load_model(f"runs:/{second.info.run_id}/model"), booster)


@pytest.mark.usefixtures("no_autolog_warning")
def test_keep_training_booster() -> None:
    def train() -> Any:
        train_set, valid_set = sets()
        booster = lgb.train(
            PARAMS, train_set, 5, valid_sets=[valid_set], keep_training_booster=True
        )
        snapshot = booster.model_to_string(num_iteration=-1)
        booster.update()  # the user keeps training the returned booster
        return booster, snapshot

    (bare, _), (booster, snapshot) = bare_then_logged(train)
    same_model(bare, booster)
    run = only_run()
    assert run.data.params["keep_training_booster"] == "True"
    loaded = autolog.load_model(f"runs:/{run.info.run_id}/model")
    assert loaded.model_to_string(num_iteration=-1) == snapshot  # the model as trained
    assert loaded.current_iteration() == 5


@pytest.mark.usefixtures("no_autolog_warning")
def test_odd_validation_names_become_valid_metric_keys() -> None:
    enable()
    train_set, valid_set = sets()
    lgb.train(PARAMS, train_set, 3, valid_sets=[valid_set], valid_names=["../up\\and/../out"])
    run = only_run()
    assert list(run.data.metrics) == ["_/up_and/_/out-l2"]


# -- lightgbm.cv ----------------------------------------------------------------------------


def test_cv_records_mean_and_stdv_per_iteration() -> None:
    def train() -> dict[str, Any]:
        result: dict[str, Any] = lgb.cv(
            {**PARAMS, "metric": "l2"},
            lgb.Dataset(X, Y),
            num_boost_round=ROUNDS,
            nfold=3,
            stratified=False,
            eval_train_metric=True,
        )
        return result

    bare, result = bare_then_logged(train)
    assert bare == result
    run = only_run()
    assert run.data.tags["autolog.estimator"] == "lightgbm.cv"
    for data in ("train", "valid"):
        for stat in ("mean", "stdv"):
            steps = history(run, f"{data}-l2-{stat}")
            assert steps == list(enumerate(result[f"{data} l2-{stat}"], start=1))
    params = run.data.params
    assert (params["nfold"], params["stratified"], params["num_boost_round"]) == (
        "3",
        "False",
        str(ROUNDS),
    )
    assert params["metric"] == "l2"
    assert artifact_paths(run) == []  # no single model


def test_cv_early_stopping() -> None:
    enable()
    result = lgb.cv(
        {**PARAMS, "learning_rate": 0.3},
        lgb.Dataset(X, Y),
        num_boost_round=200,
        nfold=3,
        stratified=False,
        callbacks=[lgb.early_stopping(3, verbose=False)],
    )
    best = len(result["valid l2-mean"])
    run = only_run()
    metrics = run.data.metrics
    assert metrics["best_iteration"] == best
    assert best < metrics["stopped_iteration"] < 200
    assert metrics["best_valid-l2-mean"] == result["valid l2-mean"][-1]
    assert metrics["best_valid-l2-stdv"] == result["valid l2-stdv"][-1]


def decay(iteration: int) -> float:
    return 0.3 * 0.9**iteration


@pytest.mark.parametrize("kind", ["train", "cv"])
def test_reset_parameter_schedules_are_logged_with_the_value_of_every_iteration(
    kind: str,
) -> None:
    def train() -> Any:
        callbacks = [
            lgb.reset_parameter(learning_rate=decay, bagging_fraction=[0.9] * 3 + [0.7] * 3),
        ]
        params = {**PARAMS, "learning_rate": 0.3, "bagging_freq": 1, "bagging_fraction": 0.9}
        if kind == "train":
            return lgb.train(params, sets()[0], 6, callbacks=callbacks)
        return lgb.cv(params, lgb.Dataset(X, Y), 6, nfold=2, stratified=False, callbacks=callbacks)

    bare, logged = bare_then_logged(train)
    if kind == "train":
        same_model(bare, logged)
    run = only_run()
    params = run.data.params
    assert params["reset_parameter.learning_rate"] == f"{__name__}.decay"
    assert params["reset_parameter.bagging_fraction"] == "[0.9, 0.9, 0.9, 0.7, 0.7, 0.7]"
    assert params["learning_rate"] == "0.3"  # the starting value, as given
    assert history(run, "learning_rate") == [(i + 1, pytest.approx(decay(i))) for i in range(6)]
    assert [v for _, v in history(run, "bagging_fraction")] == [0.9] * 3 + [0.7] * 3


def test_set_valued_params_are_stored_as_their_items() -> None:
    enable()
    params = {**PARAMS, "metric": {"l2", "l1", "huber"}}
    lgb.train(params, sets()[0], 3, valid_sets=[sets()[1]])
    assert only_run().data.params["metric"] == "{'huber', 'l1', 'l2'}"


def test_eval_metric_of_the_scikit_learn_api_is_logged_by_name() -> None:
    def ratio(y_true: Any, y_pred: Any) -> tuple[str, float, bool]:
        return "ratio", float(np.mean(y_pred / (np.abs(y_true) + 1))), False

    enable()
    lgb.LGBMRegressor(n_estimators=4, verbose=-1).fit(
        X_TRAIN, Y_TRAIN, eval_X=(X_VALID,), eval_y=(Y_VALID,), eval_metric=[ratio, "l1"]
    )
    run = only_run()
    assert run.data.params["eval_metric"] == f"[{ratio.__module__}.{ratio.__qualname__}, 'l1']"
    assert "feval" not in run.data.params
    assert {"valid_0-ratio", "valid_0-l1"} <= set(run.data.metrics)


# -- the scikit-learn API -------------------------------------------------------------------


def _ranking_groups() -> tuple[list[int], list[int]]:
    return [40] * 6, [20] * 3


@pytest.mark.parametrize("name", ["LGBMRegressor", "LGBMClassifier", "LGBMRanker"])
def test_sklearn_api_makes_one_run_with_iteration_metrics_and_the_estimator(name: str) -> None:
    cls = getattr(lgb, name)
    y_train, y_valid = Y_TRAIN, Y_VALID
    fit_kwargs: dict[str, Any] = {}
    if name == "LGBMClassifier":
        y_train, y_valid = Y_TRAIN > 0, Y_VALID > 0
    if name == "LGBMRanker":
        y_train = np.digitize(Y_TRAIN, [-1, 0, 1])
        y_valid = np.digitize(Y_VALID, [-1, 0, 1])
        group, eval_group = _ranking_groups()
        fit_kwargs = {"group": group, "eval_group": [eval_group]}

    def train() -> Any:
        model = cls(n_estimators=ROUNDS, n_jobs=1, verbose=-1, random_state=1)
        return model.fit(
            X_TRAIN,
            y_train,
            eval_X=(X_VALID,),
            eval_y=(y_valid,),
            eval_names=["valid"],
            **fit_kwargs,
        )

    bare, model = bare_then_logged(train)
    same_model(bare, model)
    run = only_run()
    assert run.info.status is RunStatus.FINISHED
    assert run.data.tags["autolog.estimator"] == name
    params = run.data.params
    assert params["n_estimators"] == str(ROUNDS)  # the scikit-learn API's params
    assert params["objective"] == "None"  # as get_params() says, not overridden
    assert params["num_leaves"] == "31"
    assert "fit_time" in run.data.metrics
    metric = next(iter(model.evals_result_["valid"]))
    steps = history(run, f"valid-{metric}")
    assert steps == list(enumerate(model.evals_result_["valid"][metric], start=1))
    assert not any(key.startswith("training_") for key in run.data.metrics)  # sklearn is off
    assert "feature_importance.csv" in artifact_paths(run)
    loaded = autolog.load_model(f"runs:/{run.info.run_id}/model")
    assert type(loaded) is cls
    same_model(loaded, model)


def test_sklearn_api_early_stopping() -> None:
    enable()
    model = lgb.LGBMRegressor(n_estimators=200, learning_rate=0.3, n_jobs=1, verbose=-1)
    model.fit(
        X_TRAIN,
        Y_TRAIN,
        eval_X=(X_VALID,),
        eval_y=(Y_VALID,),
        callbacks=[lgb.early_stopping(3, verbose=False)],
    )
    run = only_run()
    assert run.data.metrics["best_iteration"] == model.best_iteration_
    assert run.data.metrics["best_valid_0-l2"] == model.best_score_["valid_0"]["l2"]
    same_model(autolog.load_model(f"runs:/{run.info.run_id}/model"), model)


def test_with_the_sklearn_integration_one_run_with_training_scores() -> None:
    from sklearn.base import clone

    autolog.autolog()  # every integration, scikit-learn's included
    model = lgb.LGBMClassifier(n_estimators=ROUNDS, n_jobs=1, verbose=-1)
    model.fit(X_TRAIN, Y_TRAIN > 0, eval_X=(X_VALID,), eval_y=(Y_VALID > 0,))
    run = only_run()
    metrics = run.data.metrics
    assert metrics["training_accuracy"] == pytest.approx(
        float(np.mean(model.predict(X_TRAIN) == (Y_TRAIN > 0)))
    )
    assert {"training_f1", "training_log_loss", "training_roc_auc"} <= set(metrics)
    assert len(history(run, "valid_0-binary_logloss")) == ROUNDS
    assert type(autolog.load_model(f"runs:/{run.info.run_id}/model")) is lgb.LGBMClassifier
    # trained under autolog, it pickles and clones as ever
    assert type(pickle.loads(pickle.dumps(model))) is lgb.LGBMClassifier
    assert clone(model).get_params() == model.get_params()


def test_pipelines_and_searches_of_the_sklearn_integration_stay_one_record() -> None:
    cases.check_pipelines_and_searches_stay_one_record(CASE)


def test_fits_that_sklearn_makes_itself_are_no_runs_of_their_own() -> None:
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline

    enable()  # the scikit-learn integration is off
    cross_val_score(lgb.LGBMRegressor(n_estimators=3, verbose=-1, n_jobs=1), X, Y, cv=2)
    make_pipeline(lgb.LGBMRegressor(n_estimators=3, verbose=-1, n_jobs=1)).fit(X, Y)
    assert runs() == []
    lgb.LGBMRegressor(n_estimators=3, verbose=-1, n_jobs=1).fit(X, Y)  # the user's own
    assert only_run().data.tags["autolog.estimator"] == "LGBMRegressor"


# -- run ownership --------------------------------------------------------------------------


def test_users_run_takes_the_first_training_and_nests_the_next() -> None:
    enable()
    with autolog.start_run() as run:
        train_set, valid_set = sets()
        lgb.train(PARAMS, train_set, 3, valid_sets=[valid_set])
        train_set, valid_set = sets()
        lgb.train({**PARAMS, "learning_rate": 0.3}, train_set, 3, valid_sets=[valid_set])
        assert autolog.active_run() is not None
        assert autolog.active_run().info.run_id == run.info.run_id  # type: ignore[union-attr]
    parent = autolog.get_run(run.info.run_id)
    assert parent.info.status is RunStatus.FINISHED
    assert parent.data.params["learning_rate"] == "0.1"
    assert len(history(parent, "valid_0-l2")) == 3
    children = [r for r in runs() if r.info.run_id != run.info.run_id]
    assert len(children) == 1
    assert children[0].data.tags["autolog.parentRunId"] == run.info.run_id
    assert children[0].data.params["learning_rate"] == "0.3"


def test_threads_get_one_run_each() -> None:
    cases.check_threads_get_one_run_each(CASE)


# -- patching: imports, pickling, revert, options ---------------------------------------------


def test_disable_restores_the_exact_original_objects() -> None:
    import lightgbm.engine
    import lightgbm.sklearn

    places = [
        (lightgbm, "train"),
        (lightgbm.engine, "train"),
        (lightgbm.sklearn, "train"),
        (lightgbm, "cv"),
        (lightgbm.engine, "cv"),
        *[(cls, "fit") for cls in (lgb.LGBMModel, lgb.LGBMClassifier, lgb.LGBMRegressor)],
        (lgb.LGBMRanker, "fit"),
    ]
    originals = [vars(owner)[name] for owner, name in places]
    enable()
    assert all(vars(o)[n] is not orig for (o, n), orig in zip(places, originals, strict=True))
    assert lightgbm.train is lightgbm.engine.train is lightgbm.sklearn.train  # one wrapper
    assert lightgbm.train.__doc__ == originals[0].__doc__
    autolog.autolog(integrations=["lightgbm"], disable=True)
    assert all(vars(o)[n] is orig for (o, n), orig in zip(places, originals, strict=True))
    lgb.train(PARAMS, lgb.Dataset(X_TRAIN, Y_TRAIN), 2)
    assert runs() == []


def test_patched_functions_and_methods_pickle_as_before() -> None:
    cases.check_patched_functions_and_methods_pickle_as_before(CASE)


@pytest.mark.slow
@pytest.mark.parametrize("autolog_first", [True, False], ids=["autolog-first", "import-first"])
def test_autolog_before_or_after_import_lightgbm(tmp_path: Path, autolog_first: bool) -> None:
    enable_line = "import autolog; autolog.autolog(integrations=['lightgbm'])"
    import_line = "import lightgbm"
    first, second = (enable_line, import_line) if autolog_first else (import_line, enable_line)
    done = run_script(
        f"""
        import pickle
        import numpy as np
        {first}
        {second}
        import lightgbm.engine, lightgbm.sklearn
        from lightgbm import train
        assert train is lightgbm.engine.train is lightgbm.sklearn.train
        assert pickle.loads(pickle.dumps(train)) is train
        X = np.random.default_rng(0).normal(size=(200, 3))
        y = X[:, 0] > 0
        train({{"objective": "binary", "verbose": -1, "num_threads": 1}},
              lightgbm.Dataset(X, y), 3)
        lightgbm.LGBMClassifier(n_estimators=3, verbose=-1, n_jobs=1).fit(X, y)
        autolog.flush()
        print(sorted(r.data.tags["autolog.estimator"] for r in autolog.search_runs()))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['LGBMClassifier', 'lightgbm.train']"


@pytest.mark.slow
def test_models_load_in_a_fresh_process_that_never_called_autolog(tmp_path: Path) -> None:
    enable()
    train_set, valid_set = sets()
    booster = lgb.train(PARAMS, train_set, ROUNDS, valid_sets=[valid_set])
    booster_run = only_run()
    model = lgb.LGBMClassifier(n_estimators=ROUNDS, verbose=-1, n_jobs=1).fit(X_TRAIN, Y_TRAIN > 0)
    model_run = next(r for r in runs() if r.info.run_id != booster_run.info.run_id)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "booster.npy", booster.predict(X))
    np.save(tmp_path / "model.npy", model.predict_proba(X))
    autolog.flush()
    done = run_script(
        f"""
        import numpy as np
        import autolog
        X = np.load("X.npy")
        booster = autolog.load_model("runs:/{booster_run.info.run_id}/model")
        model = autolog.load_model("runs:/{model_run.info.run_id}/model")
        import lightgbm
        assert type(lightgbm.train).__name__ == "function"  # nothing patched here
        assert type(booster) is lightgbm.Booster, type(booster)
        assert type(model) is lightgbm.LGBMClassifier, type(model)
        assert np.array_equal(booster.predict(X), np.load("booster.npy"))
        assert np.array_equal(model.predict_proba(X), np.load("model.npy"))
        print("ok")
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_options() -> None:
    cases.check_options(CASE)


def test_flavor_refuses_what_is_not_a_lightgbm_model() -> None:
    with autolog.start_run(), pytest.raises(InvalidInputError, match="lightgbm flavor"):
        autolog.Client().log_model(
            autolog.active_run().info.run_id,  # type: ignore[union-attr]
            object(),
            "model",
            flavor="lightgbm",
        )


# -- cost: nothing per iteration reaches the store from the training thread -----------------


def test_iterations_do_no_store_io_on_the_training_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    cases.check_iterations_do_no_store_io_on_the_training_thread(CASE, monkeypatch)


def test_metrics_reach_the_queue_during_long_trainings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(integration, "_LIVE_INTERVAL_S", 0.0)
    cases.check_metrics_reach_the_queue_during_training(CASE)


# -- our own failures: one warning, training untouched --------------------------------------


def test_a_failure_of_ours_is_one_warning_and_training_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(integration, "_LIVE_INTERVAL_S", 0.0)
    cases.check_a_failure_of_ours_is_one_warning(CASE, monkeypatch)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("gbdt", "gbdt"),
        (0.1, "0.1"),
        (np.float64(0.25), "0.25"),
        (np.bool_(True), "True"),
        (np.array([1, -1, 0]), "[1, -1, 0]"),
        (["l2", np.int64(3)], "['l2', 3]"),
        (Path("m.txt"), "m.txt"),
        (None, "None"),
        (regression, "boosting_cases.regression"),
        (object(), "object"),
    ],
)
def test_param_values_read_as_text(value: Any, text: str) -> None:
    """Stored by the core's one rule for every integration (tests/test_rendering.py)."""
    assert render(value) == text
