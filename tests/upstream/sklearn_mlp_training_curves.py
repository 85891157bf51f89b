"""Shape of scikit-learn's gallery example ``neural_networks/plot_mlp_training_curves.py``:
for each data set, ``MinMaxScaler().fit_transform(X)``, then one ``MLPClassifier`` per
learning strategy (sgd with constant or invscaling rates, with and without momentum, adam),
convergence warnings silenced. Two data sets and three strategies, few iterations.
"""

import warnings

from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import MinMaxScaler

params = [
    {"solver": "sgd", "learning_rate": "constant", "momentum": 0, "learning_rate_init": 0.2},
    {
        "solver": "sgd",
        "learning_rate": "invscaling",
        "momentum": 0.9,
        "nesterovs_momentum": True,
        "learning_rate_init": 0.2,
    },
    {"solver": "adam", "learning_rate_init": 0.01},
]
labels = ["constant learning-rate", "inv-scaling with Nesterov's momentum", "adam"]


def plot_on_dataset(X, y, name):
    print(f"\nlearning on dataset {name}")
    X = MinMaxScaler().fit_transform(X)
    mlps = []
    for label, param in zip(labels, params, strict=True):
        print(f"training: {label}")
        mlp = MLPClassifier(random_state=0, max_iter=15, **param)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=ConvergenceWarning, module="sklearn")
            mlp.fit(X, y)
        mlps.append(mlp)
        print(f"Training set score: {mlp.score(X, y):f}")
        print(f"Training set loss: {mlp.loss_:f}")
        print(f"Loss curve: {[round(float(v), 6) for v in mlp.loss_curve_]}")


iris = datasets.load_iris()
X_digits, y_digits = datasets.load_digits(return_X_y=True)
data_sets = [(iris.data, iris.target), (X_digits[:300], y_digits[:300])]
for (X, y), name in zip(data_sets, ["iris", "digits"], strict=True):
    plot_on_dataset(X, y, name=name)


def check(printed: str) -> None:
    import ast
    import re

    import pytest

    import autolog

    found = autolog.search_runs(order_by=["attributes.start_time ASC"])
    runs = [r for r in found if r.info.parent_run_id is None]
    assert [r.data.tags["autolog.estimator"] for r in runs] == ["MLPClassifier"] * 6  # no scaler
    curves = [ast.literal_eval(c) for c in re.findall(r"Loss curve: (\[.*\])", printed)]
    scores = [float(v) for v in re.findall(r"Training set score: (\S+)", printed)]
    for run, curve, score in zip(runs, curves, scores, strict=True):
        history = autolog.get_metric_history(run.info.run_id, "training_loss")
        assert [m.value for m in history] == pytest.approx(curve, abs=1e-6)
        assert run.data.metrics["training_accuracy"] == pytest.approx(score)
        # mlp.score(X, y), after the fit's run ended: in the evaluation run under it, named
        # after the variable scored (the scaled X of plot_on_dataset)
        (evaluation,) = [r for r in found if r.info.parent_run_id == run.info.run_id]
        assert evaluation.data.metrics == {"score_X": pytest.approx(score, abs=1e-6)}
    assert runs[1].data.params["nesterovs_momentum"] == "True"
    assert runs[1].data.params["learning_rate_init"] == "0.2"
