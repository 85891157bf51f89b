"""The runs the web UI tests look at, written once per session through the public Client.

Everything a page shows is here: params, curves with known values, a spike in a long series,
a parent with children, every kind of artifact (HTML and SVG ones that would run script if a
page ever rendered them), a logged and registered model, and a run whose name is markup.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import autolog
from autolog.entities import Metric

XSS_NAME = "<img src=x onerror=alert(1)>"
SPIKE_STEP = 123_457
SPIKE_VALUE = 1_000.0
LONG_POINTS = 300_000
LOSSES = [round(1.0 / (step + 1), 6) for step in range(40)]


@dataclass
class Seeded:
    experiment_id: str
    runs: dict[str, str] = field(default_factory=dict)  # name -> run id


def tiny_png() -> bytes:
    """A 3x2 PNG, red and blue."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes([255, 0, 0, 0, 0, 255, 255, 0, 0]) for _ in range(2))
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", struct.pack(">IIBBBBB", 3, 2, 8, 2, 0, 0, 0)),
            chunk(b"IDAT", zlib.compress(rows)),
            chunk(b"IEND", b""),
        ]
    )


def artifact_files(folder: Path) -> dict[str, Path]:
    """One file of each kind a run may keep."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "notes.txt": "line one\nsecond line <b>not bold</b>\n",
        "train.log": "epoch 1 loss 0.5\nepoch 2 loss 0.25\n",
        "data.json": json.dumps({"alpha": [1, 2, 3], "nested": {"markup": "<i>x</i>"}}),
        "table.csv": 'name,score,comment\nalpha,0.9,"has, comma"\nbeta,0.8,"say ""hi"""\n',
        "page.html": "<html><body><h1>pwned</h1><script>alert('html')</script></body></html>",
        "icon.svg": (
            '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="4"/></svg>'
        ),
    }
    paths = {}
    for name, text in files.items():
        (folder / name).write_text(text)
        paths[name] = folder / name
    (folder / "image.png").write_bytes(tiny_png())
    paths["image.png"] = folder / "image.png"
    (folder / "blob.bin").write_bytes(bytes(range(256)) * 4)
    paths["blob.bin"] = folder / "blob.bin"
    return paths


def seed(tracking_uri: str, scratch: Path) -> Seeded:
    """Write the runs into the store at ``tracking_uri``; every run ends FINISHED."""
    with autolog.Client(tracking_uri) as client:
        experiment = client.get_or_create_experiment("ui-tests")
        seeded = Seeded(experiment.experiment_id)

        def run(name: str, params: dict[str, object], parent: str | None = None) -> str:
            created = client.create_run(
                experiment_id=experiment.experiment_id, run_name=name, parent_run_id=parent
            )
            client.log_params(created.info.run_id, params)
            seeded.runs[name] = created.info.run_id
            return created.info.run_id

        alpha = run("alpha", {"lr": 0.1, "model": "rf", "depth": 3})
        for step, loss in enumerate(LOSSES):
            client.log_metric(alpha, "loss", loss, step=step)
            client.log_metric(alpha, "acc", 1.0 - loss / 2, step=step)
        for step, value in enumerate([1.0, math.nan, math.inf, -math.inf, 2.0]):
            client.log_metric(alpha, "special", value, step=step)
        for name, path in artifact_files(scratch / "artifacts").items():
            client.log_artifact(alpha, path, "files" if name == "blob.bin" else None)
        client.log_model(alpha, {"weights": [1, 2, 3]})

        beta = run("beta", {"lr": 0.01, "model": "gbm", "depth": 3})
        for step, loss in enumerate(LOSSES):
            client.log_metric(beta, "loss", loss * 1.5, step=step)
            client.log_metric(beta, "acc", 1.0 - loss, step=step)

        run(XSS_NAME, {"note": XSS_NAME})

        parent = run("parent", {"search": "grid"})
        for i in range(2):
            child = run(f"child-{i}", {"C": i}, parent=parent)
            client.log_metric(child, "score", 0.5 + i / 10)

        spiky = run("spiky", {})
        client.flush()
        values = [math.sin(step / 5_000) for step in range(LONG_POINTS)]
        values[SPIKE_STEP] = SPIKE_VALUE
        # one batch straight to the store: the writer would do the same, only slower
        client.store.log_batch(
            spiky,
            [Metric("signal", v, step, 1_700_000_000_000 + step) for step, v in enumerate(values)],
        )
        for run_id in seeded.runs.values():
            client.set_terminated(run_id)
        client.flush()
        version = client.register_model(f"runs:/{alpha}/model", "ui-model")
        client.set_model_alias("ui-model", "champion", version.version)
    return seeded


# ------------------------------------------------------------- a LightGBM-like sweep (engineer E)

#: the sweep's params: three swept (most telling first), the rest the same in every run
SWEEP_GRID = [
    {"num_leaves": leaves, "learning_rate": rate, "boosting_type": boosting}
    for rate, boosting in ((0.05, "gbdt"), (0.1, "dart"))
    for leaves in (15, 31, 63)
]
SWEEP_GRID[5]["boosting_type"] = "gbdt"  # two dart runs of six: less telling than the rate
SWEEP_CONSTANTS: dict[str, object] = {
    "alpha": 0.0,
    "bagging_by_query": False,
    "bagging_fraction": 1.0,
    "bagging_freq": 0,
    "feature_fraction": 1.0,
    "min_data_in_leaf": 20,
    "objective": "binary",
}
SWEEP_ITERATIONS = 5


def seed_sweep(tracking_uri: str) -> Seeded:
    """A sweep in its own experiment, ``ui-sweep``: six runs of SWEEP_GRID, each with two
    curves (``valid_auc``, ``training_logloss``) and three single values (``test_auc`` and
    ``best_iteration`` differ, ``n_features`` does not)."""
    with autolog.Client(tracking_uri) as client:
        experiment = client.get_or_create_experiment("ui-sweep")
        seeded = Seeded(experiment.experiment_id)
        for n, swept in enumerate(SWEEP_GRID):
            run = client.create_run(experiment_id=experiment.experiment_id, run_name=f"sweep-{n}")
            run_id = run.info.run_id
            client.log_params(run_id, {**SWEEP_CONSTANTS, **swept})
            for step in range(SWEEP_ITERATIONS):
                client.log_metric(run_id, "valid_auc", 0.6 + n / 100 + step / 50, step=step)
                client.log_metric(run_id, "training_logloss", 0.7 - n / 100 - step / 20, step=step)
            client.log_metric(run_id, "test_auc", 0.7 + n / 50)
            client.log_metric(run_id, "best_iteration", 10 + 3 * n)
            client.log_metric(run_id, "n_features", 20)
            client.set_terminated(run_id)
            seeded.runs[run.info.run_name] = run_id
        client.flush()
    return seeded
