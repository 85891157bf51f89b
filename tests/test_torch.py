"""The PyTorch integration on plain training loops: real training on tiny data.

Each test trains with ``autolog.autolog()`` on and an unchanged loop, then reads back what was
recorded through the public API. Subprocess tests cover what only a whole interpreter shows:
exit, uncaught exceptions, DataLoader workers, loading a model elsewhere.
"""

from __future__ import annotations

import copy
import io
import json
import math
import pickle
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import REPO, run_script

import autolog
from autolog import RunStatus
from autolog.errors import InvalidInputError
from autolog.lifecycle import on_run_end

torch = pytest.importorskip("torch", reason="the torch integration's tests need torch")
nn = torch.nn
F = torch.nn.functional
DataLoader = torch.utils.data.DataLoader
TensorDataset = torch.utils.data.TensorDataset


@pytest.fixture
def autologged() -> Iterator[None]:
    autolog.autolog()
    yield
    autolog.autolog(disable=True)


def make_data(n: int = 96, features: int = 4, seed: int = 0) -> tuple[Any, Any]:
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, features, generator=generator)
    y = X.sum(dim=1, keepdim=True) + 0.1 * torch.randn(n, 1, generator=generator)
    return X, y


def make_model(features: int = 4) -> Any:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(features, 8), nn.ReLU(), nn.Linear(8, 1))


def train(
    model: Any,
    optimizer: Any,
    loader: Any,
    epochs: int,
    val_loader: Any = None,
    *,
    scheduler: Any = None,
    no_grad_validation: bool = True,
) -> tuple[list[float], list[float]]:
    """An ordinary loop: returns the mean training loss and validation loss of each epoch."""
    criterion = nn.MSELoss()
    train_means, val_means = [], []
    for _ in range(epochs):
        model.train()
        losses = []
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        train_means.append(sum(losses) / len(losses))
        if val_loader is not None:
            model.eval()
            if no_grad_validation:
                with torch.no_grad():
                    values = [criterion(model(xb), yb).item() for xb, yb in val_loader]
            else:
                values = [criterion(model(xb), yb).item() for xb, yb in val_loader]
            val_means.append(sum(values) / len(values))
        if scheduler is not None:
            scheduler.step()
    return train_means, val_means


def history(run_id: str, key: str) -> list[float]:
    return [m.value for m in autolog.get_metric_history(run_id, key)]


def only_run() -> autolog.Run:
    runs = autolog.search_runs()
    assert len(runs) == 1, [r.info.run_name for r in runs]
    return runs[0]


# -- what a plain loop records ---------------------------------------------------------------


@pytest.mark.usefixtures("autologged")
def test_plain_loop_records_params_epoch_metrics_and_timings() -> None:
    X, y = make_data()
    loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True)
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    means, _ = train(model, optimizer, loader, 3, scheduler=scheduler)
    run_id = autolog.active_run().info.run_id  # type: ignore[union-attr]
    autolog.end_run()

    run = autolog.get_run(run_id)
    assert run.info.status is RunStatus.FINISHED
    params = run.data.params
    assert params["optimizer"] == "SGD"
    assert params["lr"] == "0.05"
    assert params["momentum"] == "0.9"
    assert params["weight_decay"] == "0.0001"
    assert params["lr_scheduler"] == "StepLR"
    assert params["lr_scheduler_step_size"] == "1"
    assert params["lr_scheduler_gamma"] == "0.5"
    assert params["model_class"] == "Sequential"
    n_params = sum(p.numel() for p in model.parameters())
    assert params["total_params"] == params["trainable_params"] == str(n_params)
    assert params["batch_size"] == "16"
    assert params["dataset_size"] == "96"
    assert params["device"] == "cpu"
    assert params["dtype"] == "float32"

    assert history(run_id, "training_loss") == pytest.approx(means, rel=1e-6)
    assert history(run_id, "learning_rate") == pytest.approx([0.05, 0.025, 0.0125])
    assert history(run_id, "optimizer_steps") == [6.0, 6.0, 6.0]
    assert [m.step for m in autolog.get_metric_history(run_id, "training_loss")] == [0, 1, 2]
    for epoch_time, data_time, compute_time, rate in zip(
        history(run_id, "epoch_time"),
        history(run_id, "data_time"),
        history(run_id, "compute_time"),
        history(run_id, "samples_per_second"),
        strict=True,
    ):
        assert 0 < data_time < epoch_time < 30
        assert data_time + compute_time == pytest.approx(epoch_time)
        assert rate == pytest.approx(96 / epoch_time)
    assert "validation_loss" not in run.data.metrics


@pytest.mark.usefixtures("autologged")
@pytest.mark.parametrize("no_grad", [True, False], ids=["no_grad", "eval_only"])
def test_validation_loss_between_epochs(no_grad: bool) -> None:
    X, y = make_data()
    loader = DataLoader(TensorDataset(X, y), batch_size=32)
    val_loader = DataLoader(TensorDataset(X[:40] * 2, y[:40] * 2), batch_size=16)
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    means, val_means = train(model, optimizer, loader, 3, val_loader, no_grad_validation=no_grad)
    autolog.end_run()
    run = only_run()
    assert history(run.info.run_id, "training_loss") == pytest.approx(means, rel=1e-6)
    assert history(run.info.run_id, "validation_loss") == pytest.approx(val_means, rel=1e-6)
    steps = [m.step for m in autolog.get_metric_history(run.info.run_id, "validation_loss")]
    assert steps == [0, 1, 2]


