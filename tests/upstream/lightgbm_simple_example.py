"""Shape of LightGBM's ``examples/python-guide/simple_example.py``: a regression booster with
``metric`` given as a set (``{"l2", "l1"}``), bagging, ``lgb.train`` with one validation set and
``callbacks=[lgb.early_stopping(stopping_rounds=5)]``, the model saved and used to predict.
Synthetic data in DataFrames instead of the example's TSV files.
"""

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import mean_squared_error

print("Loading data...")
rng = np.random.default_rng(0)
features = rng.normal(size=(600, 8))
target = features[:, 0] * 3 + features[:, 1] ** 2 + rng.normal(scale=0.5, size=600)
df = pd.DataFrame(np.column_stack([target, features]))
df_train, df_test = df.iloc[:450], df.iloc[450:]

y_train = df_train[0]
y_test = df_test[0]
X_train = df_train.drop(0, axis=1)
X_test = df_test.drop(0, axis=1)

lgb_train = lgb.Dataset(X_train, y_train)
lgb_eval = lgb.Dataset(X_test, y_test, reference=lgb_train)

params = {
    "boosting_type": "gbdt",
    "objective": "regression",
    "metric": {"l2", "l1"},
    "num_leaves": 31,
    "learning_rate": 0.05,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 5,
    "verbose": -1,
}

print("Starting training...")
gbm = lgb.train(
    params,
    lgb_train,
    num_boost_round=20,
    valid_sets=lgb_eval,
    callbacks=[lgb.early_stopping(stopping_rounds=5, verbose=False)],
)

print("Saving model...")
gbm.save_model("model.txt")

print("Starting predicting...")
y_pred = gbm.predict(X_test, num_iteration=gbm.best_iteration)
rmse_test = mean_squared_error(y_test, y_pred) ** 0.5
print(f"The RMSE of prediction is: {rmse_test}")


def check(printed: str) -> None:
    import autolog

    (run,) = autolog.search_runs()
    params = run.data.params
    assert params["metric"] == "{'l1', 'l2'}"  # the set's items, in one order every time
    found = autolog.search_runs(filter_string="params.metric = '{''l1'', ''l2''}'")
    assert [r.info.run_id for r in found] == [run.info.run_id]
    # early stopping under one name, with what LightGBM used: the callback's 5 rounds
    assert params["early_stopping_round"] == "5"
    assert "early_stopping_rounds" not in params
    assert params["num_boost_round"] == "20"
    assert params["bagging_fraction"] == "0.8"
    assert len(autolog.get_metric_history(run.info.run_id, "valid_0-l1")) >= 5
