"""``autolog import-mlflow``: stores that MLflow itself wrote (tests/data/mlflow, made by
make_stores.py there with a real MLflow), imported into every kind of store."""

from __future__ import annotations

import hashlib
import math
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import autolog
from autolog import RunStatus
from autolog.cli._group import root

DATA = Path(__file__).parent / "data" / "mlflow"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(root, list(args), catch_exceptions=False)


@pytest.fixture(params=["mlruns", "sqlite"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A copy of a store MLflow wrote (imports only read it, but a copy keeps that honest)."""
    if request.param == "mlruns":
        copy = tmp_path / "mlruns"
        shutil.copytree(DATA / "mlruns", copy)
        return str(copy)
    copy = tmp_path / "mlflow-store"
    shutil.copytree(DATA / "sqlite", copy)
    return f"sqlite:///{copy / 'mlflow.db'}"


def _by_name(uri: str | None = None) -> dict[str, autolog.Run]:
    client = autolog.Client(uri)
    return {r.info.run_name: r for r in client.search_runs(lifecycle="all")}


def test_everything_arrives(source: str) -> None:
    done = invoke("import-mlflow", source)
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("imported 6 runs into 2 experiments: 5 params,")
    assert "1012 metric values, 2 artifact files (1041 bytes)" in done.stdout
    assert "1 runs deleted in MLflow left out" in done.stdout
    runs = _by_name()
    assert set(runs) == {"default-run", "search", "trial-0", "trial-1", "killed", "still-running"}
    client = autolog.Client()
    assert [e.name for e in client.list_experiments()] == ["Default", "mnist"]

    search = runs["search"]
    assert search.info.status is RunStatus.FINISHED
    assert search.info.run_id == search.data.tags["autolog.mlflow.run_id"]  # ids are kept
    assert search.data.params == {"lr": "0.1", "opt/name": "sgd"}
    assert search.data.tags["team"] == "vision"
    assert search.data.tags["stage"] == "dev"
    assert search.info.end_time is not None
    assert search.info.end_time > search.info.start_time

    loss = autolog.get_metric_history(search.info.run_id, "loss")
    assert [(m.step, m.value) for m in loss] == [(s, 1.0 / (s + 1)) for s in range(5)]
    acc = autolog.get_metric_history(search.info.run_id, "acc")
    assert [m.step for m in acc] == [0, 1, 1, 2]
    assert math.isnan(acc[1].value)
    assert [acc[0].value, acc[2].value, acc[3].value] == [0.5, 0.7, 0.9]
    assert len(autolog.get_metric_history(search.info.run_id, "curve")) == 1000
    assert search.data.metrics["acc"] == 0.9

    for child, status in (("trial-0", RunStatus.FINISHED), ("trial-1", RunStatus.FAILED)):
        assert runs[child].info.parent_run_id == search.info.run_id
        assert runs[child].data.tags["autolog.parentRunId"] == search.info.run_id
        assert runs[child].info.status is status
    assert runs["killed"].info.status is RunStatus.KILLED
    still = runs["still-running"]
    assert still.info.status is RunStatus.KILLED  # nothing here will ever end it
    assert still.data.tags["autolog.mlflow.status"] == "RUNNING"

    files = {f.path for f in autolog.list_artifacts(search.info.run_id)}
    assert files == {"model", "notes.txt"}
    weights = Path(autolog.download_artifacts(search.info.run_id, "model/weights.bin"))
    assert weights.read_bytes() == bytes(range(256)) * 4
    hashes = client.store.get_artifact_hashes(search.info.run_id)
    assert hashes["model/weights.bin"] == hashlib.sha256(bytes(range(256)) * 4).hexdigest()
    assert set(hashes) == {"model/weights.bin", "notes.txt"}


def test_importing_again_imports_nothing_twice(source: str) -> None:
    invoke("import-mlflow", source)
    before = {r.info.run_id: r for r in autolog.search_runs()}
    again = invoke("import-mlflow", source)
    assert again.exit_code == 0
    assert again.stdout.startswith("imported 0 runs into 0 experiments")
    assert "6 runs were imported before" in again.stdout
    after = {r.info.run_id: r for r in autolog.search_runs()}
    assert before == after
    search = next(r for r in after.values() if r.info.run_name == "search")
    assert len(autolog.get_metric_history(search.info.run_id, "curve")) == 1000


def test_a_half_imported_run_is_redone(source: str) -> None:
    invoke("import-mlflow", source)
    run = _by_name()["search"]
    store = autolog.Client().store
    # as if the import had stopped after the run's creation and part of its metrics
    store.delete_run(run.info.run_id)
    store.purge_run(run.info.run_id)
    store.create_run(
        run.info.run_id,
        run.info.experiment_id,
        "search",
        run.info.start_time,
        run.info.artifact_uri,
        None,
        {"autolog.mlflow.run_id": run.info.run_id},
    )
    store.log_batch(run.info.run_id, metrics=[autolog.Metric("curve", 1.0, 0, 0)])
    done = invoke("import-mlflow", source)
    assert "1 half-imported runs redone" in done.stdout
    assert done.stdout.startswith("imported 1 runs")
    redone = autolog.get_run(run.info.run_id)
    assert redone.info.status is RunStatus.FINISHED
    assert len(autolog.get_metric_history(run.info.run_id, "curve")) == 1000


def test_deleted_runs_and_experiments_arrive_deleted_when_asked(source: str) -> None:
    done = invoke("import-mlflow", source, "--include-deleted")
    assert done.stdout.startswith("imported 8 runs into 3 experiments")
    runs = _by_name()
    assert runs["deleted-run"].info.deleted_time is not None
    assert (
        runs["in-old"].info.deleted_time is not None
    )  # MLflow deletes the runs of an experiment it deletes
    client = autolog.Client()
    assert [e.name for e in client.list_experiments("deleted")] == ["old"]
    assert {r.info.run_name for r in autolog.search_runs()} == {
        "default-run",
        "search",
        "trial-0",
        "trial-1",
        "killed",
        "still-running",
    }
    again = invoke("import-mlflow", source, "--include-deleted")
    assert again.stdout.startswith("imported 0 runs")


def test_import_into_any_store(store_uri: str, artifact_root: Path) -> None:
    if store_uri == "memory:":
        pytest.skip("an in-process store is gone when the command ends")
    done = invoke("import-mlflow", str(DATA / "mlruns"), "--tracking-uri", store_uri)
    assert done.exit_code == 0, done.output
    runs = _by_name(store_uri)
    assert runs["search"].data.params == {"lr": "0.1", "opt/name": "sgd"}
    client = autolog.Client(store_uri)
    assert len(client.get_metric_history(runs["search"].info.run_id, "curve")) == 1000
    assert {f.path for f in client.list_artifacts(runs["search"].info.run_id)} == {
        "model",
        "notes.txt",
    }
    assert invoke(
        "import-mlflow", str(DATA / "mlruns"), "--tracking-uri", store_uri
    ).stdout.startswith("imported 0 runs")


def test_bad_sources_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    for source, message in [
        (str(tmp_path / "missing"), "does not exist"),
        (str(tmp_path / "empty"), "is not an MLflow mlruns folder"),
        (str(tmp_path / "notes.txt"), "neither an mlruns folder nor SQLite"),
        ("http://mlflow.example:5000", "give an mlruns folder or an MLflow SQLite database"),
    ]:
        done = CliRunner().invoke(root, ["import-mlflow", source])
        assert done.exit_code == 1, source
        assert message in done.stderr, (source, done.stderr)
        assert "Traceback" not in done.output


def test_meta_yaml_is_read_without_pyyaml(tmp_path: Path) -> None:
    from autolog.cli._mlflow import read_meta

    meta = tmp_path / "meta.yaml"
    meta.write_text(
        "artifact_uri: file:///a/b\n"
        "end_time: null\n"
        "experiment_id: '12'\n"
        "name: 'it''s: quoted'\n"
        'run_name: "tab\\there"\n'
        "status: 3\n"
        "tags: []\n"
        "long: one two\n"
        "  three four\n"
    )
    from autolog.cli import _mlflow

    assert _mlflow._scalar("'a'") == "a"
    values = read_meta(meta)
    assert values["artifact_uri"] == "file:///a/b"
    assert values["end_time"] is None
    assert values["experiment_id"] == "12"
    assert values["name"] == "it's: quoted"
    assert values["run_name"] == "tab\there"
    assert values["status"] == 3
    assert values["tags"] == []
    assert values["long"] == "one two three four"
