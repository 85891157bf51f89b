"""Shape of LightGBM's ``examples/python-guide/advanced_example.py``: a binary booster trained
in stages that continue from the previous model (``init_model``), with a learning rate decayed
by ``lgb.reset_parameter(learning_rate=lambda iter: ...)``, then ``bagging_fraction`` changed by
a ``reset_parameter`` list, then a self-defined objective in the params and self-defined
evaluation metrics (``feval``). Synthetic data instead of the example's files.
"""

import copy

import lightgbm as lgb
import numpy as np
import pandas as pd

rng = np.random.default_rng(1)
features = rng.normal(size=(500, 6))
label = (features[:, 0] + features[:, 1] * features[:, 2] > 0).astype(int)
df = pd.DataFrame(np.column_stack([label, features]))
df_train, df_test = df.iloc[:400], df.iloc[400:]
y_train, y_test = df_train[0], df_test[0]
X_train, X_test = df_train.drop(0, axis=1), df_test.drop(0, axis=1)

lgb_train = lgb.Dataset(X_train, y_train, free_raw_data=False)
lgb_eval = lgb.Dataset(X_test, y_test, reference=lgb_train, free_raw_data=False)

params = {
    "boosting_type": "gbdt",
    "objective": "binary",
    "metric": "binary_logloss",
    "num_leaves": 15,
    "learning_rate": 0.05,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 5,
    "verbose": -1,
}

gbm = lgb.train(params, lgb_train, num_boost_round=10, valid_sets=lgb_train)
print("Finished first 10 rounds...")

# decay learning rates
gbm = lgb.train(
    params,
    lgb_train,
    num_boost_round=10,
    init_model=gbm,
    valid_sets=lgb_eval,
    callbacks=[lgb.reset_parameter(learning_rate=lambda iter: 0.05 * (0.99**iter))],
)
print("Finished 10 - 20 rounds with decay learning rates...")

# change other parameters during training
gbm = lgb.train(
    params,
    lgb_train,
    num_boost_round=10,
    init_model=gbm,
    valid_sets=lgb_eval,
    callbacks=[lgb.reset_parameter(bagging_fraction=[0.7] * 5 + [0.6] * 5)],
)
print("Finished 20 - 30 rounds with changing bagging_fraction...")


def loglikelihood(preds, train_data):
    labels = train_data.get_label()
    preds = 1.0 / (1.0 + np.exp(-preds))
    grad = preds - labels
    hess = preds * (1.0 - preds)
    return grad, hess


def binary_error(preds, train_data):
    labels = train_data.get_label()
    preds = 1.0 / (1.0 + np.exp(-preds))
    return "error", np.mean(labels != (preds > 0.5)), False


def accuracy(preds, train_data):
    labels = train_data.get_label()
    preds = 1.0 / (1.0 + np.exp(-preds))
    return "accuracy", np.mean(labels == (preds > 0.5)), True


params_custom_obj = copy.deepcopy(params)
params_custom_obj["objective"] = loglikelihood

gbm = lgb.train(
    params_custom_obj,
    lgb_train,
    num_boost_round=10,
    init_model=gbm,
    feval=[binary_error, accuracy],
    valid_sets=lgb_eval,
)
print("Finished 30 - 40 rounds with self-defined objective function and eval metrics...")


def check(printed: str) -> None:
    import pytest

    import autolog

    runs = autolog.search_runs(order_by=["attributes.start_time ASC"])
    assert len(runs) == 4
    first, decayed, bagging, custom = runs

    def history(run: autolog.Run, key: str) -> list[float]:
        return [m.value for m in autolog.get_metric_history(run.info.run_id, key)]

    assert first.data.params["learning_rate"] == "0.05"
    assert "learning_rate" not in first.data.metrics
    # a schedule: logged as the schedule, and the value of every iteration as a metric
    assert decayed.data.params["reset_parameter.learning_rate"] == "__main__.<lambda>"
    assert decayed.data.params["init_model"] == "lightgbm.basic.Booster"
    assert history(decayed, "learning_rate") == pytest.approx([0.05 * 0.99**i for i in range(10)])

    def steps(run: autolog.Run, key: str) -> list[int]:
        return [m.step for m in autolog.get_metric_history(run.info.run_id, key)]

    # at the step of the iteration's scores: boosting rounds done, the 10 of init_model too
    assert steps(decayed, "learning_rate") == steps(decayed, "valid_0-binary_logloss")
    assert steps(decayed, "learning_rate") == list(range(11, 21))
    assert bagging.data.params["reset_parameter.bagging_fraction"] == str([0.7] * 5 + [0.6] * 5)
    assert history(bagging, "bagging_fraction") == [0.7] * 5 + [0.6] * 5
    # callables by qualified name: the same string in every run
    assert custom.data.params["objective"] == "__main__.loglikelihood"
    assert custom.data.params["feval"] == "[__main__.binary_error, __main__.accuracy]"
    assert len(history(custom, "valid_0-error")) == 10
    assert len(history(custom, "valid_0-accuracy")) == 10
