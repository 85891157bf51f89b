"""Shape of Lightning's docs on hyperparameters (``common/hyperparameters.rst``, "Configure
hyperparameters from the CLI" and "LightningModule hyperparameters"): an ``ArgumentParser``
with the trainer's and the model's arguments, ``LitMNIST(layer_1_dim=..., learning_rate=...)``
calling ``self.save_hyperparameters()`` and building its layers from ``self.hparams``, a
``LightningDataModule`` saving its own (``batch_size``, ``data_dir``), ``trainer.fit(model,
datamodule=dm)``; the script prints the hyperparameters it trained with. Synthetic 28x28 images
instead of the MNIST download.
"""

import json
from argparse import ArgumentParser

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class LitMNIST(L.LightningModule):
    def __init__(self, layer_1_dim=128, learning_rate=1e-2, dropout=0.1):
        super().__init__()
        # call this to save (layer_1_dim=128, learning_rate=1e-2, dropout=0.1) to the checkpoint
        self.save_hyperparameters()
        # Now possible to access layer_1_dim from hparams
        self.l1 = nn.Linear(28 * 28, self.hparams.layer_1_dim)
        self.drop = nn.Dropout(self.hparams.dropout)
        self.l2 = nn.Linear(self.hparams.layer_1_dim, 10)

    def forward(self, x):
        return self.l2(self.drop(torch.relu(self.l1(x.view(x.size(0), -1)))))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.cross_entropy(self(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.learning_rate)


class MNISTDataModule(L.LightningDataModule):
    def __init__(self, data_dir: str = "./", batch_size: int = 16):
        super().__init__()
        self.save_hyperparameters()

    def setup(self, stage):
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(96, 1, 28, 28, generator=generator)
        y = (x[:, 0, :14].mean(dim=(1, 2)) > 0).long() + 2 * (x[:, 0, 14:].mean(dim=(1, 2)) > 0)
        self.train_set, self.val_set = TensorDataset(x[:64], y[:64]), TensorDataset(x[64:], y[64:])

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size)

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=self.hparams.batch_size)


parser = ArgumentParser()
# Trainer arguments
parser.add_argument("--max_epochs", type=int, default=2)
# Hyperparameters for the model
parser.add_argument("--layer_1_dim", type=int, default=64)
parser.add_argument("--learning_rate", type=float, default=0.05)
# Parse the user inputs and defaults (returns a argparse.Namespace)
args = parser.parse_args()

# Use the parsed arguments in your program
L.seed_everything(7, verbose=False)
trainer = L.Trainer(
    max_epochs=args.max_epochs,
    logger=False,
    enable_checkpointing=False,
    enable_progress_bar=False,
    enable_model_summary=False,
    accelerator="cpu",
)
model = LitMNIST(layer_1_dim=args.layer_1_dim, learning_rate=args.learning_rate)
dm = MNISTDataModule(batch_size=16)
trainer.fit(model, datamodule=dm)
print("model hparams:", json.dumps(dict(model.hparams)))
print("datamodule hparams:", json.dumps(dict(dm.hparams)))


def check(printed: str) -> None:
    import autolog

    shown = dict(line.split(": ", 1) for line in printed.splitlines() if ": " in line)
    (run,) = autolog.search_runs()
    params = run.data.params
    saved = {**json.loads(shown["model hparams"]), **json.loads(shown["datamodule hparams"])}
    assert saved == {
        "layer_1_dim": 64,
        "learning_rate": 0.05,
        "dropout": 0.1,
        "data_dir": "./",
        "batch_size": 16,
    }
    for name, value in saved.items():
        assert params[name] == str(value), (name, params.get(name), value)
    assert params["lr"] == "0.05"  # the optimizer's, as configured from the hparams
    assert params["model_class"] == "LitMNIST"
