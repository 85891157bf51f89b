"""An ordinary PyTorch training loop, recorded by adding one line: ``autolog.autolog()``.

Run with `make demo`. Everything below the marked line is a plain loop (model, optimizer, LR
scheduler, DataLoader, loss, backward, step, validation under no_grad, a checkpoint per epoch)
with no autolog call; the end of the script reads back what was recorded.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import autolog

autolog.autolog()  # <- the only line added to the training script


def make_data() -> tuple[TensorDataset, TensorDataset]:
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(1024, 16, generator=generator)
    w = torch.randn(16, 1, generator=generator)
    y = X @ w + 0.1 * torch.randn(1024, 1, generator=generator)
    return TensorDataset(X[:896], y[:896]), TensorDataset(X[896:], y[896:])


def train(folder: Path) -> nn.Module:
    torch.manual_seed(0)
    train_set, val_set = make_data()
    train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=64)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=5)
    criterion = nn.MSELoss()
    for epoch in range(5):
        model.train()
        for xb, yb in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            val_loss = sum(criterion(model(xb), yb).item() for xb, yb in val_loader)
        print(f"epoch {epoch}: validation loss {val_loss / len(val_loader):.4f}")
        scheduler.step()
        torch.save(model.state_dict(), folder / f"epoch{epoch}.pt")
    return model


def show(model: nn.Module) -> None:
    run = autolog.active_run()
    assert run is not None, "the loop's run is the active run while training goes on"
    run_id = run.info.run_id
    autolog.end_run()  # or let the interpreter exit: the run ends FINISHED all the same
    stored = autolog.get_run(run_id)
    print(f"\nrun {stored.info.run_name} ({run_id}): {stored.info.status}")
    print(f"  params: {json.dumps(dict(sorted(stored.data.params.items())), indent=4)}")
    for key in sorted(stored.data.metrics):
        values = [f"{m.value:.4g}" for m in autolog.get_metric_history(run_id, key)]
        print(f"  {key:<20} {', '.join(values)}")
    print(f"  artifacts: {[f.path for f in autolog.list_artifacts(run_id, 'checkpoints')]}")
    print(f"             {[f.path for f in autolog.list_artifacts(run_id, 'model')]}")
    loaded = autolog.load_model(f"runs:/{run_id}/model")
    assert isinstance(loaded, nn.Module)
    X = torch.randn(8, 16)
    same = torch.equal(loaded(X), model(X))
    print(f"  load_model -> {type(loaded).__name__}, identical outputs: {same}")
    summary = {
        "status": str(stored.info.status),
        "training_loss": stored.data.metrics["training_loss"],
        "validation_loss": stored.data.metrics["validation_loss"],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        show(train(Path(tmp)))
