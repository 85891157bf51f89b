"""Fault campaign, round three (issue 17, items 7, 8 and 11): a model killed mid-write, a
SQLite file deleted under a live run, and consistency at the edges (Ctrl-C, experiment ids
given as names, nested runs from worker threads, a read-only store's exit report)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

import autolog
from autolog import RunStatus
from autolog.errors import AutologWarning, InvalidInputError

# --------------------------------------------------------------------------------------------
# 7. a SIGKILL during log_model leaves no model record whose files are missing
# --------------------------------------------------------------------------------------------

_BIG_MODEL = """
import sys, time
import autolog

client = autolog.Client(sys.argv[1])
run = client.create_run("e")
run_id = run.info.run_id
client.log_param(run_id, "p", "1")
client.log_metric(run_id, "m", 1.0)
assert client.flush(30)
print(run_id, client.get_run(run_id).info.artifact_uri, flush=True)
client.log_model(run_id, bytes(400_000_000), "model")  # seconds of writing on its file thread
time.sleep(120)
"""


@pytest.mark.slow
def test_a_model_killed_while_its_files_are_written_is_never_offered(tmp_path: Path) -> None:
    from autolog.artifacts.local import LocalArtifactRepository
    from autolog.errors import NotFoundError

    uri = f"sqlite:///{tmp_path}/runs.db"
    script = tmp_path / "big_model.py"
    script.write_text(_BIG_MODEL)
    child = subprocess.Popen(
        [sys.executable, str(script), uri], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    with child.stdout:
        run_id, artifact_uri = child.stdout.readline().split()
        folder = Path(LocalArtifactRepository(artifact_uri).root) / "model"
        deadline = time.monotonic() + 60
        while not (folder.exists() and any(folder.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.002)
        child.send_signal(signal.SIGKILL)  # its files are being written
        child.wait(30)
    assert folder.exists(), "the model's files were not being written at the kill"
    with autolog.Client(uri) as client:
        run = client.get_run(run_id)
        assert run.data.params == {"p": "1"}
        assert run.data.metrics == {"m": 1.0}
        assert client.store.get_model_files(run_id, "model") is None
        with pytest.raises(NotFoundError):
            client.register_model(f"runs:/{run_id}/model", "killed")


_REPLACED_MODEL = """
import sys, time
import autolog

