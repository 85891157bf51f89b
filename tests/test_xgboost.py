"""The XGBoost integration, with real (small, single-threaded) XGBoost trainings.

Every training is also run unpatched where the outcome could differ: autologging must never
change what XGBoost trains or predicts. What holds alike for LightGBM is checked by the shared
``boosting_cases`` checks, with ``CASE``.
"""

from __future__ import annotations

import json
import pickle
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

import autolog
from autolog import RunStatus
from autolog.errors import InvalidInputError

xgb = pytest.importorskip("xgboost")

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
    runs,
)
from support import run_script  # noqa: E402

T = TypeVar("T")
PARAMS = {"objective": "reg:squarederror", "nthread": 1, "seed": 1, "max_depth": 3}


# -- helpers --------------------------------------------------------------------------------


def sets(**kwargs: Any) -> tuple[Any, Any]:
    return xgb.DMatrix(X_TRAIN, Y_TRAIN, **kwargs), xgb.DMatrix(X_VALID, Y_VALID, **kwargs)


def enable(**options: Any) -> None:
    autolog.autolog(integrations=["xgboost"], **options)


def bare_then_logged(train: Callable[[], T], **options: Any) -> tuple[T, T]:
    """``train()`` unpatched, then under autolog(): both results."""
    return cases.bare_then_logged("xgboost", train, **options)


def booster_of(model: Any) -> Any:
    return model if isinstance(model, xgb.Booster) else model.get_booster()


def same_model(a: Any, b: Any) -> None:
    """Identical predictions and identical trees."""
    X_new = xgb.DMatrix(X) if isinstance(a, xgb.Booster) else X
    assert np.array_equal(a.predict(X_new), b.predict(X_new))
    assert booster_of(a).get_dump() == booster_of(b).get_dump()


def _train(rounds: int, callbacks: Sequence[Any], valid: bool) -> Any:
    dtrain, dvalid = sets()
    kwargs: dict[str, Any] = {"evals": [(dvalid, "valid")]} if valid else {}
    if callbacks:
        kwargs["callbacks"] = list(callbacks)
    return xgb.train(PARAMS, dtrain, rounds, verbose_eval=False, **kwargs)


class _Watch(xgb.callback.TrainingCallback):  # type: ignore[misc]
    def __init__(self, function: Callable[[], None]) -> None:
        super().__init__()
        self.function = function

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        self.function()
        return False


CASE = cases.Boosting(
    name="xgboost",
    module=xgb,
    train=_train,
    watch=_Watch,
    regressor=lambda rounds: xgb.XGBRegressor(n_estimators=rounds, n_jobs=1),
    same_model=same_model,
    metric="valid-rmse",
    grid={"max_depth": [2, 3]},
)


# -- xgboost.train --------------------------------------------------------------------------


def test_train_records_params_iteration_metrics_importance_and_model() -> None:
    def train() -> tuple[Any, dict[str, Any]]:
        evals_result: dict[str, Any] = {}
        dtrain, dvalid = sets()
        booster = xgb.train(
            {**PARAMS, "eval_metric": ["rmse", "mae"], "eta": 0.2},
            dtrain,
            num_boost_round=ROUNDS,
            evals=[(dtrain, "train"), (dvalid, "holdout")],
            evals_result=evals_result,
            verbose_eval=False,
        )
        return booster, evals_result

    (bare, bare_evals), (booster, evals) = bare_then_logged(train)
    same_model(bare, booster)
    assert evals == bare_evals

    run = only_run()
    assert run.info.status is RunStatus.FINISHED
    assert run.data.tags["autolog.estimator"] == "xgboost.train"
    params = run.data.params
    # the params as given, and the training arguments
    assert params["eta"] == "0.2"
    assert params["max_depth"] == "3"
    assert params["eval_metric"] == "['rmse', 'mae']"
    assert params["num_boost_round"] == str(ROUNDS)
    assert params["evals"] == "['train', 'holdout']"
    assert params["verbose_eval"] == "False"
    for data in ("train", "holdout"):
        for metric in ("rmse", "mae"):
            assert history(run, f"{data}-{metric}") == list(enumerate(evals[data][metric]))
    assert "best_iteration" not in run.data.metrics  # no early stopping

    rows = importance_rows(run)
    assert [r["feature"] for r in rows] == [f"f{i}" for i in range(5)]
    for kind in ("weight", "gain", "cover"):
        score = booster.get_score(importance_type=kind)
        assert [float(r[kind]) for r in rows] == [score.get(f"f{i}", 0.0) for i in range(5)]

    assert artifact_paths(run, "model") == [
        "model/autolog-model.json",
        "model/model.pkl",
        "model/model.ubj",
        "model/xgboost.json",
    ]
    loaded = autolog.load_model(f"runs:/{run.info.run_id}/model")
    assert isinstance(loaded, xgb.Booster)
    same_model(loaded, booster)
    # XGBoost's own UBJSON model format, readable by XGBoost without us
    ubj_file = autolog.download_artifacts(run.info.run_id, "model/model.ubj")
    same_model(xgb.Booster(model_file=ubj_file), booster)


