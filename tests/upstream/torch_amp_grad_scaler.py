"""Shape of PyTorch's "Automatic Mixed Precision" recipe (``recipes/recipes/amp_recipe``): the
forward pass and the loss under ``torch.autocast``, ``scaler.scale(loss).backward()``,
``scaler.step(opt)``, ``scaler.update()``, ``opt.zero_grad()``; a validation pass under
``no_grad`` and autocast after every epoch. On the CPU with bfloat16 (the recipe uses CUDA and
float16), on a small synthetic classification task.
"""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
device = "cpu"
X = torch.randn(512, 16)
y = (X[:, :4].sum(dim=1) > 0).long()
train_loader = DataLoader(TensorDataset(X[:384], y[:384]), batch_size=32, shuffle=True)
val_loader = DataLoader(TensorDataset(X[384:], y[384:]), batch_size=64)

net = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 2)).to(device)
loss_fn = nn.CrossEntropyLoss()
opt = torch.optim.SGD(net.parameters(), lr=0.05)
scaler = torch.amp.GradScaler(device)

for epoch in range(3):
    net.train()
    total = 0.0
    for input, target in train_loader:
        with torch.autocast(device_type=device, dtype=torch.bfloat16):
            output = net(input)
            loss = loss_fn(output, target)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad()
        total += loss.item()
    net.eval()
    val = []
    with torch.no_grad(), torch.autocast(device_type=device, dtype=torch.bfloat16):
        for input, target in val_loader:
            val.append(loss_fn(net(input), target).item())
    print(f"epoch {epoch} train loss {total / len(train_loader)} val loss {sum(val) / len(val)}")
print(f"scale {scaler.get_scale()}")


def check(printed: str) -> None:
    import re

    import pytest

    import autolog

    (run,) = autolog.search_runs()
    run_id = run.info.run_id

    def history(key: str) -> list[float]:
        return [m.value for m in autolog.get_metric_history(run_id, key)]

    train = [float(v) for v in re.findall(r"train loss (\S+)", printed)]
    val = [float(v) for v in re.findall(r"val loss (\S+)", printed)]
    assert float(re.search(r"scale (\S+)", printed).group(1)) >= 1024  # a scaled loss is far off
    assert history("training_loss") == pytest.approx(train, rel=1e-5)  # before the scale
    assert history("validation_loss") == pytest.approx(val, rel=1e-5)  # in the same units
    assert history("optimizer_steps") == [12.0, 12.0, 12.0]
    assert run.data.params["optimizer"] == "SGD"
    assert run.data.params["lr"] == "0.05"
