"""The module-level API and Client, end to end through the default SQLite store."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest

import autolog
from autolog import RunStatus

EXPECTED_ALL = {
    "ActiveRun",
    "MissingExtraError",
    "RerunError",
    "log_input",
    "AutologError",
    "AutologWarning",
    "Client",
    "Experiment",
    "FileInfo",
    "IncompleteModelError",
    "IntegrationError",
    "InvalidFilterError",
    "InvalidInputError",
    "InvalidKeyError",
    "InvalidURIError",
    "InvalidValueError",
    "Metric",
    "ModelDependencyError",
    "ModelIntegrityError",
    "ModelInfo",
    "ModelVersion",
    "NotFoundError",
    "Param",
    "ParamCollisionError",
    "RegisteredModel",
    "Run",
    "RunData",
    "RunInfo",
    "RunStateError",
    "RunStatus",
    "RunTag",
    "StoreError",
    "StoreUnavailableError",
    "UnsafePathError",
    "__version__",
    "active_run",
    "autolog",
    "delete_run",
    "delete_tag",
    "download_artifacts",
    "end_run",
    "flush",
    "get_experiment_name",
    "get_metric_history",
    "get_run",
    "get_tracking_uri",
    "last_active_run",
    "list_artifacts",
    "get_model_info",
    "load_model",
    "load_predictor",
    "log_artifact",
    "log_artifacts",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "register_model",
    "restore_run",
    "search_runs",
    "set_experiment",
    "set_model_alias",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
    "sync",
}


def test_public_names_are_pinned() -> None:
    assert set(autolog.__all__) == EXPECTED_ALL
    for name in autolog.__all__:
        assert hasattr(autolog, name), name


def test_default_store_is_sqlite_under_cwd(tmp_path: Path) -> None:
    with autolog.start_run() as run:
        autolog.log_metric("m", 1.0)
    assert autolog.get_tracking_uri() == f"sqlite:///{tmp_path / 'autolog-runs' / 'autolog.db'}"
    assert (tmp_path / "autolog-runs" / "autolog.db").is_file()
    stored = autolog.get_run(run.info.run_id)
    assert stored.info.artifact_uri.startswith((tmp_path / "autolog-runs" / "artifacts").as_uri())


def test_run_lifecycle_and_data() -> None:
    autolog.set_experiment("exp-a")
    with autolog.start_run(run_name="first", tags={"team": "vision"}) as run:
        assert autolog.active_run() == run
        autolog.log_params({"lr": 0.01, "layers": [64, 32], "name": "mlp"})
        autolog.log_param("epochs", 3)
        autolog.log_metrics({"loss": 0.5, "acc": 0.7}, step=0)
        autolog.log_metrics({"loss": 0.25, "acc": 0.9}, step=1)
        autolog.set_tags({"stage": "dev"})
        autolog.set_tag("stage", "prod")  # tags may change, params may not
    assert autolog.active_run() is None
    stored = autolog.get_run(run.info.run_id)
    assert stored.info.status is RunStatus.FINISHED
    assert stored.info.run_name == "first"
    assert stored.info.end_time is not None
    assert stored.info.end_time >= stored.info.start_time
    assert dict(stored.data.params) == {
        "lr": "0.01",
        "layers": "[64, 32]",
        "name": "mlp",
        "epochs": "3",
    }
    assert dict(stored.data.metrics) == {"loss": 0.25, "acc": 0.9}
    assert stored.data.tags["team"] == "vision"
    assert stored.data.tags["stage"] == "prod"
    experiment = autolog.Client().get_experiment_by_name("exp-a")
    assert experiment is not None
    assert stored.info.experiment_id == experiment.experiment_id
    assert autolog.last_active_run() == stored


def test_runs_without_experiment_go_to_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert autolog.get_experiment_name() == "Default"
    monkeypatch.setenv("AUTOLOG_EXPERIMENT_NAME", "from-env")
    assert autolog.get_experiment_name() == "from-env"
    autolog.set_experiment("chosen")
    assert autolog.get_experiment_name() == "chosen"
    autolog.set_experiment(None)
    monkeypatch.delenv("AUTOLOG_EXPERIMENT_NAME")
    with autolog.start_run() as run:
        pass
    default = autolog.Client().get_experiment_by_name("Default")
    assert default is not None
    assert autolog.get_run(run.info.run_id).info.experiment_id == default.experiment_id


def test_exception_fails_the_run_and_propagates_unchanged() -> None:
    error = RuntimeError("boom")
    with pytest.raises(RuntimeError) as caught, autolog.start_run() as run:
        autolog.log_metric("before", 1.0)
        raise error
    assert caught.value is error
    stored = autolog.get_run(run.info.run_id)
    assert stored.info.status is RunStatus.FAILED
    assert stored.data.metrics == {"before": 1.0}


def test_keyboard_interrupt_kills_the_run() -> None:
    with pytest.raises(KeyboardInterrupt), autolog.start_run() as run:
        raise KeyboardInterrupt
    assert autolog.get_run(run.info.run_id).info.status is RunStatus.KILLED


def test_nested_runs_link_to_their_parent() -> None:
    with autolog.start_run() as parent:
        with pytest.raises(autolog.RunStateError, match="already active"):
            autolog.start_run()
        with autolog.start_run(nested=True) as child:
            autolog.log_metric("child_metric", 1.0)
        autolog.log_metric("parent_metric", 2.0)
    stored_child = autolog.get_run(child.info.run_id)
    assert stored_child.info.parent_run_id == parent.info.run_id
    assert stored_child.data.tags["autolog.parentRunId"] == parent.info.run_id
    assert stored_child.data.metrics == {"child_metric": 1.0}
    assert autolog.get_run(parent.info.run_id).data.metrics == {"parent_metric": 2.0}


def test_ending_a_parent_ends_its_open_children() -> None:
    with autolog.start_run() as parent:
        child = autolog.start_run(nested=True)
    assert autolog.get_run(child.info.run_id).info.status is RunStatus.FINISHED
    assert autolog.get_run(parent.info.run_id).info.status is RunStatus.FINISHED
    assert autolog.active_run() is None


def test_logging_without_a_run_starts_one_and_end_run_ends_it() -> None:
    autolog.log_metric("loss", 1.0)
    run = autolog.active_run()
    assert run is not None
    autolog.end_run(status="FAILED")
    assert autolog.active_run() is None
    assert autolog.get_run(run.info.run_id).info.status is RunStatus.FAILED
    with pytest.raises(ValueError, match="NOT_A_STATUS"):
        autolog.log_metric("x", 1.0)
        autolog.end_run(status="NOT_A_STATUS")
    autolog.end_run()


def test_steps_default_to_the_next_step_of_the_key() -> None:
    with autolog.start_run() as run:
        for value in (3.0, 2.0, 1.0):
            autolog.log_metric("loss", value)
        autolog.log_metric("loss", 0.5, step=10)
        autolog.log_metric("loss", 0.25)
    history = autolog.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [
        (0, 3.0),
        (1, 2.0),
        (2, 1.0),
        (10, 0.5),
        (11, 0.25),
    ]


def test_special_floats_round_trip_exactly() -> None:
    values = [math.nan, math.inf, -math.inf, 1e308, -0.0, 5e-324]
    with autolog.start_run() as run:
        for step, value in enumerate(values):
            autolog.log_metric("v", value, step=step)
            autolog.log_metric(f"last{step}", value)
    history = autolog.get_metric_history(run.info.run_id, "v")
    got = [m.value for m in history]
    assert math.isnan(got[0])
    assert got[1:4] == [math.inf, -math.inf, 1e308]
    assert math.copysign(1.0, got[4]) == -1.0
    assert got[5] == 5e-324
    latest = autolog.get_run(run.info.run_id).data.metrics
    assert math.isnan(latest["last0"])
    assert latest["last3"] == 1e308


def test_param_collision_is_reported_at_once() -> None:
    with autolog.start_run() as run:
        autolog.log_param("lr", 0.1)
        autolog.log_param("lr", 0.1)  # the same value again is fine
        with pytest.raises(autolog.ParamCollisionError) as caught:
            autolog.log_params({"lr": 0.2, "other": 1})
        assert caught.value.key == "lr"
        assert isinstance(caught.value, ValueError)
    # nothing of the refused call was stored
    assert dict(autolog.get_run(run.info.run_id).data.params) == {"lr": "0.1"}


BAD_KEYS = [
    "",
    "/abs",
    "a/../b",
    "..",
    "a\\b",
    "tab\tkey",
    "nl\nkey",
    "x" * 251,
    "a//b",
    "./a",
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_raise_naming_the_key(key: str) -> None:
    with autolog.start_run() as run:
        for call in (
            lambda: autolog.log_metric(key, 1.0),
            lambda: autolog.log_param(key, 1),
            lambda: autolog.set_tag(key, "v"),
        ):
            with pytest.raises(autolog.InvalidKeyError) as caught:
                call()
            assert caught.value.key == key
            assert isinstance(caught.value, ValueError)
            assert isinstance(caught.value, autolog.AutologError)
    stored = autolog.get_run(run.info.run_id)
    assert not stored.data.metrics
    assert not stored.data.params


def test_non_string_key_is_refused() -> None:
    with autolog.start_run(), pytest.raises(autolog.InvalidKeyError, match="strings"):
        autolog.log_metric(3, 1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["1.5", None, b"1", object()])
def test_bad_metric_values_are_refused(value: object) -> None:
    with autolog.start_run(), pytest.raises(autolog.InvalidValueError) as caught:
        autolog.log_metric("m", value)  # type: ignore[arg-type]
    assert caught.value.key == "m"


def test_bad_steps_are_refused() -> None:
    with autolog.start_run(), pytest.raises(autolog.InvalidValueError, match="steps"):
        autolog.log_metric("m", 1.0, step=1.5)  # type: ignore[arg-type]


def test_huge_values_are_stored_whole_or_refused() -> None:
    megabyte = "x" * 1_000_000 + "END"
    with autolog.start_run() as run:
        autolog.log_param("big", megabyte)
        autolog.set_tag("big", megabyte)
        with pytest.raises(autolog.InvalidValueError, match="exceeds"):
            autolog.log_param("too_big", "y" * (16 * 1024 * 1024 + 1))
    stored = autolog.get_run(run.info.run_id)
    assert stored.data.params["big"] == megabyte
    assert stored.data.tags["big"] == megabyte
    assert "too_big" not in stored.data.params


def test_search_runs_through_the_public_api() -> None:
    autolog.set_experiment("search")
    for index, model in enumerate(["rf", "lr", "rf"]):
        with autolog.start_run(run_name=f"run{index}"):
            autolog.log_param("model", model)
            autolog.log_metric("acc", 0.8 + index / 100)
    found = autolog.search_runs(["search"], "params.model = 'rf'", ["metrics.acc DESC"])
    assert [r.info.run_name for r in found] == ["run2", "run0"]
    newest_first = autolog.search_runs("search")
    assert [r.info.run_name for r in newest_first] == ["run2", "run1", "run0"]
    assert (
        autolog.search_runs(filter_string="metrics.acc > 0.815", max_results=5)[0].info.run_name
        == "run2"
    )
    assert autolog.search_runs(["no-such-experiment"]) == []
    with pytest.raises(autolog.InvalidFilterError):
        autolog.search_runs(filter_string="metrics.acc >> 1")


def test_artifacts_round_trip_and_stay_inside_the_run(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("A")
    (source / "sub" / "b.txt").write_text("B")
    with autolog.start_run() as run:
        assert autolog.log_artifact(source / "a.txt") == "a.txt"
        assert autolog.log_artifact(source / "a.txt", "docs") == "docs/a.txt"
        assert autolog.log_artifacts(source, "tree") == ["tree/a.txt", "tree/sub/b.txt"]
        for bad in ("../escape", "/etc", "a/../../b", "C:\\x"):
            with pytest.raises(autolog.UnsafePathError):
                autolog.log_artifact(source / "a.txt", bad)
        with pytest.raises(autolog.InvalidInputError):
            autolog.log_artifact(source / "missing.txt")
    run_id = run.info.run_id
    listing = autolog.list_artifacts(run_id)
    assert [(f.path, f.is_dir, f.file_size) for f in listing] == [
        ("a.txt", False, 1),
        ("docs", True, None),
        ("tree", True, None),
    ]
    assert [f.path for f in autolog.list_artifacts(run_id, "tree")] == ["tree/a.txt", "tree/sub"]
    local = Path(autolog.download_artifacts(run_id, "tree", tmp_path / "out"))
    assert (local / "sub" / "b.txt").read_text() == "B"
    single = Path(autolog.download_artifacts(run_id, "docs/a.txt", tmp_path / "one"))
    assert single.read_text() == "A"
    with pytest.raises(autolog.UnsafePathError):
        autolog.download_artifacts(run_id, "../..", tmp_path / "evil")
    with pytest.raises(autolog.NotFoundError):
        autolog.download_artifacts(run_id, "nope.txt", tmp_path / "none")


def test_symlink_out_of_the_artifact_root_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (tmp_path / "f.txt").write_text("f")
    with autolog.start_run() as run:
        autolog.log_artifact(tmp_path / "f.txt")
    root = Path(autolog.get_run(run.info.run_id).info.artifact_uri.removeprefix("file://"))
    (root / "link").symlink_to(secret)
    with pytest.raises(autolog.UnsafePathError):
        autolog.download_artifacts(run.info.run_id, "link", tmp_path / "out")


def test_threads_get_one_complete_run_each() -> None:
    run_ids: dict[int, str] = {}

    def train(index: int) -> None:
        with autolog.start_run(run_name=f"thread{index}") as run:
            for step in range(200):
                autolog.log_metric("loss", float(step), step=step)
            autolog.log_param("thread", index)
            run_ids[index] = run.info.run_id

    threads = [threading.Thread(target=train, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(run_ids.values())) == 4
    for index, run_id in run_ids.items():
        stored = autolog.get_run(run_id)
        assert stored.data.params == {"thread": str(index)}
        assert len(autolog.get_metric_history(run_id, "loss")) == 200
        assert stored.info.status is RunStatus.FINISHED


def test_client_works_without_global_state(tmp_path: Path) -> None:
    client = autolog.Client(f"sqlite:///{tmp_path}/explicit.db")
    run = client.create_run("explicit", run_name="c1")
    client.log_metric(run.info.run_id, "m", 2.0, step=3)
    client.log_params(run.info.run_id, {"p": 1})
    client.set_terminated(run.info.run_id, "FINISHED")
    assert autolog.active_run() is None
    stored = client.get_run(run.info.run_id)
    assert stored.info.status is RunStatus.FINISHED
    assert stored.data.metrics == {"m": 2.0}
    assert client.search_runs("explicit")[0].info.run_id == run.info.run_id
    with pytest.raises(autolog.InvalidInputError):
        client.set_terminated(run.info.run_id, "RUNNING")
    with pytest.raises(autolog.InvalidInputError, match="FINISHED"):
        client.log_metric(run.info.run_id, "late", 1.0)
    with pytest.raises(autolog.NotFoundError):
        client.get_run("0" * 32)


@pytest.mark.parametrize(
    "kind", ["file", "memory", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_public_api_on_other_stores(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    uris = {"file": (tmp_path / "files").as_uri(), "memory": "memory:"}
    uri = uris.get(kind) or request.getfixturevalue("postgres_uri")
    autolog.set_tracking_uri(uri)
    with autolog.start_run() as run:
        autolog.log_param("p", "v")
        autolog.log_metric("m", math.nan)
        autolog.log_model({"k": 1})
    stored = autolog.get_run(run.info.run_id)
    assert stored.data.params == {"p": "v"}
    assert math.isnan(stored.data.metrics["m"])
    assert autolog.load_model(f"runs:/{run.info.run_id}/model") == {"k": 1}


def test_bad_tracking_uris_and_names() -> None:
    with pytest.raises(autolog.InvalidURIError):
        autolog.set_tracking_uri("ftp://host/x")
        autolog.start_run()
    autolog.set_tracking_uri(None)
    with pytest.raises(autolog.InvalidInputError):
        autolog.set_experiment("")
    with pytest.raises(autolog.InvalidInputError):
        autolog.set_tracking_uri("")


def test_end_run_refuses_running_and_unknown_statuses_before_changing_anything() -> None:
    with autolog.start_run() as run:
        for bad in ("RUNNING", "DONE", 3):
            with pytest.raises(autolog.InvalidInputError):
                autolog.end_run(bad)  # type: ignore[arg-type]
            with pytest.raises(autolog.InvalidInputError):
                run.end(bad)  # type: ignore[arg-type]
        assert autolog.active_run() == run
    assert autolog.get_run(run.info.run_id).info.status is RunStatus.FINISHED


def test_nested_runs_stay_in_their_parents_experiment() -> None:
    with autolog.start_run(experiment="proj") as parent:
        with autolog.start_run(nested=True) as child:
            pass
        with autolog.start_run(nested=True, experiment="other") as elsewhere:
            pass
    assert child.info.experiment_id == parent.info.experiment_id
    assert elsewhere.info.experiment_id != parent.info.experiment_id


def test_changing_directory_does_not_move_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with autolog.start_run() as run:
        (tmp_path / "sub").mkdir()
        monkeypatch.chdir(tmp_path / "sub")
        autolog.log_metric("m", 1.0)
    assert autolog.get_run(run.info.run_id).data.metrics == {"m": 1.0}
    assert not (tmp_path / "sub" / "autolog-runs").exists()


def test_a_finished_runs_artifacts_and_models_cannot_change(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    client = autolog.Client()
    with autolog.start_run() as run:
        autolog.log_model({"v": 1})
    for write in (
        lambda: client.log_artifact(run.info.run_id, tmp_path / "f.txt"),
        lambda: client.log_artifacts(run.info.run_id, tmp_path),
        lambda: client.log_model(run.info.run_id, {"v": 2}),
    ):
        with pytest.raises(autolog.InvalidInputError, match="FINISHED"):
            write()
    assert autolog.load_model(f"runs:/{run.info.run_id}/model") == {"v": 1}


def test_an_out_of_range_step_or_timestamp_is_refused_and_loses_nothing_else() -> None:
    client = autolog.Client()
    with autolog.start_run() as run:
        autolog.log_metric("good", 1.0)
        autolog.set_tag("t", "v")
        with pytest.raises(autolog.InvalidValueError, match="64 bits"):
            autolog.log_metric("bad", 1.0, step=2**63)
        for bad in (-1, 2**63, 1.5, "now"):
            with pytest.raises(autolog.InvalidValueError, match="timestamp"):
                client.log_metric(run.info.run_id, "bad", 1.0, timestamp=bad)  # type: ignore[arg-type]
        autolog.log_metric("good", 2.0)
    stored = autolog.get_run(run.info.run_id)
    assert stored.data.metrics == {"good": 2.0}
    assert stored.data.tags["t"] == "v"


BAD_CALLS = [
    lambda: autolog.log_metric(["list"], 1.0),  # type: ignore[arg-type]
    lambda: autolog.log_param({"d": 1}, 1),  # type: ignore[arg-type]
    lambda: autolog.search_runs(filter_string=5),  # type: ignore[arg-type]
    lambda: autolog.search_runs(order_by=[5]),  # type: ignore[list-item]
    lambda: autolog.search_runs(experiment_names=5),  # type: ignore[arg-type]
    lambda: autolog.set_model_alias("m", "champion", "x"),  # type: ignore[arg-type]
    lambda: autolog.Client().get_model_version("m", 0),
    lambda: autolog.log_artifact(None),  # type: ignore[arg-type]
    lambda: autolog.log_artifacts(3),  # type: ignore[arg-type]
    lambda: autolog.start_run(tags=["a"]),  # type: ignore[arg-type]
    lambda: autolog.log_params(["a"]),  # type: ignore[arg-type]
]


@pytest.mark.parametrize("call", BAD_CALLS)
def test_bad_input_raises_our_errors_and_starts_no_run(call: object) -> None:
    with pytest.raises(autolog.InvalidInputError):
        call()  # type: ignore[operator]
    assert autolog.active_run() is None


def test_unpicklable_models_are_named_in_the_error() -> None:
    import threading

    with autolog.start_run(), pytest.raises(autolog.InvalidValueError, match="cannot save"):
        autolog.log_model(threading.Lock())


def test_metrics_computed_on_the_writer_thread(tmp_path: Path) -> None:
    client = autolog.Client(f"sqlite:///{tmp_path}/later.db")
    run = client.create_run("later")
    run_id = run.info.run_id
    caller = threading.get_ident()
    ran_on: list[int] = []
    data = [1.0, 2.0, 3.0]

    def compute() -> dict[str, float]:
        ran_on.append(threading.get_ident())
        return {"mean": sum(data) / len(data), "count": len(data)}

    client.log_metrics_later(run_id, compute, step=2, timestamp=1_000)
    client.log_metrics_later(run_id, lambda: {"fine": 5.0, "bad": "not a number"})
    client.set_terminated(run_id)  # queued after them: they land in the run all the same
    with pytest.warns(autolog.AutologWarning, match="'bad'"):  # said, never silent
        client.flush()
    assert ran_on
    assert caller not in ran_on
    history = client.get_metric_history(run_id, "mean")
    assert [(m.value, m.step, m.timestamp) for m in history] == [(2.0, 2, 1_000)]
    stored = client.get_run(run_id)
    assert stored.data.metrics == {"mean": 2.0, "count": 3.0}  # the bad batch is dropped whole
    assert stored.info.status is RunStatus.FINISHED
    with pytest.raises(autolog.InvalidInputError, match="FINISHED"):
        client.log_metrics_later(run_id, compute)
    with pytest.raises(autolog.InvalidInputError, match="step"):
        client.log_metrics_later(client.create_run("later").info.run_id, compute, step=2**80)
