"""Shape of scikit-learn's gallery example ``model_selection/plot_grid_search_digits.py``: an
SVC tuned by ``GridSearchCV`` on half the digits, scored with ``["precision", "recall"]`` and
refit with a callable ``refit_strategy`` that reads ``cv_results`` through pandas; then a
classification report on the other half. A smaller grid.
"""

import pandas as pd
from sklearn import datasets
from sklearn.metrics import classification_report
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.svm import SVC

digits = datasets.load_digits()
n_samples = len(digits.images)
X = digits.images.reshape((n_samples, -1))
y = digits.target == 8
print(f"The number of images is {X.shape[0]} and each image contains {X.shape[1]} pixels")

X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, random_state=0)

scores = ["precision", "recall"]


def refit_strategy(cv_results):
    """Keep the candidates with a precision above 0.9, then the one of them with the best
    recall, the fastest to predict among ties."""
    precision_threshold = 0.9
    cv_results_ = pd.DataFrame(cv_results)
    high_precision = cv_results_[cv_results_["mean_test_precision"] > precision_threshold]
    best_recall = high_precision["mean_test_recall"].max()
    top = high_precision[high_precision["mean_test_recall"] == best_recall]
    return top["mean_score_time"].idxmin()


tuned_parameters = [
    {"kernel": ["rbf"], "gamma": [1e-3, 1e-4], "C": [1, 10]},
    {"kernel": ["linear"], "C": [1, 10]},
]

grid_search = GridSearchCV(SVC(), tuned_parameters, scoring=scores, refit=refit_strategy, cv=3)
grid_search.fit(X_train, y_train)
print(f"\nThe best set of parameters found are:\n{grid_search.best_params_}")
print(f"The best index is {grid_search.best_index_}")

y_pred = grid_search.predict(X_test)
print(f"\n{classification_report(y_test, y_pred)}")


def check(printed: str) -> None:
    import ast
    import re

    import pytest

    import autolog

    runs = autolog.search_runs()
    (parent,) = [r for r in runs if r.info.parent_run_id is None]
    children = [r for r in runs if r.info.parent_run_id == parent.info.run_id]
    best_params = ast.literal_eval(re.search(r"found are:\n(\{.*\})", printed).group(1))
    best_index = int(re.search(r"The best index is (\d+)", printed).group(1))
    params = parent.data.params
    assert params["refit"] == "__main__.refit_strategy"  # a name, not an address
    assert params["scoring"] == "['precision', 'recall']"
    for key, value in best_params.items():
        assert params[f"best_{key}"] == str(value)  # 'rbf' as rbf, like estimator__kernel
    assert params["estimator__kernel"] == "rbf"
    kernel = best_params["kernel"]
    found = autolog.search_runs(filter_string=f"params.best_kernel = '{kernel}'")
    assert [r.info.run_id for r in found] == [parent.info.run_id]
    # no best_score_ with a callable refit: the chosen candidate's scores instead
    assert "best_cv_score" not in parent.data.metrics
    assert 0.9 < parent.data.metrics["best_cv_precision"] <= 1.0
    assert 0 < parent.data.metrics["best_cv_recall"] <= 1.0
    assert len(children) == 5
    (first,) = [c for c in children if c.data.tags["autolog.candidate_rank"] == "1"]
    assert first.info.run_name == f"candidate-{best_index}"
    assert {k: first.data.params[k] for k in best_params} == {
        k: str(v) for k, v in best_params.items()
    }
    assert first.data.metrics["mean_test_precision"] == pytest.approx(
        parent.data.metrics["best_cv_precision"]
    )
