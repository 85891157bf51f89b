"""Shape of the classic GAN training loop (pytorch/examples ``dcgan/main.py``, on a small
fully-connected generator and discriminator learning a 2-D Gaussian): per batch, update the
discriminator (``d_loss = real + fake`` with ``nn.BCELoss``, ``d_loss.backward()``,
``optimizerD.step()``), then the generator (``g_loss.backward()``, ``optimizerG.step()``); the
mean of each loss printed per epoch.
"""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
nz = 4
data = torch.randn(256, 2) * 0.5 + torch.tensor([2.0, -1.0])
dataloader = DataLoader(TensorDataset(data), batch_size=32, shuffle=True)

netG = nn.Sequential(nn.Linear(nz, 16), nn.ReLU(), nn.Linear(16, 2))
netD = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1), nn.Sigmoid())
criterion = nn.BCELoss()
optimizerD = torch.optim.Adam(netD.parameters(), lr=0.002, betas=(0.5, 0.999))
optimizerG = torch.optim.Adam(netG.parameters(), lr=0.001, betas=(0.5, 0.999))

for epoch in range(3):
    d_losses, g_losses = [], []
    for (real,) in dataloader:
        b_size = real.size(0)
        ones, zeros = torch.ones(b_size, 1), torch.zeros(b_size, 1)
        netD.zero_grad()
        noise = torch.randn(b_size, nz)
        fake = netG(noise)
        d_loss = criterion(netD(real), ones) + criterion(netD(fake.detach()), zeros)
        d_loss.backward()
        optimizerD.step()
        netG.zero_grad()
        g_loss = criterion(netD(fake), ones)
        g_loss.backward()
        optimizerG.step()
        d_losses.append(d_loss.item())
        g_losses.append(g_loss.item())
    errD, errG = sum(d_losses) / len(d_losses), sum(g_losses) / len(g_losses)
    print(f"[{epoch}] Loss_D: {errD} Loss_G: {errG}")


def check(printed: str) -> None:
    import re

    import pytest
    import torch

    import autolog

    (run,) = autolog.search_runs()
    run_id = run.info.run_id
    params = run.data.params

    def history(key: str) -> list[float]:
        return [m.value for m in autolog.get_metric_history(run_id, key)]

    d = [float(v) for v in re.findall(r"Loss_D: (\S+)", printed)]
    g = [float(v) for v in re.findall(r"Loss_G: (\S+)", printed)]
    # one series per optimizer, named after the module it trains, never averaged together
    assert history("netD_training_loss") == pytest.approx(d, rel=1e-5)
    assert history("netG_training_loss") == pytest.approx(g, rel=1e-5)
    assert "training_loss" not in run.data.metrics
    assert history("netD_optimizer_steps") == history("netG_optimizer_steps") == [8.0] * 3
    assert history("netD_learning_rate") == [0.002] * 3
    assert history("netG_learning_rate") == [0.001] * 3
    assert params["netD_optimizer"] == params["netG_optimizer"] == "Adam"
    assert (params["netD_lr"], params["netG_lr"]) == ("0.002", "0.001")
    assert params["netG_total_params"] == str(4 * 16 + 16 + 16 * 2 + 2)
    assert "optimizer" not in params
    assert "lr" not in params
    # both models, the generator included
    generator = autolog.load_model(f"runs:/{run_id}/netG")
    discriminator = autolog.load_model(f"runs:/{run_id}/netD")
    assert generator(torch.zeros(1, 4)).shape == (1, 2)
    assert discriminator(torch.zeros(1, 2)).shape == (1, 1)
    assert not autolog.list_artifacts(run_id, "model")