def test_booster_loads_from_ubjson_without_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    import cloudpickle

    enable()
    dtrain, dvalid = sets()
    booster = xgb.train(
        {**PARAMS, "eta": 0.9},
        dtrain,
        200,
        evals=[(dvalid, "valid")],
        early_stopping_rounds=2,
        verbose_eval=False,
    )
    run = only_run()

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("unpickled")

    monkeypatch.setattr(cloudpickle, "loads", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    loaded = autolog.load_model(f"runs:/{run.info.run_id}/model")
    assert isinstance(loaded, xgb.Booster)
    assert loaded.best_iteration == booster.best_iteration
    same_model(loaded, booster)


@pytest.mark.parametrize("how", ["argument", "callback"])
def test_early_stopping_best_and_stopped_iteration(how: str) -> None:
    def train() -> Any:
        dtrain, dvalid = sets()
        callbacks = []
        kwargs: dict[str, Any] = {}
        if how == "callback":
            callbacks.append(xgb.callback.EarlyStopping(rounds=3))
        else:
            kwargs["early_stopping_rounds"] = 3
        return xgb.train(
            {**PARAMS, "eta": 0.6},
            dtrain,
            200,
            evals=[(dvalid, "valid")],
            callbacks=callbacks,
            verbose_eval=False,
            **kwargs,
        )

    bare, booster = bare_then_logged(train)
    same_model(bare, booster)
    stopped = booster.best_iteration + 3  # XGBoost trained 3 rounds past the best
    assert booster.num_boosted_rounds() == stopped + 1
    assert 0 < booster.best_iteration < stopped < 199

    run = only_run()
    metrics = run.data.metrics
    assert metrics["best_iteration"] == booster.best_iteration
    assert metrics["stopped_iteration"] == stopped
    assert metrics["best_valid-rmse"] == pytest.approx(booster.best_score)
    steps = history(run, "valid-rmse")
    assert [s for s, _ in steps] == list(range(stopped + 1))  # the stopping round too
    assert dict(steps)[booster.best_iteration] == metrics["best_valid-rmse"]
    if how == "argument":
        assert run.data.params["early_stopping_rounds"] == "3"


def test_user_callbacks_keep_their_order_and_calls() -> None:
    class Watch(xgb.callback.TrainingCallback):  # type: ignore[misc]
        def __init__(self, name: str, calls: list[tuple[str, int]]) -> None:
            super().__init__()
            self.name, self.calls = name, calls

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            self.calls.append((self.name, epoch))
            return False

    def train() -> tuple[list[Any], list[tuple[str, int]]]:
        calls: list[tuple[str, int]] = []
        callbacks = [Watch("first", calls), Watch("second", calls)]
        given = list(callbacks)
        dtrain, dvalid = sets()
        xgb.train(PARAMS, dtrain, 3, evals=[(dvalid, "valid")], callbacks=callbacks)
        assert callbacks == given  # the user's list is not touched
        return callbacks, calls

    (_, bare_calls), (_, calls) = bare_then_logged(train)
    assert calls == bare_calls
    assert len(history(only_run(), "valid-rmse")) == 3


def test_training_that_raises_fails_the_run_with_the_same_exception() -> None:
    enable()
    error = ValueError("stop here")

    class Explode(xgb.callback.TrainingCallback):  # type: ignore[misc]
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            if epoch == 3:
                raise error
            return False

    dtrain, dvalid = sets()
    with pytest.raises(ValueError, match="stop here") as raised:
        xgb.train(PARAMS, dtrain, ROUNDS, evals=[(dvalid, "valid")], callbacks=[Explode()])
    assert raised.value is error
    run = only_run()
    assert run.info.status is RunStatus.FAILED
    # the iterations done before the failure are kept, and the settings
    assert [s for s, _ in history(run, "valid-rmse")] == [0, 1, 2, 3]
    assert run.data.params["num_boost_round"] == str(ROUNDS)
    assert autolog.active_run() is None


def test_keyboard_interrupt_kills_the_run_and_propagates() -> None:
    cases.check_keyboard_interrupt_kills_the_run(CASE)


def test_xgboost_errors_reach_the_caller_unchanged() -> None:
    enable()
    dtrain, _ = sets()
    with pytest.raises(xgb.core.XGBoostError, match="no_such_objective"):
        xgb.train({**PARAMS, "objective": "no_such_objective"}, dtrain, 3)
    assert only_run().info.status is RunStatus.FAILED
    with pytest.raises(TypeError):
        xgb.train(PARAMS, X_TRAIN, 3)  # not a DMatrix: XGBoost's own error
    with pytest.raises(TypeError):
        xgb.train(PARAMS)  # a call XGBoost refuses is passed on untouched


# -- calls as XGBoost accepts them, its callbacks, its device -------------------------------


def test_evals_passed_positionally_are_recorded_as_by_keyword() -> None:
    """``xgb.train(param, dtrain, num_round, watchlist)``, as XGBoost's guide writes it:
    XGBoost takes it with a FutureWarning, and so is it recorded."""

    def train() -> tuple[Any, dict[str, Any]]:
        dtrain, dvalid = sets()
        watchlist = [(dvalid, "eval"), (dtrain, "train")]
        evals_result: dict[str, Any] = {}
        with pytest.warns(FutureWarning, match="Pass `evals` as keyword args") as caught:
            booster = xgb.train(PARAMS, dtrain, ROUNDS, watchlist, evals_result=evals_result)
        assert len(caught) == 1  # XGBoost's own, once, as unpatched
        return booster, evals_result

    (bare, bare_evals), (booster, evals) = bare_then_logged(train)
    same_model(bare, booster)
    assert evals == bare_evals
    run = only_run()
    assert run.data.params["evals"] == "['eval', 'train']"
    assert run.data.params["num_boost_round"] == str(ROUNDS)
    for data in ("eval", "train"):
        assert history(run, f"{data}-rmse") == list(enumerate(evals[data]["rmse"]))


def test_cv_and_fit_arguments_passed_positionally_are_read_as_xgboost_reads_them() -> None:
    autolog.autolog(integrations=["xgboost", "sklearn"])
    with pytest.warns(FutureWarning, match="Pass `nfold, stratified` as keyword args"):
        result = xgb.cv(PARAMS, xgb.DMatrix(X, Y), 3, 4, False, as_pandas=False)
    run = only_run()
    assert run.data.params["nfold"] == "4"
    assert run.data.params["stratified"] == "False"
    assert len(history(run, "test-rmse-mean")) == len(result["test-rmse-mean"]) == 3

    labels = (Y_TRAIN > 0).astype(int)
    weights = np.where(labels == 1, 5.0, 0.2)
    model = xgb.XGBClassifier(n_estimators=3, n_jobs=1, max_depth=1)
    with pytest.warns(FutureWarning, match="Pass `sample_weight` as keyword args"):
        model.fit(X_TRAIN, labels, weights)
    fitted = runs()[0]
    predicted = model.predict(X_TRAIN)
    weighted = float(np.sum(weights * (predicted == labels)) / np.sum(weights))
    assert weighted != pytest.approx(float(np.mean(predicted == labels)))
    assert fitted.data.metrics["training_accuracy"] == pytest.approx(weighted)


def test_xgboost_callbacks_are_recorded_with_their_settings_and_checkpoints(
    tmp_path: Path,
) -> None:
    folders = iter([tmp_path / "bare", tmp_path / "logged"])

    def train() -> tuple[Any, Path]:
        folder = next(folders)
        folder.mkdir()
        dtrain, dvalid = sets()
        callbacks = [
            xgb.callback.EarlyStopping(rounds=3, save_best=True, data_name="valid"),
            xgb.callback.TrainingCheckPoint(folder, name="ckpt", interval=2),
        ]
        booster = xgb.train(
            {**PARAMS, "eta": 0.6},
            dtrain,
            200,
            evals=[(dtrain, "train"), (dvalid, "valid")],
            callbacks=callbacks,
            verbose_eval=False,
        )
        return booster, folder

    (bare, bare_folder), (booster, folder) = bare_then_logged(train)
    same_model(bare, booster)
    written = sorted(p.name for p in folder.iterdir())
    assert written == sorted(p.name for p in bare_folder.iterdir())
    assert len(written) >= 2
    run = only_run()
    params = run.data.params
    assert params["callbacks"] == "['EarlyStopping', 'TrainingCheckPoint']"
    assert params["callback_EarlyStopping_rounds"] == "3"
    assert params["callback_EarlyStopping_save_best"] == "True"
    assert params["callback_EarlyStopping_data_name"] == "valid"
    assert params["callback_EarlyStopping_min_delta"] == "0.0"
    assert "callback_EarlyStopping_metric_name" not in params  # not given: XGBoost's choice
    assert params["callback_TrainingCheckPoint_directory"] == str(folder)
    assert params["callback_TrainingCheckPoint_name"] == "ckpt"
    assert params["callback_TrainingCheckPoint_interval"] == "2"
    assert params["callback_TrainingCheckPoint_as_pickle"] == "False"
    assert sorted(artifact_paths(run, "checkpoints")) == [f"checkpoints/{n}" for n in written]
    for name in written:
        local = autolog.download_artifacts(run.info.run_id, f"checkpoints/{name}")
        assert Path(local).read_bytes() == (folder / name).read_bytes()
    # save_best: the model logged is the one returned, cut at the best iteration
    loaded = autolog.load_model(f"runs:/{run.info.run_id}/model")
    assert loaded.num_boosted_rounds() == booster.num_boosted_rounds()
    assert booster.num_boosted_rounds() == run.data.metrics["best_iteration"] + 1


def test_a_second_callback_of_a_class_and_the_users_own_are_named(tmp_path: Path) -> None:
    class Watch(xgb.callback.TrainingCallback):  # type: ignore[misc]
        pass

    enable()
    dtrain, dvalid = sets()
    xgb.train(
        PARAMS,
        dtrain,
        30,
        evals=[(dvalid, "valid")],
        callbacks=[
            xgb.callback.EarlyStopping(rounds=2),
            Watch(),
            xgb.callback.EarlyStopping(rounds=5, maximize=False),
        ],
    )
    params = only_run().data.params
    assert params["callbacks"] == "['EarlyStopping', 'Watch', 'EarlyStopping']"
    assert params["callback_EarlyStopping_rounds"] == "2"
    assert params["callback_EarlyStopping_1_rounds"] == "5"
    assert params["callback_EarlyStopping_1_maximize"] == "False"


def test_checkpoints_written_before_a_failure_are_kept(tmp_path: Path) -> None:
    class Explode(xgb.callback.TrainingCallback):  # type: ignore[misc]
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            if epoch == 6:
                raise ValueError("stop here")
            return False

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "old_9.ubj").write_bytes(b"an earlier training's: not this run's")
    enable()
    dtrain, _ = sets()
    checkpoint = xgb.callback.TrainingCheckPoint(folder, name="old", interval=2)
    with pytest.raises(ValueError, match="stop here"):
        xgb.train(PARAMS, dtrain, ROUNDS, callbacks=[checkpoint, Explode()])
    run = only_run()
    assert run.info.status is RunStatus.FAILED
    written = sorted(p.name for p in folder.iterdir() if p.name != "old_9.ubj")
    assert written == ["old_2.ubj", "old_4.ubj", "old_6.ubj"]
    assert sorted(artifact_paths(run, "checkpoints")) == [f"checkpoints/{n}" for n in written]


