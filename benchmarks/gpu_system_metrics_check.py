"""GPU system metrics, checked on a machine with an NVIDIA GPU (issue 18, item 6).

    .venv/bin/python benchmarks/gpu_system_metrics_check.py [--seconds 4]

Runs a torch CUDA matmul loop on ``cuda:0`` for a few seconds twice: under a
``SystemMetricsSampler`` at 0.5 s, and in a run with
``autolog.autolog(log_system_metrics=True, system_metrics_interval=0.5)``. Checks that
``system/gpu0/utilization_percent``, ``memory_used_mb`` and ``power_w`` are there and that the
utilisation and memory used are above 0 while the loop runs. Exits 0 with a message where
there is no GPU (no torch, no CUDA); 1 on a failed check (nvidia-ml-py missing on a machine
with a GPU included).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from typing import Any

GPU = "system/gpu0/"
NAMES = ("utilization_percent", "memory_used_mb", "power_w")


def _matmuls(torch: Any, seconds: float) -> int:
    """Keep cuda:0 busy for ``seconds``; returns how many products it computed."""
    a = torch.randn(4096, 4096, device="cuda:0")
    b = torch.randn(4096, 4096, device="cuda:0")
    count = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(20):
            a = (a @ b) / 64.0
        torch.cuda.synchronize()
        count += 20
    return count


def _check(samples: list[dict[str, float]], where: str) -> list[str]:
    """What is wrong with the GPU readings of ``samples`` (empty: nothing)."""
    failures = []
    for name in NAMES:
        values = [s[GPU + name] for s in samples if GPU + name in s]
        print(f"      {where}: {GPU}{name}: {[round(v, 1) for v in values]}")
        if not values:
            failures.append(f"{where}: no {GPU}{name}")
        elif name != "power_w" and max(values) <= 0:
            failures.append(f"{where}: {GPU}{name} never above 0 under a matmul loop")
    return failures


def _sampler(torch: Any, seconds: float) -> list[str]:
    from autolog.system_metrics import SystemMetricsSampler

    samples: list[dict[str, float]] = []
    with SystemMetricsSampler(lambda metrics, step: samples.append(metrics), interval=0.5):
        products = _matmuls(torch, seconds)
    print(f"      sampler: {len(samples)} samples, {products} products")
    return _check(samples, "sampler")


def _autologged(torch: Any, seconds: float) -> list[str]:
    import autolog

    autolog.autolog(log_system_metrics=True, system_metrics_interval=0.5)
    try:
        with autolog.start_run() as run:
            _matmuls(torch, seconds)
    finally:
        autolog.autolog(disable=True)
    autolog.flush()
    run_id = run.info.run_id
    steps = {
        name: {m.step: m.value for m in autolog.get_metric_history(run_id, GPU + name)}
        for name in NAMES
    }
    samples = [
        {GPU + name: steps[name][step] for name in NAMES if step in steps[name]}
        for step in sorted(set().union(*steps.values()))
    ]
    print(f"      autolog run {run_id}: {len(samples)} samples")
    return _check(samples, "autolog run")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="of matmuls, each check")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("SKIP  no GPU check: torch is not installed")
        return 0
    if not torch.cuda.is_available():
        print("SKIP  no GPU check: CUDA sees no GPU here")
        return 0
    if importlib.util.find_spec("pynvml") is None:
        print("FAIL  a GPU is here but nvidia-ml-py (pynvml) is not: pip install 'autolog[system]'")
        return 1
    print(f"      GPU 0: {torch.cuda.get_device_name(0)}; "
          f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}")  # fmt: skip
    os.chdir(tempfile.mkdtemp(prefix="autolog-gpu-check-"))
    failures = _sampler(torch, args.seconds) + _autologged(torch, args.seconds)
    for failure in failures:
        print(f"FAIL  {failure}")
    if not failures:
        print("PASS  system/gpu0/* metrics under a CUDA matmul loop, sampler and autolog run")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
