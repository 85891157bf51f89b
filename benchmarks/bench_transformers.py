"""Hugging Face Trainer integration benchmark (issue 19: the Trainer integration).

    .venv/bin/python benchmarks/bench_transformers.py [--repeats N]

``Trainer.train`` of a small BERT built from its config (2 layers, hidden size 64, 0.1 M
parameters) on 1,024 synthetic sequences of 32 tokens, batch 16 (128 optimizer steps), 2 epochs
with an evaluation and a checkpoint each epoch, logging every 4 steps, on CPU (1 thread). Bare
and autologged (``autolog()``: every TrainingArgument and the model config as params,
Trainer's logs as metrics, the two checkpoints, the model in Hugging Face format) trainings
alternate as ``_timing`` describes; the figure is the ratio of the medians, and the ratios of
the fastest calls of each mode, which other load on the machine can only make slower, are
printed too.
Target: autologged / bare <= 1.03 in wall-clock time.
"""

from __future__ import annotations

from typing import Any

import _timing

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
    return _timing.timed(trainer.train)


def main(repeats: int) -> int:
    import torch
    import transformers

    import autolog

    torch.set_num_threads(1)  # one core: less spin-waiting noise on a shared machine
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    data = make_data()
    timings = _timing.alternate(
        lambda label: timed_train(data, f"out-{label}"), ["transformers", "torch"], repeats
    )
    autolog.autolog(disable=True)
    ratio = timings.report(decimals=0, fastest=True)
    runs = autolog.search_runs()
    assert len(runs) == repeats + 1, len(runs)
    run_id = runs[0].info.run_id
    assert len(autolog.get_metric_history(run_id, "eval_loss")) == 2
    assert autolog.list_artifacts(run_id, "checkpoints")
    ok = ratio <= TARGET
    _timing.verdict(
        ok,
        f"Trainer.train, BERT 2x64 from config, 1024 x 32 tokens, 2 epochs, eval + checkpoint "
        f"each: autologged / bare = {ratio:.3f} (target <= {TARGET})",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    _timing.main(__doc__, main)
