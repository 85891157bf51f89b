"""Shape of pytorch/examples ``time_sequence_prediction/train.py``: two LSTMCells trained
full-batch with LBFGS (``optimizer.step(closure)``, the closure printing every loss), then a
prediction on held-out sequences under ``no_grad`` with its test loss printed, after every step.
Fewer, shorter sine waves.
"""

import argparse

import numpy as np
import torch
from torch import nn, optim


class Sequence(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm1 = nn.LSTMCell(1, 12)
        self.lstm2 = nn.LSTMCell(12, 12)
        self.linear = nn.Linear(12, 1)

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), 12, dtype=torch.double)
        c_t = torch.zeros(input.size(0), 12, dtype=torch.double)
        h_t2 = torch.zeros(input.size(0), 12, dtype=torch.double)
        c_t2 = torch.zeros(input.size(0), 12, dtype=torch.double)
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for _ in range(future):
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        return torch.cat(outputs, dim=1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3, help="steps to run")
    opt = parser.parse_args()
    np.random.seed(0)
    torch.manual_seed(0)
    x = np.empty((8, 40), np.int64)
    x[:] = np.array(range(40)) + np.random.randint(-16, 16, 8).reshape(8, 1)
    data = np.sin(x / 4.0).astype("float64")
    input = torch.from_numpy(data[3:, :-1])
    target = torch.from_numpy(data[3:, 1:])
    test_input = torch.from_numpy(data[:3, :-1])
    test_target = torch.from_numpy(data[:3, 1:])
    seq = Sequence()
    seq.double()
    criterion = nn.MSELoss()
    optimizer = optim.LBFGS(seq.parameters(), lr=0.8, max_iter=4)
    for i in range(opt.steps):
        print("STEP: ", i)

        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            print("loss:", loss.item())
            loss.backward()
            return loss

        optimizer.step(closure)
        with torch.no_grad():
            future = 10
            pred = seq(test_input, future=future)
            loss = criterion(pred[:, :-future], test_target)
            print("test loss:", loss.item())


def check(printed: str) -> None:
    import re

    import pytest

    import autolog

    (run,) = autolog.search_runs()
    run_id = run.info.run_id
    assert run.data.params["optimizer"] == "LBFGS"
    assert run.data.params["max_iter"] == "4"

    def history(key: str) -> list[float]:
        return [m.value for m in autolog.get_metric_history(run_id, key)]

    # full batch: every LBFGS step is a pass over the data, an epoch
    steps = printed.split("STEP: ")[1:]
    losses = [[float(v) for v in re.findall(r"^loss: (\S+)", s, re.M)] for s in steps]
    assert history("training_loss") == pytest.approx([sum(v) / len(v) for v in losses])
    assert history("optimizer_steps") == [1.0, 1.0, 1.0]
    tests = [float(v) for v in re.findall(r"test loss: (\S+)", printed)]
    assert history("validation_loss") == pytest.approx(tests)
    assert "test_loss" not in run.data.metrics
