"""The timing loop the framework benchmarks share (bench_lightgbm, bench_xgboost,
bench_transformers): one training call, bare and autologged, alternated in one process.

Bare (``autolog(disable=True)``) and autologged (``autolog()`` with the benchmark's
integrations) calls alternate after a warm-up of each, in swapped order every other round so
that neither mode always runs second; the figure is the ratio of the medians. The writer's
background work is flushed between calls, outside the timings, so that one call's writes never
land in the next one's time. The training thread's CPU time is kept too: on a busy machine it
varies less than the wall-clock time, and it leaves out the writer thread's work by
construction.

    import _timing
    timings = _timing.alternate(lambda label: train_once(data), ["lightgbm"], repeats)
    ratio = timings.report(decimals=1)
    _timing.verdict(ratio <= TARGET, f"lgb.train ...: autologged / bare = {ratio:.3f}")
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MODES = ("bare", "autologged")


def timed(train: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and training-thread CPU seconds of ``train()``."""
    start, start_cpu = time.perf_counter(), time.thread_time()
    train()
    return time.perf_counter() - start, time.thread_time() - start_cpu


@dataclass
class Timings:
    """The recorded calls of each mode, in seconds."""

    wall: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MODES})
    cpu: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MODES})
    #: the ``flush()`` after each autologged call, warm-up included (not on the training thread)
    flushes: list[float] = field(default_factory=list)

    def ratio(self) -> float:
        """Autologged / bare, medians of the wall-clock times."""
        return statistics.median(self.wall["autologged"]) / statistics.median(self.wall["bare"])

    def report(self, *, decimals: int, fastest: bool = False) -> float:
        """Print the medians (ms, with ``decimals``), every call, the CPU-time ratio and the
        flush time; ``fastest``: the ratios of the fastest calls of each mode too, which other
        load on the machine can only make slower. Returns ``ratio()``."""
        bare, logged = (statistics.median(self.wall[m]) for m in MODES)
        for mode, median in (("bare      ", bare), ("autologged", logged)):
            calls = ", ".join(f"{t * 1000:.0f}" for t in self.wall[mode.strip()])
            print(f"      {mode} median {median * 1000:.{decimals}f} ms  ({calls})")
        bare_cpu, logged_cpu = (statistics.median(self.cpu[m]) for m in MODES)
        print(
            f"      training-thread CPU time: bare median {bare_cpu * 1000:.{decimals}f} ms, "
            f"autologged {logged_cpu * 1000:.{decimals}f} ms, ratio {logged_cpu / bare_cpu:.3f} "
            "(other load on the machine moves it less than the wall-clock time)"
        )
        if fastest:
            wall = min(self.wall["autologged"]) / min(self.wall["bare"])
            cpu = min(self.cpu["autologged"]) / min(self.cpu["bare"])
            print(
                f"      fastest calls: wall-clock ratio {wall:.3f}, "
                f"training-thread CPU ratio {cpu:.3f}"
            )
        print(
            f"      background flush after each autologged call: median "
            f"{statistics.median(self.flushes) * 1000:.1f} ms (not on the training thread)"
        )
        return logged / bare


def alternate(
    train: Callable[[str], tuple[float, float]], integrations: list[str], repeats: int
) -> Timings:
    """``repeats`` timed calls of each mode after one warm-up call of each (library loaded,
    store created, writer started). ``train(label)`` makes one call and returns its
    ``timed`` seconds; ``label`` (``"bare-0"``, ``"autologged--1"`` for the warm-up) names
    the call, for what it writes."""
    import autolog

    timings = Timings()

    def run(mode: str, i: int, record: bool) -> None:
        autolog.autolog(disable=mode == "bare", integrations=integrations)
        seconds, cpu_seconds = train(f"{mode}-{i}")
        start = time.perf_counter()
        autolog.flush()
        if mode == "autologged":
            timings.flushes.append(time.perf_counter() - start)
        if record:
            timings.wall[mode].append(seconds)
            timings.cpu[mode].append(cpu_seconds)

    for mode in MODES:
        run(mode, -1, record=False)
    for i in range(repeats):
        for mode in MODES if i % 2 == 0 else MODES[::-1]:
            run(mode, i, record=True)
    return timings


def verdict(ok: bool, text: str) -> None:
    """The benchmark's figure against its target: one line, PASS or MISS."""
    print(f"{'PASS' if ok else 'MISS'}  {text}", flush=True)


def main(doc: str, bench: Callable[[int], int]) -> None:
    """Run ``bench(repeats)`` in a fresh temporary folder (its store and files go there) and
    exit with its code: the command line of every benchmark built on this module."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed calls of each mode")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="autolog-bench-") as folder:
        os.chdir(folder)
        code = bench(arguments.repeats)
        os.chdir(os.path.dirname(os.path.abspath(__file__)))
    sys.exit(code)
