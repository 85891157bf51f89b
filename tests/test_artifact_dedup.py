"""One copy of the bytes: artifacts with the same content within a run are stored once in a
local artifact folder (hard links within the run), and every path still lists, downloads and
verifies."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import autolog
from autolog.errors import ModelIntegrityError, UnsafePathError
from autolog.stores.common import local_path


def artifact_root(run_id: str, server: Any = None) -> Path:
    uri = autolog.get_run(run_id).info.artifact_uri
    if server is None:
        return local_path(uri)
    # the test server keeps each store's artifacts in <its root>/<store>/artifacts
    tenant = autolog.get_tracking_uri().rsplit("/", 1)[-1]
    relative = uri.removeprefix("autolog-artifacts:/")
    return Path(server.process.args[2]) / tenant / "artifacts" / relative


def files_under(root: Path) -> Iterator[Path]:
    for folder, _, names in os.walk(root):
        for name in names:
            yield Path(folder, name)


def stored_bytes(root: Path) -> int:
    """Bytes on disk under ``root``, each file counted once however many names it has."""
    seen: dict[tuple[int, int], int] = {}
    for file in files_under(root):
        info = file.stat()
        seen[(info.st_dev, info.st_ino)] = info.st_size
    return sum(seen.values())


def listed(run_id: str, path: str = "") -> dict[str, int | None]:
    found: dict[str, int | None] = {}
    for info in autolog.list_artifacts(run_id, path or None):
        if info.is_dir:
            found.update(listed(run_id, info.path))
        else:
            found[info.path] = info.file_size
    return found


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(1 << 20))
    return source


@pytest.mark.parametrize("tracking", ["sqlite", "file", "server"])
def test_the_same_bytes_logged_at_several_paths_are_stored_once(
    tmp_path: Path, payload: Path, tracking: str, request: pytest.FixtureRequest
) -> None:
    if tracking == "file":
        autolog.set_tracking_uri((tmp_path / "files").as_uri())
    elif tracking == "server":  # a tracking server keeping artifacts in its own folder
        autolog.set_tracking_uri(request.getfixturevalue("rest_uri"))
    folder = tmp_path / "folder"
    (folder / "inner").mkdir(parents=True)
    (folder / "copy.bin").write_bytes(payload.read_bytes())
    (folder / "inner" / "again.bin").write_bytes(payload.read_bytes())
    (folder / "other.txt").write_text("different")
    with autolog.start_run() as run:
        autolog.log_artifact(payload)
        autolog.log_artifact(payload, "elsewhere")
        autolog.log_artifacts(folder, "folder")
    run_id = run.info.run_id
    autolog.flush()
    size = payload.stat().st_size
    assert listed(run_id) == {
        "data.bin": size,
        "elsewhere/data.bin": size,
        "folder/copy.bin": size,
        "folder/inner/again.bin": size,
        "folder/other.txt": len("different"),
    }
    server = request.getfixturevalue("server_harness") if tracking == "server" else None
    root = artifact_root(run_id, server)
    assert stored_bytes(root) == size + len("different")
    out = Path(autolog.download_artifacts(run_id, "", tmp_path / "out"))
    for path in ("data.bin", "elsewhere/data.bin", "folder/copy.bin", "folder/inner/again.bin"):
        assert (out / path).read_bytes() == payload.read_bytes()
        assert (out / path).stat().st_nlink == 1  # downloads are plain copies
    with autolog.Client(autolog.get_tracking_uri()) as client:
        hashes = client.store.get_artifact_hashes(run_id)
    assert len({hashes[p] for p in ("data.bin", "elsewhere/data.bin", "folder/copy.bin")}) == 1


def test_a_path_written_again_leaves_the_others_with_their_bytes(
    tmp_path: Path, payload: Path
) -> None:
    original = payload.read_bytes()
    with autolog.start_run() as run:
        autolog.log_artifact(payload, "a")
        autolog.log_artifact(payload, "b")
        autolog.flush()
        payload.write_bytes(b"new content")
        autolog.log_artifact(payload, "a")
    autolog.flush()
    out = Path(autolog.download_artifacts(run.info.run_id, "", tmp_path / "out"))
    assert (out / "a" / "data.bin").read_bytes() == b"new content"
    assert (out / "b" / "data.bin").read_bytes() == original


def test_a_hard_link_from_outside_the_run_is_still_refused(tmp_path: Path, payload: Path) -> None:
    with autolog.start_run() as run:
        autolog.log_artifact(payload, "a")
        autolog.log_artifact(payload, "b")
    autolog.flush()
    root = artifact_root(run.info.run_id)
    assert (root / "a" / "data.bin").stat().st_nlink == 2  # a link within the run: fine
    assert autolog.download_artifacts(run.info.run_id, "a/data.bin", tmp_path / "ok")
    os.link(root / "a" / "data.bin", tmp_path / "outside.bin")  # a third name, elsewhere
    with pytest.raises(UnsafePathError, match="hard links"):
        autolog.download_artifacts(run.info.run_id, "b/data.bin", tmp_path / "refused")


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    """PyTorch, imported by the tests that train, not when the suite is collected."""
    return pytest.importorskip("torch")


def _train_and_checkpoint(torch: ModuleType, tmp_path: Path, features: int) -> tuple[str, int]:
    """A plain loop on a ~4 MB model that saves its state dict once, at the end."""
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    autolog.autolog()
    try:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(features, features), nn.Linear(features, 1))
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
        data = TensorDataset(torch.randn(32, features), torch.randn(32, 1))
        for _ in range(2):
            for x, y in DataLoader(data, batch_size=16):
                optimizer.zero_grad()
                nn.functional.mse_loss(model(x), y).backward()
                optimizer.step()
        torch.save(model.state_dict(), tmp_path / "state.pt")
        run = autolog.active_run()
        assert run is not None
        autolog.end_run()
    finally:
        autolog.autolog(disable=True)
    autolog.flush()
    return run.info.run_id, (tmp_path / "state.pt").stat().st_size


def test_a_state_dict_saved_once_is_stored_once_with_the_final_model(
    torch: ModuleType, tmp_path: Path
) -> None:
    run_id, size = _train_and_checkpoint(torch, tmp_path, 1000)
    assert size > 4_000_000
    files = listed(run_id)
    assert {"checkpoints/state.pt", "model/state_dict.pt", "model/model.pkl"} <= set(files)
    # before: checkpoint, state_dict.pt and model.pkl each held the weights (3x)
    assert stored_bytes(artifact_root(run_id)) < size * 1.05
    model = autolog.load_model(f"runs:/{run_id}/model")
    saved = torch.load(tmp_path / "state.pt", weights_only=True)
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())  # type: ignore[attr-defined]


def test_shared_bytes_changed_on_disk_fail_the_models_integrity_check(
    torch: ModuleType, tmp_path: Path
) -> None:
    run_id, _ = _train_and_checkpoint(torch, tmp_path, 64)
    checkpoint = artifact_root(run_id) / "checkpoints" / "state.pt"
    assert checkpoint.stat().st_nlink == 2  # the model's state_dict.pt is the same file
    with checkpoint.open("r+b") as f:  # changed in place: both names see it
        f.seek(100)
        f.write(b"\0\1\2\3")
    with pytest.raises(ModelIntegrityError):
        autolog.load_model(f"runs:/{run_id}/model")
