"""Shape of LightGBM's ``examples/python-guide/sklearn_example.py``: an ``LGBMRegressor``
fitted with an ``eval_metric`` string, then with a self-defined ``eval_metric`` callable, then
with a list of two, each with ``callbacks=[lgb.early_stopping(5)]``; then a ``GridSearchCV``
over ``learning_rate`` and ``n_estimators``. Synthetic data instead of the example's files.
"""

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV

rng = np.random.default_rng(2)
features = rng.uniform(0, 4, size=(500, 5))
target = np.exp(features[:, 0] / 2) + features[:, 1] + rng.uniform(0, 0.5, size=500)
df = pd.DataFrame(np.column_stack([target, features]))
df_train, df_test = df.iloc[:400], df.iloc[400:]
y_train, y_test = df_train[0], df_test[0]
X_train, X_test = df_train.drop(0, axis=1), df_test.drop(0, axis=1)

print("Starting training...")
gbm = lgb.LGBMRegressor(num_leaves=31, learning_rate=0.05, n_estimators=20, verbose=-1)
gbm.fit(
    X_train,
    y_train,
    eval_X=(X_test,),
    eval_y=(y_test,),
    eval_metric="l1",
    callbacks=[lgb.early_stopping(5, verbose=False)],
)


def rmsle(y_true, y_pred):
    return "RMSLE", np.sqrt(np.mean(np.power(np.log1p(y_pred) - np.log1p(y_true), 2))), False


print("Starting training with custom eval function...")
gbm.fit(
    X_train,
    y_train,
    eval_X=(X_test,),
    eval_y=(y_test,),
    eval_metric=rmsle,
    callbacks=[lgb.early_stopping(5, verbose=False)],
)


def rae(y_true, y_pred):
    return "RAE", np.sum(np.abs(y_pred - y_true)) / np.sum(np.abs(np.mean(y_true) - y_true)), False


print("Starting training with multiple custom eval functions...")
gbm.fit(
    X_train,
    y_train,
    eval_X=(X_test,),
    eval_y=(y_test,),
    eval_metric=[rmsle, rae],
    callbacks=[lgb.early_stopping(5, verbose=False)],
)

estimator = lgb.LGBMRegressor(num_leaves=15, verbose=-1)
param_grid = {"learning_rate": [0.1, 1], "n_estimators": [10, 20]}
gbm = GridSearchCV(estimator, param_grid, cv=3)
gbm.fit(X_train, y_train)
print(f"Best parameters found by grid search are: {gbm.best_params_}")


def check(printed: str) -> None:
    import autolog

    runs = autolog.search_runs(order_by=["attributes.start_time ASC"])
    builtin, custom, several = runs[:3]
    assert builtin.data.params["eval_metric"] == "l1"
    assert custom.data.params["eval_metric"] == "__main__.rmsle"
    assert several.data.params["eval_metric"] == "[__main__.rmsle, __main__.rae]"
    for run in (builtin, custom, several):
        assert run.data.params["early_stopping_round"] == "5"
        assert "early_stopping_rounds" not in run.data.params
        assert "feval" not in run.data.params  # LightGBM's wrappers of eval_metric: not ours
    assert "valid_0-RMSLE" in custom.data.metrics
    assert {"valid_0-RMSLE", "valid_0-RAE"} <= set(several.data.metrics)
    # the search: one run, whether or not the scikit-learn integration records it
    rest = runs[3:]
    assert len([r for r in rest if r.info.parent_run_id is None]) == 1
    (search,) = [r for r in rest if r.info.parent_run_id is None]
    assert search.data.params["param_grid"] == (
        "{'learning_rate': [0.1, 1], 'n_estimators': [10, 20]}"
    )
