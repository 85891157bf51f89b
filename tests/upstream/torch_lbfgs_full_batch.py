"""Shape of a full-batch L-BFGS fit with no DataLoader (pytorch/examples
``time_sequence_prediction``'s optimizer loop on a small regression): each epoch one
``optimizer.step(closure)``, the closure (``zero_grad``, forward on the whole data, loss,
``backward``) evaluated several times inside that one step; each epoch's mean closure loss and
wall time printed. One epoch's closure is slow (a sleep standing in for a heavy model), and so
is the last one's: their times must be their own.
"""

import time

import torch
from torch import nn

torch.manual_seed(0)
X = torch.randn(200, 3)
y = torch.sin(X[:, :1]) + X[:, 1:2] ** 2
model = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))
criterion = nn.MSELoss()
optimizer = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=5)
pause = {2: 0.4, 4: 0.25}

for epoch in range(5):
    start = time.perf_counter()
    losses = []
    seconds = pause.get(epoch, 0.0)

    def closure(losses=losses, seconds=seconds):
        optimizer.zero_grad()
        loss = criterion(model(X), y)
        if not losses:
            time.sleep(seconds)
        losses.append(loss.item())
        loss.backward()
        return loss

    optimizer.step(closure)
    print(f"epoch {epoch} loss {sum(losses) / len(losses)} time {time.perf_counter() - start}")


def check(printed: str) -> None:
    import re

    import pytest

    import autolog

    (run,) = autolog.search_runs()
    run_id = run.info.run_id

    def history(key: str) -> list[float]:
        return [m.value for m in autolog.get_metric_history(run_id, key)]

    train = [float(v) for v in re.findall(r"loss (\S+) time", printed)]
    times = [float(v) for v in re.findall(r"time (\S+)$", printed, re.M)]
    assert history("training_loss") == pytest.approx(train, rel=1e-6)
    assert history("optimizer_steps") == [1.0] * 5  # full batch: an epoch per step
    recorded = history("epoch_time")
    # each epoch's time includes its own step, not the next one's (the last is not 0.0)
    assert recorded[2] >= 0.4, recorded
    assert recorded[4] >= 0.25, recorded
    for mine, theirs in zip(recorded, times, strict=True):  # shifted, each reads the next's
        assert mine == pytest.approx(theirs, abs=0.15), (recorded, times)
