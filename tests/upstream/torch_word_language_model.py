"""Shape of pytorch/examples ``word_language_model/main.py``: an LSTM language model over a
corpus batchified into columns, ``get_batch`` slicing ``bptt`` rows at a time (no DataLoader),
weights updated by hand (``p.data.add_(p.grad, alpha=-lr)``, no optimizer) after
``model.zero_grad()`` and gradient clipping, ``evaluate(val_data)`` after every epoch, the best
model saved with ``with open(args.save, "wb") as f: torch.save(model, f)``, the learning rate
annealed by hand, and at the end the best model loaded back and evaluated on the test data.
A synthetic corpus of token ids instead of Wikitext-2.
"""

import argparse
import math
import re

import torch
from torch import nn


class RNNModel(nn.Module):
    def __init__(self, ntoken, ninp, nhid, nlayers):
        super().__init__()
        self.ntoken = ntoken
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers)
        self.decoder = nn.Linear(nhid, ntoken)
        self.nhid = nhid
        self.nlayers = nlayers

    def forward(self, input, hidden):
        emb = self.encoder(input)
        output, hidden = self.rnn(emb, hidden)
        decoded = self.decoder(output).view(-1, self.ntoken)
        return nn.functional.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (
            weight.new_zeros(self.nlayers, bsz, self.nhid),
            weight.new_zeros(self.nlayers, bsz, self.nhid),
        )


parser = argparse.ArgumentParser(description="PyTorch RNN/LSTM Language Model")
parser.add_argument("--lr", type=float, default=20)
parser.add_argument("--clip", type=float, default=0.25)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--batch_size", type=int, default=4)
parser.add_argument("--bptt", type=int, default=5)
parser.add_argument("--save", type=str, default="model.pt")
args = parser.parse_args()

torch.manual_seed(1111)
ntokens = 12


def corpus(length, generator):
    # a noisy cycle over the vocabulary: something an LSTM can learn in a few epochs
    tokens = torch.arange(length) % ntokens
    noise = torch.randint(0, ntokens, (length,), generator=generator)
    keep = torch.rand(length, generator=generator) < 0.8
    return torch.where(keep, tokens, noise)


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


generator = torch.Generator().manual_seed(0)
eval_batch_size = 2
train_data = batchify(corpus(4 * 41, generator), args.batch_size)  # 41 rows: 8 chunks of 5
val_data = batchify(corpus(2 * 21, generator), eval_batch_size)
test_data = batchify(corpus(2 * 31, generator), eval_batch_size)

model = RNNModel(ntokens, 8, 16, 1)
criterion = nn.NLLLoss()


def repackage_hidden(h):
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def get_batch(source, i):
    seq_len = min(args.bptt, len(source) - 1 - i)
    data = source[i : i + seq_len]
    target = source[i + 1 : i + 1 + seq_len].view(-1)
    return data, target


def evaluate(data_source):
    model.eval()
    total_loss = 0.0
    hidden = model.init_hidden(eval_batch_size)
    with torch.no_grad():
        for i in range(0, data_source.size(0) - 1, args.bptt):
            data, targets = get_batch(data_source, i)
            output, hidden = model(data, hidden)
            hidden = repackage_hidden(hidden)
            total_loss += len(data) * criterion(output, targets).item()
    return total_loss / (len(data_source) - 1)


def train():
    model.train()
    total_loss = 0.0
    hidden = model.init_hidden(args.batch_size)
    for batch, i in enumerate(range(0, train_data.size(0) - 1, args.bptt)):
        data, targets = get_batch(train_data, i)
        model.zero_grad()
        hidden = repackage_hidden(hidden)
        output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        total_loss += loss.item()
        print(f"| epoch {epoch:3d} | batch {batch:3d} | lr {lr:02.2f} | loss {loss.item():.6f}")


lr = args.lr
best_val_loss = None
for epoch in range(1, args.epochs + 1):
    train()
    val_loss = evaluate(val_data)
    print(f"| end of epoch {epoch:3d} | valid loss {val_loss:.6f} | ppl {math.exp(val_loss):8.2f}")
    if not best_val_loss or val_loss < best_val_loss:
        with open(args.save, "wb") as f:
            torch.save(model, f)
        best_val_loss = val_loss
    else:
        lr /= 4.0

with open(args.save, "rb") as f:
    model = torch.load(f, weights_only=False)

test_loss = evaluate(test_data)
print(f"| End of training | test loss {test_loss:.6f} | test ppl {math.exp(test_loss):8.2f}")


def check(printed: str) -> None:
    import pytest

    import autolog

    (run,) = autolog.search_runs()
    run_id = run.info.run_id
    assert run.data.params["optimizer"] == "manual"  # weights updated by hand
    assert run.data.params["model_class"] == "RNNModel"
    assert "updated by hand" in run.data.tags["autolog.torch.weights"]
    assert "pass over the tensor" in run.data.tags["autolog.torch.epochs"]

    def history(key: str) -> list[float]:
        return [m.value for m in autolog.get_metric_history(run_id, key)]

    losses = [float(v) for v in re.findall(r"batch +\d+ \| lr [0-9.]+ \| loss ([0-9.]+)", printed)]
    assert len(losses) == 24  # 3 epochs of 8 chunks
    epochs = [sum(losses[i : i + 8]) / 8 for i in range(0, 24, 8)]
    assert history("training_loss") == pytest.approx(epochs, rel=1e-5)
    assert history("optimizer_steps") == [8.0, 8.0, 8.0]
    # the validation of every epoch, the last one included; the test after training apart
    valid = [float(v) for v in re.findall(r"valid loss ([0-9.]+)", printed)]
    assert history("validation_loss") == pytest.approx(valid, rel=1e-5)
    (test,) = re.findall(r"test loss ([0-9.]+)", printed)
    assert history("test_loss") == pytest.approx([float(test)], rel=1e-5)
    assert [f.path for f in autolog.list_artifacts(run_id, "checkpoints")] == [
        "checkpoints/model.pt"
    ]
