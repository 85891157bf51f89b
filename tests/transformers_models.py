"""The model, data, trainer and callbacks of test_transformers.py.

Importing transformers takes seconds: test_transformers.py's ``hf`` fixture imports this module
when a test runs, so collecting the suite costs no import of transformers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import transformers  # noqa: F401 - the tests reach it as hf.transformers
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

VOCAB = 64
LENGTH = 12


def make_model() -> Any:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=LENGTH,
        num_labels=2,
    )
    return BertForSequenceClassification(config)


def make_data(n: int, seed: int) -> list[dict[str, Any]]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (n, LENGTH), generator=generator)
    labels = (ids[:, 0] > VOCAB // 2).long()
    mask = torch.ones(LENGTH, dtype=torch.long)
    return [{"input_ids": ids[i], "attention_mask": mask, "labels": labels[i]} for i in range(n)]


def make_trainer(tmp_path: Path, **overrides: Any) -> Any:
    extra = overrides.pop("trainer", {})
    settings: dict[str, Any] = {
        "output_dir": str(tmp_path / "out"),
        "num_train_epochs": 2,
        "per_device_train_batch_size": 16,
        "per_device_eval_batch_size": 16,
        "eval_strategy": "epoch",
        "save_strategy": "no",
        "logging_steps": 2,
        "learning_rate": 1e-3,
        "report_to": "none",
        "use_cpu": True,
        "disable_tqdm": True,
        **overrides,
    }
    return Trainer(
        model=make_model(),
        args=TrainingArguments(**settings),
        train_dataset=make_data(64, 0),
        eval_dataset=make_data(32, 1),
        **extra,
    )


class Noting(TrainerCallback):
    """A user's callback, as in the wild (one that prints Trainer's logs)."""

    def __init__(self) -> None:
        self.logs: list[dict[str, Any]] = []

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        self.logs.append(dict(logs or {}))


class Failing(TrainerCallback):
    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == 5:
            raise RuntimeError("out of memory")
