"""A store you can move: a project folder moved with its ``./autolog-runs`` keeps every artifact
and model loadable (``stores.locations``), through the ``Client`` and through ``autolog
server``; a file that really is gone is reported as missing, with where it was expected.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from servers import ServerProcess
from support import reset_autolog

import autolog
from autolog.entities import Experiment, Run, RunData, RunInfo, RunStatus
from autolog.errors import ModelIntegrityError, NotFoundError
from autolog.stores.base import open_store
from autolog.stores.locations import Locations, is_relative_location

MODEL = {"weights": [1.0, 2.0, 3.0], "kind": "toy"}


def _project(folder: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs with artifacts and a registered model in ``folder``'s default store."""
    folder.mkdir(parents=True)
    monkeypatch.chdir(folder)
    (folder / "notes.txt").write_text("hello")
    (folder / "plots").mkdir()
    (folder / "plots" / "loss.csv").write_text("1,0.5\n2,0.25\n")
    with autolog.Client() as client:
        run = client.create_run("moving", run_name="first")
        run_id = run.info.run_id
        client.log_artifact(run_id, folder / "notes.txt")
        client.log_artifacts(run_id, folder / "plots", "plots")
        client.log_model(run_id, MODEL)
        client.set_terminated(run_id)
        assert client.flush(30)
        client.register_model(f"runs:/{run_id}/model", "toy")
    return run_id


def _check_everything(client: autolog.Client, run_id: str, scratch: Path) -> None:
    assert client.load_model(f"runs:/{run_id}/model") == MODEL
    assert client.load_model("models:/toy/1") == MODEL
    listed = {f.path for f in client.list_artifacts(run_id)}
    assert {"notes.txt", "plots", "model"} <= listed
    assert [f.path for f in client.list_artifacts(run_id, "plots")] == ["plots/loss.csv"]
    copy = Path(client.download_artifacts(run_id, "plots", scratch))
    assert (copy / "loss.csv").read_text() == "1,0.5\n2,0.25\n"
    assert Path(client.download_artifacts(run_id, "notes.txt", scratch)).read_text() == "hello"


def test_a_moved_project_keeps_its_artifacts_and_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = _project(tmp_path / "a" / "project", monkeypatch)
    reset_autolog()
    monkeypatch.chdir(tmp_path)
    shutil.move(tmp_path / "a", tmp_path / "b")
    home = (tmp_path / "b" / "project" / "autolog-runs").resolve()
    monkeypatch.chdir(home.parent)

    with autolog.Client() as client:
        run = client.get_run(run_id)
        assert run.info.artifact_uri == (home / "artifacts" / "0" / run_id / "artifacts").as_uri()
        assert [r.info.artifact_uri for r in client.search_runs()] == [run.info.artifact_uri]
        experiment = client.get_experiment_by_name("moving")
        assert experiment is not None
        assert experiment.artifact_location == (home / "artifacts" / "0").as_uri()
        _check_everything(client, run_id, tmp_path / "out-client")
        # a run made after the move lands in the moved store
        later = client.create_run("moving")
        client.log_artifact(later.info.run_id, home.parent / "notes.txt")
        client.set_terminated(later.info.run_id)
        assert client.flush(30)
        assert [f.path for f in client.list_artifacts(later.info.run_id)] == ["notes.txt"]
    assert not (tmp_path / "a").exists()

    # what the database holds: locations relative to the store's folder
    with sqlite3.connect(home / "autolog.db") as db:
        stored = [row[0] for row in db.execute("SELECT artifact_uri FROM runs")]
        locations = [row[0] for row in db.execute("SELECT artifact_location FROM experiments")]
    assert len(stored) == 2
    assert all(is_relative_location(uri) for uri in stored), stored
    assert all(is_relative_location(location) for location in locations), locations


@pytest.mark.slow
@pytest.mark.server
def test_a_moved_project_is_served_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _project(tmp_path / "a" / "project", monkeypatch)
    reset_autolog()
    monkeypatch.chdir(tmp_path)
    shutil.move(tmp_path / "a", tmp_path / "b")
    moved = tmp_path / "b" / "project"
    server = ServerProcess(["--port", "0"], cwd=moved)
    try:
        with autolog.Client(server.url) as client:
            _check_everything(client, run_id, tmp_path / "out-server")
    finally:
        server.stop()
    assert not (tmp_path / "a").exists()


