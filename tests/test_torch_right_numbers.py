"""The plain-loop recorder records the numbers the user's own loop computes (issue 19): the
loss before GradScaler's scale and an accumulation's division, one training per optimizer
with its own losses, epochs from what was trained on behind loaders that read ahead, the
configured hyperparameters, and epoch times that include their own step.

Each test trains a tiny model with ``autolog.autolog()`` on and checks what was recorded
against what the loop itself computed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

import autolog

torch = pytest.importorskip("torch", reason="the torch integration's tests need torch")
nn = torch.nn
F = torch.nn.functional
DataLoader = torch.utils.data.DataLoader
TensorDataset = torch.utils.data.TensorDataset

# the plain-loop tests' fixture and readers (``autologged`` is used by name)
from test_torch import autologged, history, only_run  # noqa: E402, F401


def data(n: int = 64, features: int = 4) -> tuple[Any, Any]:
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(n, features, generator=generator)
    return X, X.sum(dim=1, keepdim=True)


def steps_of(run_id: str, key: str) -> list[int]:
    return [m.step for m in autolog.get_metric_history(run_id, key)]


@pytest.mark.usefixtures("autologged")
def test_grad_scaler_loss_is_recorded_before_its_scale() -> None:
    X, y = data()
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    means = []
    for _ in range(2):
        losses = []
        for xb, yb in DataLoader(TensorDataset(X, y), batch_size=16):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = F.mse_loss(model(xb).float(), yb)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad()
            losses.append(loss.item())
        means.append(sum(losses) / len(losses))
    autolog.end_run()
    run = only_run()
    assert history(run.info.run_id, "training_loss") == pytest.approx(means, rel=1e-5)


@pytest.mark.usefixtures("autologged")
@pytest.mark.parametrize("divide", [True, False], ids=["divided", "not_divided"])
def test_gradient_accumulation_records_the_loss_per_batch(divide: bool) -> None:
    X, y = data(96)
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    val = DataLoader(TensorDataset(X[:32], y[:32]), batch_size=16)
    means, val_means = [], []
    for _ in range(2):
        losses = []
        for i, (xb, yb) in enumerate(DataLoader(TensorDataset(X, y), batch_size=8)):
            loss = F.mse_loss(model(xb), yb)
            losses.append(loss.item())
            (loss / 4 if divide else loss).backward()
            if (i + 1) % 4 == 0:
                optimizer.step()
                optimizer.zero_grad()
        means.append(sum(losses) / len(losses))
        with torch.no_grad():
            values = [F.mse_loss(model(xb), yb).item() for xb, yb in val]
        val_means.append(sum(values) / len(values))
    autolog.end_run()
    run_id = only_run().info.run_id
    assert history(run_id, "training_loss") == pytest.approx(means, rel=1e-6)
    assert history(run_id, "validation_loss") == pytest.approx(val_means, rel=1e-6)
    assert history(run_id, "optimizer_steps") == [3.0, 3.0]


@pytest.mark.usefixtures("autologged")
def test_a_loss_times_a_constant_each_step_is_what_is_trained_on() -> None:
    """One backward() per step on ``0.5 * loss``: no accumulation, the product is the loss
    differentiated; it is not the loss function's value, so no validation_loss."""
    X, y = data()
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    means = []
    with pytest.warns(autolog.AutologWarning, match="validation_loss is not recorded"):
        for _ in range(2):
            losses = []
            for xb, yb in DataLoader(TensorDataset(X, y), batch_size=16):
                optimizer.zero_grad()
                loss = 0.5 * F.mse_loss(model(xb), yb)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            means.append(sum(losses) / len(losses))
            with torch.no_grad():
                F.mse_loss(model(X), y)
        autolog.end_run()
    run_id = only_run().info.run_id
    assert history(run_id, "training_loss") == pytest.approx(means, rel=1e-6)
    assert history(run_id, "validation_loss") == []


@pytest.mark.usefixtures("autologged")
def test_where_the_loss_trained_on_cannot_be_told_nothing_is_recorded() -> None:
    """Two backward() calls per step on losses times different constants: an accumulation's
    division or weights, nobody can tell. No training_loss, and the run says why."""
    X, y = data()
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    with pytest.warns(autolog.AutologWarning, match="training_loss is not recorded") as caught:
        for _ in range(2):
            for i, (xb, yb) in enumerate(DataLoader(TensorDataset(X, y), batch_size=8)):
                (F.mse_loss(model(xb), yb) / (2 if i % 2 else 3)).backward()
                if i % 2:
                    optimizer.step()
                    optimizer.zero_grad()
        autolog.end_run()
    assert len(caught) == 1
    run = only_run()
    assert "training_loss" not in run.data.metrics
    assert history(run.info.run_id, "optimizer_steps") == [4.0, 4.0]
    assert "cannot be told" in run.data.tags["autolog.torch.training_loss"]


