"""Run some of scikit-learn's own test modules with autolog off and on.

    .venv/bin/python benchmarks/bench_sklearn_suite.py [module ...]

The test modules ship inside scikit-learn's wheel. "On" loads autolog_pytest_plugin, which
calls ``autolog.autolog()`` before the tests run, so every fit they make goes through our
patches and into a SQLite store. Target: no test that passes without autolog fails with it,
and the run takes at most 1.3x as long.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODULES = [
    "sklearn.tests.test_pipeline",
    "sklearn.model_selection.tests.test_search",
    "sklearn.linear_model.tests.test_logistic",
    "sklearn.ensemble.tests.test_forest",
    "sklearn.tests.test_base",
]
HERE = Path(__file__).resolve().parent


def run(modules: list[str], autolog_on: bool, folder: Path) -> tuple[dict[str, str], float, str]:
    report = folder / ("on.txt" if autolog_on else "off.txt")
    command = [
        sys.executable, "-m", "pytest", "--pyargs", *modules,
        "-q", "-p", "no:cacheprovider", "-rN", "--no-header",
        "-o", "addopts=", "-o", "filterwarnings=", f"--junitxml={report}.xml",
        "--timeout=600",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    if autolog_on:
        command[3:3] = ["-p", "autolog_pytest_plugin"]
        env["AUTOLOG_SUITE_TRACKING_URI"] = f"sqlite:///{folder / 'suite.db'}"
    start = time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    return _outcomes(Path(f"{report}.xml")), elapsed, done.stdout[-2000:]


def _outcomes(junit: Path) -> dict[str, str]:
    import xml.etree.ElementTree as ET

    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        kinds = {child.tag for child in case}
        if "failure" in kinds or "error" in kinds:
            outcomes[name] = "failed"
        elif "skipped" in kinds:
            outcomes[name] = "skipped"
        else:
            outcomes[name] = "passed"
    return outcomes


def main(modules: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        off, t_off, _ = run(modules, False, folder)
        on, t_on, tail = run(modules, True, folder)
    recorded = re.search(r"autolog recorded (\d+) runs", tail)
    count = lambda o, k: sum(1 for v in o.values() if v == k)  # noqa: E731
    new_failures = sorted(n for n, v in on.items() if v == "failed" and off.get(n) == "passed")
    ratio = t_on / t_off
    print(
        f"without autolog: {count(off, 'passed')} passed, {count(off, 'failed')} failed, "
        f"{count(off, 'skipped')} skipped in {t_off:.1f} s"
    )
    print(
        f"with autolog:    {count(on, 'passed')} passed, {count(on, 'failed')} failed, "
        f"{count(on, 'skipped')} skipped in {t_on:.1f} s"
        f" ({recorded.group(1) if recorded else '?'} runs recorded)"
    )
    for name in new_failures:
        print(f"  new failure: {name}")
    ok = not new_failures and ratio <= 1.3
    print(
        f"{'PASS' if ok else 'MISS'}  scikit-learn's tests under autolog: "
        f"{len(new_failures)} new failures, time ratio {ratio:.2f}x (target: 0 and <= 1.3x)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or MODULES))