def test_device_is_the_one_xgboost_trained_on_and_its_warning_keeps_its_place() -> None:
    """``device="cuda"`` where XGBoost finds no GPU: it warns and trains on the CPU. The warning
    names XGBoost's own line, patched as unpatched, never autolog's."""

    def train() -> tuple[Any, list[tuple[str, int, str]]]:
        dtrain, dvalid = sets()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            booster = xgb.train({**PARAMS, "device": "cuda"}, dtrain, 3, evals=[(dvalid, "valid")])
        return booster, [(w.filename, w.lineno, str(w.message)[20:]) for w in caught]

    (bare, bare_warnings), (booster, caught) = bare_then_logged(train)
    same_model(bare, booster)
    assert caught == bare_warnings
    assert all("autolog" not in filename for filename, _, _ in caught)
    used = json.loads(booster.save_config())["learner"]["generic_param"]["device"]
    params = only_run().data.params
    assert params["device"] == used
    assert params["device_requested"] == "cuda"
    if used == "cpu":  # no GPU here: XGBoost said so
        assert any("Device is changed" in message for _, _, message in caught)


def test_device_of_the_sklearn_api_and_no_device_where_nothing_trained() -> None:
    enable()
    model = xgb.XGBRegressor(n_estimators=2, n_jobs=1, device="cpu")
    model.fit(X_TRAIN, Y_TRAIN)
    params = only_run().data.params
    assert (params["device"], params["device_requested"]) == ("cpu", "cpu")
    with autolog.start_run() as run:
        xgb.train(PARAMS, xgb.DMatrix(X_TRAIN, Y_TRAIN), 0)  # no iteration: no configuration
    assert "device" not in autolog.get_run(run.info.run_id).data.params
    with autolog.start_run() as run:
        autolog.log_param("device", "the user's own")
        xgb.train(PARAMS, xgb.DMatrix(X_TRAIN, Y_TRAIN), 2)
    assert autolog.get_run(run.info.run_id).data.params["device"] == "the user's own"
    assert len(runs()) == 3  # no child run for it


