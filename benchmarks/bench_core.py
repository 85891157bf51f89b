"""Tracking-core benchmarks (issue: the tracking core). Prints each figure against its target.

    .venv/bin/python benchmarks/bench_core.py [log_metric|import|history|processes|file_params ...]

Each benchmark works in a fresh temporary folder with the default SQLite store (file_params:
a file store).
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

RESULTS: list[tuple[str, str, bool]] = []


def report(name: str, figure: str, ok: bool) -> None:
    RESULTS.append((name, figure, ok))
    print(f"{'PASS' if ok else 'MISS'}  {name}: {figure}", flush=True)


def bench_log_metric() -> None:
    """log_metric x 200,000 in one run, then flush(): >= 250,000 values/s end to end."""
    import autolog

    n = 200_000
    with autolog.start_run():  # warm-up: store opened, schema created, writer started
        autolog.log_metric("warm", 0.0)
    autolog.flush()
    best = 0.0
    for _ in range(3):
        with autolog.start_run() as run:
            start = time.perf_counter()
            for i in range(n):
                autolog.log_metric("loss", i * 0.5, step=i)
            logged = time.perf_counter() - start
            autolog.flush()
            total = time.perf_counter() - start
        stored = len(autolog.get_metric_history(run.info.run_id, "loss"))
        assert stored == n, stored
        rate = n / total
        best = max(best, rate)
        print(f"      log_metric calls {logged:.3f} s, stored after {total:.3f} s: {rate:,.0f}/s")
    report(
        "log_metric 200k + flush (SQLite)",
        f"{best:,.0f} values/s (target >= 250,000)",
        best >= 250_000,
    )


def bench_import() -> None:
    """python -c 'import autolog': <= 50 ms above a bare interpreter."""

    def best_of(code: str, runs: int = 20) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append(time.perf_counter() - start)
        return min(times)

    # An installed package has its bytecode compiled (pip does it); a checkout run with
    # PYTHONDONTWRITEBYTECODE=1 would recompile autolog on every start instead.
    import compileall

    import autolog

    compileall.compile_dir(Path(autolog.__file__).parent, quiet=1)
    compileall.compile_dir(Path(autolog.__file__).parent.parent / "integrations", quiet=1)
    best_of("import autolog", 3)
    bare = best_of("pass")
    with_autolog = best_of("import autolog")
    extra = (with_autolog - bare) * 1000
    report(
        "import autolog",
        f"{extra:.1f} ms above bare "
        f"({with_autolog * 1000:.1f} vs {bare * 1000:.1f} ms; target <= 50)",
        extra <= 50,
    )


def bench_history() -> None:
    """get_metric_history of 1,000,000 points: <= 1 s."""
    import autolog

    n = 1_000_000
    with autolog.start_run() as run:
        for i in range(n):
            autolog.log_metric("loss", float(i), step=i)
    autolog.flush()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        history = autolog.get_metric_history(run.info.run_id, "loss")
        best = min(best, time.perf_counter() - start)
        assert len(history) == n
        assert history[-1].value == float(n - 1)
    report("get_metric_history 1M points", f"{best:.3f} s (target <= 1 s)", best <= 1.0)


def _child(uri: str, index: int, n: int, barrier: Callable[[], object]) -> None:
    import autolog

    autolog.set_tracking_uri(uri)
    barrier()
    with autolog.start_run(run_name=f"proc{index}"):
        for i in range(n):
            autolog.log_metric("m", float(i), step=i)


def bench_processes() -> None:
    """8 processes x 10,000 metrics into one SQLite file: no error, nothing lost."""
    import autolog

    procs, n = 8, 10_000
    uri = f"sqlite:///{Path.cwd() / 'shared.db'}"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(procs)
    workers = [ctx.Process(target=_child, args=(uri, i, n, barrier.wait)) for i in range(procs)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(300)
    elapsed = time.perf_counter() - start
    codes = [w.exitcode for w in workers]
    client = autolog.Client(uri)
    runs = client.search_runs(max_results=100)
    counts = [len(client.get_metric_history(r.info.run_id, "m")) for r in runs]
    ok = codes == [0] * procs and len(runs) == procs and counts == [n] * procs
    report(
        "8 processes x 10,000 metrics, one SQLite file",
        f"{elapsed:.2f} s including interpreter start-up; exit codes {set(codes)}, "
        f"{len(runs)} runs, {sum(counts):,} of {procs * n:,} values stored",
        ok,
    )


def bench_file_params() -> None:
    """Params into a file store (issue 17): 100 batches of 10 through log_batch >= 1,000/s, and
    1,000 in one batch (a second of 1,000 params/s: one flush) stored in <= 250 ms."""
    import uuid

    from autolog.entities import Param
    from autolog.stores.file import FileStore

    store = FileStore(str(Path.cwd() / "files"))
    experiment = store.get_or_create_experiment("e").experiment_id
    rate, one_batch = 0.0, float("inf")
    for _ in range(3):
        run_id = uuid.uuid4().hex
        store.create_run(run_id, experiment, "r", 0, "file:///a", None, {"t": "x"})
        start = time.perf_counter()
        for b in range(100):
            store.log_batch(run_id, params=[Param(f"p{b}.{i}", str(i)) for i in range(10)])
        rate = max(rate, 1000 / (time.perf_counter() - start))
        start = time.perf_counter()
        store.log_batch(run_id, params=[Param(f"q{i}", str(i)) for i in range(1000)])
        one_batch = min(one_batch, time.perf_counter() - start)
    report(
        "file store params (log_batch)",
        f"{rate:,.0f} params/s in batches of 10 (target >= 1,000); "
        f"1,000 in one batch {one_batch * 1000:.0f} ms (target <= 250)",
        rate >= 1000 and one_batch <= 0.25,
    )


BENCHES = {
    "log_metric": bench_log_metric,
    "import": bench_import,
    "history": bench_history,
    "processes": bench_processes,
    "file_params": bench_file_params,
}


def main(names: list[str]) -> int:
    for name in names or list(BENCHES):
        with tempfile.TemporaryDirectory() as tmp:
            os.chdir(tmp)
            code = subprocess.run(
                [sys.executable, __file__, "--one", name], cwd=tmp, check=False
            ).returncode
            if code != 0:
                report(name, f"crashed (exit {code})", False)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        BENCHES[sys.argv[2]]()
    else:
        sys.exit(main(sys.argv[1:]))
