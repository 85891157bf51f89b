"""LightGBM integration benchmark (issue: LightGBM autologging). Prints the figure and its target.

    .venv/bin/python benchmarks/bench_lightgbm.py [--repeats N]

``lightgbm.train``: 100 rounds on 15,000 x 20 with a 3,000-row validation set, one thread.
Bare and autologged (``autolog()``: params, a metric per iteration, feature importance, the
model) calls alternate as ``_timing`` describes; the figure is the ratio of the medians.
Target: autologged / bare <= 1.05 in wall-clock time (MLflow's LightGBM autologging: 3.2x).
"""

from __future__ import annotations

from typing import Any

import _timing

TARGET = 1.05
ROUNDS = 100
PARAMS = {"objective": "regression", "num_threads": 1, "verbose": -1, "seed": 0}


def make_data() -> tuple[Any, Any, Any, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    weights = rng.normal(size=20)
    X = rng.normal(size=(18_000, 20))
    y = X @ weights + np.sin(3 * X[:, 0]) + rng.normal(scale=0.5, size=len(X))
    return X[:15_000], y[:15_000], X[15_000:], y[15_000:]


def timed_train(data: tuple[Any, Any, Any, Any]) -> tuple[float, float]:
    """Wall-clock and training-thread CPU seconds of one lgb.train call."""
    import lightgbm as lgb

    X, y, X_valid, y_valid = data
    train_set = lgb.Dataset(X, y)
    valid_set = lgb.Dataset(X_valid, y_valid, reference=train_set)
    return _timing.timed(
        lambda: lgb.train(PARAMS, train_set, ROUNDS, valid_sets=[valid_set], valid_names=["valid"])
    )


def main(repeats: int) -> int:
    import autolog

    data = make_data()
    ratio = _timing.alternate(lambda label: timed_train(data), ["lightgbm"], repeats).report(
        decimals=1
    )
    runs = autolog.search_runs()
    history = autolog.get_metric_history(runs[0].info.run_id, "valid-l2")
    assert len(history) == ROUNDS, len(history)
    ok = ratio <= TARGET
    _timing.verdict(
        ok,
        f"lgb.train 100 rounds, 15,000 x 20 + validation, 1 thread: "
        f"autologged / bare = {ratio:.3f} (target <= {TARGET}; MLflow 3.2x)",
    )
    return 0


if __name__ == "__main__":
    _timing.main(__doc__, main)