def test_a_fit_that_raises_keeps_the_params_it_was_given() -> None:
    class Explode(xgb.callback.TrainingCallback):  # type: ignore[misc]
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            raise ValueError("pruned")

    enable()
    model = xgb.XGBRegressor(n_estimators=50, max_depth=2, n_jobs=1, callbacks=[Explode()])
    with pytest.raises(ValueError, match="pruned"):
        model.fit(X_TRAIN, Y_TRAIN, eval_set=[(X_VALID, Y_VALID)], verbose=False)
    run = only_run()
    assert run.info.status is RunStatus.FAILED
    params = run.data.params
    assert (params["n_estimators"], params["max_depth"]) == ("50", "2")
    assert params["callbacks"] == "['Explode']"
    assert params["num_boost_round"] == "50"  # what the estimator passed to train
    assert "fit_time" not in run.data.metrics


# -- the bad cases: train normally, identically, with no warning of ours ---------------------


@pytest.mark.usefixtures("no_autolog_warning")
def test_no_eval_set() -> None:
    def train() -> Any:
        return xgb.train(PARAMS, xgb.DMatrix(X_TRAIN, Y_TRAIN), ROUNDS)

    bare, booster = bare_then_logged(train)
    same_model(bare, booster)
    run = only_run()
    assert run.info.status is RunStatus.FINISHED
    assert run.data.metrics == {}
    assert "feature_importance.csv" in artifact_paths(run)
    same_model(autolog.load_model(f"runs:/{run.info.run_id}/model"), booster)


