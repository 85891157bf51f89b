"""Shape of a one-cycle training (fast.ai's ``fit_one_cycle``, written as a plain loop with
``torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, epochs=..., steps_per_epoch=...)``
stepped after every batch, SGD with momentum, which the policy cycles); the learning rate at
the end of each epoch and the mean loss printed.
"""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
X = torch.randn(160, 10)
y = (X[:, :3].sum(dim=1) > 0).long()
loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True)
model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 2))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
epochs = 4
scheduler = torch.optim.lr_scheduler.OneCycleLR(
    optimizer, max_lr=0.1, epochs=epochs, steps_per_epoch=len(loader)
)

for epoch in range(epochs):
    losses = []
    for inputs, labels in loader:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(inputs), labels)
        loss.backward()
        optimizer.step()
        scheduler.step()
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
    # the configured hyperparameters as params: the cycle's peak, not its first value 0.004
    assert float(params["lr"]) == 0.1
    assert float(params["momentum"]) == 0.9  # as constructed, not the cycle's 0.95 at step 1
    assert params["weight_decay"] == "0.0001"
    assert params["lr_scheduler"] == "OneCycleLR"
    assert float(params["lr_scheduler_max_lr"]) == 0.1
    assert float(params["lr_scheduler_max_momentum"]) == 0.95
    assert float(params["lr_scheduler_base_momentum"]) == 0.85
    assert "initial_lr" not in params
    # the schedule as a metric: the rate at each epoch's end
    assert history("learning_rate") == pytest.approx(rates, rel=1e-9)
