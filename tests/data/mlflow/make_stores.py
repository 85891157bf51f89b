"""Make the small MLflow tracking stores that tests/test_import_mlflow.py imports.

Run once with a real MLflow, in a virtualenv outside the repository (autolog itself never
needs mlflow)::

    python3 -m venv /tmp/mlflow-venv && /tmp/mlflow-venv/bin/pip install mlflow
    /tmp/mlflow-venv/bin/python tests/data/mlflow/make_stores.py

It writes ``mlruns/`` (MLflow's file store) and ``sqlite/`` (``mlflow.db`` and its artifact
folder) beside this file, with the same content: experiments (one deleted), nested runs in
every status (one deleted), params, tags, metric histories (a NaN, a repeated step, 1,000
points) and artifacts. Both are built in a temporary folder and moved here, so the artifact
locations MLflow recorded point to a folder that no longer exists, as in a store that was
copied from another machine.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps it, in maintenance

import mlflow
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


if __name__ == "__main__":
    build("file")
    build("sqlite")
    print("mlflow", mlflow.__version__)
