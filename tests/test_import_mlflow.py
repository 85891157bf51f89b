"""``autolog import-mlflow``: stores that MLflow itself wrote (tests/data/mlflow, made by
make_stores.py there with a real MLflow), imported into every kind of store."""

from __future__ import annotations

import hashlib
import math
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import autolog
from autolog import RunStatus
from autolog.cli._group import root
from autolog.cli._mlflow import open_source

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


def summary(done: Result) -> str:
    """The line that says what was imported, skipped and why: the last one."""
    assert done.exit_code == 0, done.output
    return done.stdout.splitlines()[-1]


def _by_name(uri: str | None = None) -> dict[str, autolog.Run]:
    client = autolog.Client(uri)
    return {r.info.run_name: r for r in client.search_runs(lifecycle="all")}


def test_times_are_mlflow_s_own(source: str) -> None:
    """A run's start and end, and each metric value's timestamp, are MLflow's, not the
    import's."""
    invoke("import-mlflow", source)
    search = _by_name()["search"]
    loss = autolog.get_metric_history(search.info.run_id, "loss")
    with open_source(source) as reader:  # MLflow's own times, not the import's
        mlflow_runs = {
            r.run_id: r for e in reader.experiments() for r in reader.runs(e.experiment_id)
        }
        original = mlflow_runs[search.info.run_id]
        points = reader.metrics(original)["loss"]
    assert (search.info.start_time, search.info.end_time) == (
        original.start_time,
        original.end_time,
    )
    assert sorted((m.timestamp, m.step) for m in loss) == sorted(
        (timestamp, step) for timestamp, _, step in points
    )


def test_everything_arrives(source: str) -> None:
    done = invoke("import-mlflow", source)
    line = summary(done)
    assert line.startswith("imported 6 runs into 2 experiments: 5 params,")
    assert "1012 metric values, 2 artifact files (1041 bytes), 2 experiment tags" in line
    assert "1 runs still RUNNING in MLflow arrived running" in line
    assert "1 runs deleted in MLflow left out (--include-deleted)" in line
    runs = _by_name()
    assert set(runs) == {"default-run", "search", "trial-0", "trial-1", "killed", "still-running"}
    client = autolog.Client()
    assert [e.name for e in client.list_experiments()] == ["Default", "mnist"]
    with open_source(source) as reader:
        theirs = {e.name: e for e in reader.experiments()}
    for experiment in client.list_experiments():  # MLflow's times and ids, not the import's
        mlflow = theirs[experiment.name]
        assert experiment.creation_time == mlflow.creation_time
        assert experiment.tags == {"autolog.mlflow.experiment_id": mlflow.experiment_id}
        assert (
            f"experiment {mlflow.name!r}: MLflow id {mlflow.experiment_id} "
            f"is {experiment.experiment_id} here (new)"
        ) in done.stdout.splitlines()

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
    assert still.info.status is RunStatus.RUNNING  # as it was at the import: not ended here
    assert still.info.end_time is None
    assert still.data.tags["autolog.mlflow.status"] == "RUNNING"
    assert int(still.data.tags["autolog.import.time"]) > still.info.start_time

    files = {f.path for f in autolog.list_artifacts(search.info.run_id)}
    assert files == {"model", "notes.txt"}
    weights = Path(autolog.download_artifacts(search.info.run_id, "model/weights.bin"))
    assert weights.read_bytes() == bytes(range(256)) * 4
    hashes = client.store.get_artifact_hashes(search.info.run_id)
    assert hashes["model/weights.bin"] == hashlib.sha256(bytes(range(256)) * 4).hexdigest()
    assert set(hashes) == {"model/weights.bin", "notes.txt"}


