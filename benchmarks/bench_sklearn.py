"""scikit-learn integration overhead: autologged / bare fit time, measured in one process.

    .venv/bin/python benchmarks/bench_sklearn.py

Bare fits run with ``autolog(disable=True)`` (the original methods), autologged fits with
``autolog()`` and model logging on, into the default SQLite store in a temporary folder.
Fits alternate after a warm-up; the ratio compares medians. The autologged time includes
everything the call does on the training thread (params, training scores, model pickling);
the background writer's work is included by a flush after each autologged fit.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import autolog


def report(name: str, figure: str, ok: bool) -> None:
    print(f"{'PASS' if ok else 'MISS'}  {name}: {figure}", flush=True)


def ratio(make: Callable[[], Any], X: Any, y: Any, repeats: int) -> tuple[float, float, float]:
    def fit_time(enabled: bool) -> float:
        autolog.autolog(integrations=["sklearn"], disable=not enabled)
        start = time.perf_counter()
        make().fit(X, y)
        if enabled:
            autolog.flush()
        return time.perf_counter() - start

    for enabled in (False, True):
        fit_time(enabled)  # warm-up: imports, store, caches
    bare, logged = [], []
    for _ in range(repeats):
        bare.append(fit_time(False))
        logged.append(fit_time(True))
    b, a = statistics.median(bare), statistics.median(logged)
    return a / b, b, a


def bench_fits() -> None:
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(5000, 20, n_informative=10, random_state=0)
    r, b, a = ratio(lambda: LogisticRegression(max_iter=200), X, y, repeats=30)
    report(
        "LogisticRegression 5,000 x 20",
        f"autologged/bare = {r:.2f}x ({a * 1000:.1f} vs {b * 1000:.1f} ms; target <= 1.5x)",
        r <= 1.5,
    )
    r, b, a = ratio(lambda: RandomForestClassifier(50, random_state=0), X, y, repeats=7)
    report(
        "RandomForestClassifier 50 trees, 5,000 x 20",
        f"autologged/bare = {r:.3f}x ({a * 1000:.0f} vs {b * 1000:.0f} ms; target <= 1.10x)",
        r <= 1.10,
    )


FIRST_FIT = """
import sys, time
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
X, y = make_classification(5000, 20, random_state=0)
if sys.argv[1] == "on":
    import autolog
    autolog.autolog()
start = time.perf_counter()
LogisticRegression(max_iter=200).fit(X, y)
print(time.perf_counter() - start)
"""


def bench_first_fit() -> None:
    def first(mode: str) -> float:
        with tempfile.TemporaryDirectory() as folder:
            out = subprocess.run(
                [sys.executable, "-c", FIRST_FIT, mode],
                cwd=folder,
                capture_output=True,
                text=True,
                check=True,
            )
        return float(out.stdout)

    bare = statistics.median(first("off") for _ in range(5))
    logged = statistics.median(first("on") for _ in range(5))
    extra = (logged - bare) * 1000
    report(
        "first fit in a fresh process",
        f"{extra:.0f} ms extra ({logged * 1000:.0f} vs {bare * 1000:.0f} ms; target <= 300 ms)",
        extra <= 300,
    )


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        bench_fits()
        bench_first_fit()
