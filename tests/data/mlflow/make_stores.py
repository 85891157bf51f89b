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

With ``flavors``, it writes ``flavors/`` (an MLflow SQLite store, from ``populate_flavors``)
and ``flavors/predictions.json``: LightGBM, XGBoost and PyTorch models as MLflow logs them,
and what MLflow's own loaders predict with each. It needs those libraries, at the versions
autolog's tests have::

    /tmp/mlflow-venv/bin/pip install lightgbm==4.7.0 xgboost-cpu==3.2.0 torch==2.13.0
    /tmp/mlflow-venv/bin/python tests/data/mlflow/make_stores.py flavors

With ``signatures``, it writes ``signatures/`` (an mlruns folder, from
``populate_signatures``): a model of each flavor logged with an input example, so with the
signature MLflow infers from it, and one with a signature given whole, of types and params
autolog's signatures do not have (same libraries as ``flavors``).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

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


#: the data of the flavors' models: 40 rows of two features, a label, and the rows predicted
FLAVOR_X = [[(i % 8) / 4.0, (i * 3 % 5) / 2.0] for i in range(40)]
FLAVOR_Y = [int(a + b > 2.0) for a, b in FLAVOR_X]
PREDICT_X = [[0.0, 0.0], [0.5, 2.0], [1.75, 1.0], [1.0, 1.5], [0.25, 0.5]]


def populate_flavors() -> dict[str, Any]:
    """A run per MLflow flavor, its models logged as MLflow 3 logs them (logged models):
    the ones autolog imports, and one each that it leaves out (a scikit-learn API model
    saved with skops, a module saved as pt2 by torch.export). Returns what MLflow's loaders
    predict on ``PREDICT_X`` with each imported model: the flavor's own (``native``) and
    pyfunc's."""
    import lightgbm
    import mlflow.lightgbm
    import mlflow.pytorch
    import mlflow.xgboost
    import numpy as np
    import torch
    import xgboost

    x = np.array(FLAVOR_X, dtype=np.float64)
    y = np.array(FLAVOR_Y)
    small = {"n_estimators": 4, "num_leaves": 4, "min_child_samples": 2, "verbose": -1}
    predictions: dict[str, Any] = {"input": PREDICT_X, "models": {}}
    logged: dict[str, Any] = {}
    mlflow.set_experiment("flavors")
    with mlflow.start_run(run_name="lightgbm"):
        params = {"objective": "binary", "num_leaves": 4, "min_data_in_leaf": 2, "verbose": -1}
        booster = lightgbm.train(params, lightgbm.Dataset(x, y), num_boost_round=4)
        logged["lightgbm/booster"] = mlflow.lightgbm.log_model(booster, name="booster")
        classifier = lightgbm.LGBMClassifier(**small).fit(x, y)
        logged["lightgbm/classifier"] = mlflow.lightgbm.log_model(
            classifier, name="classifier", serialization_format="cloudpickle"
        )
        mlflow.lightgbm.log_model(classifier, name="skops")  # MLflow 3's default: skops
    with mlflow.start_run(run_name="xgboost"):
        dtrain = xgboost.DMatrix(x, label=y)
        booster = xgboost.train({"objective": "binary:logistic", "max_depth": 2}, dtrain, 4)
        logged["xgboost/booster"] = mlflow.xgboost.log_model(booster, name="booster")  # ubj
        classifier = xgboost.XGBClassifier(n_estimators=4, max_depth=2).fit(x, y)
        logged["xgboost/classifier"] = mlflow.xgboost.log_model(
            classifier, name="classifier", model_format="json"
        )

    class Net(torch.nn.Module):
        """A module defined here, not importable: MLflow pickles its class by value."""

        def __init__(self) -> None:
            super().__init__()
            self.hidden = torch.nn.Linear(2, 4)
            self.out = torch.nn.Linear(4, 1)

        def forward(self, x: Any) -> Any:
            return self.out(self.hidden(x).relu())

    with mlflow.start_run(run_name="pytorch"):
        torch.manual_seed(0)
        net = Net().eval()
        logged["pytorch/module"] = mlflow.pytorch.log_model(
            net, name="module", serialization_format="pickle"
        )
        example = np.array(PREDICT_X[:2], dtype=np.float32)
        mlflow.pytorch.log_model(net, name="exported", input_example=example)  # pt2
    inputs = np.array(PREDICT_X, dtype=np.float64)
    loaders = {"lightgbm": mlflow.lightgbm, "xgboost": mlflow.xgboost, "pytorch": mlflow.pytorch}
    for key, info in logged.items():
        flavor = key.partition("/")[0]
        native = loaders[flavor].load_model(info.model_uri)
        pyfunc = mlflow.pyfunc.load_model(info.model_uri)
        if flavor == "pytorch":
            data = inputs.astype(np.float32)
            with torch.no_grad():
                found = native(torch.from_numpy(data)).numpy()
        elif key == "xgboost/booster":
            data = inputs
            found = native.predict(xgboost.DMatrix(data))
        else:
            data = inputs
            found = native.predict(data)
        predictions["models"][key] = {
            "run_id": info.run_id,
            "native": np.asarray(found).tolist(),
            "pyfunc": np.asarray(pyfunc.predict(data)).tolist(),
        }
    return predictions


