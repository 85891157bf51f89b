"""Shape of scikit-learn's gallery example ``ensemble/plot_hgbt_regression.py`` (early
stopping section): a ``HistGradientBoostingRegressor`` with ``early_stopping=True`` and a
``validation_fraction``, its ``train_score_`` and ``validation_score_`` read back to plot the
curves. Synthetic data instead of the bike-sharing download.
"""

import numpy as np
from sklearn.datasets import make_regression
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import train_test_split

X, y = make_regression(n_samples=600, n_features=8, noise=20.0, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

common_params = {
    "max_iter": 200,
    "learning_rate": 0.3,
    "validation_fraction": 0.2,
    "random_state": 42,
    "categorical_features": None,
    "scoring": "neg_root_mean_squared_error",
}

hgbt = HistGradientBoostingRegressor(early_stopping=True, n_iter_no_change=5, **common_params)
hgbt.fit(X_train, y_train)
print(f"Stopped after {hgbt.n_iter_} iterations")
print(f"Train scores: {np.round(hgbt.train_score_, 6).tolist()}")
print(f"Validation scores: {np.round(hgbt.validation_score_, 6).tolist()}")


def check(printed: str) -> None:
    import ast
    import re

    import pytest

    import autolog

    (run,) = autolog.search_runs()
    run_id = run.info.run_id
    train = ast.literal_eval(re.search(r"Train scores: (\[.*\])", printed).group(1))
    validation = ast.literal_eval(re.search(r"Validation scores: (\[.*\])", printed).group(1))
    n_iter = int(re.search(r"Stopped after (\d+)", printed).group(1))
    assert n_iter < 200
    assert run.data.metrics["n_iter"] == n_iter
    logged = autolog.get_metric_history(run_id, "validation_score")
    assert [m.value for m in logged] == pytest.approx(validation, abs=1e-5)
    assert [m.step for m in logged] == list(range(len(validation)))
    assert [m.value for m in autolog.get_metric_history(run_id, "train_score")] == (
        pytest.approx(train, abs=1e-5)
    )
    assert run.data.params["scoring"] == "neg_root_mean_squared_error"
    assert run.data.params["categorical_features"] == "None"
