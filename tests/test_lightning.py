"""Lightning's Trainer.fit under the torch integration: one run per fit, through a callback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import autolog
from autolog import RunStatus

torch = pytest.importorskip("torch", reason="Lightning tests need torch")
L = pytest.importorskip(
    "lightning",
    reason="Lightning is not installed: `pip install autolog[lightning]` (make test installs it)",
)
callbacks = pytest.importorskip("lightning.pytorch.callbacks")
nn = torch.nn
DataLoader = torch.utils.data.DataLoader
TensorDataset = torch.utils.data.TensorDataset

# Lightning's own advice (few DataLoader workers, no logger, ...) is not what these tests check.
pytestmark = pytest.mark.filterwarnings(
    "ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning"
)


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


@pytest.fixture
def autologged() -> Iterator[None]:
    autolog.autolog()
    yield
    autolog.autolog(disable=True)


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


class _Collect(callbacks.Callback):  # type: ignore[misc]
    def __init__(self) -> None:
        self.train: list[float] = []
        self.val: list[float] = []

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self.train.append(float(trainer.logged_metrics["train_loss"]))

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.sanity_checking:
            self.val.append(float(trainer.logged_metrics["val_loss"]))


@pytest.mark.usefixtures("autologged")
def test_fit_records_params_epoch_metrics_checkpoint_and_model(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Regressor()
    collect = _Collect()
    trainer = make_trainer(tmp_path, 3, collect)
    train, val = make_loaders()
    trainer.fit(model, train, val)

    runs = autolog.search_runs()
    assert len(runs) == 1  # Lightning's optimizer steps make no plain-loop run
    run = runs[0]
    run_id = run.info.run_id
    assert run.info.status is RunStatus.FINISHED
    assert autolog.active_run() is None
    params = run.data.params
    assert params["optimizer"] == "Adam"
    assert params["lr"] == "0.05"
    assert params["lr_scheduler"] == "StepLR"
    assert params["lr_scheduler_gamma"] == "0.5"
    assert params["model_class"] == "Regressor"
    assert params["total_params"] == "5"
    assert params["max_epochs"] == "3"
    assert params["batch_size"] == "16"
    assert params["dataset_size"] == "64"
    assert params["early_stopping_monitor"] == "val_loss"
    assert params["early_stopping_patience"] == "2"
    assert params["early_stopping_mode"] == "min"

    def history(key: str) -> list[float]:
        return [m.value for m in autolog.get_metric_history(run_id, key)]

    assert history("train_loss") == pytest.approx(collect.train)
    assert history("val_loss") == pytest.approx(collect.val)
    assert [m.step for m in autolog.get_metric_history(run_id, "val_loss")] == [0, 1, 2]
    assert history("learning_rate") == pytest.approx([0.05, 0.025, 0.0125])
    assert run.data.metrics["early_stopping_stopped_epoch"] == 0.0
    assert run.data.metrics["best_model_score"] == pytest.approx(min(collect.val))

    best = Path(trainer.checkpoint_callback.best_model_path)
    assert [f.path for f in autolog.list_artifacts(run_id, "checkpoints")] == [
        f"checkpoints/{best.name}"
    ]
    loaded = autolog.load_model(f"runs:/{run_id}/model")
    X = torch.randn(5, 4)
    assert type(loaded).__name__ == "Regressor"
    assert torch.equal(loaded(X), model(X))  # type: ignore[operator]
    assert not any(type(c).__name__ == "AutologCallback" for c in trainer.callbacks)


@pytest.mark.usefixtures("autologged")
def test_early_stopping_result_is_recorded(tmp_path: Path) -> None:
    class Stalled(Regressor):
        def validation_step(self, batch: Any, index: int) -> None:
            self.log("val_loss", torch.tensor(1.0))  # never improves

    torch.manual_seed(0)
    trainer = make_trainer(tmp_path, 10)
    trainer.fit(Stalled(), *make_loaders())
    run = autolog.search_runs()[0]
    stopped = trainer.early_stopping_callback.stopped_epoch
    assert stopped > 0
    assert run.data.metrics["early_stopping_stopped_epoch"] == float(stopped)
    assert run.data.metrics["early_stopping_best_score"] == 1.0
    assert run.data.metrics["early_stopping_wait_count"] == 2.0


@pytest.mark.usefixtures("autologged")
def test_a_failing_fit_raises_unchanged_and_ends_the_run_failed(tmp_path: Path) -> None:
    class Exploding(Regressor):
        def training_step(self, batch: Any, index: int) -> Any:
            if self.current_epoch == 1:
                raise ArithmeticError("diverged")
            return super().training_step(batch, index)

    torch.manual_seed(0)
    with pytest.raises(ArithmeticError, match="diverged"):
        make_trainer(tmp_path, 3).fit(Exploding(), *make_loaders())
    run = autolog.search_runs()[0]
    assert run.info.status is RunStatus.FAILED
    assert len(autolog.get_metric_history(run.info.run_id, "train_loss")) == 1
    assert autolog.active_run() is None


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


@pytest.mark.usefixtures("autologged")
def test_saved_hyperparameters_of_the_module_and_datamodule_are_params(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Configured(hidden_dim=32, schedule={"warmup": 2, "kind": "cosine"}, head=nn.Identity())
    make_trainer(tmp_path, 1).fit(model, datamodule=Data())
    (run,) = autolog.search_runs()
    params = run.data.params
    assert params["hidden_dim"] == "32"
    assert params["layers"] == "[4, 2]"
    assert params["schedule.warmup"] == "2"  # nested dicts flattened
    assert params["schedule.kind"] == "cosine"
    assert "head" not in params  # a module has no faithful text: left out
    # a name autolog already holds with another value keeps both
    assert params["lr"] == "0.02"  # the optimizer's
    assert params["hparams.lr"] == "0.01"  # the saved one
    # the datamodule's: the same value under the same name, another under its prefix
    assert params["batch_size"] == "16"
    assert params["seed"] == "3"
    assert params["datamodule.hparams.hidden_dim"] == "8"


@pytest.mark.usefixtures("autologged")
def test_a_failing_fit_keeps_its_saved_hyperparameters(tmp_path: Path) -> None:
    class Exploding(Configured):
        def training_step(self, batch: Any, index: int) -> Any:
            raise ArithmeticError("diverged")

    with pytest.raises(ArithmeticError, match="diverged"):
        make_trainer(tmp_path, 2).fit(Exploding(hidden_dim=5), *make_loaders())
    (run,) = autolog.search_runs()
    assert run.info.status is RunStatus.FAILED
    assert run.data.params["hidden_dim"] == "5"


def test_numbers_are_identical_with_and_without_autolog(tmp_path: Path) -> None:
    def fit() -> list[Any]:
        L.seed_everything(0, verbose=False)
        model = Regressor()
        make_trainer(tmp_path, 2).fit(model, *make_loaders())
        return [p.detach().clone() for p in model.parameters()]

    bare = fit()
    autolog.autolog()
    logged = fit()
    autolog.autolog(disable=True)
    assert all(torch.equal(a, b) for a, b in zip(logged, bare, strict=True))
    assert len(autolog.search_runs()) == 1


@pytest.mark.usefixtures("autologged")
def test_gradient_clipping_and_batch_limits_are_params(tmp_path: Path) -> None:
    torch.manual_seed(0)
    trainer = L.Trainer(
        max_epochs=2,
        gradient_clip_val=0.5,
        limit_train_batches=3,
        limit_val_batches=0.5,
        check_val_every_n_epoch=2,
        default_root_dir=tmp_path,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        accelerator="cpu",
    )
    trainer.fit(Regressor(), *make_loaders())
    params = autolog.search_runs()[0].data.params
    assert params["gradient_clip_val"] == "0.5"
    assert params["gradient_clip_algorithm"] == "norm"
    assert params["limit_train_batches"] == "3"
    assert params["limit_val_batches"] == "0.5"
    assert params["check_val_every_n_epoch"] == "2"
    assert params["max_steps"] == "-1"
    assert params["min_epochs"] == str(trainer.min_epochs)  # as Lightning resolved it


@pytest.mark.usefixtures("autologged")
def test_trainer_test_results_go_to_a_child_of_the_finished_fit_run(tmp_path: Path) -> None:
    torch.manual_seed(0)
    trainer = make_trainer(tmp_path, 2)
    train, val = make_loaders()
    trainer.fit(Evaluated(), train, val)
    (results,) = trainer.test(dataloaders=val, ckpt_path="best", verbose=False)
    runs = autolog.search_runs()
    (fit,) = [r for r in runs if r.info.parent_run_id is None]
    (test,) = [r for r in runs if r.info.parent_run_id == fit.info.run_id]
    assert fit.info.status is test.info.status is RunStatus.FINISHED
    assert "test_loss" not in fit.data.metrics
    assert test.data.metrics == pytest.approx(results)
    assert set(results) == {"test_loss", "test_mae"}
    assert [m.step for m in autolog.get_metric_history(test.info.run_id, "test_loss")] == [1]
    assert test.data.params["model_class"] == "Evaluated"
    assert test.data.params["ckpt_path"] == "best"
    assert test.data.tags["autolog.lightning.stage"] == "test"
    assert not autolog.list_artifacts(test.info.run_id, "model")
    assert autolog.active_run() is None


@pytest.mark.usefixtures("autologged")
def test_trainer_test_inside_a_user_run_goes_to_the_fits_run(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Evaluated()
    train, val = make_loaders()
    with autolog.start_run() as user_run:
        make_trainer(tmp_path, 2).fit(model, train, val)
        (results,) = make_trainer(tmp_path, 1).test(model, dataloaders=val, verbose=False)
    (run,) = autolog.search_runs()
    assert run.info.run_id == user_run.info.run_id
    assert run.data.metrics["test_loss"] == pytest.approx(results["test_loss"])
    assert "val_loss" in run.data.metrics


@pytest.mark.usefixtures("autologged")
def test_a_test_without_a_recorded_fit_is_a_run_of_its_own(tmp_path: Path) -> None:
    torch.manual_seed(0)
    _, val = make_loaders()
    (results,) = make_trainer(tmp_path, 1).test(Evaluated(), dataloaders=val, verbose=False)
    (run,) = autolog.search_runs()
    assert run.info.status is RunStatus.FINISHED
    assert run.data.metrics == pytest.approx(results)
    assert run.data.params["limit_test_batches"] == "1.0"
    assert "ckpt_path" not in run.data.params


@pytest.mark.usefixtures("autologged")
def test_a_failing_test_ends_its_run_failed(tmp_path: Path) -> None:
    class Broken(Evaluated):
        def test_step(self, batch: Any, index: int) -> None:
            raise LookupError("no such batch")

    torch.manual_seed(0)
    trainer = make_trainer(tmp_path, 1)
    train, val = make_loaders()
    trainer.fit(Broken(), train, val)
    with pytest.raises(LookupError, match="no such batch"):
        trainer.test(dataloaders=val, verbose=False)
    test = next(r for r in autolog.search_runs() if r.info.parent_run_id is not None)
    assert test.info.status is RunStatus.FAILED
