"""The server over the backends a team shares: artifacts in S3 (moto's server mode on
loopback, boto3 unchanged) and runs in PostgreSQL, served by several processes at once."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the tracking server needs the server extra")

import httpx
from servers import ServerProcess, moto_s3

import autolog
from autolog.entities import Metric, RunStatus
from autolog.stores.rest import RestStore

pytestmark = pytest.mark.server
T0 = 1_700_000_000_000
BUCKET = "autolog-artifacts"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """moto's S3 server on a loopback port, with one bucket; the environment boto3 needs."""
    boto3 = pytest.importorskip("boto3")
    pytest.importorskip("moto")
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with moto_s3(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=BUCKET)
        yield {**env, "AWS_ENDPOINT_URL": endpoint, "endpoint": endpoint}


def _bucket(s3: dict[str, str]) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3["endpoint"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def _keys(s3: dict[str, str], prefix: str) -> dict[str, int]:
    pages = _bucket(s3).get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {item["Key"]: item["Size"] for page in pages for item in page.get("Contents", [])}


@pytest.fixture(scope="module")
def s3_server(
    s3: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("s3-server")
    env = {k: v for k, v in s3.items() if k.startswith("AWS_")}
    server = ServerProcess(
        [
            "--port",
            "0",
            "--backend-store-uri",
            f"sqlite:///{root}/autolog.db",
            "--artifacts-destination",
            f"s3://{BUCKET}/team",
        ],
        cwd=root,
        env=env,
    )
    try:
        yield server
    finally:
        server.stop()


def test_artifacts_go_to_s3_through_the_server(
    s3_server: ServerProcess, s3: dict[str, str], tmp_path: Path
) -> None:
    # the client has no cloud credentials: the server holds them
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert name not in os.environ
    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(20 * 1024 * 1024))  # parts of 8 MiB on the server's side
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    autolog.set_tracking_uri(s3_server.url)
    with autolog.start_run() as run:
        autolog.log_artifact(big, "checkpoints")
        autolog.log_artifacts(folder, "plots")
        uri = autolog.log_model({"in": "s3"})
    run_id = run.info.run_id
    # the model's files are written in the background: wait for them before looking in S3
    autolog.flush()

    keys = _keys(s3, "team/")
    mine = {key.split(f"/{run_id}/artifacts/", 1)[1]: size for key, size in keys.items()}
    assert mine["checkpoints/weights.bin"] == 20 * 1024 * 1024
    assert {"plots/a.txt", "plots/sub/b.txt", "model/model.pkl"} <= set(mine)
    assert [f.path for f in autolog.list_artifacts(run_id)] == ["checkpoints", "model", "plots"]
    assert [f.path for f in autolog.list_artifacts(run_id, "plots")] == ["plots/a.txt", "plots/sub"]
    copy = Path(autolog.download_artifacts(run_id, "checkpoints/weights.bin", tmp_path / "out"))
    assert hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(big.read_bytes()).digest()
    tree = Path(autolog.download_artifacts(run_id, "plots", tmp_path / "tree"))
    assert (tree / "sub" / "b.txt").read_text() == "b"
    assert autolog.load_model(uri) == {"in": "s3"}

    autolog.delete_run(run_id)
    with RestStore(s3_server.url) as store:
        store.purge_run(run_id)
    assert not [key for key in _keys(s3, "team/") if f"/{run_id}/" in key]


def test_an_s3_upload_that_does_not_match_leaves_no_object(
    s3_server: ServerProcess, s3: dict[str, str]
) -> None:
    with RestStore(s3_server.url) as store:
        experiment = store.get_or_create_experiment("s3")
        run_id = os.urandom(16).hex()
        store.create_run(run_id, experiment.experiment_id, "r", T0, "x", None, {})
    data = os.urandom(9 * 1024 * 1024)  # a multipart upload, aborted
    answer = httpx.put(
        f"{s3_server.url}/api/v1/runs/{run_id}/artifacts/big.bin",
        content=data,
        headers={"X-Content-SHA256": "0" * 64},
        timeout=60,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "sha256_mismatch"
    assert not [key for key in _keys(s3, "team/") if f"/{run_id}/" in key]
    uploads = _bucket(s3).list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert not [u for u in uploads if run_id in u["Key"]]


def test_an_unreachable_bucket_is_one_line(s3: dict[str, str], tmp_path: Path) -> None:
    env = {**os.environ, **{k: v for k, v in s3.items() if k.startswith("AWS_")}}
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("autolog")),
            "server",
            "--port",
            "0",
            "--artifacts-destination",
            "s3://no-such-bucket/x",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "no-such-bucket" in lines[0]
    assert "Traceback" not in done.stderr


# --------------------------------------------------------------------------------------------
# PostgreSQL: several server processes on one database
# --------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_two_servers_and_workers_on_one_database_lose_nothing(
    postgres_uri: str, tmp_path: Path
) -> None:
    pytest.importorskip("psycopg")
    artifacts = tmp_path / "artifacts"
    common = ["--port", "0", "--backend-store-uri", postgres_uri]
    servers = [
        ServerProcess([*common, "--artifacts-destination", str(artifacts)], tmp_path),
        ServerProcess(
            [*common, "--artifacts-destination", str(artifacts), "--workers", "2"], tmp_path
        ),
    ]
    try:
        urls = [server.url for server in servers]
        runs = []
        with RestStore(urls[0]) as store:
            experiment = store.get_or_create_experiment("shared")
            for i in range(4):
                runs.append(os.urandom(16).hex())
                store.create_run(runs[-1], experiment.experiment_id, f"r{i}", T0 + i, "x", None, {})
        errors: list[BaseException] = []
        batches = 20

        def client(index: int) -> None:
            try:
                stores = [RestStore(url) for url in urls]
                run_id = runs[index]
                for b in range(batches):
                    # batches alternate between the servers (and the second one's workers)
                    store = stores[b % 2]
                    metrics = [Metric("m", float(b * 100 + i), b * 100 + i, T0) for i in range(100)]
                    store.log_batch(run_id, metrics)
                    # only a model that log_model recorded may be registered
                    store.record_model(run_id, f"m{b}", {f"m{b}/model.pkl": "0" * 64})
                    store.create_model_version("shared-model", f"runs:/{run_id}/m{b}", run_id)
                    store.get_or_create_experiment("made-concurrently")
                for store in stores:
                    store.close()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not errors, errors
        with RestStore(urls[1]) as store:
            for run_id in runs:
                history = store.get_metric_history(run_id, "m")
                assert [m.step for m in history] == list(range(batches * 100))
            versions = [store.get_model_version("shared-model", n) for n in range(1, 81)]
            assert len({v.source for v in versions}) == 80
            named = [e for e in store.list_experiments() if e.name == "made-concurrently"]
            assert len(named) == 1
    finally:
        for server in servers:
            server.stop()