@pytest.mark.usefixtures("no_autolog_warning")
def test_custom_metric_and_objective() -> None:
    def max_error(predt: Any, dtrain: Any) -> tuple[str, float]:
        return "max_error", float(np.max(np.abs(predt - dtrain.get_label())))

    def squared(predt: Any, dtrain: Any) -> tuple[Any, Any]:
        return predt - dtrain.get_label(), np.ones_like(predt)

    def train() -> tuple[Any, dict[str, Any]]:
        evals_result: dict[str, Any] = {}
        dtrain, dvalid = sets()
        booster = xgb.train(
            {**PARAMS, "disable_default_eval_metric": 1},
            dtrain,
            ROUNDS,
            evals=[(dvalid, "valid")],
            obj=squared,
            custom_metric=max_error,
            evals_result=evals_result,
            verbose_eval=False,
        )
        return booster, evals_result

    (bare, bare_evals), (booster, evals) = bare_then_logged(train)
    same_model(bare, booster)
    assert evals == bare_evals
    run = only_run()
    assert history(run, "valid-max_error") == list(enumerate(evals["valid"]["max_error"]))
    assert "max_error" in run.data.params["custom_metric"]
    assert "squared" in run.data.params["obj"]


@pytest.mark.usefixtures("no_autolog_warning")
def test_named_features_and_dataframes() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X_TRAIN, columns=["a b", "c/d", "e", "f", "g"])

    def train() -> Any:
        return xgb.train(PARAMS, xgb.DMatrix(frame, Y_TRAIN), ROUNDS)

    bare, booster = bare_then_logged(train)
    assert booster_of(bare).get_dump() == booster_of(booster).get_dump()
    rows = importance_rows(only_run())
    assert [r["feature"] for r in rows] == ["a b", "c/d", "e", "f", "g"]


@pytest.mark.usefixtures("no_autolog_warning")
def test_continued_training_counts_on_from_the_first_model() -> None:
    enable()
    dtrain, dvalid = sets()
    first = xgb.train(PARAMS, dtrain, 4, evals=[(dvalid, "valid")], verbose_eval=False)
    xgb.train(PARAMS, dtrain, 3, evals=[(dvalid, "valid")], xgb_model=first, verbose_eval=False)
    second = runs()[0]  # newest first
    assert [s for s, _ in history(second, "valid-rmse")] == [4, 5, 6]


@pytest.mark.usefixtures("no_autolog_warning")
def test_odd_eval_names_become_valid_metric_keys() -> None:
    enable()
    dtrain, dvalid = sets()
    xgb.train(PARAMS, dtrain, 2, evals=[(dvalid, "../hold\\out")], verbose_eval=False)
    run = only_run()
    assert set(run.data.metrics) == {"_/hold_out-rmse"}


# -- xgboost.cv -----------------------------------------------------------------------------


def test_cv_records_mean_and_std_per_iteration() -> None:
    def train() -> dict[str, Any]:
        result: dict[str, Any] = xgb.cv(
            {**PARAMS, "eval_metric": "rmse"},
            xgb.DMatrix(X, Y),
            num_boost_round=ROUNDS,
            nfold=3,
            seed=0,
            as_pandas=False,
        )
        return result

    bare, result = bare_then_logged(train)
    assert bare == result
    run = only_run()
    assert run.data.tags["autolog.estimator"] == "xgboost.cv"
    for data in ("train", "test"):
        for stat in ("mean", "std"):
            key = f"{data}-rmse-{stat}"
            assert history(run, key) == list(enumerate(result[key]))
    params = run.data.params
    assert (params["nfold"], params["num_boost_round"], params["eval_metric"]) == (
        "3",
        str(ROUNDS),
        "rmse",
    )
    assert artifact_paths(run) == []  # no single model


def test_cv_early_stopping() -> None:
    enable()
    result = xgb.cv(
        {**PARAMS, "eta": 0.6},
        xgb.DMatrix(X, Y),
        num_boost_round=200,
        nfold=3,
        seed=0,
        early_stopping_rounds=3,
        as_pandas=False,
    )
    best = len(result["test-rmse-mean"]) - 1  # cv keeps the rounds up to the best one
    run = only_run()
    metrics = run.data.metrics
    assert metrics["best_iteration"] == best
    assert metrics["stopped_iteration"] == best + 3
    assert metrics["best_test-rmse-mean"] == result["test-rmse-mean"][-1]
    assert metrics["best_test-rmse-std"] == pytest.approx(result["test-rmse-std"][-1])