def build_flavors() -> None:
    """``flavors/mlruns`` (a file store: an SQLite one is 1 MB of tables, empty) and
    ``flavors/predictions.json``."""
    target = HERE / "flavors"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder) / "store"
        work.mkdir()
        os.chdir(work)
        mlflow.set_tracking_uri((work / "mlruns").as_uri())
        predictions = populate_flavors()
        os.chdir(HERE)
        shutil.move(str(work / "mlruns"), target / "mlruns")
    text = json.dumps(predictions, indent=1, sort_keys=True)
    (target / "predictions.json").write_text(text + "\n")


#: the columns of the signatures' models: one of each type a DataFrame column has
SIGNED_ROWS = 12


def signed_frame() -> Any:
    """``SIGNED_ROWS`` rows of a double, a long, a float and a boolean column."""
    import numpy as np
    import pandas as pd

    return pd.DataFrame(
        {
            "age": [20.0 + 3 * i for i in range(SIGNED_ROWS)],
            "visits": np.array([i % 5 for i in range(SIGNED_ROWS)], dtype=np.int64),
            "score": np.array([(i % 7) / 2 for i in range(SIGNED_ROWS)], dtype=np.float32),
            "member": [i % 3 == 0 for i in range(SIGNED_ROWS)],
        }
    )


def populate_signatures() -> None:
    """A run per flavor, its model logged with an input example of 8 rows (MLflow infers
    the signature from it: columns of a DataFrame, or a tensor of an array), and a run whose
    model's signature is given: an optional column, an Array column and a params schema,
    with an example that has params."""
    import lightgbm
    import mlflow.lightgbm
    import mlflow.pytorch
    import mlflow.sklearn
    import mlflow.xgboost
    import numpy as np
    import torch
    import xgboost
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema
    from mlflow.types.schema import Array
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    frame = signed_frame()
    labels = np.array(
        [int(a > 40 or m) for a, m in zip(frame["age"], frame["member"], strict=True)]
    )
    example = frame.head(8)
    mlflow.set_experiment("signatures")
    pickled = mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE
    with mlflow.start_run(run_name="sklearn"):
        model = LogisticRegression().fit(frame, labels)
        mlflow.sklearn.log_model(
            model, name="model", serialization_format=pickled, input_example=example
        )
    with mlflow.start_run(run_name="lightgbm"):
        params = {"objective": "binary", "num_leaves": 4, "min_data_in_leaf": 2, "verbose": -1}
        booster = lightgbm.train(params, lightgbm.Dataset(frame, labels), num_boost_round=3)
        mlflow.lightgbm.log_model(booster, name="booster", input_example=example)
    with mlflow.start_run(run_name="xgboost"):
        classifier = xgboost.XGBClassifier(n_estimators=3, max_depth=2).fit(frame, labels)
        mlflow.xgboost.log_model(
            classifier, name="classifier", model_format="json", input_example=example
        )
    with mlflow.start_run(run_name="pytorch"):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
        rows = np.array(FLAVOR_X[:8], dtype=np.float32)
        mlflow.pytorch.log_model(
            net.eval(), name="module", serialization_format="pickle", input_example=rows
        )
    signature = ModelSignature(
        inputs=Schema(
            [
                ColSpec(DataType.double, "age"),
                ColSpec(DataType.long, "visits", required=False),
                ColSpec(Array(DataType.string), "tags"),
            ]
        ),
        outputs=Schema([ColSpec(DataType.long, "label")]),
        params=ParamSchema([ParamSpec("threshold", DataType.double, 0.5)]),
    )
    with mlflow.start_run(run_name="unexpressed"):
        columns = ColumnTransformer([("numbers", "passthrough", ["age", "visits"])])
        pipeline = make_pipeline(columns, LogisticRegression())
        pipeline.fit(frame[["age", "visits"]].assign(tags=[["a"]] * SIGNED_ROWS), labels)
        tagged = example[["age", "visits"]].assign(tags=[["a", "b"]] * len(example))
        mlflow.sklearn.log_model(
            pipeline,
            name="model",
            serialization_format=pickled,
            signature=signature,
            input_example=(tagged, {"threshold": 0.5}),
        )


def build_signatures() -> None:
    """``signatures/mlruns`` (a file store)."""
    target = HERE / "signatures"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder) / "store"
        work.mkdir()
        os.chdir(work)
        mlflow.set_tracking_uri((work / "mlruns").as_uri())
        populate_signatures()
        os.chdir(HERE)
        shutil.move(str(work / "mlruns"), target / "mlruns")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["registry"]:
        build_registry("sqlite")
        build_registry("file")
    elif sys.argv[1:] == ["flavors"]:
        build_flavors()
    elif sys.argv[1:] == ["signatures"]:
        build_signatures()
    else:
        build("file")
        build("sqlite")
    print("mlflow", mlflow.__version__)