def test_importing_again_imports_nothing_twice(source: str) -> None:
    invoke("import-mlflow", source)
    before = {r.info.run_id: _without_import_time(r) for r in autolog.search_runs()}
    experiments = autolog.Client().list_experiments()
    again = summary(invoke("import-mlflow", source))
    assert again.startswith("imported 0 runs into 0 experiments: 0 params, 1 tags, 0 metric")
    assert "0 experiment tags" in again
    assert "5 runs were imported before" in again
    # the one still running is read again, for nothing new but the time of this import
    assert "1 runs running at the last import brought up to date (0 ended since)" in again
    after = {r.info.run_id: _without_import_time(r) for r in autolog.search_runs()}
    assert before == after
    assert autolog.Client().list_experiments() == experiments
    search = next(r for r in after.values() if r.info.run_name == "search")
    assert len(autolog.get_metric_history(search.info.run_id, "curve")) == 1000


def _without_import_time(run: autolog.Run) -> autolog.Run:
    tags = {k: v for k, v in run.data.tags.items() if k != "autolog.import.time"}
    return autolog.Run(run.info, run.data._replace(tags=tags))


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
    done = summary(invoke("import-mlflow", source))
    assert "1 half-imported runs redone" in done
    assert done.startswith("imported 1 runs")
    redone = autolog.get_run(run.info.run_id)
    assert redone.info.status is RunStatus.FINISHED
    assert len(autolog.get_metric_history(run.info.run_id, "curve")) == 1000


def test_deleted_runs_and_experiments_arrive_deleted_when_asked(source: str) -> None:
    done = summary(invoke("import-mlflow", source, "--include-deleted"))
    assert done.startswith("imported 8 runs into 3 experiments")
    runs = _by_name()
    assert runs["deleted-run"].info.deleted_time is not None
    assert (
        runs["in-old"].info.deleted_time is not None
    )  # MLflow deletes the runs of an experiment it deletes
    client = autolog.Client()
    assert [e.name for e in client.list_experiments("deleted")] == ["old"]
    with open_source(source) as reader:
        old = next(e for e in reader.experiments() if e.name == "old")
    assert old.deleted_time is not None
    imported = client.list_experiments("deleted")[0]
    # deleted when MLflow deleted it (its last change), created when MLflow created it
    assert (imported.creation_time, imported.deleted_time) == (
        old.creation_time,
        old.deleted_time,
    )
    assert {r.info.run_name for r in autolog.search_runs()} == {
        "default-run",
        "search",
        "trial-0",
        "trial-1",
        "killed",
        "still-running",
    }
    again = invoke("import-mlflow", source, "--include-deleted")
    assert summary(again).startswith("imported 0 runs")
    mapped = f"MLflow id {old.experiment_id} is {imported.experiment_id} here"
    assert f"experiment 'old': {mapped} (deleted, imported before)" in again.stdout


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
    assert summary(
        invoke("import-mlflow", str(DATA / "mlruns"), "--tracking-uri", store_uri)
    ).startswith("imported 0 runs")
    experiment = client.get_experiment_by_name("mnist")
    assert experiment is not None
    assert experiment.creation_time == 1796164147207  # mlruns/518998809563556780/meta.yaml
    assert runs["still-running"].info.status is RunStatus.RUNNING


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

    assert _mlflow.scalar_of("'a'") == "a"
    values = read_meta(meta)
    assert values["artifact_uri"] == "file:///a/b"
    assert values["end_time"] is None
    assert values["experiment_id"] == "12"
    assert values["name"] == "it's: quoted"
    assert values["run_name"] == "tab\there"
    assert values["status"] == 3
    assert values["tags"] == []
    assert values["long"] == "one two three four"


