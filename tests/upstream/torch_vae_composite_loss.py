"""Shape of pytorch/examples ``vae/main.py``: ``loss_function`` returns
``F.binary_cross_entropy(recon_x, x, reduction="sum")`` plus a KL divergence written by hand,
``loss.backward()`` on the sum, the average loss per sample printed each epoch, and a test pass
under ``no_grad`` with the same ``loss_function`` after every epoch. 8x8 "images" instead of
MNIST, a smaller network.
"""

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
images = (torch.rand(320, 64) > 0.7).float()
train_loader = DataLoader(TensorDataset(images[:256]), batch_size=32, shuffle=True)
test_loader = DataLoader(TensorDataset(images[256:]), batch_size=32)


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc21 = nn.Linear(32, 4)
        self.fc22 = nn.Linear(32, 4)
        self.fc3 = nn.Linear(4, 32)
        self.fc4 = nn.Linear(32, 64)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 64))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


model = VAE()
optimizer = optim.Adam(model.parameters(), lr=1e-3)


def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 64), reduction="sum")
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


def train(epoch):
    model.train()
    train_loss = 0
    for (data,) in train_loader:
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = loss_function(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
    print(f"====> Epoch: {epoch} Average loss: {train_loss / len(train_loader.dataset)}")


def test(epoch):
    model.eval()
    test_loss = 0
    with torch.no_grad():
        for (data,) in test_loader:
            recon_batch, mu, logvar = model(data)
            test_loss += loss_function(recon_batch, data, mu, logvar).item()
    test_loss /= len(test_loader.dataset)
    print(f"====> Test set loss: {test_loss}")


for epoch in range(1, 4):
    train(epoch)
    test(epoch)

EXPECTED_WARNINGS = [r"validation_loss is not recorded: the training loss .* not the value of one"]


def check(printed: str) -> None:
    import re

    import pytest

    import autolog

    (run,) = autolog.search_runs()
    run_id = run.info.run_id

    def history(key: str) -> list[float]:
        return [m.value for m in autolog.get_metric_history(run_id, key)]

    per_sample = [float(v) for v in re.findall(r"Average loss: (\S+)", printed)]
    # the full loss differentiated (BCE + KLD, summed over each batch of 32), per batch
    assert history("training_loss") == pytest.approx([32 * v for v in per_sample], rel=1e-5)
    # the BCE term alone under no_grad is not the quantity trained on: no validation_loss
    assert "validation_loss" not in run.data.metrics
    assert "test_loss" not in run.data.metrics
    assert "KL term" in run.data.tags["autolog.torch.validation"]
