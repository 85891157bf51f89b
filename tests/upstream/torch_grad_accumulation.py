"""Shape of the gradient accumulation loop of Hugging Face's "Gradient accumulation" guide
(and of countless training scripts): ``loss = criterion(outputs, labels)``, ``loss = loss /
accumulation_steps``, ``loss.backward()``, and ``optimizer.step()`` with
``optimizer.zero_grad()`` every ``accumulation_steps`` batches; the running loss printed is
the undivided one; a validation pass after every epoch.
"""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
X = torch.randn(256, 8)
y = X @ torch.randn(8, 1) + 0.1 * torch.randn(256, 1)
train_loader = DataLoader(TensorDataset(X[:192], y[:192]), batch_size=8, shuffle=True)
val_loader = DataLoader(TensorDataset(X[192:], y[192:]), batch_size=32)

model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 1))
criterion = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
accumulation_steps = 4

for epoch in range(3):
    model.train()
    running_loss = 0.0
    for i, (inputs, labels) in enumerate(train_loader):
        outputs = model(inputs)
        loss = criterion(outputs, labels)
        running_loss += loss.item()
        loss = loss / accumulation_steps
        loss.backward()
        if (i + 1) % accumulation_steps == 0:
            optimizer.step()
            optimizer.zero_grad()
    model.eval()
    with torch.no_grad():
        val = [criterion(model(inputs), labels).item() for inputs, labels in val_loader]
    print(f"epoch {epoch} loss {running_loss / len(train_loader)} val {sum(val) / len(val)}")


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
    assert history("training_loss") == pytest.approx(train, rel=1e-5)  # not divided by 4
    assert history("validation_loss") == pytest.approx(val, rel=1e-5)
    assert history("optimizer_steps") == [6.0, 6.0, 6.0]  # 24 batches, a step every 4