@pytest.mark.usefixtures("autologged")
def test_functional_losses_and_losses_written_by_hand() -> None:
    """backward() on any scalar counts for training. A loss written by hand is not what an F.*
    loss under no_grad computes: no validation_loss (it was the L1 loss beside a training loss
    of MSE plus a penalty before issue 19), and the run says why, once."""
    X, y = make_data()
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loader = DataLoader(TensorDataset(X, y), batch_size=48)
    train_losses = []
    with pytest.warns(autolog.AutologWarning, match="validation_loss is not recorded") as caught:
        for _ in range(2):
            epoch = []
            for xb, yb in loader:
                optimizer.zero_grad()
                loss = ((model(xb) - yb) ** 2).mean() + 0.01 * model[0].weight.abs().sum()
                loss.backward()
                optimizer.step()
                epoch.append(loss.item())
            train_losses.append(sum(epoch) / len(epoch))
            with torch.no_grad():
                F.l1_loss(model(X), y)
        autolog.end_run()
    assert len(caught) == 1
    run = only_run()
    assert history(run.info.run_id, "training_loss") == pytest.approx(train_losses, rel=1e-6)
    assert "validation_loss" not in run.data.metrics
    assert "test_loss" not in run.data.metrics
    assert "not the same quantity" in run.data.tags["autolog.torch.validation"]


def evaluate(model: Any, loader: Any) -> float:
    model.eval()
    with torch.no_grad():
        values = [F.mse_loss(model(xb), yb).item() for xb, yb in loader]
    return sum(values) / len(values)


@pytest.mark.usefixtures("autologged")
def test_a_test_after_training_is_test_loss_not_the_last_epochs_validation() -> None:
    """Train, validate each epoch, then one evaluation on the test set (the usual example
    shape): the test is no part of the last epoch's validation."""
    X, y = make_data()
    loader = DataLoader(TensorDataset(X, y), batch_size=32)
    val_loader = DataLoader(TensorDataset(X[:40], y[:40]), batch_size=16)
    test_loader = DataLoader(TensorDataset(X[40:] * 30, y[40:] * 30), batch_size=16)
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    _, val_means = train(model, optimizer, loader, 3, val_loader)
    test = evaluate(model, test_loader)
    autolog.end_run()
    run = only_run()
    assert test > 100 * max(val_means)  # a mix of the two would be far from both
    assert history(run.info.run_id, "validation_loss") == pytest.approx(val_means, rel=1e-6)
    test_history = autolog.get_metric_history(run.info.run_id, "test_loss")
    assert [(m.step, m.value) for m in test_history] == [(2, pytest.approx(test, rel=1e-6))]


@pytest.mark.usefixtures("autologged")
def test_tests_on_several_sets_and_validation_data_again_after_training() -> None:
    X, y = make_data()
    loader = DataLoader(TensorDataset(X, y), batch_size=32)
    val_loader = DataLoader(TensorDataset(X[:40], y[:40]), batch_size=16)
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    _, val_means = train(model, optimizer, loader, 2, val_loader)
    again = evaluate(model, val_loader)  # the validation data again: neither phase
    first = evaluate(model, DataLoader(TensorDataset(X[40:60], y[40:60]), batch_size=10))
    second = evaluate(model, DataLoader(TensorDataset(X[60:], 2 * y[60:]), batch_size=12))
    autolog.end_run()
    run = only_run()
    assert again == pytest.approx(val_means[-1])
    assert history(run.info.run_id, "validation_loss") == pytest.approx(val_means, rel=1e-6)
    assert history(run.info.run_id, "test_loss") == pytest.approx([first], rel=1e-6)
    assert history(run.info.run_id, "test_loss_1") == pytest.approx([second], rel=1e-6)
    assert "validation data again" in run.data.tags["autolog.torch.evaluation"]


@pytest.mark.usefixtures("autologged")
def test_an_evaluation_after_training_without_validation_is_test_loss() -> None:
    X, y = make_data()
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    train(model, optimizer, DataLoader(TensorDataset(X, y), batch_size=32), 2)
    with torch.no_grad():
        test = F.mse_loss(model(X[:20]), y[:20]).item()
    autolog.end_run()
    run = only_run()
    assert "validation_loss" not in run.data.metrics
    assert history(run.info.run_id, "test_loss") == pytest.approx([test], rel=1e-6)


@pytest.mark.usefixtures("autologged")
def test_where_the_phase_cannot_be_told_nothing_is_recorded_and_the_run_says_why() -> None:
    """Validation on fresh tensors every epoch: the sources of evaluation do not repeat, so
    what comes after the last step may be its validation or a test. No number, a note."""
    X, y = make_data()
    loader = DataLoader(TensorDataset(X, y), batch_size=32)
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    validations = []
    for _ in range(3):
        train(model, optimizer, loader, 1)
        with torch.no_grad():
            validations.append(F.mse_loss(model(X[:40]), y[:40].clone()).item())
    with torch.no_grad():
        F.mse_loss(model(X[40:]), y[40:].clone())
    with pytest.warns(autolog.AutologWarning, match="cannot be told apart"):
        autolog.end_run()
    run = only_run()
    assert history(run.info.run_id, "validation_loss") == pytest.approx(validations[:2])
    assert "test_loss" not in run.data.metrics
    assert "were not recorded" in run.data.tags["autolog.torch.evaluation"]


