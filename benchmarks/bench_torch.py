"""PyTorch integration benchmark (issue: PyTorch plain loops): each figure against its target.

    .venv/bin/python benchmarks/bench_torch.py [--repeats N]

A 3-epoch MLP loop (8,192 x 32 inputs, batch 64, Adam, cross-entropy), autologged with model
logging on, against the same loop with ``autolog(disable=True)``; then the same with a
validation pass (2,048 samples, batch 256, ``no_grad`` + ``eval()``) after every epoch. Both
modes run in one process, in a fresh temporary folder with the default SQLite store: warm-up
rounds of each first (8), then alternating, and the medians are compared. Each timed loop ends with
``autolog.end_run()`` (a no-op when bare), so the autologged time includes logging the final
model; ``autolog.flush()`` runs between loops, untimed, so that one loop's background writes do
not land in the next one's time. Torch uses one thread: the figures are steadier on a shared
machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import autolog

TARGET = 1.05
WARM_UP = 8  # rounds of both modes before measuring: the first loops of a process are slower


def make_data() -> tuple[
    DataLoader[tuple[torch.Tensor, ...]], DataLoader[tuple[torch.Tensor, ...]]
]:
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(8192, 32, generator=generator)
    y = (X[:, :10].argmax(dim=1) + (X[:, 10] > 0).long()) % 10
    Xv = torch.randn(2048, 32, generator=generator)
    yv = (Xv[:, :10].argmax(dim=1) + (Xv[:, 10] > 0).long()) % 10
    train = DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True)
    val = DataLoader(TensorDataset(Xv, yv), batch_size=256)
    return train, val


def train_loop(
    train: DataLoader[tuple[torch.Tensor, ...]],
    val: DataLoader[tuple[torch.Tensor, ...]] | None,
) -> float:
    """The user's loop, unchanged whether autolog is on: returns the last epoch's mean loss."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()
    last = 0.0
    for _epoch in range(3):
        model.train()
        total = torch.zeros(())
        for xb, yb in train:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.detach()
        last = float(total) / len(train)
        if val is not None:
            model.eval()
            with torch.no_grad():
                for xb, yb in val:
                    criterion(model(xb), yb)
    return last


def timed(
    train: DataLoader[tuple[torch.Tensor, ...]], val: DataLoader[tuple[torch.Tensor, ...]] | None
) -> tuple[float, float]:
    """(wall, process CPU) seconds of one loop and its end_run."""
    wall, cpu = time.perf_counter(), time.process_time()
    train_loop(train, val)
    autolog.end_run()
    elapsed = time.perf_counter() - wall, time.process_time() - cpu
    autolog.flush()
    return elapsed


def compare(name: str, with_validation: bool, repeats: int) -> bool:
    train, val = make_data()
    loader_val = val if with_validation else None
    times: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for round_ in range(-WARM_UP, repeats):  # negative rounds warm both modes up
        for logged in (True, False) if round_ % 2 == 0 else (False, True):
            autolog.autolog(disable=not logged)
            elapsed = timed(train, loader_val)
            if round_ >= 0:
                times[logged].append(elapsed)
    autolog.autolog(disable=True)
    logged_s = statistics.median(t[0] for t in times[True])
    bare_s = statistics.median(t[0] for t in times[False])
    ratio = logged_s / bare_s
    paired = statistics.median(a[0] / b[0] for a, b in zip(times[True], times[False], strict=True))
    cpu = statistics.median(t[1] for t in times[True]) / statistics.median(
        t[1] for t in times[False]
    )
    runs = autolog.search_runs(max_results=10_000)
    ok = ratio <= TARGET
    print(
        f"{'PASS' if ok else 'MISS'}  {name}: autologged / bare = {ratio:.3f} "
        f"(wall-clock medians of {repeats}: {logged_s * 1000:.1f} ms vs {bare_s * 1000:.1f} ms; "
        f"target <= {TARGET}); median of paired ratios {paired:.3f}, process CPU time "
        f"{cpu:.3f}; {len(runs)} runs recorded",
        flush=True,
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=21)
    repeats = parser.parse_args().repeats
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        results = [
            compare("3-epoch MLP loop (8,192 x 32, batch 64, Adam)", False, repeats),
            compare("same, with a validation pass after each epoch", True, repeats),
        ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
