"""Lightning's Trainer.fit under the torch integration: one run per fit, through a callback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import autolog
from autolog import RunStatus
from autolog.errors import InvalidInputError

# Lightning's own advice (few DataLoader workers, no logger, ...) is not what these tests check.
pytestmark = pytest.mark.filterwarnings(
    "ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning"
)


@pytest.fixture(scope="module")
def lit() -> ModuleType:
    """lightning_models.py (Lightning, torch and the classes of these tests), imported at run time.

    Importing Lightning takes seconds; here a test pays it, not the collection of the suite.
    """
    pytest.importorskip("torch", reason="Lightning tests need torch")
    pytest.importorskip(
        "lightning",
        reason="Lightning is not installed: `pip install autolog[lightning]` (make test has it)",
    )
    import lightning_models

    return lightning_models


@pytest.fixture
def autologged() -> Iterator[None]:
    autolog.autolog()
    yield
    autolog.autolog(disable=True)


@pytest.mark.usefixtures("autologged")
def test_fit_records_params_epoch_metrics_checkpoint_and_model(
    lit: ModuleType, tmp_path: Path
) -> None:
    lit.torch.manual_seed(0)
    model = lit.Regressor()
    collect = lit.Collect()
    trainer = lit.make_trainer(tmp_path, 3, collect)
    train, val = lit.make_loaders()
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
    X = lit.torch.randn(5, 4)
    assert type(loaded).__name__ == "Regressor"
    assert lit.torch.equal(loaded(X), model(X))  # type: ignore[operator]
    assert not any(type(c).__name__ == "AutologCallback" for c in trainer.callbacks)


@pytest.mark.usefixtures("autologged")
def test_early_stopping_result_is_recorded(lit: ModuleType, tmp_path: Path) -> None:
    class Stalled(lit.Regressor):
        def validation_step(self, batch: Any, index: int) -> None:
            self.log("val_loss", lit.torch.tensor(1.0))  # never improves

    lit.torch.manual_seed(0)
    trainer = lit.make_trainer(tmp_path, 10)
    trainer.fit(Stalled(), *lit.make_loaders())
    run = autolog.search_runs()[0]
    stopped = trainer.early_stopping_callback.stopped_epoch
    assert stopped > 0
    assert run.data.metrics["early_stopping_stopped_epoch"] == float(stopped)
    assert run.data.metrics["early_stopping_best_score"] == 1.0
    assert run.data.metrics["early_stopping_wait_count"] == 2.0


@pytest.mark.usefixtures("autologged")
def test_a_failing_fit_raises_unchanged_and_ends_the_run_failed(
    lit: ModuleType, tmp_path: Path
) -> None:
    class Exploding(lit.Regressor):
        def training_step(self, batch: Any, index: int) -> Any:
            if self.current_epoch == 1:
                raise ArithmeticError("diverged")
            return super().training_step(batch, index)

    lit.torch.manual_seed(0)
    with pytest.raises(ArithmeticError, match="diverged"):
        lit.make_trainer(tmp_path, 3).fit(Exploding(), *lit.make_loaders())
    run = autolog.search_runs()[0]
    assert run.info.status is RunStatus.FAILED
    assert len(autolog.get_metric_history(run.info.run_id, "train_loss")) == 1
    assert autolog.active_run() is None


@pytest.mark.usefixtures("autologged")
def test_saved_hyperparameters_of_the_module_and_datamodule_are_params(
    lit: ModuleType, tmp_path: Path
) -> None:
    lit.torch.manual_seed(0)
    model = lit.Configured(
        hidden_dim=32, schedule={"warmup": 2, "kind": "cosine"}, head=lit.nn.Identity()
    )
    lit.make_trainer(tmp_path, 1).fit(model, datamodule=lit.Data())
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
def test_a_failing_fit_keeps_its_saved_hyperparameters(lit: ModuleType, tmp_path: Path) -> None:
    class Exploding(lit.Configured):
        def training_step(self, batch: Any, index: int) -> Any:
            raise ArithmeticError("diverged")

    with pytest.raises(ArithmeticError, match="diverged"):
        lit.make_trainer(tmp_path, 2).fit(Exploding(hidden_dim=5), *lit.make_loaders())
    (run,) = autolog.search_runs()
    assert run.info.status is RunStatus.FAILED
    assert run.data.params["hidden_dim"] == "5"


def test_numbers_are_identical_with_and_without_autolog(lit: ModuleType, tmp_path: Path) -> None:
    def fit() -> list[Any]:
        lit.L.seed_everything(0, verbose=False)
        model = lit.Regressor()
        lit.make_trainer(tmp_path, 2).fit(model, *lit.make_loaders())
        return [p.detach().clone() for p in model.parameters()]

    bare = fit()
    autolog.autolog()
    logged = fit()
    autolog.autolog(disable=True)
    assert all(lit.torch.equal(a, b) for a, b in zip(logged, bare, strict=True))
    assert len(autolog.search_runs()) == 1


@pytest.mark.usefixtures("autologged")
def test_gradient_clipping_and_batch_limits_are_params(lit: ModuleType, tmp_path: Path) -> None:
    lit.torch.manual_seed(0)
    trainer = lit.L.Trainer(
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
    trainer.fit(lit.Regressor(), *lit.make_loaders())
    params = autolog.search_runs()[0].data.params
    assert params["gradient_clip_val"] == "0.5"
    assert params["gradient_clip_algorithm"] == "norm"
    assert params["limit_train_batches"] == "3"
    assert params["limit_val_batches"] == "0.5"
    assert params["check_val_every_n_epoch"] == "2"
    assert params["max_steps"] == "-1"
    assert params["min_epochs"] == str(trainer.min_epochs)  # as Lightning resolved it


@pytest.mark.usefixtures("autologged")
def test_trainer_test_results_go_to_a_child_of_the_finished_fit_run(
    lit: ModuleType, tmp_path: Path
) -> None:
    lit.torch.manual_seed(0)
    trainer = lit.make_trainer(tmp_path, 2)
    train, val = lit.make_loaders()
    trainer.fit(lit.Evaluated(), train, val)
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
def test_trainer_test_inside_a_user_run_goes_to_the_fits_run(
    lit: ModuleType, tmp_path: Path
) -> None:
    lit.torch.manual_seed(0)
    model = lit.Evaluated()
    train, val = lit.make_loaders()
    with autolog.start_run() as user_run:
        lit.make_trainer(tmp_path, 2).fit(model, train, val)
        (results,) = lit.make_trainer(tmp_path, 1).test(model, dataloaders=val, verbose=False)
    (run,) = autolog.search_runs()
    assert run.info.run_id == user_run.info.run_id
    assert run.data.metrics["test_loss"] == pytest.approx(results["test_loss"])
    assert "val_loss" in run.data.metrics


@pytest.mark.usefixtures("autologged")
def test_a_test_without_a_recorded_fit_is_a_run_of_its_own(lit: ModuleType, tmp_path: Path) -> None:
    lit.torch.manual_seed(0)
    _, val = lit.make_loaders()
    (results,) = lit.make_trainer(tmp_path, 1).test(lit.Evaluated(), dataloaders=val, verbose=False)
    (run,) = autolog.search_runs()
    assert run.info.status is RunStatus.FINISHED
    assert run.data.metrics == pytest.approx(results)
    assert run.data.params["limit_test_batches"] == "1.0"
    assert "ckpt_path" not in run.data.params


@pytest.mark.usefixtures("autologged")
def test_a_failing_test_ends_its_run_failed(lit: ModuleType, tmp_path: Path) -> None:
    class Broken(lit.Evaluated):
        def test_step(self, batch: Any, index: int) -> None:
            raise LookupError("no such batch")

    lit.torch.manual_seed(0)
    trainer = lit.make_trainer(tmp_path, 1)
    train, val = lit.make_loaders()
    trainer.fit(Broken(), train, val)
    with pytest.raises(LookupError, match="no such batch"):
        trainer.test(dataloaders=val, verbose=False)
    test = next(r for r in autolog.search_runs() if r.info.parent_run_id is not None)
    assert test.info.status is RunStatus.FAILED


# -- the model's signature --------------------------------------------------------------------


def _model_info(lit: ModuleType, tmp_path: Path, model: Any) -> tuple[str, Any]:
    lit.torch.manual_seed(0)
    lit.make_trainer(tmp_path, 1).fit(model, *lit.make_loaders())
    (run,) = autolog.search_runs()
    uri = f"runs:/{run.info.run_id}/model"
    return uri, autolog.get_model_info(uri)


@pytest.mark.usefixtures("autologged")
def test_fit_records_the_signature_of_the_input_forward_took(
    lit: ModuleType, tmp_path: Path
) -> None:
    model = lit.Regressor()
    uri, info = _model_info(lit, tmp_path, model)
    assert info.signature == {
        "inputs": {"type": "tensor", "dtype": "float32", "shape": [-1, 4]},
        "outputs": {"type": "tensor", "dtype": "float32", "shape": [-1, 1]},
    }
    train, _ = lit.make_loaders()
    first_x = next(iter(train))[0]
    assert lit.torch.allclose(lit.torch.tensor(info.input_example["data"]), first_x[:5])
    assert not model._forward_pre_hooks  # caught once, then let go
    predictor = autolog.load_predictor(uri)
    with lit.torch.no_grad():
        expected = model.eval()(first_x[:5]).numpy()
    assert np.allclose(predictor.predict(first_x[:5].numpy()), expected, atol=1e-6)
    with pytest.raises(InvalidInputError, match=r"shape \[5, 3\]"):
        predictor.predict(np.zeros((5, 3), dtype="float32"))


@pytest.mark.usefixtures("autologged")
def test_a_training_step_that_never_calls_forward_signs_with_the_batchs_x(
    lit: ModuleType, tmp_path: Path
) -> None:
    class Direct(lit.Regressor):
        def training_step(self, batch: Any, index: int) -> Any:
            x, y = batch
            return lit.nn.functional.mse_loss(self.net(x), y)  # forward is for inference

    uri, info = _model_info(lit, tmp_path, Direct())
    assert info.signature["inputs"] == {"type": "tensor", "dtype": "float32", "shape": [-1, 4]}
    assert len(info.input_example["data"]) == 5
    assert autolog.load_predictor(uri).predict(info.input_example["data"]).shape == (5, 1)


@pytest.mark.usefixtures("autologged")
def test_no_signature_where_the_input_cannot_be_told(lit: ModuleType, tmp_path: Path) -> None:
    class Slicing(lit.Regressor):
        """Batches of (x, y) whose x forward cannot take as it is (never called): no guess."""

        def training_step(self, batch: Any, index: int) -> Any:
            x, y = batch
            return lit.nn.functional.mse_loss(self.net(x[:, :4]), y)

        def validation_step(self, batch: Any, index: int) -> None:
            x, y = batch
            self.log("val_loss", lit.nn.functional.mse_loss(self.net(x[:, :4]), y))

    class Keyed(lit.Regressor):
        """forward takes a dict: nothing a tensor signature can say."""

        def forward(self, x: Any) -> Any:
            return self.net(x["features"])

        def training_step(self, batch: Any, index: int) -> Any:
            x, y = batch
            return lit.nn.functional.mse_loss(self({"features": x}), y)

        def validation_step(self, batch: Any, index: int) -> None:
            x, y = batch
            self.log("val_loss", lit.nn.functional.mse_loss(self({"features": x}), y))

    wide = lit.torch.randn(32, 6)
    loader = lit.DataLoader(lit.TensorDataset(wide, wide[:, :1]), batch_size=8)
    lit.torch.manual_seed(0)
    lit.make_trainer(tmp_path, 1).fit(Slicing(), loader, loader)
    lit.make_trainer(tmp_path, 1).fit(Keyed(), *lit.make_loaders())
    for run in autolog.search_runs():
        info = autolog.get_model_info(f"runs:/{run.info.run_id}/model")
        assert info.signature is None
        assert info.input_example is None