@pytest.mark.usefixtures("autologged")
def test_evaluation_losses_reduced_by_sum_are_recorded_as_means() -> None:
    """A cross-entropy summed under no_grad is divided by its terms: the training loss's units.
    An MSE beside it is another quantity: not recorded (averaged in before issue 19)."""
    X, _ = make_data()
    labels = (X[:, 0] > 0).long()
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(TensorDataset(X, labels), batch_size=32)
    means = []
    zeros = torch.zeros(len(X), 2)
    for _ in range(2):
        for xb, yb in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            optimizer.step()
        with torch.no_grad():
            total = F.cross_entropy(model(X), labels, reduction="sum").item()
            total_mse = F.mse_loss(model(X), zeros, reduction="sum").item()
        assert total_mse > 0
        means.append(total / len(X))
    autolog.end_run()
    run = only_run()
    assert history(run.info.run_id, "validation_loss") == pytest.approx(means, rel=1e-5)
    assert "mse_loss" in run.data.tags["autolog.torch.other_losses"]


def test_numbers_are_identical_with_and_without_autolog() -> None:
    def once() -> tuple[list[float], list[Any], Any]:
        X, y = make_data(seed=3)
        torch.manual_seed(1)
        loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True)
        val_loader = DataLoader(TensorDataset(X[:32], y[:32]), batch_size=16)
        model = make_model()
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        means, val_means = train(model, optimizer, loader, 3, val_loader)
        torch.save(model.state_dict(), "weights.pt")
        autolog.end_run()
        weights = [p.detach().clone() for p in model.parameters()]
        grads = [p.grad.clone() for p in model.parameters()]  # type: ignore[union-attr]
        return [*means, *val_means], [*weights, *grads], torch.get_rng_state()

    autolog.autolog(disable=True)
    bare = once()
    autolog.autolog()
    logged = once()
    autolog.autolog(disable=True)
    assert logged[0] == bare[0]
    assert all(torch.equal(a, b) for a, b in zip(logged[1], bare[1], strict=True))
    assert torch.equal(logged[2], bare[2])  # no random numbers drawn by autolog
    assert len(autolog.search_runs()) == 1


# -- run lifetime --------------------------------------------------------------------------


@pytest.mark.usefixtures("autologged")
def test_run_opens_at_first_step_and_is_active_until_end_run() -> None:
    X, y = make_data()
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss = F.mse_loss(model(X), y)
    loss.backward()
    assert autolog.active_run() is None  # nothing before the first step
    optimizer.step()
    run = autolog.active_run()
    assert run is not None
    train(model, optimizer, DataLoader(TensorDataset(X, y), batch_size=32), 2)
    assert autolog.active_run() is not None
    assert autolog.active_run().info.run_id == run.info.run_id  # type: ignore[union-attr]
    autolog.end_run()
    assert autolog.active_run() is None
    stored = autolog.get_run(run.info.run_id)
    assert stored.info.status is RunStatus.FINISHED
    paths = {f.path for f in autolog.list_artifacts(run.info.run_id, "model")}
    assert {"model/state_dict.pt", "model/model.pkl"} <= paths


@pytest.mark.usefixtures("autologged")
def test_a_user_run_ends_ours_first() -> None:
    X, y = make_data()
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    train(model, optimizer, DataLoader(TensorDataset(X, y), batch_size=32), 1)
    ours = autolog.active_run()
    assert ours is not None
    with autolog.start_run(run_name="mine") as mine:
        autolog.log_metric("x", 1.0)
    stored = autolog.get_run(ours.info.run_id)
    assert stored.info.status is RunStatus.FINISHED
    assert "training_loss" in stored.data.metrics
    assert autolog.list_artifacts(ours.info.run_id, "model")
    assert autolog.get_run(mine.info.run_id).data.metrics == {"x": 1.0}


@pytest.mark.usefixtures("autologged")
def test_two_models_one_after_another_make_two_runs() -> None:
    X, y = make_data()
    loader = DataLoader(TensorDataset(X, y), batch_size=32)
    first = make_model()
    train(first, torch.optim.SGD(first.parameters(), lr=0.01), loader, 2)
    second = nn.Linear(4, 1)
    means, _ = train(second, torch.optim.Adam(second.parameters(), lr=0.02), loader, 3)
    autolog.end_run()
    runs = autolog.search_runs()
    assert len(runs) == 2
    newest, oldest = runs
    assert oldest.info.status is newest.info.status is RunStatus.FINISHED
    assert oldest.data.params["optimizer"] == "SGD"
    assert oldest.data.params["model_class"] == "Sequential"
    assert newest.data.params["optimizer"] == "Adam"
    assert newest.data.params["model_class"] == "Linear"
    assert len(history(oldest.info.run_id, "training_loss")) == 2
    assert history(newest.info.run_id, "training_loss") == pytest.approx(means, rel=1e-6)
    loaded = autolog.load_model(f"runs:/{oldest.info.run_id}/model")
    assert torch.equal(loaded(X), first(X))  # type: ignore[operator]


