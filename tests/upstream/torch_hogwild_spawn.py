"""Shape of pytorch/examples ``mnist_hogwild/main.py`` and ``train.py``: a small CNN put in
shared memory with ``model.share_memory()``, trained by 2 ``torch.multiprocessing`` workers
started with ``spawn``, each running the plain loop of ``train()`` with an SGD optimizer of its
own over a shuffled DataLoader; the parent joins them, saves the state dict and tests the model
(``reduction="sum"`` under ``no_grad``). Synthetic 8x8 "digits" instead of the MNIST download;
a spawn context instead of ``mp.set_start_method("spawn", force=True)`` (which would change the
default of the process running this script); each worker sends its per-epoch mean loss to the
parent through a queue, and the parent prints it (a spawned child's prints bypass the parent's
stdout).
"""

import argparse
import re

import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, 1)
        self.fc1 = nn.Linear(4 * 3 * 3, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        return F.log_softmax(self.fc1(torch.flatten(x, 1)), dim=1)


def digits(n, seed):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=generator)
    images = torch.randn(n, 1, 8, 8, generator=generator) * 0.5
    images[torch.arange(n), 0, labels % 8, labels // 2] += 3.0  # a bright pixel per class
    return TensorDataset(images, labels)


def train(rank, args, model, dataset, queue):
    torch.manual_seed(args.seed + rank)
    train_loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True)
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    for epoch in range(1, args.epochs + 1):
        losses = train_epoch(model, train_loader, optimizer)
        queue.put((rank, epoch, sum(losses) / len(losses)))


def train_epoch(model, data_loader, optimizer):
    model.train()
    losses = []
    for data, target in data_loader:
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test(model, dataset):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in DataLoader(dataset, batch_size=64):
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            correct += output.max(1)[1].eq(target).sum().item()
    test_loss /= len(dataset)
    print(f"Test set: Average loss: {test_loss:.4f}, Accuracy: {correct}/{len(dataset)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="PyTorch MNIST Hogwild Example")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--num-processes", type=int, default=2)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    context = mp.get_context("spawn")
    model = Net()
    model.share_memory()  # gradients are allocated lazily, so they are not shared here
    dataset1, dataset2 = digits(128, 0), digits(64, 1)
    queue = context.SimpleQueue()

    processes = []
    for rank in range(args.num_processes):
        p = context.Process(target=train, args=(rank, args, model, dataset1, queue))
        p.start()
        processes.append(p)
    for p in processes:
        p.join()
    for _ in range(args.num_processes * args.epochs):
        rank, epoch, loss = queue.get()
        print(f"Worker {rank} epoch {epoch} loss {loss!r}")

    torch.save(model.state_dict(), "MNIST_hogwild.pt")
    test(model, dataset2)
    print(f"fc1 weight sum {model.fc1.weight.sum().item()!r}")


def check(printed: str) -> None:
    import autolog

    (run,) = autolog.search_runs()
    run_id = run.info.run_id
    assert run.info.status.value == "FINISHED"
    losses = {}
    for rank, epoch, loss in re.findall(r"Worker (\d) epoch (\d) loss (\S+)", printed):
        losses.setdefault(int(rank), {})[int(epoch)] = float(loss)
    assert sorted(losses) == [0, 1]
    for rank, by_epoch in losses.items():
        history = autolog.get_metric_history(run_id, f"training_loss/worker_{rank}")
        assert [m.step for m in history] == [0, 1]
        for metric, epoch in zip(history, (1, 2), strict=True):
            assert abs(metric.value - by_epoch[epoch]) < 1e-6, (rank, epoch, metric.value)
        steps = autolog.get_metric_history(run_id, f"optimizer_steps/worker_{rank}")
        assert [m.value for m in steps] == [4.0, 4.0]  # 128 samples in batches of 32
    # never merged: a mean of unsynchronised workers is not one loss
    assert "training_loss" not in run.data.metrics
    params = run.data.params
    assert params["optimizer"] == "SGD"
    assert params["lr"] == "0.05"
    assert params["momentum"] == "0.5"
    assert params["model_class"] == "Net"
    # the model the workers shared, as it was when they were done (the parent only tested it)
    model = autolog.load_model(f"runs:/{run_id}/model")
    weight_sum = float(re.search(r"fc1 weight sum (\S+)", printed).group(1))
    assert abs(model.fc1.weight.sum().item() - weight_sum) < 1e-5
