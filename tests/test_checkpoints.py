"""Checkpoints of plain PyTorch loops in every format: safetensors files, ``save_pretrained``
folders, numbered checkpoint folders; ``max_checkpoints`` keeping the newest and the best; the
torch model sharing a checkpoint's bytes."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from safetensors.torch import load_file, save_file, save_model  # noqa: E402
from support import run_script  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import autolog  # noqa: E402


@pytest.fixture
def autologged() -> Iterator[None]:
    autolog.autolog()
    yield
    autolog.autolog(disable=True)


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))


def loaders() -> tuple[DataLoader[Any], DataLoader[Any]]:
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(64, 4, generator=generator)
    y = X.sum(dim=1, keepdim=True)
    train = DataLoader(TensorDataset(X[:48], y[:48]), batch_size=16)
    val = DataLoader(TensorDataset(X[48:], y[48:]), batch_size=16)
    return train, val


def epoch(model: nn.Module, optimizer: Any, loader: Any, lr: float | None = None) -> None:
    if lr is not None:
        for group in optimizer.param_groups:
            group["lr"] = lr
    model.train()
    for x, y in loader:
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()


def validate(model: nn.Module, loader: Any) -> float:
    model.eval()
    total = 0.0
    with torch.no_grad():
        for x, y in loader:
            total += float(nn.functional.mse_loss(model(x), y))
    return total / len(loader)


def paths(run_id: str, path: str = "checkpoints") -> set[str]:
    found = set()
    for info in autolog.list_artifacts(run_id, path):
        found |= paths(run_id, info.path) if info.is_dir else {info.path}
    return found


def end() -> str:
    run = autolog.active_run()
    assert run is not None
    autolog.end_run()
    return run.info.run_id


# -- formats -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("autologged")
def test_safetensors_files_are_checkpoints_with_their_weights(tmp_path: Path) -> None:
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    train, _ = loaders()
    save_file(model.state_dict(), tmp_path / "before.safetensors")  # no training yet
    epoch(model, optimizer, train)
    save_file({k: v.clone() for k, v in model.state_dict().items()}, tmp_path / "file.safetensors")
    save_model(model, str(tmp_path / "model.safetensors"))  # save_file inside: logged once
    run_id = end()
    assert paths(run_id) == {"checkpoints/file.safetensors", "checkpoints/model.safetensors"}
    folder = Path(autolog.download_artifacts(run_id, "checkpoints"))
    for name in ("file.safetensors", "model.safetensors"):
        weights = load_file(folder / name)
        assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())


def _bert() -> Any:
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(
        vocab_size=40,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=32,
    )
    torch.manual_seed(0)
    return transformers, transformers.BertForSequenceClassification(config)


def _tokenizer(transformers: Any, tmp_path: Path) -> Any:
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]) + "\n")
    return transformers.BertTokenizerFast(str(vocab))  # the vocabulary file, positionally


def _train_bert(model: Any, steps: int = 2) -> Any:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(5, 7, (8, 6), generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1] * 4)
    loader = DataLoader(TensorDataset(ids, labels), batch_size=4)
    model.train()
    for _ in range(steps):
        for x, y in loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(input_ids=x).logits, y).backward()
            optimizer.step()
    return optimizer


@pytest.mark.usefixtures("autologged")
def test_save_pretrained_folders_are_logged_whole_tokenizer_alone_is_not(tmp_path: Path) -> None:
    transformers, model = _bert()
    tokenizer = _tokenizer(transformers, tmp_path)
    tokenizer.save_pretrained(tmp_path / "before")  # no training yet: nothing
    _train_bert(model)
    tokenizer.save_pretrained(tmp_path / "tokenizer-only")  # a tokenizer is no checkpoint
    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "notes.txt").write_text("the user's own, from before")
    os.utime(tmp_path / "final" / "notes.txt", (time.time() - 3600, time.time() - 3600))
    model.save_pretrained(tmp_path / "final")
    tokenizer.save_pretrained(tmp_path / "final")  # beside the model: part of its folder
    run_id = end()
    logged = paths(run_id)
    assert "checkpoints/final/notes.txt" not in logged  # not written by the save
    assert {"checkpoints/final/config.json", "checkpoints/final/model.safetensors"} <= logged
    assert "checkpoints/final/tokenizer.json" in logged
    assert not any(
        p.startswith(("checkpoints/before", "checkpoints/tokenizer-only")) for p in logged
    )
    folder = Path(autolog.download_artifacts(run_id, "checkpoints/final"))
    reloaded = transformers.BertForSequenceClassification.from_pretrained(folder)
    assert all(torch.equal(reloaded.state_dict()[k], v) for k, v in model.state_dict().items())


@pytest.mark.usefixtures("autologged")
def test_save_pretrained_stands_aside_inside_another_integrations_training(
    tmp_path: Path,
) -> None:
    from autolog.integrations.patching import current_settings
    from autolog.integrations.session import open_session

    _, model = _bert()
    _train_bert(model)
    run_id = autolog.active_run().info.run_id  # type: ignore[union-attr]
    settings = current_settings("torch")
    assert settings is not None
    # as inside Trainer.train: its integration's session is current, and it logs its own
    session = open_session("transformers", settings, detached=True)
    try:
        model.save_pretrained(tmp_path / "checkpoint-4")
        torch.save(model.state_dict(), tmp_path / "inside.pt")
    finally:
        session.close()
        if session.owned:
            autolog.Client().set_terminated(session.run_id)
    autolog.end_run()
    assert paths(run_id) == set()


# -- names and the bound -----------------------------------------------------------------------


@pytest.mark.usefixtures("autologged")
def test_repeated_checkpoint_folders_and_files_keep_their_own_names(tmp_path: Path) -> None:
    autolog.autolog(torch={"max_checkpoints": 10})  # room for all of them
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    train, _ = loaders()
    for step in (16, 32):
        epoch(model, optimizer, train)
        folder = tmp_path / "out" / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        torch.save(model.state_dict(), folder / "model.pt")
        torch.save(optimizer.state_dict(), folder / "optimizer.pt")
        (folder / "notes.txt").write_text("not saved by torch: no part of the checkpoint")
        save_file(model.state_dict(), tmp_path / "out" / f"weights_{step}.safetensors")
    for name in ("a", "b"):  # one file name from two folders: each keeps its folder's
        (tmp_path / name).mkdir()
        torch.save(model.state_dict(), tmp_path / name / "last.pt")
    run_id = end()
    assert paths(run_id) == {
        "checkpoints/checkpoint-16/model.pt",
        "checkpoints/checkpoint-16/optimizer.pt",
        "checkpoints/checkpoint-32/model.pt",
        "checkpoints/checkpoint-32/optimizer.pt",
        "checkpoints/weights_16.safetensors",
        "checkpoints/weights_32.safetensors",
        "checkpoints/a/last.pt",
        "checkpoints/b/last.pt",
    }


def _validated_run(
    tmp_path: Path, offsets: list[float], max_checkpoints: int
) -> tuple[str, list[float]]:
    """One checkpoint per epoch (``epoch_<i>.pt``) after its validation; the output bias is
    pushed off by ``offsets[i]`` before epoch i's validation (a worse model)."""
    autolog.autolog(torch={"max_checkpoints": max_checkpoints})
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    train, val = loaders()
    losses = []
    for i, offset in enumerate(offsets):
        epoch(model, optimizer, train)
        with torch.no_grad():
            model[2].bias += offset
        losses.append(validate(model, val))
        torch.save(model.state_dict(), tmp_path / f"epoch_{i}.pt")
    epoch(model, optimizer, train)  # one more epoch: the last checkpoint's validation logged
    return end(), losses


