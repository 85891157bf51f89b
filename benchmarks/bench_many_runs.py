"""Memory over many short runs in one process (issue 17, item 3): nothing is kept per run.

    .venv/bin/python benchmarks/bench_many_runs.py [--runs 100000] [--store sqlite|file]

Each run is ``with autolog.start_run(): log_param; log_metric``. After a warm-up (past every
bounded memory of recent runs: ended runs, the writer's tables at their high-water mark), the
memory Python holds (tracemalloc) is read every tenth of the runs, once the writer has written
them; the figure is what stays per run: the slope, in bytes per run (target: ~0; a few bytes
per run over 100,000 runs is the noise of the allocator's free lists).
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
import tracemalloc


def _settle() -> int:
    """Python's memory in use once the writer has written (and forgotten) what was logged."""
    import autolog

    autolog.flush()
    time.sleep(0.3)  # the writer forgets an ended run at the pass after its end
    autolog.flush()
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=3_000)
    parser.add_argument("--store", choices=("sqlite", "file"), default="sqlite")
    args = parser.parse_args()
    os.chdir(tempfile.mkdtemp(prefix="autolog-bench-runs-"))
    import autolog

    if args.store == "file":
        autolog.set_tracking_uri(f"file://{os.getcwd()}/runs")

    def runs(n: int) -> None:
        for _ in range(n):
            with autolog.start_run():
                autolog.log_param("p", 1)
                autolog.log_metric("m", 1.0)

    tracemalloc.start(1)
    runs(args.warmup)
    base = _settle()
    points = [(0, base)]
    step = max(args.runs // 10, 1)
    started = time.perf_counter()
    done = 0
    while done < args.runs:
        n = min(step, args.runs - done)
        runs(n)
        done += n
        points.append((done, _settle()))
        print(
            f"  {done:>9,} runs  {points[-1][1] - base:>+12,} bytes  "
            f"{done / (time.perf_counter() - started):,.0f} runs/s",
            flush=True,
        )
    # least-squares slope over the readings: bytes that stay per run
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum(
        (x - mean_x) ** 2 for x, _ in points
    )
    total = points[-1][1] - base
    ok = slope < 8
    print(
        f"{'PASS' if ok else 'MISS'}  {args.runs:,} runs ({args.store}): {slope:.2f} bytes "
        f"retained per run (slope), {total:+,} bytes in all after the warm-up (target: ~0)"
    )
    tracemalloc.stop()


if __name__ == "__main__":
    main()
