"""XGBoost integration benchmark (issue 11: XGBoost, the proof of the integration contract).

    .venv/bin/python benchmarks/bench_xgboost.py [--repeats N]

``xgboost.train``: 100 rounds on 15,000 x 20 with a 3,000-row eval set, one thread.
Bare and autologged (``autolog()``: params, a metric per iteration, feature importance, the
model) calls alternate as ``_timing`` describes; the figure is the ratio of the medians.
Target: autologged / bare <= 1.05 in wall-clock time.
"""

from __future__ import annotations

from typing import Any

import _timing

TARGET = 1.05
ROUNDS = 100
PARAMS = {"objective": "reg:squarederror", "nthread": 1, "seed": 0}


def make_data() -> tuple[Any, Any]:
    import numpy as np
    import xgboost as xgb

    rng = np.random.default_rng(0)
    weights = rng.normal(size=20)
    X = rng.normal(size=(18_000, 20))
    y = X @ weights + np.sin(3 * X[:, 0]) + rng.normal(scale=0.5, size=len(X))
    return xgb.DMatrix(X[:15_000], y[:15_000]), xgb.DMatrix(X[15_000:], y[15_000:])


def timed_train(data: tuple[Any, Any]) -> tuple[float, float]:
    """Wall-clock and training-thread CPU seconds of one xgb.train call."""
    import xgboost as xgb

    dtrain, dvalid = data
    return _timing.timed(
        lambda: xgb.train(PARAMS, dtrain, ROUNDS, evals=[(dvalid, "valid")], verbose_eval=False)
    )


def main(repeats: int) -> int:
    import autolog

    data = make_data()
    ratio = _timing.alternate(lambda label: timed_train(data), ["xgboost"], repeats).report(
        decimals=1
    )
    runs = autolog.search_runs()
    history = autolog.get_metric_history(runs[0].info.run_id, "valid-rmse")
    assert len(history) == ROUNDS, len(history)
    ok = ratio <= TARGET
    _timing.verdict(
        ok,
        f"xgb.train 100 rounds, 15,000 x 20 + eval set, 1 thread: "
        f"autologged / bare = {ratio:.3f} (target <= {TARGET})",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    _timing.main(__doc__, main)