def test_max_checkpoints_keeps_the_newest_and_the_best(tmp_path: Path) -> None:
    try:
        run_id, losses = _validated_run(tmp_path, [0.0, 0.0, 4.0, 4.0, 4.0], 2)
    finally:
        autolog.autolog(disable=True)
    history = [m.value for m in autolog.get_metric_history(run_id, "validation_loss")]
    assert history[: len(losses)] == pytest.approx(losses)
    best = min(range(len(losses)), key=losses.__getitem__)
    assert best < 2  # the offsets above make an early epoch the best
    assert paths(run_id) == {
        f"checkpoints/epoch_{best}.pt",
        "checkpoints/epoch_3.pt",
        "checkpoints/epoch_4.pt",
    }


@pytest.mark.usefixtures("autologged")
def test_without_validation_the_newest_are_kept_and_zero_keeps_none(tmp_path: Path) -> None:
    autolog.autolog(torch={"max_checkpoints": 2})
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    train, _ = loaders()
    for i in range(4):
        epoch(model, optimizer, train)
        torch.save(model.state_dict(), tmp_path / f"epoch_{i}.pt")
    torch.save(model.state_dict(), tmp_path / "epoch_2.pt")  # saved again: its latest, newest
    run_id = end()
    assert paths(run_id) == {"checkpoints/epoch_2.pt", "checkpoints/epoch_3.pt"}

    autolog.autolog(torch={"max_checkpoints": 0})
    epoch(model, torch.optim.SGD(model.parameters(), lr=0.01), train)
    torch.save(model.state_dict(), tmp_path / "none.pt")
    assert paths(end()) == set()
    with pytest.raises(autolog.InvalidInputError, match="max_checkpoints"):
        autolog.autolog(torch={"max_checkpoints": -1})


@pytest.mark.usefixtures("autologged")
def test_a_training_that_raises_keeps_its_checkpoints(tmp_path: Path) -> None:
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    train, _ = loaders()
    epoch(model, optimizer, train)
    torch.save(model.state_dict(), tmp_path / "ckpt.pt")
    run_id = autolog.active_run().info.run_id  # type: ignore[union-attr]
    autolog.end_run("FAILED")
    assert autolog.get_run(run_id).info.status.value == "FAILED"
    assert paths(run_id) == {"checkpoints/ckpt.pt"}