client = autolog.Client(sys.argv[1])
run_id = client.create_run("e").info.run_id
client.log_model(run_id, {"version": 1}, "model")
assert client.flush(30)
print(run_id, flush=True)
client.log_model(run_id, bytes(400_000_000), "model")  # replaces it: recorded, then written
time.sleep(120)
"""


@pytest.mark.slow
def test_a_replacing_model_killed_while_its_files_are_written_is_never_offered(
    tmp_path: Path,
) -> None:
    from fastapi.testclient import TestClient

    from autolog.errors import IncompleteModelError, RunStateError
    from autolog.server.app import create_app
    from autolog.tracking import incomplete_model

    uri = f"sqlite:///{tmp_path}/runs.db"
    script = tmp_path / "replaced_model.py"
    script.write_text(_REPLACED_MODEL)
    child = subprocess.Popen(
        [sys.executable, str(script), uri], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    with child.stdout, autolog.Client(uri) as client:
        run_id = child.stdout.readline().strip()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            record = client.store.get_model_files(run_id, "model")
            if record is not None and incomplete_model("model", record):
                break
            time.sleep(0.002)
        child.send_signal(signal.SIGKILL)  # the replacing model's files are being written
        child.wait(30)
        record = client.store.get_model_files(run_id, "model")
        assert record is not None
        assert incomplete_model("model", record)
        with pytest.raises(IncompleteModelError, match="incomplete"):
            client.load_model(f"runs:/{run_id}/model")
        with pytest.raises(RunStateError, match="incomplete"):
            client.register_model(f"runs:/{run_id}/model", "killed")
        assert ".autolog-incomplete" not in str(client.list_artifacts(run_id, "model"))
        app = create_app(uri, (tmp_path / "served").as_uri())
        with TestClient(app, base_url="http://127.0.0.1") as web:
            listed = web.get(f"/api/v1/runs/{run_id}/logged-models")
            assert listed.status_code == 200, listed.text
            assert listed.json()["models"] == []


def test_a_model_logged_again_at_once_loads_as_the_last_one(tmp_path: Path) -> None:
    # The first model's record is queued behind its files; the second's is written before
    # its files: written after it, the first record would name files the second replaced.
    with autolog.Client(f"sqlite:///{tmp_path}/runs.db") as client:
        run_id = client.create_run("e").info.run_id
        assert client.flush(30)  # the run is stored: the second model's job need not wait
        for version in range(5):
            client.log_model(run_id, {"version": version}, "model")
        assert client.flush(30)
        assert client.load_model(f"runs:/{run_id}/model") == {"version": 4}
        client.set_terminated(run_id)


# --------------------------------------------------------------------------------------------
# 8. a deleted SQLite database keeps the live run
# --------------------------------------------------------------------------------------------


def test_a_sqlite_file_deleted_mid_run_keeps_the_live_run_and_says_so_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gone.db"
    autolog.set_tracking_uri(f"sqlite:///{path}")
    autolog.set_experiment("vision")
    with autolog.start_run(run_name="kept", tags={"team": "a"}) as run:
        run_id = run.info.run_id
        autolog.log_param("lr", 0.1)
        autolog.set_tag("phase", "one")
        autolog.log_metric("m", 1.0)
        autolog.flush()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for step in range(1, 41):
                autolog.log_metric("m", float(step + 1), step=step)
                autolog.log_param(f"p{step}", step)
                autolog.set_tag(f"t{step}", step)
            autolog.flush(timeout=30)
    messages = [str(w.message) for w in caught if issubclass(w.category, AutologWarning)]
    assert len(messages) == 1, messages
    assert "deleted or replaced" in messages[0]
    assert "created again" in messages[0]
    assert path.exists()
    stored = autolog.get_run(run_id)
    assert stored.info.status is RunStatus.FINISHED
    assert stored.info.run_name == "kept"
    with autolog.Client(f"sqlite:///{path}") as reader:
        experiments = reader.list_experiments()
    assert [e.name for e in experiments if e.experiment_id == stored.info.experiment_id] == [
        "vision"
    ]
    assert stored.data.params["lr"] == "0.1"
    assert stored.data.params["p40"] == "40"
    assert stored.data.tags["team"] == "a"
    assert stored.data.tags["phase"] == "one"
    assert stored.data.tags["t40"] == "40"
    history = autolog.get_metric_history(run_id, "m")
    assert [m.step for m in history] == list(range(1, 41))  # step 0 was in the lost file


def test_a_run_ended_before_the_deletion_was_found_is_created_again(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    autolog.set_tracking_uri(f"sqlite:///{path}")
    run = autolog.start_run(run_name="short")
    autolog.log_metric("m", 1.0)
    autolog.flush()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        autolog.log_metric("m", 2.0)
        autolog.end_run()  # ended before the writer finds the file gone
        autolog.flush(timeout=30)
    messages = [str(w.message) for w in caught if issubclass(w.category, AutologWarning)]
    assert len(messages) == 1, messages
    assert "1 live run(s)" in messages[0]
    stored = autolog.get_run(run.info.run_id)
    assert stored.info.status is RunStatus.FINISHED
    assert stored.info.run_name == "short"
    assert stored.data.metrics == {"m": 2.0}


def test_a_replacement_found_by_a_read_creates_the_live_run_again(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    uri = f"sqlite:///{path}"
    with autolog.Client(uri) as client:
        run_id = client.create_run("e", run_name="r").info.run_id
        client.log_param(run_id, "a", 1)
        assert client.flush(30)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        with pytest.warns(AutologWarning, match="created again"):
            found = client.search_runs()  # the read finds the file gone
        assert [r.info.run_id for r in found] == [run_id]
        client.log_metric(run_id, "m", 2.0)
        client.set_terminated(run_id)
        run = client.get_run(run_id)
    assert run.data.params == {"a": "1"}
    assert run.data.metrics == {"m": 2.0}
    assert run.info.status is RunStatus.FINISHED


# --------------------------------------------------------------------------------------------
# 11. consistency at the edges
# --------------------------------------------------------------------------------------------


def test_an_experiment_id_given_as_a_name_is_refused_naming_both(tmp_path: Path) -> None:
    with autolog.Client(f"sqlite:///{tmp_path}/runs.db") as client:
        default = client.get_or_create_experiment("Default").experiment_id
        with pytest.raises(InvalidInputError, match=rf"experiment_id={default!r}"):
            client.create_run(experiment_name=default)
        with pytest.raises(InvalidInputError, match=r"experiment_id"):
            client.search_runs(experiment_names=[default])
        assert client.get_experiment_by_name(default) is None  # nothing was created
        # an experiment that really has that name is found by it
        named = client.get_or_create_experiment("123456")
        run = client.create_run(experiment_name="123456")
        client.set_terminated(run.info.run_id)
        assert run.info.experiment_id == named.experiment_id
        assert [r.info.run_id for r in client.search_runs(experiment_names="123456")] == [
            run.info.run_id
        ]


def test_a_nested_run_started_on_a_worker_thread_is_a_child_of_the_main_threads_run() -> None:
    with autolog.start_run() as parent:
        children: list[str] = []

        def work() -> None:
            with autolog.start_run(nested=True) as child:
                children.append(child.info.run_id)

        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
    child_run = autolog.get_run(children[0])
    assert child_run.info.parent_run_id == parent.info.run_id
    assert child_run.info.experiment_id == parent.info.experiment_id
    assert autolog.active_run() is None


def _interrupt(X: object) -> object:
    raise KeyboardInterrupt


def test_a_keyboard_interrupt_ends_a_scikit_learn_run_killed() -> None:
    pytest.importorskip("sklearn")
    import numpy as np
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    autolog.autolog(integrations=["sklearn"])
    try:
        model = make_pipeline(FunctionTransformer(_interrupt), LinearRegression())
        with pytest.raises(KeyboardInterrupt):
            model.fit(np.zeros((4, 1)), np.zeros(4))
        autolog.flush()
        runs = autolog.search_runs()
    finally:
        autolog.autolog(disable=True)
    assert [r.info.status for r in runs] == [RunStatus.KILLED]


def _without_write_permission() -> list[str]:
    """A command prefix under which root too is refused writes to read-only files."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: read-only files are writable")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "file"])