# -- the scikit-learn API -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["XGBRegressor", "XGBClassifier", "XGBRanker", "XGBRFRegressor"])
def test_sklearn_api_makes_one_run_with_iteration_metrics_and_the_estimator(name: str) -> None:
    cls = getattr(xgb, name)
    y_train, y_valid = Y_TRAIN, Y_VALID
    fit_kwargs: dict[str, Any] = {}
    if name == "XGBClassifier":
        y_train, y_valid = (Y_TRAIN > 0).astype(int), (Y_VALID > 0).astype(int)
    if name == "XGBRanker":
        y_train = np.digitize(Y_TRAIN, [-1, 0, 1])
        y_valid = np.digitize(Y_VALID, [-1, 0, 1])
        fit_kwargs = {"qid": np.repeat(np.arange(6), 40), "eval_qid": [np.repeat(np.arange(3), 20)]}

    def train() -> Any:
        model = cls(n_estimators=ROUNDS, n_jobs=1, random_state=1, max_depth=3)
        return model.fit(
            X_TRAIN, y_train, eval_set=[(X_VALID, y_valid)], verbose=False, **fit_kwargs
        )

    bare, model = bare_then_logged(train)
    same_model(bare, model)
    run = only_run()
    assert run.info.status is RunStatus.FINISHED
    assert run.data.tags["autolog.estimator"] == name
    params = run.data.params
    assert params["max_depth"] == "3"  # the scikit-learn API's params
    assert params["n_estimators"] == str(ROUNDS)
    assert params["num_boost_round"] == str(model.get_booster().num_boosted_rounds())
    assert "fit_time" in run.data.metrics
    results = model.evals_result()["validation_0"]
    metric = next(iter(results))
    assert history(run, f"validation_0-{metric}") == list(enumerate(results[metric]))
    assert not any(key.startswith("training_") for key in run.data.metrics)  # sklearn is off
    assert "feature_importance.csv" in artifact_paths(run)
    loaded = autolog.load_model(f"runs:/{run.info.run_id}/model")
    assert type(loaded) is cls
    same_model(loaded, model)


def test_sklearn_api_early_stopping() -> None:
    enable()
    model = xgb.XGBRegressor(n_estimators=200, learning_rate=0.6, n_jobs=1, early_stopping_rounds=3)
    model.fit(X_TRAIN, Y_TRAIN, eval_set=[(X_VALID, Y_VALID)], verbose=False)
    run = only_run()
    assert run.data.metrics["best_iteration"] == model.best_iteration
    assert run.data.metrics["best_validation_0-rmse"] == pytest.approx(model.best_score)
    assert run.data.params["early_stopping_rounds"] == "3"
    same_model(autolog.load_model(f"runs:/{run.info.run_id}/model"), model)


def test_with_the_sklearn_integration_one_run_with_training_scores() -> None:
    from sklearn.base import clone

    autolog.autolog()  # every integration, scikit-learn's included
    labels = (Y_TRAIN > 0).astype(int)
    model = xgb.XGBClassifier(n_estimators=ROUNDS, n_jobs=1)
    model.fit(X_TRAIN, labels, eval_set=[(X_VALID, (Y_VALID > 0).astype(int))], verbose=False)
    run = only_run()
    metrics = run.data.metrics
    assert metrics["training_accuracy"] == pytest.approx(
        float(np.mean(model.predict(X_TRAIN) == labels))
    )
    assert {"training_f1", "training_log_loss", "training_roc_auc"} <= set(metrics)
    assert len(history(run, "validation_0-logloss")) == ROUNDS
    assert type(autolog.load_model(f"runs:/{run.info.run_id}/model")) is xgb.XGBClassifier
    # trained under autolog, it pickles and clones as ever
    assert type(pickle.loads(pickle.dumps(model))) is xgb.XGBClassifier
    assert clone(model).get_params() == model.get_params()


def test_pipelines_and_searches_of_the_sklearn_integration_stay_one_record() -> None:
    cases.check_pipelines_and_searches_stay_one_record(CASE)


def test_fits_that_sklearn_or_xgboost_make_themselves_are_no_runs_of_their_own() -> None:
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline

    enable()  # the scikit-learn integration is off
    cross_val_score(xgb.XGBRegressor(n_estimators=3, n_jobs=1), X, Y, cv=2)
    make_pipeline(xgb.XGBRegressor(n_estimators=3, n_jobs=1)).fit(X, Y)
    assert runs() == []
    # XGBRFClassifier.fit calls XGBClassifier.fit, which calls XGBModel's train: one run
    xgb.XGBRFClassifier(n_estimators=3, n_jobs=1).fit(X, (Y > 0).astype(int))
    assert only_run().data.tags["autolog.estimator"] == "XGBRFClassifier"


# -- run ownership --------------------------------------------------------------------------


