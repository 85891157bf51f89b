"""A pytest plugin that turns autolog on for a whole test session (used by
bench_sklearn_suite.py to run scikit-learn's own tests with every fit recorded)."""

from __future__ import annotations

import os
from typing import Any


def pytest_configure(config: Any) -> None:
    import autolog

    autolog.set_tracking_uri(os.environ["AUTOLOG_SUITE_TRACKING_URI"])
    autolog.autolog()


def pytest_unconfigure(config: Any) -> None:
    import autolog

    autolog.flush()
    runs = autolog.search_runs(max_results=1_000_000)
    print(f"\nautolog recorded {len(runs)} runs")
