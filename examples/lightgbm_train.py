"""LightGBM under `autolog.autolog()`: train with a validation set and early stopping, with no
logging code at all, then read back what was recorded.

Run with `make demo` (after quickstart.py, in the same examples/autolog-runs store).
"""

from __future__ import annotations

import numpy as np

import autolog


def make_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4_000, 8))
    y = 2 * X[:, 0] - X[:, 1] + np.sin(3 * X[:, 2]) + rng.normal(scale=0.3, size=len(X))
    return X, y


def main() -> None:
    autolog.set_experiment("lightgbm")
    autolog.autolog()  # before or after `import lightgbm`: both work
    import lightgbm as lgb

    X, y = make_data()
    train_set = lgb.Dataset(X[:3_000], y[:3_000])
    valid_set = lgb.Dataset(X[3_000:], y[3_000:], reference=train_set)
    booster = lgb.train(
        {"objective": "regression", "learning_rate": 0.2, "num_threads": 1, "verbose": -1},
        train_set,
        num_boost_round=500,
        valid_sets=[valid_set],
        valid_names=["valid"],
        callbacks=[lgb.early_stopping(10, verbose=False)],
    )

    run = autolog.last_active_run()
    assert run is not None
    run_id = run.info.run_id
    stored = autolog.get_run(run_id)
    print(f"tracking URI: {autolog.get_tracking_uri()}")
    print(f"run {stored.info.run_name} ({run_id}): {stored.info.status}")
    params = stored.data.params
    shown = ["objective", "learning_rate", "num_leaves", "num_boost_round", "early_stopping_round"]
    print(f"  params: {len(params)} in all, among them { ({k: params[k] for k in shown}) }")
    print(f"  metrics: {dict(sorted(stored.data.metrics.items()))}")
    history = autolog.get_metric_history(run_id, "valid-l2")
    print(
        f"  valid-l2 history: {len(history)} steps, "
        f"{history[0].value:.4f} (step {history[0].step}) -> "
        f"{history[-1].value:.4f} (step {history[-1].step})"
    )
    print(f"  artifacts: {[f.path for f in autolog.list_artifacts(run_id)]}")
    print(f"  model files: {[f.path for f in autolog.list_artifacts(run_id, 'model')]}")
    with open(autolog.download_artifacts(run_id, "feature_importance.csv")) as f:
        lines = f.read().splitlines()
    print(f"  feature_importance.csv: {lines[0]!r}, {lines[1]!r}, ...")
    loaded = autolog.load_model(f"runs:/{run_id}/model")
    same = np.array_equal(loaded.predict(X), booster.predict(X))
    print(
        f"  load_model -> {type(loaded).__name__} read from model.txt, no unpickling; "
        f"identical predictions: {same}"
    )

    # The scikit-learn API: one run per fit, with the inner train()'s iteration metrics.
    model = lgb.LGBMClassifier(n_estimators=50, n_jobs=1, verbose=-1)
    model.fit(X[:3_000], y[:3_000] > 0, eval_X=(X[3_000:],), eval_y=(y[3_000:] > 0,))
    fitted = autolog.last_active_run()
    assert fitted is not None
    stored = autolog.get_run(fitted.info.run_id)
    steps = len(autolog.get_metric_history(fitted.info.run_id, "valid_0-binary_logloss"))
    print(f"run {stored.info.run_name}: {stored.data.tags['autolog.estimator']}")
    print(f"  valid_0-binary_logloss: {steps} steps")
    scores = {k: round(v, 4) for k, v in stored.data.metrics.items() if k.startswith("training_")}
    print(f"  training scores: {scores}")
    restored = autolog.load_model(f"runs:/{fitted.info.run_id}/model")
    print(f"  load_model -> {type(restored).__name__}")


if __name__ == "__main__":
    main()
