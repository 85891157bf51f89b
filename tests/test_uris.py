"""Tracking URIs mean what SQLAlchemy and MLflow users expect: ``sqlite:///runs.db`` is
``runs.db`` in the working folder, ``sqlite:////srv/runs.db`` (four slashes) an absolute file.

The examples the README and ``--help`` give are run here as written, each in a fresh working
folder: the database lands there, never at the filesystem root, and what a command shows
back is the absolute URI.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from servers import AUTOLOG, ServerProcess, _close_pipes, _Output

import autolog
from autolog.cli._group import root
from autolog.errors import InvalidURIError
from autolog.stores.base import check_uri, open_store
from autolog.stores.uris import absolute_uri, sqlite_path

MLFLOW_SQLITE = Path(__file__).parent / "data" / "mlflow" / "sqlite"


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("sqlite:///runs.db", "runs.db"),
        ("sqlite:///sub/dir/runs.db", "sub/dir/runs.db"),
        ("sqlite:////srv/autolog/runs.db", "/srv/autolog/runs.db"),
        ("sqlite://localhost/runs.db", "runs.db"),
        ("sqlite:///C:/Users/me/runs.db", "C:/Users/me/runs.db"),  # a Windows drive, as today
        ("sqlite:///my%20runs.db", "my runs.db"),
        ("sqlite://", ":memory:"),
        ("sqlite:///", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_sqlite_uris_follow_sqlalchemy(uri: str, path: str) -> None:
    assert sqlite_path(uri) == path
    check_uri(uri)


def test_a_sqlite_uri_with_a_host_is_refused_with_both_forms() -> None:
    with pytest.raises(InvalidURIError) as caught:
        sqlite_path("sqlite://server/runs.db")
    assert "sqlite:///relative.db" in str(caught.value)
    assert "sqlite:////absolute/path.db" in str(caught.value)


def test_absolute_uri_takes_relative_paths_against_the_working_folder(tmp_path: Path) -> None:
    here = tmp_path.resolve()
    assert absolute_uri("sqlite:///runs.db") == f"sqlite:///{here}/runs.db"
    assert absolute_uri("sqlite:///runs.db").startswith("sqlite:////")
    assert absolute_uri("sqlite:////srv/x.db") == "sqlite:////srv/x.db"
    assert absolute_uri("sqlite:///a%3Fb.db") == f"sqlite:///{here}/a%3Fb.db"  # stays quoted
    assert sqlite_path(absolute_uri("sqlite:///a%3Fb.db")) == f"{here}/a?b.db"
    assert absolute_uri("sqlite://") == "sqlite://"
    assert absolute_uri("runs") == (here / "runs").as_uri()
    assert absolute_uri("./runs") == (here / "runs").as_uri()
    assert absolute_uri("file:runs") == (here / "runs").as_uri()
    assert absolute_uri("file:///srv/runs") == "file:///srv/runs"
    for unchanged in ("http://127.0.0.1:5000", "postgresql://u@db/x", "memory:"):
        assert absolute_uri(unchanged) == unchanged


def test_open_store_puts_a_three_slash_database_in_the_working_folder(tmp_path: Path) -> None:
    before = Path("/probe-runs.db").exists()
    store = open_store("sqlite:///probe-runs.db")
    try:
        store.get_or_create_experiment("x")
        assert store.artifact_root == (tmp_path.resolve() / "artifacts").as_uri()
    finally:
        store.close()
    assert (tmp_path / "probe-runs.db").is_file()
    assert Path("/probe-runs.db").exists() == before
    absolute = tmp_path / "elsewhere" / "abs.db"
    absolute.parent.mkdir()
    store = open_store(f"sqlite:///{absolute}")  # four slashes: this very file
    try:
        store.get_or_create_experiment("x")
    finally:
        store.close()
    assert absolute.is_file()


def test_client_and_the_environment_read_uris_relative_to_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with autolog.Client("sqlite:///client.db") as client:
        run = client.create_run("e")
        monkeypatch.chdir(tmp_path.parent)  # the store is opened later, on another thread
        client.log_metric(run.info.run_id, "m", 1.0)
        client.set_terminated(run.info.run_id)
        client.flush()
    monkeypatch.chdir(tmp_path)
    assert (tmp_path / "client.db").is_file()
    assert not (tmp_path.parent / "client.db").exists()

    monkeypatch.setenv("AUTOLOG_TRACKING_URI", "sqlite:///env.db")
    assert autolog.get_tracking_uri() == f"sqlite:///{tmp_path.resolve()}/env.db"
    with autolog.start_run():
        autolog.log_param("p", "1")
    autolog.flush()
    assert (tmp_path / "env.db").is_file()


@pytest.mark.parametrize("uri", ["file:files-store", "./plain-store"])
def test_file_store_uris_are_relative_too(tmp_path: Path, uri: str) -> None:
    with autolog.Client(uri) as client:
        run = client.create_run("e")
        client.set_terminated(run.info.run_id)
        client.flush()
        assert client.get_run(run.info.run_id).info.artifact_uri.startswith(
            (tmp_path.resolve() / uri.removeprefix("file:").removeprefix("./")).as_uri()
        )
    assert (tmp_path / uri.removeprefix("file:").removeprefix("./") / "0").is_dir()


def _mlflow_db(folder: Path) -> None:
    shutil.copytree(MLFLOW_SQLITE, folder, dirs_exist_ok=True)


@pytest.mark.parametrize(
    "args",
    [
        # `autolog import-mlflow --help`, as written
        ["import-mlflow", "mlflow.db", "--tracking-uri", "sqlite:///team.db"],
        # the URI every MLflow user has
        ["import-mlflow", "sqlite:///mlflow.db", "--tracking-uri", "sqlite:///team.db"],
    ],
)
def test_import_mlflow_examples_as_written(tmp_path: Path, args: list[str]) -> None:
    _mlflow_db(tmp_path)
    done = CliRunner().invoke(root, args)
    assert done.exit_code == 0, done.output
    assert "imported 6 runs" in done.stdout
    with sqlite3.connect(tmp_path / "team.db") as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 6


@pytest.mark.slow
@pytest.mark.server
def test_server_shows_and_serves_the_database_of_a_relative_uri(tmp_path: Path) -> None:
    server = ServerProcess(["--backend-store-uri", "sqlite:///srv.db", "--port", "0"], tmp_path)
    try:
        with autolog.Client(server.url) as client:
            run = client.create_run("served")
            client.set_terminated(run.info.run_id)
            assert client.flush(10)
    finally:
        server.stop()
    here = tmp_path.resolve()
    assert f"store:     sqlite:///{here}/srv.db" in server.stdout.text
    assert f"artifacts: {(here / 'artifacts').as_uri()}" in server.stdout.text
    assert (tmp_path / "srv.db").is_file()


@pytest.mark.slow
@pytest.mark.server
def test_the_readme_ui_example_runs_in_the_working_folder(tmp_path: Path) -> None:
    # the README's and `autolog ui --help`'s example, with a free port for 8080
    args = ["ui", "--backend-store-uri", "sqlite:///runs.db", "--port", "0", "--no-browser"]
    process = subprocess.Popen(
        [AUTOLOG, *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        output = _Output(process.stdout)
        output.wait_for(lambda line: line.startswith("autolog UI at "), process, "autolog ui")
        assert (tmp_path / "runs.db").is_file()
    finally:
        process.terminate()
        process.wait(30)
        _close_pipes(process)
