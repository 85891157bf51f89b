"""Shape of a linear warmup then decay schedule, as transformers' ``get_linear_schedule_
with_warmup`` builds it (a ``LambdaLR`` starting from 0 and stepped after every batch), written
in a plain loop with AdamW; the mean loss and the learning rate at each epoch's end printed.
"""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(2)
X = torch.randn(128, 5)
y = X @ torch.tensor([[1.0], [-2.0], [0.5], [0.0], [1.5]])
loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True)
model = nn.Linear(5, 1)
optimizer = torch.optim.AdamW(model.parameters(), lr=0.05, betas=(0.9, 0.98), weight_decay=0.01)
num_warmup_steps, num_training_steps = 6, 3 * len(loader)


def lr_lambda(current_step):
    if current_step < num_warmup_steps:
        return float(current_step) / float(max(1, num_warmup_steps))
    return max(
        0.0,
        float(num_training_steps - current_step)
        / float(max(1, num_training_steps - num_warmup_steps)),
    )


scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)

for epoch in range(3):
    losses = []
    for inputs, targets in loader:
        loss = nn.functional.mse_loss(model(inputs), targets)
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    print(f"epoch {epoch} loss {sum(losses) / len(losses)} lr {scheduler.get_last_lr()[0]}")


def check(printed: str) -> None:
    import re

    import pytest

    import autolog

    (run,) = autolog.search_runs()
    run_id = run.info.run_id
    params = run.data.params

    def history(key: str) -> list[float]:
        return [m.value for m in autolog.get_metric_history(run_id, key)]

    train = [float(v) for v in re.findall(r"loss (\S+) lr", printed)]
    rates = [float(v) for v in re.findall(r"lr (\S+)$", printed, re.M)]
    assert history("training_loss") == pytest.approx(train, rel=1e-6)
    assert params["lr"] == "0.05"  # configured: the warmup's first step ran at 0.0
    assert params["betas"] == "(0.9, 0.98)"
    assert params["weight_decay"] == "0.01"
    assert params["lr_scheduler"] == "LambdaLR"
    assert history("learning_rate") == pytest.approx(rates, rel=1e-9)
    assert rates[-1] == 0.0