@pytest.mark.usefixtures("autologged")
def test_two_optimizers_stepping_in_one_pass_share_one_run() -> None:
    """Two optimizers, each with its own backward(): two trainings in one run, each under the
    name of the module it trains (before issue 19: ``optimizer_1`` params, losses averaged)."""
    X, y = make_data()
    loader = DataLoader(TensorDataset(X, y), batch_size=32)
    generator, critic = nn.Linear(4, 1), nn.Linear(1, 1)
    opt_g = torch.optim.Adam(generator.parameters(), lr=0.01)
    opt_c = torch.optim.SGD(critic.parameters(), lr=0.01)
    for _ in range(2):
        for xb, yb in loader:
            opt_c.zero_grad()
            F.mse_loss(critic(generator(xb).detach()), yb).backward()
            opt_c.step()
            opt_g.zero_grad()
            F.mse_loss(critic(generator(xb)), yb).backward()
            opt_g.step()
    autolog.end_run()
    run = only_run()
    assert run.data.params["critic_optimizer"] == "SGD"
    assert run.data.params["generator_optimizer"] == "Adam"
    assert "optimizer" not in run.data.params
    assert history(run.info.run_id, "critic_optimizer_steps") == [3.0, 3.0]
    assert history(run.info.run_id, "generator_optimizer_steps") == [3.0, 3.0]
    assert "training_loss" not in run.data.metrics


@pytest.mark.usefixtures("autologged")
def test_inside_a_user_run_we_log_into_it_and_never_end_it() -> None:
    X, y = make_data()
    model = make_model()
    with autolog.start_run(run_name="outer") as outer:
        train(
            model, torch.optim.SGD(model.parameters(), lr=0.01), DataLoader(TensorDataset(X, y)), 1
        )
        assert autolog.active_run().info.run_id == outer.info.run_id  # type: ignore[union-attr]
        assert autolog.get_run(outer.info.run_id).info.status is RunStatus.RUNNING
    run = only_run()
    assert run.info.status is RunStatus.FINISHED
    assert run.data.params["optimizer"] == "SGD"
    assert autolog.list_artifacts(run.info.run_id, "model")  # logged when the user's run ended


class _Broken(torch.utils.data.Dataset):  # type: ignore[type-arg]
    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> Any:
        raise KeyError(f"sample {index} is missing")


@pytest.mark.usefixtures("autologged")
def test_exceptions_in_the_loop_reach_the_user_unchanged() -> None:
    X, y = make_data()
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    train(model, optimizer, DataLoader(TensorDataset(X, y), batch_size=32), 1)
    run_id = autolog.active_run().info.run_id  # type: ignore[union-attr]
    with pytest.raises(KeyError, match="sample 0 is missing"):
        next(iter(DataLoader(_Broken())))
    loss = F.mse_loss(model(X), y)
    loss.backward()
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()
    # A caught exception is not a failure: training goes on in the same run.
    train(model, optimizer, DataLoader(TensorDataset(X, y), batch_size=32), 1)
    assert autolog.active_run().info.run_id == run_id  # type: ignore[union-attr]
    autolog.end_run()
    assert autolog.get_run(run_id).info.status is RunStatus.FINISHED
    assert len(history(run_id, "training_loss")) == 2


def test_faults_in_our_hooks_never_reach_the_user(monkeypatch: pytest.MonkeyPatch) -> None:
    from autolog.integrations import _torch_loop

    monkeypatch.setenv("AUTOLOG_STRICT", "0")
    X, y = make_data()

    def loop() -> tuple[list[float], list[float]]:
        model = make_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        val = DataLoader(TensorDataset(X, y), batch_size=48)
        result = train(model, optimizer, DataLoader(TensorDataset(X, y), batch_size=32), 2, val)
        autolog.end_run()
        return result

    expected = loop()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ZeroDivisionError("our bug")

    autolog.autolog()
    monkeypatch.setattr(_torch_loop._Tracker, "step", broken)
    monkeypatch.setattr(_torch_loop, "_batch_size", broken)
    with pytest.warns(autolog.AutologWarning, match="our bug"):
        assert loop() == expected
    autolog.autolog(disable=True)


# -- loops without a DataLoader, per-step logging ----------------------------------------------


