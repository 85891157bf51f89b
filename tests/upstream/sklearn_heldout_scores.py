"""Shape of scikit-learn's Getting Started guide (``doc/getting_started.rst``): its pipeline
section, ``make_pipeline(StandardScaler(), LogisticRegression())`` on iris split with
``train_test_split(X, y, random_state=0)``, scored with ``accuracy_score(pipe.predict(X_test),
y_test)`` (the predictions first, as the guide writes it), and its model evaluation section,
``cross_validate(LinearRegression(), X, y)`` (scored by scikit-learn itself); then of the
gallery's ``ensemble/plot_gradient_boosting_regression.py``: a ``GradientBoostingRegressor`` on
diabetes with its params, the held-out ``mean_squared_error(y_test, reg.predict(X_test))``,
with ``n_iter_no_change`` early stopping as in ``plot_gradient_boosting_early_stopping.py``,
and ``reg.score(X_test, y_test)``. Values printed in full, to be compared exactly.
"""

from sklearn.datasets import load_diabetes, load_iris, make_regression
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, mean_squared_error
from sklearn.model_selection import cross_validate, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# create a pipeline object
pipe = make_pipeline(StandardScaler(), LogisticRegression())
# load the iris dataset and split it into train and test sets
X, y = load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
# fit the whole pipeline
pipe.fit(X_train, y_train)
# we can now use it like any other estimator
print(f"pipeline accuracy: {accuracy_score(pipe.predict(X_test), y_test)!r}")

X, y = make_regression(n_samples=1000, random_state=0)
lr = LinearRegression()
result = cross_validate(lr, X, y)  # defaults to 5-fold CV
print(f"cross-validation scores: {[float(s) for s in result['test_score']]}")

diabetes = load_diabetes()
X, y = diabetes.data, diabetes.target
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.1, random_state=13)
params = {
    "n_estimators": 500,
    "max_depth": 4,
    "min_samples_split": 5,
    "learning_rate": 0.05,
    "loss": "squared_error",
}
reg = GradientBoostingRegressor(**params, n_iter_no_change=5, random_state=0)
reg.fit(X_train, y_train)
mse = mean_squared_error(y_test, reg.predict(X_test))
print(f"The mean squared error (MSE) on test set: {mse!r}")
print(f"R2 on test set: {reg.score(X_test, y_test)!r}")
print(f"Trees fitted: {reg.n_estimators_}")


def check(printed: str) -> None:
    import re

    import autolog

    def value(label: str) -> float:
        return float(re.search(rf"{label}: (\S+)", printed).group(1))

    runs = autolog.search_runs()
    trainings = {r.data.tags["autolog.estimator"]: r for r in runs if r.info.parent_run_id is None}
    # cross_validate's folds are scikit-learn's: no run, no score recorded
    assert set(trainings) == {"Pipeline", "GradientBoostingRegressor"}
    evaluations = {r.info.parent_run_id: r for r in runs if r.info.parent_run_id is not None}
    assert len(runs) == 4
    pipeline = evaluations[trainings["Pipeline"].info.run_id]
    assert pipeline.info.run_name == "evaluation"
    assert pipeline.data.metrics == {"accuracy_score_X_test": value("pipeline accuracy")}
    gbr = trainings["GradientBoostingRegressor"]
    assert evaluations[gbr.info.run_id].data.metrics == {
        "mean_squared_error_X_test": value(r"The mean squared error \(MSE\) on test set"),
        "score_X_test": value("R2 on test set"),
    }
    # early stopping decided the trees: the param says 500, the metric what was fitted
    assert gbr.data.params["n_estimators"] == "500"
    assert gbr.data.metrics["n_estimators_fitted"] == value("Trees fitted") < 500