class Named(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.generator = nn.Linear(2, 2)
        self.discriminator = nn.Linear(2, 1)


@pytest.mark.usefixtures("autologged")
def test_two_trainings_in_one_module_are_named_after_its_attributes() -> None:
    """Both networks inside one module (the smallest module holding each optimizer's
    parameters is its own network), each with its own loss series, params and model."""
    gan = Named()
    opt_d = torch.optim.SGD(gan.discriminator.parameters(), lr=0.1)
    opt_g = torch.optim.Adam(gan.generator.parameters(), lr=0.01)
    X = torch.randn(32, 2)
    d_means, g_means = [], []
    for _ in range(2):
        d_losses, g_losses = [], []
        for (xb,) in DataLoader(TensorDataset(X), batch_size=8):
            opt_d.zero_grad()
            d_loss = gan.discriminator(xb).mean() - gan.discriminator(gan.generator(xb)).mean()
            d_loss.backward()
            opt_d.step()
            opt_g.zero_grad()
            g_loss = gan.discriminator(gan.generator(xb)).mean()
            g_loss.backward()
            opt_g.step()
            d_losses.append(d_loss.item())
            g_losses.append(g_loss.item())
        d_means.append(sum(d_losses) / 4)
        g_means.append(sum(g_losses) / 4)
    autolog.end_run()
    run = only_run()
    run_id = run.info.run_id
    assert history(run_id, "discriminator_training_loss") == pytest.approx(d_means, rel=1e-5)
    assert history(run_id, "generator_training_loss") == pytest.approx(g_means, rel=1e-5)
    assert run.data.params["generator_optimizer"] == "Adam"
    assert run.data.params["discriminator_lr"] == "0.1"
    assert run.data.params["generator_model_class"] == "Linear"
    generator = autolog.load_model(f"runs:/{run_id}/generator")
    assert torch.equal(generator(X), gan.generator(X))  # type: ignore[operator]


@pytest.mark.usefixtures("autologged")
def test_two_backward_calls_on_one_batch_add_up_to_its_loss() -> None:
    """pytorch/examples' DCGAN: ``errD_real.backward()``, ``errD_fake.backward()``, then
    ``optimizerD.step()``: the discriminator's loss is ``errD_real + errD_fake`` (as printed),
    not their mean; the generator's own, on the same batch, is its own."""
    netG, netD = nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())
    optimizerD = torch.optim.SGD(netD.parameters(), lr=0.05)
    optimizerG = torch.optim.SGD(netG.parameters(), lr=0.05)
    criterion = nn.BCELoss()
    X = torch.randn(48, 2)
    errD_means, errG_means = [], []
    for _ in range(2):
        errDs, errGs = [], []
        for (real,) in DataLoader(TensorDataset(X), batch_size=16, shuffle=True):
            ones, zeros = torch.ones(len(real), 1), torch.zeros(len(real), 1)
            netD.zero_grad()
            errD_real = criterion(netD(real), ones)
            errD_real.backward()
            fake = netG(torch.randn(len(real), 2))
            errD_fake = criterion(netD(fake.detach()), zeros)
            errD_fake.backward()
            optimizerD.step()
            netG.zero_grad()
            errG = criterion(netD(fake), ones)
            errG.backward()
            optimizerG.step()
            errDs.append((errD_real + errD_fake).item())
            errGs.append(errG.item())
        errD_means.append(sum(errDs) / len(errDs))
        errG_means.append(sum(errGs) / len(errGs))
    autolog.end_run()
    run_id = only_run().info.run_id
    assert history(run_id, "netD_training_loss") == pytest.approx(errD_means, rel=1e-5)
    assert history(run_id, "netG_training_loss") == pytest.approx(errG_means, rel=1e-5)
    assert history(run_id, "netD_optimizer_steps") == [3.0, 3.0]


@pytest.mark.usefixtures("autologged")
def test_trainings_without_a_module_of_their_own_are_numbered() -> None:
    w = torch.zeros(4, 1, requires_grad=True)
    v = torch.zeros(4, 1, requires_grad=True)
    opt_w = torch.optim.SGD([w], lr=0.01)
    opt_v = torch.optim.SGD([v], lr=0.02)
    X, y = data()
    for _ in range(2):
        for xb, yb in DataLoader(TensorDataset(X, y), batch_size=16):
            opt_w.zero_grad()
            F.mse_loss(xb @ w, yb).backward()
            opt_w.step()
            opt_v.zero_grad()
            F.l1_loss(xb @ v, yb).backward()
            opt_v.step()
    autolog.end_run()
    run = only_run()
    assert run.data.params["optimizer_0_lr"] == "0.01"
    assert run.data.params["optimizer_1_lr"] == "0.02"
    assert history(run.info.run_id, "optimizer_1_optimizer_steps") == [4.0, 4.0]


