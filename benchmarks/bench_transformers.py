"""Hugging Face Trainer integration benchmark (issue 19: the Trainer integration).

    .venv/bin/python benchmarks/bench_transformers.py [--repeats N]

``Trainer.train`` of a small BERT built from its config (2 layers, hidden size 64, 0.1 M
parameters) on 1,024 synthetic sequences of 32 tokens, batch 16 (128 optimizer steps), 2 epochs
with an evaluation and a checkpoint each epoch, logging every 4 steps, on CPU (1 thread). Bare
(``autolog(disable=True)``) and autologged (``autolog()``: every TrainingArgument and the model
config as params, Trainer's logs as metrics, the two checkpoints, the model in Hugging Face
format) trainings alternate in one process after a warm-up of each; the figure is the ratio of
the medians. The writer's background work is flushed between calls, outside the timings, so
that one call's writes never land in the next one's time.
Target: autologged / bare <= 1.03 in wall-clock time.
The training thread's CPU time is printed too: on a busy machine it varies less than the
wall-clock time, and it leaves out the writer thread's work by construction; and the ratios of
the fastest calls of each mode, which other load on the machine can only make slower.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Any

TARGET = 1.03
SAMPLES, LENGTH, VOCAB = 1024, 32, 512


def make_data() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    import torch

    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, VOCAB, (SAMPLES + 128, LENGTH), generator=generator)
    labels = (ids[:, :4].sum(dim=1) > 2 * VOCAB).long()
    mask = torch.ones(LENGTH, dtype=torch.long)
    rows = [
        {"input_ids": ids[i], "attention_mask": mask, "labels": labels[i]} for i in range(len(ids))
    ]
    return rows[:SAMPLES], rows[SAMPLES:]


def timed_train(
    data: tuple[list[dict[str, Any]], list[dict[str, Any]]], folder: str
) -> tuple[float, float]:
    """Wall-clock and training-thread CPU seconds of one Trainer.train call."""
    import torch
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        PrinterCallback,
        Trainer,
        TrainingArguments,
    )

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=LENGTH,
        num_labels=2,
    )
    args = TrainingArguments(
        output_dir=folder,
        num_train_epochs=2,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=32,
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_steps=4,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        log_level="error",
    )
    trainer = Trainer(
        model=BertForSequenceClassification(config),
        args=args,
        train_dataset=data[0],
        eval_dataset=data[1],
    )
    trainer.remove_callback(PrinterCallback)  # disable_tqdm prints every log instead
    start, start_cpu = time.perf_counter(), time.thread_time()
    trainer.train()
    return time.perf_counter() - start, time.thread_time() - start_cpu


def main(repeats: int) -> int:
    import torch
    import transformers

    import autolog

    torch.set_num_threads(1)  # one core: less spin-waiting noise on a shared machine
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    data = make_data()
    times: dict[str, list[float]] = {"bare": [], "autologged": []}
    cpu: dict[str, list[float]] = {"bare": [], "autologged": []}
    flushes: list[float] = []

    def run(mode: str, i: int, record: bool) -> None:
        autolog.autolog(disable=mode == "bare", integrations=["transformers", "torch"])
        seconds, cpu_seconds = timed_train(data, f"out-{mode}-{i}")
        start = time.perf_counter()
        autolog.flush()
        if mode == "autologged":
            flushes.append(time.perf_counter() - start)
        if record:
            times[mode].append(seconds)
            cpu[mode].append(cpu_seconds)

    run("bare", -1, record=False)  # warm-up: library loaded, store created, writer started
    run("autologged", -1, record=False)
    for i in range(repeats):
        order = ("bare", "autologged") if i % 2 == 0 else ("autologged", "bare")
        for mode in order:
            run(mode, i, record=True)
    autolog.autolog(disable=True)
    bare = statistics.median(times["bare"])
    logged = statistics.median(times["autologged"])
    ratio = logged / bare
    print(
        f"      bare       median {bare * 1000:.0f} ms  "
        f"({', '.join(f'{t * 1000:.0f}' for t in times['bare'])})"
    )
    print(
        f"      autologged median {logged * 1000:.0f} ms  "
        f"({', '.join(f'{t * 1000:.0f}' for t in times['autologged'])})"
    )
    bare_cpu, logged_cpu = statistics.median(cpu["bare"]), statistics.median(cpu["autologged"])
    print(
        f"      training-thread CPU time: bare median {bare_cpu * 1000:.0f} ms, autologged "
        f"{logged_cpu * 1000:.0f} ms, ratio {logged_cpu / bare_cpu:.3f} (other load on the "
        "machine moves it less than the wall-clock time)"
    )
    fastest = min(times["autologged"]) / min(times["bare"])
    print(
        f"      fastest calls: wall-clock ratio {fastest:.3f}, "
        f"training-thread CPU ratio {min(cpu['autologged']) / min(cpu['bare']):.3f}"
    )
    print(
        f"      background flush after each autologged call: median "
        f"{statistics.median(flushes) * 1000:.1f} ms (not on the training thread)"
    )
    runs = autolog.search_runs()
    assert len(runs) == repeats + 1, len(runs)
    run_id = runs[0].info.run_id
    assert len(autolog.get_metric_history(run_id, "eval_loss")) == 2
    assert autolog.list_artifacts(run_id, "checkpoints")
    ok = ratio <= TARGET
    print(
        f"{'PASS' if ok else 'MISS'}  Trainer.train, BERT 2x64 from config, 1024 x 32 tokens, "
        f"2 epochs, eval + checkpoint each: autologged / bare = {ratio:.3f} (target <= {TARGET})",
        flush=True,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed calls of each mode")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="autolog-bench-") as folder:
        os.chdir(folder)
        code = main(arguments.repeats)
        os.chdir(os.path.dirname(os.path.abspath(__file__)))
    sys.exit(code)