def test_a_database_with_absolute_locations_keeps_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What earlier versions wrote: absolute locations, read as they are."""
    run_id = _project(tmp_path / "p", monkeypatch)
    reset_autolog()
    home = (tmp_path / "p" / "autolog-runs").resolve()
    with sqlite3.connect(home / "autolog.db") as db:
        db.execute(
            "UPDATE runs SET artifact_uri = ?",
            ((home / "artifacts/0").as_uri() + "/" + run_id + "/artifacts",),
        )
        db.execute(
            "UPDATE experiments SET artifact_location = ?", ((home / "artifacts/0").as_uri(),)
        )
    with autolog.Client() as client:
        run = client.get_run(run_id)
        assert run.info.artifact_uri == (home / "artifacts" / "0" / run_id / "artifacts").as_uri()
        _check_everything(client, run_id, tmp_path / "out")


def test_missing_files_are_reported_as_missing_where_they_were_expected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = _project(tmp_path / "p", monkeypatch)
    with autolog.Client() as client:
        root = Path(client.download_artifacts(run_id, "model", tmp_path / "x")).parent
        folder = tmp_path / "p" / "autolog-runs" / "artifacts" / "0" / run_id / "artifacts"
        (folder / "model" / "model.pkl").unlink()
        with pytest.raises(NotFoundError) as caught:
            client.load_model(f"runs:/{run_id}/model")
        assert not isinstance(caught.value, ModelIntegrityError)
        assert str(folder.resolve() / "model" / "model.pkl") in str(caught.value)
        shutil.rmtree(folder)
        with pytest.raises(NotFoundError) as listing:
            client.list_artifacts(run_id)
        assert str(folder.resolve()) in str(listing.value)
        with pytest.raises(NotFoundError) as download:
            client.download_artifacts(run_id, "notes.txt", tmp_path / "y")
        assert str(folder.resolve() / "notes.txt") in str(download.value)
    assert root.exists()


# -- the rule itself --------------------------------------------------------------------------


def test_locations_under_the_home_are_stored_relative_and_resolved_against_it(
    tmp_path: Path,
) -> None:
    home = tmp_path.resolve() / "autolog-runs"
    here = Locations(home)
    inside = (home / "artifacts" / "0" / "abc" / "artifacts").as_uri()
    assert here.stored(inside) == "artifacts/0/abc/artifacts"
    assert here.stored(home.as_uri()) == "."
    assert here.stored((home / "a b%c").as_uri()) == "a%20b%25c"
    there = Locations(tmp_path.resolve() / "moved")
    assert (
        there.resolved("artifacts/0/abc/artifacts")
        == (tmp_path.resolve() / "moved" / "artifacts" / "0" / "abc" / "artifacts").as_uri()
    )
    assert there.resolved("./0") == (tmp_path.resolve() / "moved" / "0").as_uri()
    assert there.resolved(".") == (tmp_path.resolve() / "moved").as_uri()
    assert (
        there.resolved(here.stored((home / "a b%c").as_uri()))
        == (tmp_path.resolve() / "moved" / "a b%c").as_uri()
    )
    # elsewhere, and stores without a home: as given
    for other in ((tmp_path / "elsewhere").as_uri(), "s3://bucket/runs", ""):
        assert here.stored(other) == other
        assert here.resolved(other) == other
    # an artifact folder linked to another disk moves with the home: kept relative
    (tmp_path / "big").mkdir()
    home.mkdir()
    (home / "artifacts").symlink_to(tmp_path / "big")
    assert here.stored((home / "artifacts" / "0").as_uri()) == "artifacts/0"
    nowhere = Locations(None)
    assert nowhere.stored(inside) == inside
    assert nowhere.resolved("artifacts/0") == "artifacts/0"


def test_runs_and_experiments_come_back_resolved(tmp_path: Path) -> None:
    here = Locations(tmp_path.resolve())
    info = RunInfo("r", "0", "n", RunStatus.RUNNING, 1, None, "artifacts/0/r/artifacts", None)
    run = here.run(Run(info, RunData({}, {}, {})))
    assert run.info.artifact_uri == (tmp_path.resolve() / "artifacts/0/r/artifacts").as_uri()
    experiment = here.experiment(Experiment("0", "e", "artifacts/0", 1))
    assert experiment.artifact_location == (tmp_path.resolve() / "artifacts/0").as_uri()


@pytest.mark.parametrize("kind", ["sqlite", "file"])
def test_every_local_store_keeps_relative_locations(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    uri = f"sqlite:///{folder}/autolog.db" if kind == "sqlite" else folder.as_uri()
    store = open_store(uri)
    try:
        experiment = store.get_or_create_experiment("e")
        assert experiment.artifact_location.startswith(folder.resolve().as_uri())
        assert store.artifact_root.startswith(folder.resolve().as_uri())
        location = f"{experiment.artifact_location}/r1/artifacts"
        store.create_run("r1", experiment.experiment_id, "n", 1, location, None, {})
        assert store.get_run("r1").info.artifact_uri == location
        assert store.engine.artifact_root in ("artifacts", ".")  # type: ignore[attr-defined]
    finally:
        store.close()
