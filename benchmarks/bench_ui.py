"""The web UI in headless Chromium, against a real `autolog server` on a SQLite store.

    .venv/bin/python benchmarks/bench_ui.py [--rounds 5] [--runs 10000]

Measures, as the browser sees it (times from navigation start, or from the click):
  * run page with a 1,000,000-point metric: the chart drawn            (target <= 1 s)
  * runs table of an experiment with 10,000 runs: first rows drawn     (target <= 1 s)
  * that table sorted by a metric, and filtered: new rows drawn        (target <= 0.5 s)
  * compare 10 runs x 10,000 points: every run's curve drawn           (target <= 1 s)
MLflow 3.17's UI on this machine, for reference: 9.4 s, 4.3 s (6,000 runs), 4.2-5.7 s.
Also prints the metric endpoint's answer for the 1M-point series (bytes, points, time).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

from autolog.entities import Metric, Param, RunStatus
from autolog.stores import open_store

T0 = 1_700_000_000_000
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def seed(db: Path, artifacts: Path, table_runs: int) -> dict[str, object]:
    """The three experiments the measurements read, written through the store directly."""
    os.environ["AUTOLOG_ARTIFACT_ROOT"] = str(artifacts)
    store = open_store(f"sqlite:///{db}")
    rng = random.Random(0)
    ids: dict[str, object] = {}
    try:
        long_exp = store.get_or_create_experiment("bench-long").experiment_id
        long_id = uuid.uuid4().hex
        store.create_run(long_id, long_exp, "million", T0, "file:///x", None, {})
        spike = 777_777
        for start in range(0, 1_000_000, 200_000):
            batch = [
                Metric(
                    "loss",
                    50.0 if s == spike else math.exp(-s / 3e5) + rng.random() * 0.01,
                    s,
                    T0 + s,
                )
                for s in range(start, start + 200_000)
            ]
            store.log_batch(long_id, batch)
        store.update_run(long_id, RunStatus.FINISHED, T0 + 1_000_000)
        ids["long"] = long_id

        table_exp = store.get_or_create_experiment("bench-table").experiment_id
        for i in range(table_runs):
            run_id = uuid.uuid4().hex
            store.create_run(
                run_id,
                table_exp,
                f"run-{i:05d}",
                T0 + i,
                "file:///x",
                None,
                {"autolog.user": "bench"},
            )
            store.log_batch(
                run_id,
                [Metric("acc", rng.random(), 0, T0 + i), Metric("loss", rng.random(), 0, T0 + i)],
                [Param("lr", str(rng.choice([0.1, 0.01, 0.001]))), Param("depth", str(i % 12))],
            )
            store.update_run(run_id, RunStatus.FINISHED, T0 + i + rng.randrange(100_000))
        ids["table"] = table_exp

        compare_exp = store.get_or_create_experiment("bench-compare").experiment_id
        compare_ids = []
        for r in range(10):
            run_id = uuid.uuid4().hex
            store.create_run(run_id, compare_exp, f"cmp-{r}", T0 + r, "file:///x", None, {})
            store.log_batch(
                run_id,
                [
                    Metric("loss", math.exp(-s / (2000 + 300 * r)) + rng.random() * 0.02, s, T0 + s)
                    for s in range(10_000)
                ],
            )
            store.update_run(run_id, RunStatus.FINISHED, T0 + 10_000)
            compare_ids.append(run_id)
        ids["compare"] = compare_ids
    finally:
        store.close()
    return ids


class Server:
    """`autolog server` on a free loopback port, as users start it."""

    def __init__(self, db: Path, artifacts: Path) -> None:
        command = Path(sys.executable).with_name("autolog")
        self.process = subprocess.Popen(
            [
                str(command),
                "server",
                "--backend-store-uri",
                f"sqlite:///{db}",
                "--artifacts-destination",
                str(artifacts),
                "--port",
                "0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + 60
        self.url = ""
        while time.monotonic() < deadline and not self.url:
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                raise RuntimeError("autolog server exited before it printed its URL")
            if " at http" in line:
                self.url = line.rsplit(" at ", 1)[1].strip().rstrip("/")
        # keep reading, so a full pipe never blocks the server
        threading.Thread(target=self.process.stdout.read, daemon=True).start()
        for _ in range(200):
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"autolog server at {self.url} does not answer")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def report(name: str, values: list[float], target: float) -> None:
    median = statistics.median(values)
    verdict = "ok" if median <= target else "MISSED"
    print(
        f"{name:<48} median {median / 1000:6.3f} s  best {min(values) / 1000:6.3f} s"
        f"  (target <= {target / 1000:.1f} s: {verdict})"
    )


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the table's experiment")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db, artifacts = Path(tmp) / "bench.db", Path(tmp) / "artifacts"
        started = time.perf_counter()
        ids = seed(db, artifacts, args.runs)
        print(
            f"seeded 1 run x 1M points, {args.runs:,} runs, 10 runs x 10,000 points"
            f" in {time.perf_counter() - started:.1f} s"
        )
        server = Server(db, artifacts)
        try:
            measure(server.url, ids, args.rounds, args.runs, sync_playwright)
        finally:
            server.stop()


def measure(
    url: str, ids: dict[str, object], rounds: int, runs: int, sync_playwright: object
) -> None:
    long_id, table_exp, compare_ids = ids["long"], ids["table"], ids["compare"]
    started = time.perf_counter()
    answer = httpx.get(
        f"{url}/api/v1/metric-series",
        params={"run_id": long_id, "key": "loss", "width": 1200},
        timeout=60,
    )
    series = answer.json()["series"][0]
    print(
        f"metric endpoint, 1M points for a 1,200 px chart: {len(answer.content):,} bytes,"
        f" {len(series['steps']):,} points, spike kept: {777_777 in series['steps']},"
        f" {time.perf_counter() - started:.3f} s"
    )

    with sync_playwright() as p:  # type: ignore[operator]
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        def drawn(selector: str) -> float:
            page.wait_for_selector(f"{selector}[data-drawn-at]", timeout=30_000)
            return float(page.get_attribute(selector, "data-drawn-at") or "nan")

        run_page = []
        for _ in range(rounds):
            page.goto(f"{url}/runs/{long_id}")
            run_page.append(drawn('figure[data-metric="loss"]'))
        report("run page, 1,000,000-point metric drawn", run_page, 1000)

        first_rows, sorts, filters = [], [], []
        grid = "div.vscroll"
        for _ in range(rounds):
            page.goto(f"{url}/experiments/{table_exp}")
            page.wait_for_selector(f"{grid}[data-rendered-at]", timeout=30_000)
            first_rows.append(float(page.get_attribute(grid, "data-rendered-at") or "nan"))

            def sort() -> None:
                page.click("th button.sort[title='Sort by acc']")

            def filter_runs() -> None:
                page.fill("input.filter-input", "metrics.acc > 0.5 and params.lr = '0.01'")
                page.press("input.filter-input", "Enter")

            for action, out in ((sort, sorts), (filter_runs, filters)):
                generation = int(page.get_attribute(grid, "data-generation") or "0")
                action()
                page.wait_for_function(
                    "(g) => Number(document.querySelector('div.vscroll').dataset.generation) > g",
                    arg=generation,
                    timeout=30_000,
                )
                rendered = float(page.get_attribute(grid, "data-rendered-at") or "nan")
                requested = float(page.get_attribute(grid, "data-requested-at") or "nan")
                out.append(rendered - requested)
        report(f"runs table, {runs:,} runs: first rows", first_rows, 1000)
        report(f"runs table, {runs:,} runs: sort by a metric", sorts, 500)
        report(f"runs table, {runs:,} runs: filter", filters, 500)

        compare = []
        for _ in range(rounds):
            page.goto(f"{url}/compare?runs={','.join(compare_ids)}")  # type: ignore[arg-type]
            compare.append(drawn('figure[data-metric="loss"]'))
            lines = page.evaluate(
                "document.querySelector('figure[data-metric=\"loss\"]').__chart.series.length"
            )
            assert lines == 10, lines
        report("compare 10 runs x 10,000 points: curves drawn", compare, 1000)
        if errors:
            print("page errors:", *errors, sep="\n  ")
        browser.close()


if __name__ == "__main__":
    main()