@pytest.mark.usefixtures("autologged")
def test_a_checkpoint_removed_from_disk_is_still_logged_as_it_was_saved(tmp_path: Path) -> None:
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    train, _ = loaders()
    epoch(model, optimizer, train)
    torch.save(model.state_dict(), tmp_path / "rotated.pt")
    saved = (tmp_path / "rotated.pt").read_bytes()
    (tmp_path / "rotated.pt").unlink()  # a loop rotating its own checkpoints
    run_id = end()
    folder = Path(autolog.download_artifacts(run_id, "checkpoints"))
    assert (folder / "rotated.pt").read_bytes() == saved


# -- the model's files -------------------------------------------------------------------------


@pytest.mark.usefixtures("autologged")
def test_final_model_shares_the_bytes_of_a_checkpoint_with_its_weights(tmp_path: Path) -> None:
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    train, _ = loaders()
    epoch(model, optimizer, train)
    torch.save(model.state_dict(), tmp_path / "model.pt")
    run_id = end()
    folder = Path(autolog.download_artifacts(run_id, ""))
    state = (folder / "model" / "state_dict.pt").read_bytes()
    assert state == (folder / "checkpoints" / "model.pt").read_bytes()
    assert len((folder / "model" / "model.pkl").read_bytes()) < len(state)  # no weights in it
    loaded = autolog.load_model(f"runs:/{run_id}/model")
    assert isinstance(loaded, nn.Module)
    x = torch.randn(3, 4)
    assert torch.equal(loaded(x), model(x))
    assert all(isinstance(p, nn.Parameter) for p in loaded.parameters())
    assert torch.load(io.BytesIO(state), weights_only=True).keys() == model.state_dict().keys()


@pytest.mark.usefixtures("autologged")
def test_a_checkpoint_older_than_the_weights_is_not_the_models(tmp_path: Path) -> None:
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    train, _ = loaders()
    epoch(model, optimizer, train)
    torch.save(model.state_dict(), tmp_path / "early.pt")
    epoch(model, optimizer, train)  # the weights move on
    run_id = end()
    folder = Path(autolog.download_artifacts(run_id, ""))
    state = (folder / "model" / "state_dict.pt").read_bytes()
    assert state != (folder / "checkpoints" / "early.pt").read_bytes()
    loaded = torch.load(io.BytesIO(state), weights_only=True)
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())
    x = torch.randn(3, 4)
    assert torch.equal(autolog.load_model(f"runs:/{run_id}/model")(x), model(x))  # type: ignore[operator]


def test_model_pkl_with_its_own_weights_still_loads() -> None:
    import cloudpickle

    from autolog.integrations.torch import FLAVOR

    model = make_model()
    files = {"model.pkl": cloudpickle.dumps(model), "state_dict.pt": b""}  # as written before
    loaded = FLAVOR.load(files, {})
    assert isinstance(loaded, nn.Module)
    x = torch.randn(2, 4)
    assert torch.equal(loaded(x), model(x))


def test_tied_weights_stay_tied_through_the_flavor() -> None:
    from autolog.integrations.torch import FLAVOR

    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(5, 4), nn.Linear(4, 5, bias=False))
    model[1].weight = model[0].weight
    files = FLAVOR.save(model)
    loaded = FLAVOR.load(files, {})
    assert loaded[1].weight is loaded[0].weight
    assert torch.equal(loaded[0].weight, model[0].weight)


@pytest.mark.slow
def test_save_pretrained_is_hooked_when_autolog_comes_before_transformers(tmp_path: Path) -> None:
    """``autolog()`` first, then transformers: importing its Trainer imports torch from inside
    transformers.modeling_utils, so the torch integration is installed while that module is
    half executed. Its save_pretrained is hooked once it is whole (it failed with "partially
    initialized module" and recorded no folder)."""
    done = run_script(
        """
        import warnings
        warnings.simplefilter("error")
        import autolog
        autolog.autolog()
        from transformers import Trainer  # noqa: F401  (imports modeling_utils, then torch)
        from transformers import BertConfig, BertModel
        import torch

        config = BertConfig(
            vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=20, max_position_embeddings=16,
        )
        model = BertModel(config)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        tokens = torch.randint(0, 50, (4, 8))
        target = torch.zeros(4, 8, 16)
        for epoch in range(2):
            for _ in range(3):
                loss = torch.nn.functional.mse_loss(model(tokens).last_hidden_state, target)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
            model.save_pretrained(f"out/checkpoint-{epoch}")
        run = autolog.active_run()
        autolog.end_run()
        listed = autolog.list_artifacts(run.info.run_id, "checkpoints/checkpoint-1")
        names = [f.path for f in listed]
        print(sorted(names))
        """,
        tmp_path,
        env={"AUTOLOG_STRICT": "1", "HF_HUB_OFFLINE": "1"},
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert "checkpoints/checkpoint-1/config.json" in done.stdout, done.stdout
    assert "checkpoints/checkpoint-1/model.safetensors" in done.stdout, done.stdout