def test_users_run_takes_the_first_training_and_nests_the_next() -> None:
    enable()
    with autolog.start_run() as run:
        dtrain, dvalid = sets()
        xgb.train(PARAMS, dtrain, 3, evals=[(dvalid, "valid")], verbose_eval=False)
        xgb.train({**PARAMS, "eta": 0.1}, dtrain, 3, evals=[(dvalid, "valid")], verbose_eval=False)
        assert autolog.active_run() is not None
        assert autolog.active_run().info.run_id == run.info.run_id  # type: ignore[union-attr]
    parent = autolog.get_run(run.info.run_id)
    assert parent.info.status is RunStatus.FINISHED
    assert "eta" not in parent.data.params
    assert len(history(parent, "valid-rmse")) == 3
    children = [r for r in runs() if r.info.run_id != run.info.run_id]
    assert len(children) == 1
    assert children[0].data.tags["autolog.parentRunId"] == run.info.run_id
    assert children[0].data.params["eta"] == "0.1"


def test_threads_get_one_run_each() -> None:
    cases.check_threads_get_one_run_each(CASE)


# -- patching: imports, pickling, revert, options ---------------------------------------------


def test_disable_restores_the_exact_original_objects() -> None:
    import xgboost.sklearn
    import xgboost.training

    places = [
        (xgboost, "train"),
        (xgboost.training, "train"),
        (xgboost.sklearn, "train"),
        (xgboost, "cv"),
        (xgboost.training, "cv"),
        *[
            (cls, "fit")
            for cls in (xgb.XGBModel, xgb.XGBClassifier, xgb.XGBRanker, xgb.XGBRFClassifier)
        ],
    ]
    originals = [vars(owner)[name] for owner, name in places]
    enable()
    assert all(vars(o)[n] is not orig for (o, n), orig in zip(places, originals, strict=True))
    assert xgboost.train is xgboost.training.train is xgboost.sklearn.train  # one wrapper
    assert xgboost.train.__doc__ == originals[0].__doc__
    autolog.autolog(integrations=["xgboost"], disable=True)
    assert all(vars(o)[n] is orig for (o, n), orig in zip(places, originals, strict=True))
    xgb.train(PARAMS, xgb.DMatrix(X_TRAIN, Y_TRAIN), 2)
    assert runs() == []


def test_patched_functions_and_methods_pickle_as_before() -> None:
    cases.check_patched_functions_and_methods_pickle_as_before(CASE)