@pytest.mark.postgres
def test_the_public_api_over_a_server_on_postgresql(postgres_uri: str, tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    server = ServerProcess(
        ["--port", "0", "--backend-store-uri", postgres_uri, "--artifacts-destination", "art"],
        tmp_path,
    )
    try:
        autolog.set_tracking_uri(server.url)
        with autolog.start_run() as run:
            autolog.log_params({"backend": "postgresql"})
            for step in range(1_000):
                autolog.log_metric("loss", 1 / (step + 1), step=step)
            autolog.log_model({"pg": True})
        stored = autolog.get_run(run.info.run_id)
        assert stored.info.status is RunStatus.FINISHED
        assert len(autolog.get_metric_history(run.info.run_id, "loss")) == 1_000
        assert autolog.load_model(f"runs:/{run.info.run_id}/model") == {"pg": True}
    finally:
        server.stop()


# A store outage behind the server: SQLite locked by someone else (the test holds an exclusive
# transaction). The server waits 0.3 s for the lock instead of SQLite's 30 s, so the outage
# shows at once; a sitecustomize on PYTHONPATH sets that in the server process alone.
_SHORT_LOCK_WAIT = """
import autolog.stores.sql_driver
autolog.stores.sql_driver._BUSY_TIMEOUT_S = 0.3
"""


@pytest.fixture
def lockable_server(tmp_path: Path) -> Iterator[tuple[ServerProcess, Path]]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_SHORT_LOCK_WAIT)
    root = tmp_path / "server"
    root.mkdir()
    database = root / "autolog.db"
    args = [
        "--port", "0",
        "--backend-store-uri", f"sqlite:///{database}",
        "--artifacts-destination", str(root / "artifacts"),
    ]  # fmt: skip
    server = ServerProcess(args, cwd=root, env={"PYTHONPATH": str(site)})
    try:
        yield server, database
    finally:
        server.stop()


def test_a_store_outage_is_answered_503_and_the_client_waits_it_out(
    lockable_server: tuple[ServerProcess, Path], tmp_path: Path
) -> None:
    import sqlite3
    import warnings

    from autolog.stores.spool import spooled_sessions

    server, database = lockable_server
    client = autolog.Client(server.url)
    run_id = client.create_run("Default").info.run_id
    client.log_metric(run_id, "loss", -1.0, step=0)
    assert client.flush(timeout=30)
    lock = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        # the server says what it is: its store is out for now, ask again shortly
        batch = httpx.post(
            f"{server.url}/api/v1/runs/{run_id}/batch",
            json={"metrics": [{"key": "x", "value": 1.0, "timestamp": T0, "step": 0}]},
            timeout=30,
        )
        assert batch.status_code == 503, batch.text
        assert batch.json()["error"]["code"] == "store_unavailable"
        assert batch.headers["Retry-After"] == "1"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for step in range(1, 1_001):
                client.log_metric(run_id, "loss", float(step), step=step)
            releaser = threading.Timer(2.5, lock.execute, ("ROLLBACK",))
            releaser.start()
            stored = client.flush(timeout=30)  # the writer waits the outage out
            releaser.join()
        assert [str(w.message) for w in caught] == []  # no "does not take writes": no spool
    finally:
        lock.close()
    assert stored
    assert list(spooled_sessions(tmp_path / "autolog-runs" / "spool")) == []
    history = client.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(1_001))
    client.close()
