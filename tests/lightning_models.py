"""The Lightning modules, data and callback of test_lightning.py.

They subclass Lightning's classes, so defining them imports Lightning (seconds). They live here,
imported by test_lightning.py's ``lit`` fixture when a test runs, so collecting the suite costs
no import of Lightning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch import callbacks
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Regressor(L.LightningModule):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(4, 1)

    def forward(self, x: Any) -> Any:
        return self.net(x)

    def training_step(self, batch: Any, index: int) -> Any:
        x, y = batch
        loss = nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: Any, index: int) -> None:
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self(x), y))

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.Adam(self.parameters(), lr=0.05)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


def make_loaders() -> tuple[Any, Any]:
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(64, 4, generator=generator)
    y = X.sum(dim=1, keepdim=True)
    return DataLoader(TensorDataset(X, y), batch_size=16), DataLoader(
        TensorDataset(X[:32], y[:32]), batch_size=16
    )


def make_trainer(tmp_path: Path, epochs: int, *extra: Any) -> Any:
    return L.Trainer(
        max_epochs=epochs,
        callbacks=[
            callbacks.EarlyStopping(monitor="val_loss", patience=2),
            callbacks.ModelCheckpoint(monitor="val_loss"),
            *extra,
        ],
        default_root_dir=tmp_path,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )


class Evaluated(Regressor):
    def test_step(self, batch: Any, index: int) -> None:
        x, y = batch
        self.log("test_loss", nn.functional.mse_loss(self(x), y))
        self.log("test_mae", nn.functional.l1_loss(self(x), y))


class Collect(callbacks.Callback):  # type: ignore[misc]
    def __init__(self) -> None:
        self.train: list[float] = []
        self.val: list[float] = []

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self.train.append(float(trainer.logged_metrics["train_loss"]))

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.sanity_checking:
            self.val.append(float(trainer.logged_metrics["val_loss"]))


class Configured(Regressor):
    """A module configured through ``save_hyperparameters()``, as Lightning's docs teach."""

    def __init__(
        self,
        hidden_dim: int = 64,
        lr: float = 0.01,
        layers: tuple[int, ...] = (4, 2),
        schedule: dict[str, Any] | None = None,
        head: Any = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(4, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 1))

    def configure_optimizers(self) -> Any:
        # the rate used is not the one saved: both are kept, under two names
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr * 2)


class Data(L.LightningDataModule):  # type: ignore[misc]
    def __init__(self, batch_size: int = 16, seed: int = 3, hidden_dim: int = 8) -> None:
        super().__init__()
        self.save_hyperparameters()

    def train_dataloader(self) -> Any:
        return make_loaders()[0]

    def val_dataloader(self) -> Any:
        return make_loaders()[1]