@pytest.mark.slow
@pytest.mark.parametrize("autolog_first", [True, False], ids=["autolog-first", "import-first"])
def test_autolog_before_or_after_import_xgboost(tmp_path: Path, autolog_first: bool) -> None:
    enable_line = "import autolog; autolog.autolog(integrations=['xgboost'])"
    import_line = "import xgboost"
    first, second = (enable_line, import_line) if autolog_first else (import_line, enable_line)
    done = run_script(
        f"""
        import pickle
        import numpy as np
        {first}
        {second}
        import xgboost.training, xgboost.sklearn
        from xgboost import train
        assert train is xgboost.training.train is xgboost.sklearn.train
        assert pickle.loads(pickle.dumps(train)) is train
        X = np.random.default_rng(0).normal(size=(200, 3))
        y = (X[:, 0] > 0).astype(int)
        train({{"objective": "binary:logistic", "nthread": 1}}, xgboost.DMatrix(X, y), 3)
        xgboost.XGBClassifier(n_estimators=3, n_jobs=1).fit(X, y)
        autolog.flush()
        print(sorted(r.data.tags["autolog.estimator"] for r in autolog.search_runs()))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['XGBClassifier', 'xgboost.train']"


@pytest.mark.slow
def test_models_load_in_a_fresh_process_that_never_called_autolog(tmp_path: Path) -> None:
    enable()
    dtrain, dvalid = sets()
    booster = xgb.train(PARAMS, dtrain, ROUNDS, evals=[(dvalid, "valid")], verbose_eval=False)
    booster_run = only_run()
    labels = (Y_TRAIN > 0).astype(int)
    model = xgb.XGBClassifier(n_estimators=ROUNDS, n_jobs=1).fit(X_TRAIN, labels)
    model_run = next(r for r in runs() if r.info.run_id != booster_run.info.run_id)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "booster.npy", booster.predict(xgb.DMatrix(X)))
    np.save(tmp_path / "model.npy", model.predict_proba(X))
    autolog.flush()
    done = run_script(
        f"""
        import numpy as np
        import autolog
        X = np.load("X.npy")
        booster = autolog.load_model("runs:/{booster_run.info.run_id}/model")
        model = autolog.load_model("runs:/{model_run.info.run_id}/model")
        import xgboost
        assert type(xgboost.train).__name__ == "function"  # nothing patched here
        assert type(booster) is xgboost.Booster, type(booster)
        assert type(model) is xgboost.XGBClassifier, type(model)
        assert np.array_equal(booster.predict(xgboost.DMatrix(X)), np.load("booster.npy"))
        assert np.array_equal(model.predict_proba(X), np.load("model.npy"))
        print("ok")
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_options() -> None:
    cases.check_options(CASE)


def test_flavor_refuses_what_is_not_a_fitted_xgboost_model() -> None:
    for model in (object(), xgb.XGBRegressor()):
        with autolog.start_run(), pytest.raises(InvalidInputError, match="xgboost flavor"):
            autolog.log_model(model, flavor="xgboost")


# -- cost: nothing per iteration reaches the store from the training thread -----------------


def test_iterations_do_no_store_io_on_the_training_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    cases.check_iterations_do_no_store_io_on_the_training_thread(CASE, monkeypatch)


def test_metrics_reach_the_queue_during_training() -> None:
    cases.check_metrics_reach_the_queue_during_training(CASE)


# -- our own failures: one warning, training untouched --------------------------------------


def test_a_failure_of_ours_is_one_warning_and_training_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cases.check_a_failure_of_ours_is_one_warning(CASE, monkeypatch)


# -- the model's signature --------------------------------------------------------------------


def _logged_model(dtrain: Any) -> tuple[str, Any, Any]:
    enable()
    booster = xgb.train(PARAMS, dtrain, ROUNDS)
    uri = f"runs:/{only_run().info.run_id}/model"
    return uri, autolog.get_model_info(uri), booster


def test_train_signs_the_model_with_the_dmatrixs_rows_missing_values_kept() -> None:
    data = X_TRAIN.copy()
    data[1, 2] = np.nan  # a missing value: NaN in the example, never a 0
    data[2, 0] = 0.0  # a stored 0 stays a 0
    uri, info, booster = _logged_model(xgb.DMatrix(data, Y_TRAIN))
    assert info.signature == {
        "inputs": {"type": "tensor", "dtype": "float32", "shape": [-1, 5]},
        "outputs": {"type": "tensor", "dtype": "float32", "shape": [-1]},
    }
    example = info.input_example["data"]
    assert len(example) == 5
    assert example[1][2] is None
    assert example[2][0] == 0.0
    assert np.allclose(np.array(example, dtype=float)[0], data[0])
    rows = np.array(example, dtype="float32")
    predictor = autolog.load_predictor(uri)
    assert np.allclose(predictor.predict(rows), booster.predict(xgb.DMatrix(rows)))
    with pytest.raises(InvalidInputError, match=r"shape \[2, 4\]"):
        predictor.predict(np.zeros((2, 4)))


def test_train_signs_named_features_with_their_types() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "height": X_TRAIN[:, 0],
            "count": (X_TRAIN[:, 1] * 10).round().astype("int64"),
            "flag": X_TRAIN[:, 2] > 0,
        }
    )
    uri, info, booster = _logged_model(xgb.DMatrix(frame, Y_TRAIN))
    assert info.signature["inputs"] == {
        "type": "dataframe",
        "columns": [
            {"name": "height", "dtype": "float32"},
            {"name": "count", "dtype": "int64"},
            {"name": "flag", "dtype": "bool"},
        ],
    }
    assert info.signature["outputs"] == {"type": "tensor", "dtype": "float32", "shape": [-1]}
    assert info.input_example["columns"] == ["height", "count", "flag"]
    assert info.input_example["data"][0][1:] == [int(frame["count"][0]), bool(frame["flag"][0])]
    predictor = autolog.load_predictor(uri)
    expected = booster.predict(xgb.DMatrix(frame[:4]))
    assert np.allclose(predictor.predict(frame[:4]), expected)
    assert np.allclose(predictor.predict(frame[:4].to_dict("records")), expected)
    with pytest.raises(InvalidInputError, match="'count'"):
        predictor.predict(frame[["height", "flag"]][:4])


@pytest.mark.parametrize("made", ["quantile", "categorical", "missing"])
def test_train_leaves_out_a_signature_it_cannot_read_back(made: str) -> None:
    pd = pytest.importorskip("pandas")
    if made == "quantile":  # keeps bins, not the values given
        dtrain = xgb.QuantileDMatrix(X_TRAIN, Y_TRAIN)
    elif made == "categorical":  # codes a caller cannot know
        frame = pd.DataFrame({"x": X_TRAIN[:, 0], "kind": pd.Categorical(["a", "b"] * 120)})
        dtrain = xgb.DMatrix(frame, Y_TRAIN, enable_categorical=True)
    else:  # -1 read as missing: a predictor's -1 would not be
        dtrain = xgb.DMatrix(X_TRAIN, Y_TRAIN, missing=-1.0)
    _, info, _ = _logged_model(dtrain)
    assert info.signature is None
    assert info.input_example is None


def test_the_sklearn_api_signs_the_model_with_its_training_data() -> None:
    enable()
    model = xgb.XGBRegressor(n_estimators=ROUNDS, n_jobs=1).fit(X_TRAIN, Y_TRAIN)
    uri = f"runs:/{only_run().info.run_id}/model"
    info = autolog.get_model_info(uri)
    assert info.signature["inputs"] == {"type": "tensor", "dtype": "float64", "shape": [-1, 5]}
    assert len(info.input_example["data"]) == 5
    assert np.allclose(autolog.load_predictor(uri).predict(X_VALID), model.predict(X_VALID))