@pytest.mark.usefixtures("autologged")
def test_full_batch_training_makes_one_epoch_per_step() -> None:
    """Without a DataLoader, every step over the whole tensor is a pass over the data."""
    X, y = make_data()
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    losses = []
    for _ in range(6):
        optimizer.zero_grad()
        loss = F.mse_loss(model(X), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    autolog.end_run()
    run = only_run()
    assert history(run.info.run_id, "training_loss") == pytest.approx(losses, rel=1e-6)
    assert history(run.info.run_id, "optimizer_steps") == [1.0] * 6
    assert "pass over the tensor" in run.data.tags["autolog.torch.epochs"]
    assert "data_time" not in run.data.metrics
    assert "batch_size" not in run.data.params


@pytest.mark.usefixtures("autologged")
def test_slices_of_one_tensor_make_epochs() -> None:
    """Batches sliced from one tensor by hand (``X[i:i + n]``): an epoch is a pass over it."""
    X, y = make_data(n=100)
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    means = []
    for _ in range(3):
        epoch = []
        for i in range(0, len(X), 32):  # the last batch has 4 samples
            optimizer.zero_grad()
            loss = F.mse_loss(model(X[i : i + 32]), y[i : i + 32])
            loss.backward()
            optimizer.step()
            epoch.append(loss.item())
        means.append(sum(epoch) / len(epoch))
    autolog.end_run()
    run = only_run()
    assert history(run.info.run_id, "training_loss") == pytest.approx(means, rel=1e-6)
    assert history(run.info.run_id, "optimizer_steps") == [4.0, 4.0, 4.0]
    assert [m.step for m in autolog.get_metric_history(run.info.run_id, "epoch_time")] == [0, 1, 2]


def test_loops_without_structure_log_windows_and_say_why() -> None:
    """Fresh random batches every step: no epoch can be told. Windows of steps, said once in
    the run and as a warning."""
    autolog.autolog(torch={"window_steps": 5})
    X, y = make_data()
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(1)
    losses = []
    with pytest.warns(autolog.AutologWarning, match="no epochs can be told") as caught:
        for _ in range(12):
            index = torch.randint(0, len(X), (16,), generator=generator)
            optimizer.zero_grad()
            loss = F.mse_loss(model(X[index]), y[index])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        autolog.end_run()
    autolog.autolog(disable=True)
    assert len(caught) == 1
    run = only_run()
    windows = [losses[0:5], losses[5:10], losses[10:12]]
    expected = [sum(w) / len(w) for w in windows]
    assert history(run.info.run_id, "training_loss") == pytest.approx(expected, rel=1e-6)
    assert history(run.info.run_id, "optimizer_steps") == [5.0, 5.0, 2.0]
    assert all(t > 0 for t in history(run.info.run_id, "epoch_time"))
    note = run.data.tags["autolog.torch.epochs"]
    assert "window of 5 optimizer steps" in note
    assert "not slices of one tensor" in note


def test_per_step_logging_every_n_steps() -> None:
    autolog.autolog(torch={"log_every_n_steps": 2})
    X, y = make_data()
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    losses = []
    for xb, yb in DataLoader(TensorDataset(X, y), batch_size=16):
        optimizer.zero_grad()
        loss = F.mse_loss(model(xb), yb)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    autolog.end_run()
    autolog.autolog(disable=True)
    run = only_run()
    steps = autolog.get_metric_history(run.info.run_id, "step_training_loss")
    assert [m.step for m in steps] == [2, 4, 6]
    assert [m.value for m in steps] == pytest.approx(losses[1::2])
    assert history(run.info.run_id, "step_learning_rate") == [0.01] * 3


def test_bad_options_are_refused() -> None:
    with pytest.raises(autolog.InvalidInputError, match="window_steps"):
        autolog.autolog(torch={"window_steps": 0})
    with pytest.raises(autolog.InvalidInputError, match="torch options"):
        autolog.autolog(torch={"epochs": 3})


# -- loops that update the weights by hand -----------------------------------------------------


@pytest.mark.usefixtures("autologged")
def test_loops_updating_weights_by_hand_are_recorded() -> None:
    X, y = make_data()
    loader = DataLoader(TensorDataset(X, y), batch_size=32)
    val_loader = DataLoader(TensorDataset(X[:32], y[:32]), batch_size=32)
    model = make_model()
    means, val_means = [], []
    for _ in range(2):
        model.train()
        losses = []
        for xb, yb in loader:
            model.zero_grad()
            loss = F.mse_loss(model(xb), yb)
            loss.backward()
            with torch.no_grad():
                for p in model.parameters():
                    p.sub_(0.05 * p.grad)
            losses.append(loss.item())
        means.append(sum(losses) / len(losses))
        val_means.append(evaluate(model, val_loader))
    run_id = autolog.active_run().info.run_id  # type: ignore[union-attr]
    autolog.end_run()
    run = autolog.get_run(run_id)
    assert run.data.params["optimizer"] == "manual"
    assert run.data.params["model_class"] == "Sequential"
    assert run.data.params["batch_size"] == "32"
    assert history(run_id, "training_loss") == pytest.approx(means, rel=1e-6)
    assert history(run_id, "optimizer_steps") == [3.0, 3.0]
    assert history(run_id, "validation_loss") == pytest.approx(val_means, rel=1e-6)
    assert "learning_rate" not in run.data.metrics
    assert "updated by hand" in run.data.tags["autolog.torch.weights"]
    loaded = autolog.load_model(f"runs:/{run_id}/model")
    assert torch.equal(loaded(X), model(X))  # type: ignore[operator]


@pytest.mark.usefixtures("autologged")
def test_zero_grad_in_an_optimizers_loop_is_no_update_by_hand() -> None:
    """A backward() for adversarial inputs, then model.zero_grad(), before the first optimizer
    step: the optimizer's loop, one run."""
    X, y = make_data()
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for xb, yb in DataLoader(TensorDataset(X, y), batch_size=32):
        inputs = xb.clone().requires_grad_(True)
        F.mse_loss(model(inputs), yb).backward()
        adversarial = (inputs + 0.01 * inputs.grad.sign()).detach()  # type: ignore[union-attr]
        model.zero_grad()
        F.mse_loss(model(adversarial), yb).backward()
        optimizer.step()
    autolog.end_run()
    run = only_run()
    assert run.data.params["optimizer"] == "SGD"
    assert history(run.info.run_id, "optimizer_steps") == [3.0]


@pytest.mark.usefixtures("autologged")
def test_backward_without_any_step_is_said_once() -> None:
    X, y = make_data()
    w = torch.zeros(4, 1, requires_grad=True)
    with pytest.warns(autolog.AutologWarning, match="nothing is recorded for this loop") as caught:
        for _ in range(600):
            loss = F.mse_loss(X @ w, y)
            loss.backward()
            with torch.no_grad():
                w -= 0.01 * w.grad  # type: ignore[operator]
                w.grad = None
    assert len(caught) == 1
    assert autolog.active_run() is None
    assert autolog.search_runs() == []


# -- artifacts ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("autologged")
def test_torch_save_during_training_logs_checkpoints(tmp_path: Path) -> None:
    X, y = make_data()
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loader = DataLoader(TensorDataset(X, y), batch_size=32)
    torch.save(model.state_dict(), tmp_path / "before.pt")  # no training yet: not logged
    for epoch in range(2):
        train(model, optimizer, loader, 1)
        torch.save({"epoch": epoch, "model": model.state_dict()}, tmp_path / f"epoch{epoch}.pt")
        torch.save(model.state_dict(), str(tmp_path / "last.pt"))
    with open(tmp_path / "opened.pt", "wb") as f:  # an open file, as pytorch/examples does
        torch.save(model, f)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)  # not a file: not logged
    run_id = autolog.active_run().info.run_id  # type: ignore[union-attr]
    autolog.end_run()
    files = {f.path for f in autolog.list_artifacts(run_id, "checkpoints")}
    assert files == {
        "checkpoints/epoch0.pt",
        "checkpoints/epoch1.pt",
        "checkpoints/last.pt",
        "checkpoints/opened.pt",
    }
    folder = Path(autolog.download_artifacts(run_id, "checkpoints"))
    last = torch.load(folder / "last.pt", weights_only=True)
    assert all(torch.equal(last[k], v) for k, v in model.state_dict().items())
    assert (folder / "opened.pt").read_bytes() == (tmp_path / "opened.pt").read_bytes()
    assert torch.equal(torch.load(folder / "opened.pt", weights_only=False)(X), model(X))


