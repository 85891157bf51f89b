"""Shape of accelerate's ``examples/nlp_example.py`` training function, on a small regression
model: ``accelerator.prepare(model, optimizer, train_dataloader, eval_dataloader,
lr_scheduler)``, ``accelerator.backward(loss)``, ``optimizer.step()``,
``lr_scheduler.step()``, ``optimizer.zero_grad()``; an evaluation pass after every epoch. The
prepared DataLoaders read one batch ahead. ``Accelerator(cpu=True)``.
"""

import torch
from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

accelerator = Accelerator(cpu=True)
torch.manual_seed(0)
X = torch.randn(96, 4)
y = X.sum(dim=1, keepdim=True) + 0.1 * torch.randn(96, 1)
train_dataloader = DataLoader(TensorDataset(X[:64], y[:64]), batch_size=8)
eval_dataloader = DataLoader(TensorDataset(X[64:], y[64:]), batch_size=16)
model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
num_epochs = 3
lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
    optimizer, lambda step: min(1.0, (step + 1) / 4) * (1 - step / (num_epochs * 8))
)
model, optimizer, train_dataloader, eval_dataloader, lr_scheduler = accelerator.prepare(
    model, optimizer, train_dataloader, eval_dataloader, lr_scheduler
)

for epoch in range(num_epochs):
    model.train()
    losses = []
    for inputs, targets in train_dataloader:
        loss = nn.functional.mse_loss(model(inputs), targets)
        accelerator.backward(loss)
        optimizer.step()
        lr_scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    model.eval()
    val = []
    for inputs, targets in eval_dataloader:
        with torch.no_grad():
            val.append(nn.functional.mse_loss(model(inputs), targets).item())
    train_loss, eval_loss = sum(losses) / len(losses), sum(val) / len(val)
    print(f"epoch {epoch}: steps {len(losses)} loss {train_loss} eval {eval_loss}")


def check(printed: str) -> None:
    import re

    import pytest

    import autolog

    (run,) = autolog.search_runs()
    run_id = run.info.run_id

    def history(key: str) -> list[tuple[int, float]]:
        return [(m.step, m.value) for m in autolog.get_metric_history(run_id, key)]

    def expected(values: list[float]) -> list[tuple[int, object]]:
        return [(i, pytest.approx(v, rel=1e-5)) for i, v in enumerate(values)]

    steps = [float(v) for v in re.findall(r"steps (\d+)", printed)]
    train = [float(v) for v in re.findall(r"loss (\S+) eval", printed)]
    val = [float(v) for v in re.findall(r"eval (\S+)$", printed, re.M)]
    assert steps == [8.0, 8.0, 8.0]
    # epochs from what was trained on: 8 / 8 / 8, not 7 / 8 / 8 / 1
    assert history("optimizer_steps") == [(0, 8.0), (1, 8.0), (2, 8.0)]
    assert history("training_loss") == expected(train)
    # each epoch's validation at its own step, the last one included
    assert history("validation_loss") == expected(val)
    assert "test_loss" not in run.data.metrics
    params = run.data.params
    assert params["lr"] == "0.01"  # configured, not the warmup's first value
    assert params["lr_scheduler"] == "LambdaLR"  # through accelerate's AcceleratedScheduler
    assert params["optimizer"] == "AdamW"
    assert params["dataset_size"] == "64"
