"""Shape of XGBoost's ``demo/guide-python/basic_walkthrough.py`` (as its releases up to 1.x
wrote it, and as its users still do): a binary ``DMatrix`` pair, ``param`` with ``max_depth``,
``eta`` and ``objective``, a ``watchlist`` of ``(dtest, "eval"), (dtrain, "train")`` passed
positionally, ``bst = xgb.train(param, dtrain, num_round, watchlist)`` printing its eval log,
then the error rate of the predictions, the model saved and reloaded. Synthetic data instead of
the agaricus files.
"""

import os
import pickle

import numpy as np
import xgboost as xgb

rng = np.random.default_rng(1994)
X = rng.normal(size=(400, 6))
y = (X[:, 0] + 0.5 * X[:, 1] ** 2 + rng.normal(scale=0.7, size=400) > 0.5).astype(int)
X_train, y_train, X_test, y_test = X[:300], y[:300], X[300:], y[300:]

# Load the data into XGBoost's own format
dtrain = xgb.DMatrix(X_train, label=y_train)
dtest = xgb.DMatrix(X_test, label=y_test)

# Specify parameters via a map: definitions are the same as in the C++ version
param = {"max_depth": 2, "eta": 1, "objective": "binary:logistic", "nthread": 1}

# Specify validations to watch performance
watchlist = [(dtest, "eval"), (dtrain, "train")]
num_round = 4
bst = xgb.train(param, dtrain, num_round, watchlist)

# this is prediction
preds = bst.predict(dtest)
labels = dtest.get_label()
print(
    "error=%f"
    % (sum(1 for i in range(len(preds)) if int(preds[i] > 0.5) != labels[i]) / float(len(preds)))
)
bst.save_model("model-0.json")
# dump model
bst.dump_model("dump.raw.txt")
# save dmatrix into binary buffer
dtest.save_binary("dtest.dmatrix")
# save model
bst.save_model("model-1.json")
# load model and data in
bst2 = xgb.Booster(model_file="model-1.json")
dtest2 = xgb.DMatrix("dtest.dmatrix")
preds2 = bst2.predict(dtest2)
# assert they are the same
assert np.sum(np.abs(preds2 - preds)) == 0

# alternatively, you can pickle the booster
pks = pickle.dumps(bst2)
# load model and data in
bst3 = pickle.loads(pks)
preds3 = bst3.predict(dtest2)
# assert they are the same
assert np.sum(np.abs(preds3 - preds)) == 0
os.remove("dtest.dmatrix")


def check(printed: str) -> None:
    import re

    import autolog

    (run,) = autolog.search_runs()
    # the eval log XGBoost printed, "[i]\teval-logloss:...\ttrain-logloss:...", per iteration
    lines = re.findall(r"^\[(\d+)\]\t(.*)$", printed, flags=re.MULTILINE)
    assert [int(i) for i, _ in lines] == list(range(4)), printed
    for key in ("eval-logloss", "train-logloss"):
        recorded = autolog.get_metric_history(run.info.run_id, key)
        assert [m.step for m in recorded] == list(range(4)), key
        for (_, text), metric in zip(lines, recorded, strict=True):
            shown = float(re.search(rf"{key}:([0-9.]+)", text).group(1))  # type: ignore[union-attr]
            assert abs(metric.value - shown) < 1e-5, (key, metric.value, shown)
    params = run.data.params
    assert params["evals"] == "['eval', 'train']"
    assert (params["num_boost_round"], params["max_depth"], params["eta"]) == ("4", "2", "1")
    assert params["objective"] == "binary:logistic"
    loaded = autolog.load_model(f"runs:/{run.info.run_id}/model")
    error = float(re.search(r"error=([0-9.]+)", printed).group(1))  # type: ignore[union-attr]
    predicted = loaded.predict(xgb.DMatrix(X_test)) > 0.5
    assert abs(float(np.mean(predicted != y_test)) - error) < 1e-6
