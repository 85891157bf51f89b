"""Make the small MLflow tracking stores that tests/test_import_mlflow.py imports.

Run once with a real MLflow, in a virtualenv outside the repository (autolog itself never
needs mlflow)::

    python3 -m venv /tmp/mlflow-venv && /tmp/mlflow-venv/bin/pip install mlflow
    /tmp/mlflow-venv/bin/python tests/data/mlflow/make_stores.py
    /tmp/mlflow-venv/bin/pip install scikit-learn==1.9.1  # as autolog's tests have
    /tmp/mlflow-venv/bin/python tests/data/mlflow/make_stores.py registry

It writes ``mlruns/`` (MLflow's file store) and ``sqlite/`` (``mlflow.db`` and its artifact
folder) beside this file, with the same content: experiments (one deleted), nested runs in
every status (one deleted), params, tags, metric histories (a NaN, a repeated step, 1,000
points) and artifacts. Both are built in a temporary folder and moved here, so the artifact
locations MLflow recorded point to a folder that no longer exists, as in a store that was
copied from another machine.

With ``registry``, it writes ``registry/`` instead (tests/test_import_mlflow_models.py):
an MLflow SQLite store with models and a model registry, from ``populate_registry``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps it, in maintenance

import mlflow
import mlflow.pyfunc
from mlflow.tracking import MlflowClient

HERE = Path(__file__).resolve().parent


def populate(client: MlflowClient) -> None:
    default_run = client.create_run("0", run_name="default-run")
    client.log_param(default_run.info.run_id, "alpha", "1")
    client.log_metric(default_run.info.run_id, "score", 0.5, step=0)
    client.set_terminated(default_run.info.run_id, "FINISHED")

    mnist = client.create_experiment("mnist")
    parent = client.create_run(mnist, run_name="search", tags={"team": "vision"})
    parent_id = parent.info.run_id
    client.log_param(parent_id, "lr", "0.1")
    client.log_param(parent_id, "opt/name", "sgd")
    client.set_tag(parent_id, "stage", "dev")
    base = int(time.time() * 1000) - 60_000
    for step in range(5):
        client.log_metric(parent_id, "loss", 1.0 / (step + 1), timestamp=base + step, step=step)
    client.log_metric(parent_id, "acc", 0.5, timestamp=base, step=0)
    client.log_metric(parent_id, "acc", float("nan"), timestamp=base + 1, step=1)
    client.log_metric(parent_id, "acc", 0.7, timestamp=base + 2, step=1)  # the same step again
    client.log_metric(parent_id, "acc", 0.9, timestamp=base + 3, step=2)
    for step in range(1000):
        client.log_metric(parent_id, "curve", step * 0.001, timestamp=base + step, step=step)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "model").mkdir()
        (Path(folder) / "model" / "weights.bin").write_bytes(bytes(range(256)) * 4)
        (Path(folder) / "notes.txt").write_text("trained on mnist\n")
        client.log_artifacts(parent_id, folder)
    client.set_terminated(parent_id, "FINISHED")

    for i, status in enumerate(["FINISHED", "FAILED"]):
        child = client.create_run(
            mnist, run_name=f"trial-{i}", tags={"mlflow.parentRunId": parent_id}
        )
        client.log_param(child.info.run_id, "lr", str(0.1 / (i + 1)))
        client.log_metric(child.info.run_id, "loss", 0.3 + i, step=0)
        client.set_terminated(child.info.run_id, status)

    killed = client.create_run(mnist, run_name="killed")
    client.set_terminated(killed.info.run_id, "KILLED")
    client.create_run(mnist, run_name="still-running")  # never ended
    deleted = client.create_run(mnist, run_name="deleted-run")
    client.set_terminated(deleted.info.run_id, "FINISHED")
    client.delete_run(deleted.info.run_id)

    old = client.create_experiment("old")
    old_run = client.create_run(old, run_name="in-old")
    client.set_terminated(old_run.info.run_id, "FINISHED")
    client.delete_experiment(old)


def build(kind: str) -> None:
    target = HERE / ("mlruns" if kind == "file" else "sqlite")
    shutil.rmtree(target, ignore_errors=True)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder) / "store"
        work.mkdir()
        os.chdir(work)
        uri = (work / "mlruns").as_uri() if kind == "file" else f"sqlite:///{work / 'mlflow.db'}"
        mlflow.set_tracking_uri(uri)
        client = MlflowClient(uri)
        if kind == "sqlite":
            client.get_experiment("0")  # creates the tables and the Default experiment
        populate(client)
        os.chdir(HERE)
        if kind == "file":
            shutil.move(str(work / "mlruns"), target)
        else:
            shutil.move(str(work), target)


#: the tiny training data of the registry's models (tests/test_import_mlflow_models.py
#: trains the same model again for the predictions it expects)
TRAIN_X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]
TRAIN_Y = [0, 0, 0, 1, 1, 1]


def populate_registry(client: MlflowClient) -> None:
    """Models as MLflow 3 logs them (a logged model beside its run), an MLflow model folder in
    a run's artifacts, a model without an autolog flavor (pyfunc), and a registry over them:
    versions, aliases, tags and descriptions, and a version whose source is not on this
    machine."""
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(TRAIN_X, TRAIN_Y)
    experiment = client.create_experiment("models")
    with mlflow.start_run(experiment_id=experiment, run_name="train") as run:
        mlflow.log_param("C", "1.0")
        pickled = mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE  # MLflow 3.x's default: skops
        logged = mlflow.sklearn.log_model(model, name="model", serialization_format=pickled)
        with tempfile.TemporaryDirectory() as folder:
            mlflow.sklearn.save_model(model, Path(folder) / "clf", serialization_format=pickled)
            mlflow.log_artifacts(folder)
        mlflow.pyfunc.log_model(name="custom", python_model=_Constant())
    run_id = run.info.run_id
    client.create_registered_model("iris-lr", tags={"team": "ml"}, description="a tiny model")
    first = client.create_model_version("iris-lr", logged.model_uri, run_id)
    second = client.create_model_version("iris-lr", f"runs:/{run_id}/clf", run_id)
    client.create_model_version("iris-lr", "s3://elsewhere/model", None)  # not imported
    client.update_model_version("iris-lr", first.version, "the first")
    client.set_model_version_tag("iris-lr", second.version, "validated", "yes")
    client.set_registered_model_alias("iris-lr", "champion", second.version)
    client.set_registered_model_alias("iris-lr", "first", first.version)


class _Constant(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """A pyfunc model (no autolog flavor: the import skips it)."""

    def predict(self, context: object, model_input: object) -> list[int]:
        return [0]


def build_registry(kind: str) -> None:
    """``registry/sqlite`` (``mlflow.db`` and its artifacts) or ``registry/file`` (``mlruns``,
    the registry in its ``models`` folder), with the same content."""
    target = HERE / "registry" / kind
    shutil.rmtree(target, ignore_errors=True)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder) / "store"
        work.mkdir()
        os.chdir(work)
        uri = (work / "mlruns").as_uri() if kind == "file" else f"sqlite:///{work / 'mlflow.db'}"
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        client = MlflowClient(uri, registry_uri=uri)
        client.get_experiment("0")
        populate_registry(client)
        if kind == "sqlite":
            with sqlite3.connect(work / "mlflow.db") as db:
                db.execute("VACUUM")
        os.chdir(HERE)
        shutil.move(str(work), target)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["registry"]:
        build_registry("sqlite")
        build_registry("file")
    else:
        build("file")
        build("sqlite")
    print("mlflow", mlflow.__version__)
