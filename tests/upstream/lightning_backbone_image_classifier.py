"""Shape of Lightning's ``examples/pytorch/basics/backbone_image_classifier.py``: a
``LitClassifier`` around a backbone, logging ``train_loss``, ``valid_loss`` and ``test_loss``, a
``LightningDataModule`` with train, validation and test loaders, ``trainer.fit(model,
datamodule=...)`` then ``trainer.test(ckpt_path="best", datamodule=...)`` and a prediction.
Gradient clipping and batch limits as in Lightning's ``train.py`` and its docs' quick runs;
synthetic 8x8 images instead of the MNIST download.
"""

import lightning as L
import torch
from lightning.pytorch import LightningDataModule, LightningModule
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset, random_split


class Backbone(torch.nn.Module):
    def __init__(self, hidden_dim=32):
        super().__init__()
        self.l1 = torch.nn.Linear(8 * 8, hidden_dim)
        self.l2 = torch.nn.Linear(hidden_dim, 10)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        x = torch.relu(self.l1(x))
        return torch.relu(self.l2(x))


class LitClassifier(LightningModule):
    def __init__(self, backbone=None, learning_rate=0.01):
        super().__init__()
        self.save_hyperparameters(ignore=["backbone"])
        if backbone is None:
            backbone = Backbone()
        self.backbone = backbone

    def forward(self, x):
        return self.backbone(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self(x)
        loss = F.cross_entropy(y_hat, y)
        self.log("train_loss", loss, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self(x)
        loss = F.cross_entropy(y_hat, y)
        self.log("valid_loss", loss)

    def test_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self(x)
        loss = F.cross_entropy(y_hat, y)
        self.log("test_loss", loss)

    def predict_step(self, batch, batch_idx, dataloader_idx=None):
        x, _ = batch
        return self(x)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.learning_rate)


def images(n, generator):
    x = torch.randn(n, 1, 8, 8, generator=generator)
    y = (x[:, 0, :4, :].sum(dim=(1, 2)) > 0).long() * 3 + (
        x[:, 0, 4:, :].sum(dim=(1, 2)) > 0
    ).long()
    return TensorDataset(x, y)


class MyDataModule(LightningDataModule):
    def __init__(self, batch_size=32):
        super().__init__()
        generator = torch.Generator().manual_seed(42)
        dataset = images(320, generator)
        self.mnist_test = images(96, generator)
        self.mnist_train, self.mnist_val = random_split(dataset, [256, 64], generator=generator)
        self.batch_size = batch_size

    def train_dataloader(self):
        return DataLoader(self.mnist_train, batch_size=self.batch_size)

    def val_dataloader(self):
        return DataLoader(self.mnist_val, batch_size=self.batch_size)

    def test_dataloader(self):
        return DataLoader(self.mnist_test, batch_size=self.batch_size)

    def predict_dataloader(self):
        return DataLoader(self.mnist_test, batch_size=self.batch_size)


def cli_main():
    L.seed_everything(1234, verbose=False)
    model = LitClassifier()
    datamodule = MyDataModule()
    trainer = L.Trainer(
        max_epochs=3,
        gradient_clip_val=0.25,
        limit_train_batches=6,
        limit_val_batches=2,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(model, datamodule=datamodule)
    results = trainer.test(ckpt_path="best", datamodule=datamodule, verbose=False)
    print(f"Test results: {results}")
    predictions = trainer.predict(ckpt_path="best", datamodule=datamodule)
    print(predictions[0].shape)


if __name__ == "__main__":
    cli_main()


def check(printed: str) -> None:
    import ast
    import re

    import pytest

    import autolog

    runs = autolog.search_runs()
    (fit,) = [r for r in runs if r.info.parent_run_id is None]
    (test,) = [r for r in runs if r.info.parent_run_id == fit.info.run_id]
    params = fit.data.params
    assert params["gradient_clip_val"] == "0.25"
    assert params["gradient_clip_algorithm"] == "norm"
    assert params["limit_train_batches"] == "6"
    assert params["limit_val_batches"] == "2"
    assert params["model_class"] == "LitClassifier"
    assert len(autolog.get_metric_history(fit.info.run_id, "valid_loss")) == 3
    (results,) = ast.literal_eval(re.search(r"Test results: (\[.*\])", printed).group(1))
    assert test.data.metrics == pytest.approx(results)
    assert test.data.params["ckpt_path"] == "best"
    assert test.info.status is autolog.RunStatus.FINISHED
    assert len(runs) == 2  # predict() records nothing