def test_a_read_only_store_is_named_in_the_exit_report(tmp_path: Path, kind: str) -> None:
    target = tmp_path / ("runs.db" if kind == "sqlite" else "runs")
    uri = f"sqlite:///{target}" if kind == "sqlite" else target.as_uri()
    with autolog.Client(uri) as client:
        client.set_terminated(client.create_run("e").info.run_id)
    for path in [target, *target.rglob("*")] if target.is_dir() else [target]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    script = tmp_path / "log.py"
    script.write_text(
        "import autolog, sys\n"
        "autolog.set_tracking_uri(sys.argv[1])\n"
        "autolog.start_run()\n"
        "for i in range(10):\n"
        "    autolog.log_metric('m', float(i))\n"
    )
    try:
        done = subprocess.run(
            [*_without_write_permission(), sys.executable, str(script), uri],
            check=False,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "AUTOLOG_EXIT_TIMEOUT": "3", "PYTHONWARNINGS": "ignore"},
        )
    finally:
        for path in [target, *target.rglob("*")] if target.is_dir() else [target]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    report = [line for line in done.stderr.splitlines() if line.startswith("autolog:")]
    assert report, done.stderr
    assert not any("slow or stalled" in line for line in report), report
    assert any("readonly" in line or "Permission denied" in line for line in report), report
    assert not any(line.startswith("autolog: written to") for line in report), report
