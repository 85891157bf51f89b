"""Shape of pytorch/examples ``mnist/main.py``: a CNN trained with Adadelta and StepLR over a
DataLoader, ``test()`` on the test loader after every epoch (``reduction="sum"`` under
``no_grad``), and ``torch.save(model.state_dict(), "mnist_cnn.pt")`` at the end. Synthetic 8x8
"digits" instead of the MNIST download.
"""

import argparse
import re

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.fc1 = nn.Linear(8 * 3 * 3, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        return F.log_softmax(x, dim=1)


def train(args, model, device, train_loader, optimizer, epoch):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % args.log_interval == 0:
            print(
                f"Train Epoch: {epoch} [{batch_idx * len(data)}/{len(train_loader.dataset)}]"
                f"\tLoss: {loss.item():.6f}"
            )


def test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()  # sum up batch loss
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(test_loader.dataset)
    total = len(test_loader.dataset)
    print(f"\nTest set: Average loss: {test_loss:.6f}, Accuracy: {correct}/{total}\n")


def digits(n, generator):
    images = torch.randn(n, 1, 8, 8, generator=generator)
    labels = (images[:, 0, 2:6, 2:6].sum(dim=(1, 2)) * 2).long().clamp(-5, 4) + 5
    return TensorDataset(images, labels)


def main():
    parser = argparse.ArgumentParser(description="PyTorch MNIST Example")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--test-batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--gamma", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-interval", type=int, default=4)
    parser.add_argument("--save-model", action="store_false")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    device = torch.device("cpu")
    generator = torch.Generator().manual_seed(0)
    train_loader = DataLoader(digits(256, generator), batch_size=args.batch_size, shuffle=True)
    test_loader = DataLoader(digits(128, generator), batch_size=args.test_batch_size)

    model = Net().to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)
    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    for epoch in range(1, args.epochs + 1):
        train(args, model, device, train_loader, optimizer, epoch)
        test(model, device, test_loader)
        scheduler.step()

    if args.save_model:
        torch.save(model.state_dict(), "mnist_cnn.pt")


if __name__ == "__main__":
    main()


def check(printed: str) -> None:
    import pytest

    import autolog

    (run,) = autolog.search_runs()
    run_id = run.info.run_id
    assert run.info.status is autolog.RunStatus.FINISHED
    assert run.data.params["optimizer"] == "Adadelta"
    assert run.data.params["lr_scheduler"] == "StepLR"
    assert run.data.params["model_class"] == "Net"
    assert run.data.params["batch_size"] == "32"
    assert run.data.params["dataset_size"] == "256"
    # test() after every epoch is that epoch's validation; its sums become means per sample
    tested = [float(v) for v in re.findall(r"Average loss: ([0-9.]+)", printed)]
    history = autolog.get_metric_history(run_id, "validation_loss")
    assert [m.step for m in history] == [0, 1, 2]
    assert [m.value for m in history] == pytest.approx(tested, rel=1e-5)
    assert "test_loss" not in run.data.metrics
    assert len(autolog.get_metric_history(run_id, "training_loss")) == 3
    assert [m.value for m in autolog.get_metric_history(run_id, "learning_rate")] == (
        pytest.approx([1.0, 0.7, 0.49])
    )
    checkpoints = {f.path for f in autolog.list_artifacts(run_id, "checkpoints")}
    assert checkpoints == {"checkpoints/mnist_cnn.pt"}
    assert type(autolog.load_model(f"runs:/{run_id}/model")).__name__ == "Net"