class LaterMlflow:
    """Writes into a copy of an MLflow store as MLflow itself does (its file store's files, its
    SQLite tables: mlflow is no dependency of these tests): what happens there after an import.
    """

    def __init__(self, source: str) -> None:
        with open_source(source) as reader:
            self.location = reader.location
            self.runs = {
                run.name: run
                for experiment in reader.experiments()
                for run in reader.runs(experiment.experiment_id)
            }
            self.experiments = {e.name: e.experiment_id for e in reader.experiments()}
        self.sqlite = self.location.is_file()

    def _sql(self, statement: str, *values: object) -> None:
        db = sqlite3.connect(self.location)
        try:
            with db:
                db.execute(statement, values)
        finally:
            db.close()

    def _folder(self, name: str) -> Path:
        run = self.runs[name]
        return self.location / run.experiment_id / run.run_id

    def log_metric(self, name: str, key: str, value: float, timestamp: int, step: int) -> None:
        run_id = self.runs[name].run_id
        if not self.sqlite:  # one line per value, appended
            path = self._folder(name) / "metrics" / key
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as f:
                f.write(f"{timestamp} {value} {step}\n")
            return
        nan = math.isnan(value)
        row = (key, 0.0 if nan else value, timestamp, run_id, step, int(nan))
        self._sql(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            *row,
        )
        self._sql(  # MLflow keeps the latest value (by step, then time) beside the history
            "INSERT INTO latest_metrics (key, value, timestamp, run_uuid, step, is_nan)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key, run_uuid) DO UPDATE SET"
            " value = excluded.value, timestamp = excluded.timestamp, step = excluded.step,"
            " is_nan = excluded.is_nan WHERE (excluded.step, excluded.timestamp)"
            " >= (latest_metrics.step, latest_metrics.timestamp)",
            *row,
        )

    def log_param(self, name: str, key: str, value: str) -> None:
        if self.sqlite:
            self._sql(
                "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                key,
                value,
                self.runs[name].run_id,
            )
        else:
            (self._folder(name) / "params").mkdir(exist_ok=True)
            (self._folder(name) / "params" / key).write_text(value)

    def set_tag(self, name: str, key: str, value: str) -> None:
        if self.sqlite:
            self._sql(
                "INSERT OR REPLACE INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                key,
                value,
                self.runs[name].run_id,
            )
        else:
            (self._folder(name) / "tags" / key).write_text(value)

    def log_artifact(self, name: str, path: str, data: bytes) -> None:
        run = self.runs[name]
        base = self.location.parent / "mlruns" if self.sqlite else self.location
        target = base / self.experiments["mnist"] / run.run_id / "artifacts" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def set_terminated(self, name: str, status: str, end_time: int) -> None:
        if self.sqlite:
            self._sql(
                "UPDATE runs SET status = ?, end_time = ? WHERE run_uuid = ?",
                status,
                end_time,
                self.runs[name].run_id,
            )
            return
        numbers = {"FINISHED": 3, "FAILED": 4, "KILLED": 5}
        meta = self._folder(name) / "meta.yaml"
        text = meta.read_text().replace("end_time: null", f"end_time: {end_time}")
        meta.write_text(text.replace("status: 1\n", f"status: {numbers[status]}\n"))

    def set_experiment_tag(self, experiment: str, key: str, value: str) -> None:
        experiment_id = self.experiments[experiment]
        if self.sqlite:
            self._sql(
                "INSERT OR REPLACE INTO experiment_tags (key, value, experiment_id)"
                " VALUES (?, ?, ?)",
                key,
                value,
                int(experiment_id),
            )
        else:
            folder = self.location / experiment_id / "tags"
            folder.mkdir(exist_ok=True)
            (folder / key).write_text(value)

    def history(self, name: str, key: str) -> list[tuple[int, int, float]]:
        """MLflow's history of ``key``, as (step, timestamp, value) in step then time order."""
        with open_source(str(self.location)) as reader:
            run = next(r for r in reader.runs(self.runs[name].experiment_id) if r.name == name)
            points = reader.metrics(run)[key]
        return sorted((step, timestamp, value) for timestamp, value, step in points)


def _ours(run_id: str, key: str) -> list[tuple[int, int, float]]:
    history = autolog.get_metric_history(run_id, key)
    assert [m.step for m in history] == sorted(m.step for m in history)
    return sorted((m.step, m.timestamp, m.value) for m in history)


def _same_points(a: list[tuple[int, int, float]], b: list[tuple[int, int, float]]) -> bool:
    """Equal, value for value, NaN included."""
    return len(a) == len(b) and all(
        x[:2] == y[:2] and (x[2] == y[2] or (math.isnan(x[2]) and math.isnan(y[2])))
        for x, y in zip(a, b, strict=True)
    )