@pytest.mark.slow
@pytest.mark.usefixtures("autologged")
def test_final_model_state_dict_and_module_load_in_a_fresh_process(tmp_path: Path) -> None:
    X, y = make_data()
    model = make_model()
    train(model, torch.optim.Adam(model.parameters(), lr=0.01), DataLoader(TensorDataset(X, y)), 1)
    run_id = autolog.active_run().info.run_id  # type: ignore[union-attr]
    autolog.end_run()
    folder = Path(autolog.download_artifacts(run_id, "model"))
    state = torch.load(io.BytesIO((folder / "state_dict.pt").read_bytes()), weights_only=True)
    assert state.keys() == model.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    torch.save({"X": X, "expected": model(X).detach()}, tmp_path / "io.pt")
    done = run_script(
        f"""
        import torch
        import autolog
        model = autolog.load_model("runs:/{run_id}/model")
        data = torch.load("io.pt")
        assert torch.equal(model(data["X"]), data["expected"])
        print(type(model).__name__)
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Sequential"


# -- the model's signature --------------------------------------------------------------------


class _FrozenNorm(nn.Module):
    """A model with a batch norm the user froze in eval() mode, and dropout (randomness)."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(4)
        self.body = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 1))

    def forward(self, x: Any) -> Any:
        # randomness in any mode: a run of the model at log time draws from torch's generator
        return self.body(self.norm(x)) + 0.0 * torch.rand(1)


@pytest.mark.usefixtures("autologged")
def test_a_plain_loop_records_the_signature_and_example_of_the_models_input() -> None:
    X, y = make_data()
    model = _FrozenNorm()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    train(model, optimizer, DataLoader(TensorDataset(X, y), batch_size=16), 2)
    assert not model._forward_pre_hooks  # caught once, then the fast path again
    model.norm.eval()  # frozen by the user: logging the model must leave it so
    run_id = autolog.active_run().info.run_id  # type: ignore[union-attr]
    norm_state = {k: v.clone() for k, v in model.norm.state_dict().items()}
    rng = torch.get_rng_state()
    autolog.end_run()  # logs the model, running it on its example rows
    assert torch.equal(torch.get_rng_state(), rng)
    assert model.training
    assert model.body.training
    assert not model.norm.training
    assert all(torch.equal(v, norm_state[k]) for k, v in model.norm.state_dict().items())

    uri = f"runs:/{run_id}/model"
    info = autolog.get_model_info(uri)
    assert info.signature == {
        "inputs": {"type": "tensor", "dtype": "float32", "shape": [-1, 4]},
        "outputs": {"type": "tensor", "dtype": "float32", "shape": [-1, 1]},
    }
    # the first input of the model in training after the run opened: the second batch
    assert info.input_example is not None
    assert torch.allclose(torch.tensor(info.input_example["data"]), X[16:21])
    example = np.asarray(info.input_example["data"], dtype="float32")
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(example)).numpy()
    assert np.allclose(autolog.load_predictor(uri).predict(example), expected, atol=1e-6)
    with pytest.raises(InvalidInputError, match=r"shape \[2, 3\]"):
        autolog.load_predictor(uri).predict(np.zeros((2, 3), dtype="float32"))


