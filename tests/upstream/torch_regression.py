"""Shape of pytorch/examples ``regression/main.py``: a linear layer fitted to a polynomial
with fresh random batches every step, ``fc.zero_grad()``, ``F.smooth_l1_loss``, weights
updated by hand (``param.data.add_(-0.1 * param.grad)``, no optimizer), until the loss falls
below a threshold.
"""

from itertools import count

import torch
import torch.nn.functional as F

POLY_DEGREE = 4
torch.manual_seed(0)
W_target = torch.randn(POLY_DEGREE, 1) * 5
b_target = torch.randn(1) * 5


def make_features(x):
    x = x.unsqueeze(1)
    return torch.cat([x**i for i in range(1, POLY_DEGREE + 1)], 1)


def f(x):
    return x.mm(W_target) + b_target.item()


def get_batch(batch_size=32):
    random = torch.randn(batch_size)
    x = make_features(random)
    y = f(x)
    return x, y


fc = torch.nn.Linear(W_target.size(0), 1)

for batch_idx in count(1):
    batch_x, batch_y = get_batch()
    fc.zero_grad()
    output = F.smooth_l1_loss(fc(batch_x), batch_y)
    loss = output.item()
    output.backward()
    for param in fc.parameters():
        param.data.add_(-0.1 * param.grad)
    if loss < 1e-3 or batch_idx == 250:
        break

print(f"Loss: {loss:.6f} after {batch_idx} batches")

EXPECTED_WARNINGS = [r"no epochs can be told in this loop: .* not slices of one tensor"]


def check(printed: str) -> None:
    import re

    import autolog

    (run,) = autolog.search_runs()
    run_id = run.info.run_id
    batches = int(re.search(r"after (\d+) batches", printed).group(1))
    assert run.data.params["optimizer"] == "manual"
    assert run.data.params["model_class"] == "Linear"
    steps = [m.value for m in autolog.get_metric_history(run_id, "optimizer_steps")]
    assert sum(steps) == batches  # every update by hand, the last one included
    assert steps[:-1] == [100.0] * (len(steps) - 1)
    assert "window of 100 optimizer steps" in run.data.tags["autolog.torch.epochs"]
    assert "validation_loss" not in run.data.metrics
    assert "test_loss" not in run.data.metrics