def test_experiment_tags_arrive_and_follow_mlflow(source: str) -> None:
    later = LaterMlflow(source)
    later.set_experiment_tag("mnist", "mlflow.note.content", "digits, by hand")
    later.set_experiment_tag("mnist", "owner", "vision")
    later.set_experiment_tag("mnist", "team\\lead", "left out")  # no backslash in our keys
    done = invoke("import-mlflow", source)
    assert "4 experiment tags" in summary(done)
    assert "experiment 'mnist': left out tags autolog cannot hold: 'team\\\\lead'" in done.stderr
    mnist = autolog.Client().get_experiment_by_name("mnist")
    assert mnist is not None
    assert mnist.tags == {
        "mlflow.note.content": "digits, by hand",
        "owner": "vision",
        "autolog.mlflow.experiment_id": later.experiments["mnist"],
    }
    later.set_experiment_tag("mnist", "owner", "nlp")  # changed there: changed here
    assert "1 experiment tags" in summary(invoke("import-mlflow", source))
    mnist = autolog.Client().get_experiment_by_name("mnist")
    assert mnist is not None
    assert mnist.tags["owner"] == "nlp"


def test_a_run_running_at_import_is_brought_up_to_date_by_the_next(source: str) -> None:
    later = LaterMlflow(source)
    run = later.runs["still-running"]
    start = run.start_time
    for step in range(3):
        later.log_metric("still-running", "loss", 1.0 / (step + 1), start + step, step)
    later.log_param("still-running", "lr", "0.01")

    first = summary(invoke("import-mlflow", source))
    assert "1 runs still RUNNING in MLflow arrived running" in first
    imported = autolog.get_run(run.run_id)
    assert imported.info.status is RunStatus.RUNNING
    assert imported.info.end_time is None
    assert _ours(run.run_id, "loss") == later.history("still-running", "loss")

    # it goes on in MLflow: more values (a NaN, a step logged twice, the very same value
    # twice, as MLflow's file store keeps it), a param, a tag, an artifact; still running
    later.log_metric("still-running", "loss", 0.2, start + 3, 3)
    later.log_metric("still-running", "loss", math.nan, start + 4, 3)
    later.log_metric("still-running", "acc", 0.5, start + 4, 0)
    if not later.sqlite:  # its primary key keeps MLflow's SQL store from holding this twice
        later.log_metric("still-running", "acc", 0.5, start + 4, 0)
    later.log_param("still-running", "batch", "32")
    later.set_tag("still-running", "stage", "tuning")
    later.log_artifact("still-running", "notes.txt", b"epoch 3\n")
    second = summary(invoke("import-mlflow", source))
    assert "1 runs running at the last import brought up to date (0 ended since)" in second
    assert "1 artifact files (8 bytes)" in second
    middle = autolog.get_run(run.run_id)
    assert middle.info.status is RunStatus.RUNNING
    assert middle.data.params == {"lr": "0.01", "batch": "32"}
    assert middle.data.tags["stage"] == "tuning"
    for key in ("loss", "acc"):
        assert _same_points(_ours(run.run_id, key), later.history("still-running", key)), key

    # and ends: its last values and its real end arrive, nothing twice
    later.log_metric("still-running", "loss", 0.1, start + 5, 4)
    later.set_tag("still-running", "stage", "done")
    later.set_terminated("still-running", "FAILED", start + 10)
    third = summary(invoke("import-mlflow", source))
    assert "1 runs running at the last import brought up to date (1 ended since)" in third
    ended = autolog.get_run(run.run_id)
    assert (ended.info.status, ended.info.end_time) == (RunStatus.FAILED, start + 10)
    assert ended.data.tags["stage"] == "done"
    assert ended.data.tags["autolog.mlflow.status"] == "FAILED"
    for key in ("loss", "acc"):
        assert _same_points(_ours(run.run_id, key), later.history("still-running", key)), key
    assert {f.path for f in autolog.list_artifacts(run.run_id)} == {"notes.txt"}

    # ended here as there: the next import leaves it be
    last = summary(invoke("import-mlflow", source))
    assert "6 runs were imported before" in last
    assert "brought up to date" not in last