@pytest.mark.usefixtures("autologged")
def test_two_optimizers_sharing_one_backward_are_one_training() -> None:
    """Parameter groups split between two optimizers, both stepped after one backward(): one
    training, its loss series bare, the second optimizer's params as ``optimizer_1``."""
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    first = torch.optim.SGD(model[0].parameters(), lr=0.01)
    second = torch.optim.Adam(model[2].parameters(), lr=0.001)
    X, y = data()
    means = []
    for _ in range(2):
        losses = []
        for xb, yb in DataLoader(TensorDataset(X, y), batch_size=16):
            first.zero_grad()
            second.zero_grad()
            loss = F.mse_loss(model(xb), yb)
            loss.backward()
            first.step()
            second.step()
            losses.append(loss.item())
        means.append(sum(losses) / len(losses))
    autolog.end_run()
    run = only_run()
    assert history(run.info.run_id, "training_loss") == pytest.approx(means, rel=1e-6)
    assert run.data.params["optimizer"] == "SGD"
    assert run.data.params["optimizer_1"] == "Adam"
    assert run.data.params["optimizer_1_lr"] == "0.001"
    assert history(run.info.run_id, "learning_rate_1") == [0.001, 0.001]
    assert autolog.list_artifacts(run.info.run_id, "model")


def prefetch(loader: Any) -> Iterator[Any]:
    """A generator reading one batch ahead of the loop (as a device prefetcher does)."""
    iterator = iter(loader)
    ahead = next(iterator)
    for batch in iterator:
        yield ahead
        ahead = batch
    yield ahead


def loop(wrap: Any) -> tuple[list[float], list[float]]:
    X, y = data()
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    train = DataLoader(TensorDataset(X, y), batch_size=8)
    val = DataLoader(TensorDataset(X[:16] * 3, y[:16] * 3), batch_size=8)
    means, val_means = [], []
    for _ in range(3):
        losses = []
        for xb, yb in wrap(train):
            optimizer.zero_grad()
            loss = F.mse_loss(model(xb), yb)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        means.append(sum(losses) / len(losses))
        with torch.no_grad():
            values = [F.mse_loss(model(xb), yb).item() for xb, yb in wrap(val)]
        val_means.append(sum(values) / len(values))
    autolog.end_run()
    return means, val_means


@pytest.mark.usefixtures("autologged")
def test_a_prefetching_generator_gives_the_plain_loaders_epochs() -> None:
    plain = loop(iter)
    ahead = loop(prefetch)
    assert plain == ahead
    newest, oldest = autolog.search_runs()
    for run in (oldest, newest):
        run_id = run.info.run_id
        assert history(run_id, "optimizer_steps") == [8.0, 8.0, 8.0]
        assert history(run_id, "training_loss") == pytest.approx(plain[0], rel=1e-6)
        assert history(run_id, "validation_loss") == pytest.approx(plain[1], rel=1e-6)
        assert steps_of(run_id, "validation_loss") == [0, 1, 2]
        assert "test_loss" not in run.data.metrics


@pytest.mark.usefixtures("autologged")
def test_configured_lr_and_momentum_are_params_under_one_cycle() -> None:
    X, y = data()
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.8)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=8)
    for xb, yb in DataLoader(TensorDataset(X, y), batch_size=8):
        optimizer.zero_grad()
        F.mse_loss(model(xb), yb).backward()
        optimizer.step()
        scheduler.step()
    autolog.end_run()
    params = only_run().data.params
    assert float(params["lr"]) == 0.1  # max_lr, not the first step's 0.004
    assert params["momentum"] == "0.8"  # as constructed, not the cycle's 0.95
    assert float(params["lr_scheduler_max_lr"]) == 0.1


@pytest.mark.usefixtures("autologged")
def test_full_batch_epoch_times_include_their_own_step() -> None:
    X, y = data()
    model = nn.Linear(4, 1)
    optimizer = torch.optim.LBFGS(model.parameters(), max_iter=3)
    pause = {1: 0.3, 3: 0.3}
    own = []
    for epoch in range(4):
        calls: list[int] = []
        start = time.perf_counter()

        def closure(calls: list[int] = calls, pause: float = pause.get(epoch, 0.0)) -> Any:
            optimizer.zero_grad()
            loss = F.mse_loss(model(X), y)
            loss.backward()
            if not calls:
                time.sleep(pause)
            calls.append(1)
            return loss

        optimizer.step(closure)
        own.append(time.perf_counter() - start)
    autolog.end_run()
    times = history(only_run().info.run_id, "epoch_time")
    assert times[1] >= 0.3, times  # the sleep in its own step, not in the next epoch's time
    assert times[3] >= 0.3, times  # the last epoch is no 0.0
    assert times == pytest.approx(own, abs=0.15)
