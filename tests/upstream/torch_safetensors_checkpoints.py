"""Shape of transformers' ``examples/pytorch/text-classification/run_glue_no_trainer.py``
without accelerate: a plain PyTorch loop over a model built from its config (a 2-layer BERT,
hidden size 32, instead of a download), AdamW with a linear schedule, evaluation each epoch,
a checkpoint folder ``output/epoch_<n>/`` per epoch written with ``model.save_pretrained`` (the
tokenizer saved beside it), and at the end the weights in safetensors files written with
``safetensors.torch.save_file`` and ``save_model``.
"""

import os

import torch
from safetensors.torch import save_file, save_model
from torch.utils.data import DataLoader, TensorDataset
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

torch.manual_seed(0)
output_dir = "output"
os.makedirs(output_dir, exist_ok=True)
vocab = os.path.join(output_dir, "vocab.txt")
with open(vocab, "w") as f:
    f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefgh"]) + "\n")
tokenizer = BertTokenizerFast(vocab)
config = BertConfig(
    vocab_size=tokenizer.vocab_size,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=32,
    num_labels=2,
)
model = BertForSequenceClassification(config)


def make_split(n):
    words = torch.randint(5, tokenizer.vocab_size, (n, 8))
    labels = (words[:, 1] > 8).long()
    return TensorDataset(words, labels)


train_dataloader = DataLoader(make_split(64), batch_size=16, shuffle=True)
eval_dataloader = DataLoader(make_split(32), batch_size=16)
num_train_epochs = 3
optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)
lr_scheduler = torch.optim.lr_scheduler.LinearLR(
    optimizer, start_factor=1.0, end_factor=0.1, total_iters=num_train_epochs * 4
)


def weight_sum(state):
    return sum(float(v.double().sum()) for v in state.values())


for epoch in range(num_train_epochs):
    model.train()
    for input_ids, labels in train_dataloader:
        outputs = model(input_ids=input_ids, labels=labels)
        loss = outputs.loss
        loss.backward()
        optimizer.step()
        lr_scheduler.step()
        optimizer.zero_grad()
    model.eval()
    losses = []
    for input_ids, labels in eval_dataloader:
        with torch.no_grad():
            outputs = model(input_ids=input_ids, labels=labels)
        losses.append(outputs.loss.item())
    print(f"epoch {epoch}: eval_loss {sum(losses) / len(losses)}")
    epoch_dir = os.path.join(output_dir, f"epoch_{epoch}")
    model.save_pretrained(epoch_dir)
    tokenizer.save_pretrained(epoch_dir)
    print(f"saved epoch_{epoch} {weight_sum(model.state_dict())!r}")

save_file(model.state_dict(), os.path.join(output_dir, "weights.safetensors"))
save_model(model, os.path.join(output_dir, "model.safetensors"))
print(f"saved final {weight_sum(model.state_dict())!r}")


def check(printed: str) -> None:
    import re
    from pathlib import Path

    from safetensors.torch import load_file

    import autolog

    (run,) = autolog.search_runs()
    run_id = run.info.run_id
    sums = {m.group(1): float(m.group(2)) for m in re.finditer(r"saved (\S+) (\S+)", printed)}
    folders = sorted(f.path for f in autolog.list_artifacts(run_id, "checkpoints"))
    assert folders == [
        "checkpoints/epoch_0",
        "checkpoints/epoch_1",
        "checkpoints/epoch_2",
        "checkpoints/model.safetensors",
        "checkpoints/weights.safetensors",
    ]
    for epoch in range(3):
        name = f"epoch_{epoch}"
        files = {
            f.path.rsplit("/", 1)[1] for f in autolog.list_artifacts(run_id, f"checkpoints/{name}")
        }
        assert {"config.json", "model.safetensors", "tokenizer.json"} <= files
        folder = Path(autolog.download_artifacts(run_id, f"checkpoints/{name}"))
        weights = load_file(folder / "model.safetensors")
        assert abs(sum(float(v.double().sum()) for v in weights.values()) - sums[name]) < 1e-6
        reloaded = BertForSequenceClassification.from_pretrained(folder)
        assert reloaded.config.hidden_size == 32
    for name in ("weights.safetensors", "model.safetensors"):
        weights = load_file(autolog.download_artifacts(run_id, f"checkpoints/{name}"))
        assert abs(sum(float(v.double().sum()) for v in weights.values()) - sums["final"]) < 1e-6
    final = autolog.load_model(f"runs:/{run_id}/model")
    assert abs(weight_sum(final.state_dict()) - sums["final"]) < 1e-6