class _TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 1)

    def forward(self, x: Any, scale: Any = None) -> Any:
        if isinstance(x, dict):
            x = x["features"]
        return self.linear(x) * (1 if scale is None else scale)


@pytest.mark.usefixtures("autologged")
@pytest.mark.parametrize("call", ["two_args", "keyword", "dict"])
def test_a_module_called_with_more_than_one_tensor_gets_no_signature(call: str) -> None:
    X, y = make_data()
    model = _TwoInputs()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for xb, yb in DataLoader(TensorDataset(X, y), batch_size=16):
        optimizer.zero_grad()
        if call == "two_args":
            out = model(xb, torch.tensor(2.0))
        elif call == "keyword":
            out = model(x=xb)
        else:
            out = model({"features": xb})
        F.mse_loss(out, yb).backward()
        optimizer.step()
    assert not model._forward_pre_hooks
    run_id = autolog.active_run().info.run_id  # type: ignore[union-attr]
    autolog.end_run()
    info = autolog.get_model_info(f"runs:/{run_id}/model")
    assert info.signature is None
    assert info.input_example is None


@pytest.mark.usefixtures("autologged")
def test_a_single_step_shows_no_input_and_the_model_has_no_signature() -> None:
    X, y = make_data()
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    F.mse_loss(model(X), y).backward()
    optimizer.step()  # the run opens here: the model is not called in training again
    # copied or pickled while autolog waits for its input: a hook that does nothing goes along
    copied = copy.deepcopy(model)
    loaded = pickle.loads(pickle.dumps(model))
    with torch.no_grad():  # no training call: the model still waits
        for other in (copied, loaded):
            assert torch.equal(other(X), model(X))
    run_id = autolog.active_run().info.run_id  # type: ignore[union-attr]
    autolog.end_run()
    assert not model._forward_pre_hooks  # let go at the run's end
    assert autolog.get_model_info(f"runs:/{run_id}/model").signature is None


# -- whole interpreters ------------------------------------------------------------------------

SCRIPT_HEAD = """
import torch
import autolog
autolog.autolog()
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
X = torch.randn(64, 4)
y = X.sum(dim=1, keepdim=True)
"""


def _script(body: str) -> str:
    return textwrap.dedent(SCRIPT_HEAD) + textwrap.dedent(body)


