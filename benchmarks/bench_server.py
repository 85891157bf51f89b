"""The tracking server's four figures (issue 8), against a local `autolog server` on SQLite.

1. One client: ``log_metric`` x 200,000 then ``flush()``: values per second end to end
   (target >= 100,000/s).
2. 8 client processes x 100,000 values at once, in batches of 1,000: every value stored
   exactly once; total rate and p99 latency of a 1,000-value batch (target <= 50 ms).
3. ``get_metric_history`` of 1,000,000 points over HTTP (target <= 2 s).
4. A 100 MB artifact up and down through the server (target >= 100 MB/s each way), with the
   server's memory before, during and after.

Run: ``.venv/bin/python benchmarks/bench_server.py`` (``--quick`` for a smaller run).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

import autolog
from autolog.entities import Metric
from autolog.stores.rest import RestStore

AUTOLOG = str(Path(sys.executable).with_name("autolog"))
T0 = 1_700_000_000_000


def start_server(root: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            AUTOLOG,
            "server",
            "--port",
            "0",
            "--backend-store-uri",
            f"sqlite:///{root}/autolog.db",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--max-artifact-size",
            "1GiB",
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    url = line.rsplit(" ", 1)[-1].strip()
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}/api/v1/health", timeout=5)
            return process, url
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def new_run(store: RestStore, name: str) -> str:
    experiment = store.get_or_create_experiment("bench")
    run_id = os.urandom(16).hex()
    store.create_run(run_id, experiment.experiment_id, name, T0, "x", None, {})
    return run_id


def one_client(url: str, n: int) -> float:
    client = autolog.Client(url)
    run_id = client.create_run("bench", run_name="one-client").info.run_id
    client.flush()
    log = client.log_metric
    started = time.perf_counter()
    for step in range(n):
        log(run_id, "loss", 0.5, step)
    client.flush()
    elapsed = time.perf_counter() - started
    assert len(client.get_metric_history(run_id, "loss")) == n
    client.set_terminated(run_id)
    client.close()
    return n / elapsed


def _client_process(url: str, run_id: str, n: int, batch: int, start: object, out: object) -> None:
    store = RestStore(url)
    store.get_run(run_id)  # connected before the start
    start.wait()  # type: ignore[attr-defined]
    latencies = []
    for first in range(0, n, batch):
        metrics = [Metric("m", float(i), i, T0 + i) for i in range(first, first + batch)]
        t = time.perf_counter()
        store.log_batch(run_id, metrics)
        latencies.append(time.perf_counter() - t)
    store.close()
    out.put(latencies)  # type: ignore[attr-defined]


def many_clients(url: str, processes: int, n: int, batch: int) -> tuple[float, float, float]:
    with RestStore(url) as store:
        runs = [new_run(store, f"client-{i}") for i in range(processes)]
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    workers = [
        ctx.Process(target=_client_process, args=(url, run, n, batch, start, out)) for run in runs
    ]
    for worker in workers:
        worker.start()
    time.sleep(3)  # all connected
    started = time.perf_counter()
    start.set()
    latencies = [x for _ in workers for x in out.get(timeout=600)]
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join()
    with RestStore(url) as store:
        for run in runs:
            history = store.get_metric_history(run, "m")
            assert [m.step for m in history] == list(range(n)), "a value lost or doubled"
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    return processes * n / elapsed, p99, statistics.median(latencies)


def long_history(url: str, n: int) -> float:
    with RestStore(url) as store:
        run = new_run(store, "history")
        for first in range(0, n, 200_000):
            size = min(200_000, n - first)
            store.log_batch(
                run, [Metric("h", float(i), i, T0 + i) for i in range(first, first + size)]
            )
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            history = store.get_metric_history(run, "h")
            best = min(best, time.perf_counter() - t)
            assert len(history) == n
            del history
    return best


class MemoryWatch:
    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def artifact(url: str, root: Path, size: int, server_pid: int) -> dict[str, float]:
    source = root / "blob.bin"
    with source.open("wb") as f:
        for _ in range(size // (1 << 20)):
            f.write(os.urandom(1 << 20))
    with RestStore(url) as store:
        run = new_run(store, "artifact")
        repo = store.run_artifacts(run)
        rss = psutil.Process(server_pid).memory_info().rss
        watch = MemoryWatch(server_pid)
        t = time.perf_counter()
        repo.put_file(source, "blob.bin")
        up = time.perf_counter() - t
        t = time.perf_counter()
        out = repo.download("blob.bin", root / "down")
        down = time.perf_counter() - t
        peak = watch.stop()
        assert out.stat().st_size == source.stat().st_size
    # As users log it: staged (copied and hashed) on the writer, then uploaded
    client = autolog.Client(url)
    run_id = client.create_run("Default").info.run_id
    client.flush()
    t = time.perf_counter()
    client.log_artifact(run_id, source)
    client.flush()
    logged = time.perf_counter() - t
    client.close()
    mb = size / 1e6
    return {
        "logged": mb / logged,
        "up": mb / up,
        "down": mb / down,
        "rss_before_mb": rss / 1e6,
        "rss_peak_mb": peak / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller figures (CI smoke)")
    parser.add_argument(
        "--only", choices=("artifact",), help="run one figure alone (before/after comparisons)"
    )
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    with tempfile.TemporaryDirectory(prefix="bench-server-") as folder:
        root = Path(folder)
        server, url = start_server(root)
        try:
            if args.only != "artifact":
                numbers(url, scale)
            figures = artifact(url, root, (100 << 20) // scale, server.pid)
            print(
                f"{100 // scale} MiB artifact: up {figures['up']:.0f} MB/s, down "
                f"{figures['down']:.0f} MB/s (target >= 100 each), log_artifact + flush "
                f"{figures['logged']:.0f} MB/s; server RSS "
                f"{figures['rss_before_mb']:.0f} MB before, peak {figures['rss_peak_mb']:.0f} MB"
            )
        finally:
            server.terminate()
            server.wait(30)


def numbers(url: str, scale: int) -> None:
    """The metric figures: one client, many processes, a long history."""
    rate = one_client(url, 200_000 // scale)
    print(
        f"1 client, log_metric x {200_000 // scale:,} + flush: {rate:,.0f} values/s"
        " (target >= 100,000)"
    )
    total, p99, median = many_clients(url, 8, 100_000 // scale, 1_000)
    print(
        f"8 processes x {100_000 // scale:,} values in 1,000-value batches: "
        f"{total:,.0f} values/s in all, each stored once; batch latency p99 "
        f"{p99 * 1000:.1f} ms, median {median * 1000:.1f} ms (target p99 <= 50 ms)"
    )
    seconds = long_history(url, 1_000_000 // scale)
    print(
        f"get_metric_history of {1_000_000 // scale:,} points over HTTP: {seconds:.2f} s "
        "(target <= 2 s)"
    )


if __name__ == "__main__":
    main()
