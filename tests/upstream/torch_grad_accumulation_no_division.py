"""Shape of gradient accumulation without a division (the summed gradient of
``accumulation_steps`` batches, with the learning rate chosen for it): ``loss.backward()``
every batch, ``optimizer.step()`` and ``optimizer.zero_grad()`` every 3 batches; the mean loss
per batch printed each epoch, and a validation pass.
"""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(1)
X = torch.randn(144, 6)
y = (X[:, 0] * X[:, 1] > 0).long()
train_loader = DataLoader(TensorDataset(X[:96], y[:96]), batch_size=8, shuffle=True)
val_loader = DataLoader(TensorDataset(X[96:], y[96:]), batch_size=16)

model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
accumulation_steps = 3

for epoch in range(3):
    model.train()
    losses = []
    for i, (inputs, labels) in enumerate(train_loader):
        loss = nn.functional.cross_entropy(model(inputs), labels)
        loss.backward()
        losses.append(loss.item())
        if (i + 1) % accumulation_steps == 0:
            optimizer.step()
            optimizer.zero_grad()
    model.eval()
    with torch.no_grad():
        val = [nn.functional.cross_entropy(model(a), b).item() for a, b in val_loader]
    print(f"epoch {epoch} loss {sum(losses) / len(losses)} val {sum(val) / len(val)}")


def check(printed: str) -> None:
    import re

    import pytest

    import autolog

    (run,) = autolog.search_runs()
    run_id = run.info.run_id

    def history(key: str) -> list[float]:
        return [m.value for m in autolog.get_metric_history(run_id, key)]

    train = [float(v) for v in re.findall(r"loss (\S+) val", printed)]
    val = [float(v) for v in re.findall(r"val (\S+)$", printed, re.M)]
    assert history("training_loss") == pytest.approx(train, rel=1e-5)
    assert history("validation_loss") == pytest.approx(val, rel=1e-5)
    assert history("optimizer_steps") == [4.0, 4.0, 4.0]