@pytest.mark.slow
def test_interpreter_exit_ends_the_run_finished_with_the_model(tmp_path: Path) -> None:
    done = run_script(
        _script(
            """
            model = nn.Linear(4, 1)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            for epoch in range(2):
                for xb, yb in DataLoader(TensorDataset(X, y), batch_size=16):
                    optimizer.zero_grad()
                    nn.functional.mse_loss(model(xb), yb).backward()
                    optimizer.step()
            print(autolog.active_run().info.run_id)
            """
        ),
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    client = autolog.Client(f"sqlite:///{tmp_path / 'autolog-runs' / 'autolog.db'}")
    run = client.get_run(run_id)
    assert run.info.status is RunStatus.FINISHED
    assert len(client.get_metric_history(run_id, "training_loss")) == 2
    assert {f.path for f in client.list_artifacts(run_id, "model")} >= {"model/model.pkl"}


@pytest.mark.slow
def test_an_uncaught_exception_ends_the_run_failed_keeping_what_was_logged(
    tmp_path: Path,
) -> None:
    done = run_script(
        _script(
            """
            model = nn.Linear(4, 1)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            for epoch in range(3):
                for xb, yb in DataLoader(TensorDataset(X, y), batch_size=16):
                    optimizer.zero_grad()
                    nn.functional.mse_loss(model(xb), yb).backward()
                    optimizer.step()
                if epoch == 1:
                    print(autolog.active_run().info.run_id, flush=True)
                    raise ValueError("diverged")
            """
        ),
        tmp_path,
    )
    assert done.returncode == 1
    assert done.stderr.strip().endswith("ValueError: diverged")
    run_id = done.stdout.strip()
    client = autolog.Client(f"sqlite:///{tmp_path / 'autolog-runs' / 'autolog.db'}")
    run = client.get_run(run_id)
    assert run.info.status is RunStatus.FAILED
    assert len(client.get_metric_history(run_id, "training_loss")) == 2
    assert not client.list_artifacts(run_id, "model")


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_dataloader_workers_neither_deadlock_nor_log(tmp_path: Path, method: str) -> None:
    if method not in torch.multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    done = run_script(
        f"""
        import torch
        import autolog
        autolog.autolog()
        from torch import nn
        from torch.utils.data import DataLoader, TensorDataset


        class Squares(torch.utils.data.Dataset):
            def __len__(self):
                return 64

            def __getitem__(self, i):
                x = torch.full((4,), float(i % 7))
                return x, x.sum(dim=0, keepdim=True)


        if __name__ == "__main__":
            torch.manual_seed(0)
            model = nn.Linear(4, 1)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.001)
            loader = DataLoader(
                Squares(), batch_size=8, num_workers=2, multiprocessing_context="{method}"
            )
            for epoch in range(2):
                for xb, yb in loader:
                    optimizer.zero_grad()
                    nn.functional.mse_loss(model(xb), yb).backward()
                    optimizer.step()
                torch.save(model.state_dict(), "ckpt.pt")
            print(autolog.active_run().info.run_id)
        """,
        tmp_path,
        timeout=200,
    )
    assert done.returncode == 0, done.stderr
    client = autolog.Client(f"sqlite:///{tmp_path / 'autolog-runs' / 'autolog.db'}")
    runs = client.search_runs()
    assert [r.info.run_id for r in runs] == [done.stdout.strip()]
    run = runs[0]
    assert run.info.status is RunStatus.FINISHED
    assert len(client.get_metric_history(run.info.run_id, "training_loss")) == 2
    assert all(
        v > 0 for v in (m.value for m in client.get_metric_history(run.info.run_id, "data_time"))
    )
    assert {f.path for f in client.list_artifacts(run.info.run_id, "checkpoints")} == {
        "checkpoints/ckpt.pt"
    }


@pytest.mark.slow
def test_only_rank_zero_records(tmp_path: Path) -> None:
    body = """
        model = nn.Linear(4, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for xb, yb in DataLoader(TensorDataset(X, y), batch_size=16):
            optimizer.zero_grad()
            nn.functional.mse_loss(model(xb), yb).backward()
            optimizer.step()
        torch.save(model.state_dict(), "ckpt.pt")
        print(autolog.active_run())
        """
    done = run_script(_script(body), tmp_path, env={"RANK": "1", "WORLD_SIZE": "2"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"
    assert (
        not (tmp_path / "autolog-runs").exists()
        or not autolog.Client(f"sqlite:///{tmp_path / 'autolog-runs' / 'autolog.db'}").search_runs()
    )


def test_disable_restores_torch_exactly() -> None:
    from torch.optim import optimizer as optimizer_module

    originals = (torch.autograd.backward, F.cross_entropy, torch.save, sys.excepthook)
    hooks = dict(optimizer_module._global_optimizer_post_hooks)
    autolog.autolog()
    assert torch.autograd.backward is not originals[0]
    assert len(optimizer_module._global_optimizer_post_hooks) == len(hooks) + 1
    autolog.autolog(disable=True)
    assert (torch.autograd.backward, F.cross_entropy, torch.save, sys.excepthook) == originals
    assert dict(optimizer_module._global_optimizer_post_hooks) == hooks


# -- the core hook runs use: end hooks and runs that make way ----------------------------------


def test_end_hooks_run_once_before_the_run_ends_and_auto_runs_make_way() -> None:
    calls: list[tuple[str, RunStatus]] = []
    auto = autolog.start_run(run_name="auto")
    on_run_end(auto.info.run_id, lambda s: calls.append(("auto", s)), makes_way=True)
    with autolog.start_run(run_name="user") as user:  # would raise without makes_way
        on_run_end(user.info.run_id, lambda s: calls.append(("user", s)))
        assert autolog.get_run(auto.info.run_id).info.status is RunStatus.FINISHED
    assert calls == [("auto", RunStatus.FINISHED), ("user", RunStatus.FINISHED)]
    # A run without makes_way still refuses a second one.
    with autolog.start_run() as plain:
        on_run_end(plain.info.run_id, lambda s: calls.append(("plain", s)))
        with pytest.raises(autolog.RunStateError):
            autolog.start_run()
        autolog.end_run("FAILED")
    assert calls[-1] == ("plain", RunStatus.FAILED)


def test_a_failing_end_hook_still_ends_the_run() -> None:
    run = autolog.start_run()

    def hook(status: RunStatus) -> None:
        raise OSError("disk")

    on_run_end(run.info.run_id, hook)
    with pytest.raises(OSError, match="disk"):
        autolog.end_run()
    assert autolog.active_run() is None
    assert autolog.get_run(run.info.run_id).info.status is RunStatus.FINISHED


def test_module_docstring_says_what_loops_without_a_dataloader_record() -> None:
    from autolog.integrations import torch as integration

    doc = integration.__doc__ or ""
    assert "Loops without a DataLoader" in doc
    assert "window_steps" in doc


@pytest.mark.slow
def test_example_script_runs(tmp_path: Path) -> None:
    example = REPO / "examples" / "torch_plain_loop.py"
    done = run_script(example.read_text(), tmp_path, timeout=240)
    assert done.returncode == 0, done.stderr
    assert "training_loss" in done.stdout
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "FINISHED"
    assert math.isfinite(summary["validation_loss"])
