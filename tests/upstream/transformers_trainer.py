"""Shape of transformers' ``examples/pytorch/text-classification/run_glue.py``: a config, a
tokenizer and a sequence-classification model, a tokenized dataset with padding by
``DataCollatorWithPadding``, ``compute_metrics`` for accuracy, ``Trainer(...,
processing_class=tokenizer)`` with evaluation and a checkpoint each epoch, then
``trainer.train()``, ``trainer.save_model()``, ``trainer.log_metrics`` / ``save_metrics`` /
``save_state``, ``trainer.evaluate()`` and ``trainer.predict(..., metric_key_prefix="predict")``.
A tiny BERT built from its config and a tokenizer from a word list written here, on synthetic
sentences, instead of the GLUE and model downloads.
"""

import json
import os
import tempfile

import numpy as np
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
    set_seed,
)

WORDS = ["good", "great", "fine", "nice", "bad", "awful", "poor", "sad", "the", "movie", "was"]


def sentences(n, rng):
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(2))
        mood = WORDS[:4] if label else WORDS[4:8]
        words = ["the", "movie", "was", *rng.choice(mood, size=int(rng.integers(1, 5)))]
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def main():
    set_seed(42)
    folder = tempfile.mkdtemp()
    vocab = os.path.join(folder, "vocab.txt")
    with open(vocab, "w") as f:
        f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]))
    tokenizer = BertTokenizer(vocab_file=vocab)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        num_labels=2,
        finetuning_task="sst2",
    )
    model = BertForSequenceClassification(config)

    rng = np.random.default_rng(0)

    def preprocess_function(texts, labels):
        result = tokenizer(texts, padding=False, max_length=16, truncation=True)
        return [
            {"input_ids": ids, "attention_mask": mask, "label": label}
            for ids, mask, label in zip(
                result["input_ids"], result["attention_mask"], labels, strict=True
            )
        ]

    train_dataset = preprocess_function(*sentences(96, rng))
    eval_dataset = preprocess_function(*sentences(32, rng))
    predict_dataset = preprocess_function(*sentences(32, rng))

    def compute_metrics(p):
        preds = np.argmax(p.predictions, axis=1)
        return {"accuracy": float((preds == p.label_ids).astype(np.float32).mean())}

    training_args = TrainingArguments(
        output_dir=os.path.join(folder, "sst2"),
        num_train_epochs=2,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=16,
        learning_rate=2e-3,
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_steps=3,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        seed=42,
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        compute_metrics=compute_metrics,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
    )

    train_result = trainer.train()
    metrics = train_result.metrics
    trainer.save_model()
    trainer.log_metrics("train", metrics)
    trainer.save_metrics("train", metrics)
    trainer.save_state()

    metrics = trainer.evaluate(eval_dataset=eval_dataset)
    trainer.log_metrics("eval", metrics)
    trainer.save_metrics("eval", metrics)

    output = trainer.predict(predict_dataset, metric_key_prefix="predict")
    predictions = np.argmax(output.predictions, axis=1)
    print("predict metrics:", json.dumps(output.metrics))
    print("log history:", json.dumps(trainer.state.log_history))
    print("global step:", trainer.state.global_step)

    sample = torch.tensor([predict_dataset[0]["input_ids"]])
    model.eval()
    with torch.no_grad():
        print("logits:", json.dumps(model(input_ids=sample).logits[0].tolist()))
    print("sample:", json.dumps(sample[0].tolist()))
    print("first predictions:", predictions[:8].tolist())


if __name__ == "__main__":
    main()


def check(printed: str) -> None:
    import json
    import re

    import torch

    import autolog

    def printed_json(label: str):
        return json.loads(re.search(rf"^{label}: (.*)$", printed, re.MULTILINE).group(1))

    (run,) = autolog.search_runs()  # one run: evaluate() and predict() went into it
    run_id = run.info.run_id
    params = run.data.params
    assert params["args.learning_rate"] == "0.002"
    assert params["args.num_train_epochs"] == "2"
    assert params["config.finetuning_task"] == "sst2"
    assert params["config.hidden_size"] == "32"
    assert params["model_class"] == "BertForSequenceClassification"
    log_history = printed_json("log history")
    step = int(re.search(r"global step: (\d+)", printed).group(1))
    assert step == 12  # 2 epochs of 6 batches
    expected: dict[str, list] = {}
    for entry in log_history:
        for key, value in entry.items():
            if key != "step" and isinstance(value, (int, float)):
                expected.setdefault(key, []).append((entry["step"], float(value)))
    for key, values in expected.items():
        recorded = [(m.step, m.value) for m in autolog.get_metric_history(run_id, key)]
        assert recorded == values, (key, recorded, values)
    # evaluation each epoch, and the final evaluate() at the last step: 3 in all
    assert [s for s, _ in expected["eval_accuracy"]] == [6, 12, 12]
    predicted = printed_json("predict metrics")
    for key, value in predicted.items():
        assert [(m.step, m.value) for m in autolog.get_metric_history(run_id, key)] == [
            (step, value)
        ]
    checkpoints = {f.path for f in autolog.list_artifacts(run_id, "checkpoints")}
    assert checkpoints == {"checkpoints/checkpoint-6", "checkpoints/checkpoint-12"}
    weights = {f.path for f in autolog.list_artifacts(run_id, "checkpoints/checkpoint-12")}
    assert "checkpoints/checkpoint-12/model.safetensors" in weights
    model = autolog.load_model(f"runs:/{run_id}/model")
    assert type(model).__name__ == "BertForSequenceClassification"
    files = {f.path.rpartition("/")[2] for f in autolog.list_artifacts(run_id, "model")}
    assert {"model.safetensors", "tokenizer_config.json"} <= files
    sample = torch.tensor([printed_json("sample")])
    with torch.no_grad():
        assert model(input_ids=sample).logits[0].tolist() == printed_json("logits")
    assert run.info.status is autolog.RunStatus.FINISHED  # ended with the script
