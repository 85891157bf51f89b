"""Shape of XGBoost's callback tutorial (``doc/python/callbacks.rst``, "Early stopping") and of
``demo/guide-python/callbacks.py``'s ``check_point_callback``: an ``XGBClassifier`` on the
digits with ``tree_method="hist"``, ``device="cuda"`` and ``callbacks=[EarlyStopping(rounds=2,
min_delta=1e-3, save_best=True, maximize=False, data_name="validation_0",
metric_name="mlogloss")]``, fitted with ``eval_set=[(X, y)]``; then ``xgb.train`` on a binary
``DMatrix`` with a ``TrainingCheckPoint(directory=tmpdir, interval=rounds, name="model")``
writing into a temporary folder, whose files the script lists. The digits are scikit-learn's
bundled copy, cut to 600 rows; on a machine with no GPU XGBoost trains on the CPU and says so.
"""

import json
import os
import tempfile

import numpy as np
import xgboost as xgb
from sklearn.datasets import load_digits

# -- early stopping, from the tutorial ------------------------------------------------------
es = xgb.callback.EarlyStopping(
    rounds=2,
    min_delta=1e-3,
    save_best=True,
    maximize=False,
    data_name="validation_0",
    metric_name="mlogloss",
)
clf = xgb.XGBClassifier(tree_method="hist", device="cuda", callbacks=[es], n_jobs=1)
X, y = load_digits(return_X_y=True)
X, y = X[:600], y[:600]
clf.fit(X, y, eval_set=[(X, y)], verbose=False)
print("best_iteration:", clf.best_iteration)
print("trees kept:", clf.get_booster().num_boosted_rounds())
print("mlogloss:", json.dumps(clf.evals_result()["validation_0"]["mlogloss"]))
config = json.loads(clf.get_booster().save_config())
print("device used:", config["learner"]["generic_param"]["device"])

# -- checkpoints, from demo/guide-python/callbacks.py ---------------------------------------
# only for demo, set a larger value (like 100) in practice as checkpointing is quite slow.
rounds = 2
rng = np.random.default_rng(0)
features = rng.normal(size=(300, 5))
labels = (features[:, 0] + rng.normal(scale=0.5, size=300) > 0).astype(int)
m = xgb.DMatrix(features, labels)
# Check point to a temporary directory for demo
with tempfile.TemporaryDirectory() as tmpdir:
    # Use callback class from xgboost.callback
    # Feel free to subclass/customize it to suit your need.
    check_point = xgb.callback.TrainingCheckPoint(directory=tmpdir, interval=rounds, name="model")
    xgb.train(
        {"objective": "binary:logistic", "nthread": 1},
        m,
        num_boost_round=10,
        verbose_eval=False,
        callbacks=[check_point],
    )
    print("checkpoints:", json.dumps(sorted(os.listdir(tmpdir))))


def check(printed: str) -> None:
    import autolog

    shown = dict(line.split(": ", 1) for line in printed.splitlines())
    trained, fitted = autolog.search_runs()  # newest first
    assert fitted.data.tags["autolog.estimator"] == "XGBClassifier"
    params = fitted.data.params
    # the callback with its settings
    assert params["callbacks"] == "['EarlyStopping']"
    assert params["callback_EarlyStopping_rounds"] == "2"
    assert params["callback_EarlyStopping_save_best"] == "True"
    assert params["callback_EarlyStopping_min_delta"] == "0.001"
    assert params["callback_EarlyStopping_maximize"] == "False"
    assert params["callback_EarlyStopping_data_name"] == "validation_0"
    assert params["callback_EarlyStopping_metric_name"] == "mlogloss"
    # the device XGBoost trained on, and the one asked for
    assert params["device"] == shown["device used"]
    assert params["device_requested"] == "cuda"
    run_id = fitted.info.run_id
    losses = json.loads(shown["mlogloss"])
    history = autolog.get_metric_history(run_id, "validation_0-mlogloss")
    assert [(h.step, h.value) for h in history] == list(enumerate(losses))
    assert fitted.data.metrics["best_iteration"] == int(shown["best_iteration"])
    # save_best: the model logged is the one returned, cut at the best iteration
    model = autolog.load_model(f"runs:/{run_id}/model")
    assert model.get_booster().num_boosted_rounds() == int(shown["trees kept"])

    params = trained.data.params
    assert params["callbacks"] == "['TrainingCheckPoint']"
    assert params["callback_TrainingCheckPoint_interval"] == "2"
    assert params["callback_TrainingCheckPoint_name"] == "model"
    written = json.loads(shown["checkpoints"])
    assert written  # the demo's folder is gone: the run keeps what was in it
    logged = autolog.list_artifacts(trained.info.run_id, "checkpoints")
    assert sorted(f.path for f in logged) == [f"checkpoints/{name}" for name in written]
    last = sorted(written, key=lambda name: int(name.split("_")[1].split(".")[0]))[-1]
    saved = xgb.Booster(
        model_file=autolog.download_artifacts(trained.info.run_id, f"checkpoints/{last}")
    )
    assert saved.num_boosted_rounds() == int(last.split("_")[1].split(".")[0]) + 1
