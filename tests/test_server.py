"""The tracking server: ``autolog server`` as users run it, the REST API, and the public API
through it (``set_tracking_uri("http://...")``).

Servers are real subprocesses on free loopback ports: the command itself for what concerns
the command, the session's harness (a fresh store per test) for the API.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the tracking server needs the server extra")

import httpx
from servers import AUTOLOG, FaultyProxy, ServerProcess

import autolog
from autolog import wire
from autolog.entities import Metric, Param, RunStatus
from autolog.errors import (
    AutologWarning,
    InvalidFilterError,
    ModelIntegrityError,
    NotFoundError,
    ParamCollisionError,
    StoreError,
)
from autolog.stores.rest import RestStore

pytestmark = pytest.mark.server
T0 = 1_700_000_000_000


def _run_command(*args: str, cwd: Path, timeout: float = 60) -> tuple[int, str, str]:
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "AUTOLOG_TRACKING_URI"}
    done = subprocess.run(
        [AUTOLOG, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def _one_clear_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("autolog server: ")
    return lines[0]


# --------------------------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_server_prints_its_url_serves_and_stops_cleanly(tmp_path: Path, sig: int) -> None:
    server = ServerProcess(["--port", "0"], cwd=tmp_path)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{server.url}/api/v1/health").json() == {}
        info = httpx.get(f"{server.url}/api/v1/server").json()
        # the default: the local default store, artifacts beside it; clients see the root as
        # the server's, never the folder behind it
        assert info["artifact_root"] == "autolog-artifacts:/"
        assert (tmp_path / "autolog-runs" / "autolog.db").exists()
        assert (tmp_path / "autolog-runs" / "artifacts").is_dir()
    finally:
        code = server.stop(sig)
    assert code == 0, server.stderr.text
    assert "autolog server: stopped" in server.stdout.text
    assert "Traceback" not in server.stderr.text


def test_a_wildcard_bind_prints_the_addresses_it_serves() -> None:
    """Bound to 0.0.0.0 (or ::) the server says so and lists this host's addresses; it printed
    http://127.0.0.1:PORT, hiding that it answers on every interface. (No test binds a public
    address: this reads the line the command prints.)"""
    from autolog.cli.server import _serving

    line = _serving("0.0.0.0", 5000)
    assert line.startswith("http://0.0.0.0:5000 (every address of this host: http://127.0.0.1:5000")
    assert _serving("::", 5000).startswith("http://[::]:5000 (every address of this host: ")
    assert "http://[::1]:5000" in _serving("::", 5000)
    assert _serving("127.0.0.1", 5001) == "http://127.0.0.1:5001"
    assert _serving("::1", 5001) == "http://[::1]:5001"


def test_a_bad_backend_uri_is_one_line(tmp_path: Path) -> None:
    code, _, stderr = _run_command(
        "server", "--port", "0", "--backend-store-uri", "nosuch://x", cwd=tmp_path
    )
    assert code == 1
    assert "nosuch://x" in _one_clear_line(stderr)


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    uri = f"postgresql://autolog:secret@127.0.0.1:{port}/autolog"
    code, _, stderr = _run_command(
        "server", "--port", "0", "--backend-store-uri", uri, cwd=tmp_path
    )
    assert code == 1
    line = _one_clear_line(stderr)
    assert "cannot open the backend store" in line
    assert "secret" not in line


def test_a_busy_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        code, _, stderr = _run_command("server", "--port", port, cwd=tmp_path)
    assert code == 1
    assert f"port {port} on 127.0.0.1 is in use" in _one_clear_line(stderr)


def test_a_non_loopback_host_needs_tokens(tmp_path: Path) -> None:
    # refused before anything listens: nothing is bound outside loopback
    code, _, stderr = _run_command("server", "--host", "0.0.0.0", "--port", "0", cwd=tmp_path)
    assert code == 1
    line = _one_clear_line(stderr)
    assert "without access tokens" in line
    assert "--insecure-no-auth" in line


def test_require_token_with_no_token_is_refused(tmp_path: Path) -> None:
    code, _, stderr = _run_command("server", "--port", "0", "--require-token", cwd=tmp_path)
    assert code == 1
    assert "autolog server token create" in _one_clear_line(stderr)


def test_the_server_command_is_listed_in_help() -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "autolog", "server", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    for option in (
        "--backend-store-uri",
        "--artifacts-destination",
        "--workers",
        "--allowed-hosts",
    ):
        assert option in done.stdout


# --------------------------------------------------------------------------------------------
# one server for the API tests of this module
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``autolog server`` with small body limits (so the limits are quick to test)."""
    root = tmp_path_factory.mktemp("server")
    process = ServerProcess(
        [
            "--port",
            "0",
            "--backend-store-uri",
            f"sqlite:///{root}/autolog.db",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--max-request-size",
            "256KiB",
            "--max-artifact-size",
            "512KiB",
        ],
        cwd=root,
    )
    process.root = root  # type: ignore[attr-defined]
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/api/v1", timeout=30) as client:
        yield client


@pytest.fixture
def run_id(server: ServerProcess) -> Iterator[str]:
    """A RUNNING run on the module's server."""
    with RestStore(server.url) as store:
        experiment = store.get_or_create_experiment("api")
        run = os.urandom(16).hex()
        store.create_run(run, experiment.experiment_id, "r", T0, "ignored", None, {})
        yield run


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert "Traceback" not in response.text
    detail: dict[str, Any] = body["error"]
    return detail


def test_openapi_document_lists_every_store_operation(api: httpx.Client, server: Any) -> None:
    document = httpx.get(f"{server.url}/openapi.json").json()
    operations = {
        (method.upper(), path) for path, methods in document["paths"].items() for method in methods
    }
    expected = {
        ("POST", "/api/v1/experiments"),
        ("GET", "/api/v1/experiments"),
        ("GET", "/api/v1/experiments/{experiment_id}"),
        ("POST", "/api/v1/runs"),
        ("GET", "/api/v1/runs/{run_id}"),
        ("PATCH", "/api/v1/runs/{run_id}"),
        ("DELETE", "/api/v1/runs/{run_id}"),
        ("POST", "/api/v1/runs/{run_id}/restore"),
        ("POST", "/api/v1/runs/{run_id}/purge"),
        ("PATCH", "/api/v1/experiments/{experiment_id}"),
        ("DELETE", "/api/v1/experiments/{experiment_id}"),
        ("POST", "/api/v1/experiments/{experiment_id}/restore"),
        ("POST", "/api/v1/experiments/{experiment_id}/purge"),
        ("POST", "/api/v1/runs/search"),
        ("POST", "/api/v1/runs/{run_id}/batch"),
        ("GET", "/api/v1/runs/{run_id}/metric-history"),
        ("POST", "/api/v1/runs/{run_id}/artifact-hashes"),
        ("GET", "/api/v1/runs/{run_id}/artifact-hashes"),
        ("GET", "/api/v1/runs/{run_id}/artifacts"),
        ("PUT", "/api/v1/runs/{run_id}/artifacts/{path}"),
        ("GET", "/api/v1/runs/{run_id}/artifacts/{path}"),
        ("POST", "/api/v1/model-versions"),
        ("GET", "/api/v1/model-versions"),
        ("GET", "/api/v1/model-versions/by-alias"),
        ("PUT", "/api/v1/model-aliases"),
        ("POST", "/api/v1/tokens"),
        ("GET", "/api/v1/tokens"),
        ("GET", "/api/v1/tokens/{token_id}"),
        ("DELETE", "/api/v1/tokens"),
    }
    assert expected <= operations


def test_errors_are_json_with_a_stable_code(api: httpx.Client, run_id: str) -> None:
    missing = _error(api.get("/runs/0123456789abcdef"), 404, "not_found")
    assert missing["details"] == {"what": "run", "name": "0123456789abcdef"}
    bad_key = {"metrics": [{"key": "../up", "value": 1, "step": 0, "timestamp": T0}]}
    assert _error(api.post(f"/runs/{run_id}/batch", json=bad_key), 400, "invalid_key")
    assert api.post(f"/runs/{run_id}/batch", json={"params": [{"key": "p", "value": "1"}]})
    collision = _error(
        api.post(f"/runs/{run_id}/batch", json={"params": [{"key": "p", "value": "2"}]}),
        409,
        "param_collision",
    )
    assert collision["details"]["old_value"] == "1"
    bad_filter = _error(
        api.post("/runs/search", json={"filter": "metrics.acc >> 1"}), 400, "invalid_filter"
    )
    assert "metrics.acc >> 1" in bad_filter["message"]
    _error(api.get("/no/such/route"), 404, "no_route")
    _error(api.put(f"/runs/{run_id}"), 405, "method_not_allowed")
    _error(api.post("/experiments", content=b"{not json", headers=_JSON), 422, "invalid_request")
    _error(api.post("/experiments", json={"nam": "x"}), 422, "invalid_request")
    nul = {"params": [{"key": "q", "value": "a\x00b"}]}
    _error(api.post(f"/runs/{run_id}/batch", json=nul), 400, "invalid_value")
    surrogate = b'{"params": [{"key": "q", "value": "\\ud800"}]}'
    response = api.post(f"/runs/{run_id}/batch", content=surrogate, headers=_JSON)
    _error(response, 400, "invalid_value")
    _error(
        api.post(f"/runs/{run_id}/batch", content=b"ALM1junk", headers=_BINARY),
        400,
        "invalid_request",
    )


_JSON = {"Content-Type": "application/json"}
_BINARY = {"Content-Type": wire.METRICS_MEDIA_TYPE}


def test_hostile_json_is_refused_clearly(
    api: httpx.Client, run_id: str, server: ServerProcess
) -> None:
    """JSON nested 100,000 levels deep is a 400 with no traceback in the server's log (it was a
    500 and a RecursionError); a number past float's range is refused as ``Infinity`` is."""
    for deep in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
        for path in (f"/runs/{run_id}/batch", "/runs/search", "/experiments"):
            answer = api.post(path, content=deep, headers=_JSON)
            assert 400 <= answer.status_code < 500, (path, answer.text)
            assert "Traceback" not in answer.text
    assert "RecursionError" not in server.stderr.text
    for literal in (b"1e400", b"-1e400", b"Infinity"):
        body = b'{"metrics": [{"key": "m", "value": %s, "step": 0, "timestamp": 1}]}' % literal
        answer = api.post(f"/runs/{run_id}/batch", content=body, headers=_JSON)
        refused = _error(answer, 400, "invalid_request")
        assert "Infinity" in refused["message"]
    assert api.get(f"/runs/{run_id}/metric-history", params={"key": "m"}).json()["metrics"] == []


def test_rest_store_raises_the_servers_errors_with_their_data(server: ServerProcess) -> None:
    with RestStore(server.url) as store:
        experiment = store.get_or_create_experiment("errors")
        run = os.urandom(16).hex()
        store.create_run(run, experiment.experiment_id, "r", T0, "x", None, {})
        store.log_batch(run, params=[Param("lr", "0.1")])
        with pytest.raises(ParamCollisionError) as collision:
            store.log_batch(run, params=[Param("lr", "0.2")])
        assert (collision.value.key, collision.value.old_value) == ("lr", "0.1")
        with pytest.raises(NotFoundError) as missing:
            store.get_run("f" * 32)
        assert missing.value.name == "f" * 32
        with pytest.raises(InvalidFilterError):
            store._json("POST", "/runs/search", json={"filter": "params.x LIKE"})


def test_metric_history_pages_in_json(api: httpx.Client, run_id: str) -> None:
    points = [{"key": "m", "value": float(i), "step": i, "timestamp": T0} for i in range(25)]
    points.append({"key": "m", "value": "NaN", "step": 25, "timestamp": T0})
    assert api.post(f"/runs/{run_id}/batch", json={"metrics": points}).status_code == 200
    pages, token = [], None
    while True:
        params: dict[str, Any] = {"key": "m", "max_results": 10}
        if token:
            params["page_token"] = token
        page = api.get(f"/runs/{run_id}/metric-history", params=params).json()
        pages.append(page["metrics"])
        token = page["next_page_token"]
        if token is None:
            break
    assert [len(p) for p in pages] == [10, 10, 6]
    values = [point["value"] for page in pages for point in page]
    assert values == [float(i) for i in range(25)] + ["NaN"]


# --------------------------------------------------------------------------------------------
# the public API through a server
# --------------------------------------------------------------------------------------------


def test_the_public_api_works_unchanged_over_http(rest_uri: str, tmp_path: Path) -> None:
    autolog.set_tracking_uri(rest_uri)
    (tmp_path / "notes.txt").write_text("hello")
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.json").write_text("{}")
    (folder / "sub" / "b.txt").write_text("b" * 10_000)
    with autolog.start_run(run_name="over-http", tags={"team": "x"}) as run:
        autolog.log_params({"lr": 0.01, "depth": 3})
        for step in range(1_000):
            autolog.log_metric("loss", 1.0 / (step + 1), step=step)
        autolog.log_metrics({"acc": 0.9, "nan": float("nan")}, step=0)
        autolog.set_tag("stage", "done")
        autolog.log_artifact(tmp_path / "notes.txt", "docs")
        autolog.log_artifacts(folder, "data")
        uri = autolog.log_model({"weights": [1.5, 2.5]})
    run_id = run.info.run_id

    stored = autolog.get_run(run_id)
    assert stored.info.status is RunStatus.FINISHED
    assert stored.info.run_name == "over-http"
    assert dict(stored.data.params) == {"lr": "0.01", "depth": "3"}
    assert stored.data.metrics["loss"] == 1.0 / 1000
    assert stored.data.tags["team"] == "x"
    assert stored.data.tags["stage"] == "done"
    history = autolog.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(1_000))
    found = autolog.search_runs(filter_string="params.lr = '0.01' and metrics.acc > 0.5")
    assert [r.info.run_id for r in found] == [run_id]
    assert [f.path for f in autolog.list_artifacts(run_id)] == ["data", "docs", "model"]
    assert {f.path for f in autolog.list_artifacts(run_id, "data")} == {"data/a.json", "data/sub"}
    copy = Path(autolog.download_artifacts(run_id, "data", tmp_path / "out"))
    assert (copy / "sub" / "b.txt").read_text() == "b" * 10_000
    assert Path(autolog.download_artifacts(run_id, "docs/notes.txt")).read_text() == "hello"
    assert autolog.load_model(uri) == {"weights": [1.5, 2.5]}
    version = autolog.register_model(uri, "clf")
    autolog.set_model_alias("clf", "champion", version.version)
    assert autolog.load_model("models:/clf@champion") == {"weights": [1.5, 2.5]}
    assert autolog.load_model(f"models:/clf/{version.version}") == {"weights": [1.5, 2.5]}


def test_the_writer_sends_one_request_per_flush_per_run(
    rest_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOLOG_FLUSH_INTERVAL", "600")  # only flush() writes
    sent: list[tuple[str, int]] = []
    original = RestStore._send

    def counting(self: RestStore, op: Any, *, again: bool) -> None:
        if op.kind == "batch":
            sent.append((op.run_id, len(wire.decode_metrics(op.data)[1])))
        original(self, op, again=again)

    monkeypatch.setattr(RestStore, "_send", counting)
    client = autolog.Client(rest_uri)
    runs = [client.create_run("writer").info.run_id for _ in range(2)]
    client.flush()
    sent.clear()
    for step in range(20_000):
        for run in runs:
            client.log_metric(run, "loss", 0.5, step=step)
            client.log_metric(run, "acc", 0.5, step=step)
    client.log_params(runs[0], {"a": 1})
    client.set_tags(runs[1], {"t": "v"})
    client.flush()
    assert sorted(sent) == sorted((run, 40_000) for run in runs)  # one request per run
    assert all(len(client.get_metric_history(run, "acc")) == 20_000 for run in runs)


def test_a_lost_answer_stores_nothing_twice(server: ServerProcess) -> None:
    proxy = FaultyProxy(server.url)
    try:
        with RestStore(proxy.url) as store:
            experiment = store.get_or_create_experiment("lost")
            run = os.urandom(16).hex()
            proxy.lose_answers = 1  # the server creates the run; its answer is lost
            with pytest.warns(AutologWarning, match="does not take writes"):
                store.create_run(run, experiment.experiment_id, "r", T0, "x", None, {})
            assert store.get_run(run).info.run_name == "r"  # sent again: "it exists" is ok
            first = [Metric("loss", float(i), i, T0) for i in range(100)]
            proxy.lose_answers = 1  # stored, answer lost: spooled with its batch id
            store.log_batch(run, first, [Param("p", "1")])
            later = [Metric("loss", float(i), i, T0) for i in range(100, 150)]
            store.log_batch(run, later)  # behind it, in order
            history = store.get_metric_history(run, "loss")  # a read sends the spool first
        assert proxy.lost == 2
        assert [m.step for m in history] == list(range(150))
    finally:
        proxy.close()


# --------------------------------------------------------------------------------------------
# artifacts
# --------------------------------------------------------------------------------------------


def _upload(api: httpx.Client, run_id: str, path: str, data: bytes, **headers: str) -> Any:
    return api.put(
        f"/runs/{run_id}/artifacts/{path}",
        content=data,
        headers={"Content-Type": "application/octet-stream", **headers},
    )


def _files(server: ServerProcess) -> set[Path]:
    root: Path = server.root  # type: ignore[attr-defined]
    return {p for p in (root / "artifacts").rglob("*") if p.is_file()}


def test_uploads_are_hashed_and_checked(api: httpx.Client, run_id: str) -> None:
    data = os.urandom(300_000)
    digest = hashlib.sha256(data).hexdigest()
    answer = _upload(api, run_id, "bin/blob", data, **{"X-Content-SHA256": digest})
    assert answer.json() == {"path": "bin/blob", "sha256": digest, "file_size": len(data)}
    hashes = api.get(f"/runs/{run_id}/artifact-hashes", params={"prefix": "bin"}).json()
    assert hashes == {"hashes": {"bin/blob": digest}}
    got = api.get(f"/runs/{run_id}/artifacts/bin/blob")
    assert got.content == data
    assert got.headers["x-content-sha256"] == digest
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["x-content-type-options"] == "nosniff"

    wrong = _upload(api, run_id, "bin/bad", data, **{"X-Content-SHA256": "0" * 64})
    _error(wrong, 400, "sha256_mismatch")
    _error(api.get(f"/runs/{run_id}/artifacts/bin/bad"), 404, "not_found")
    listed = api.get(f"/runs/{run_id}/artifacts", params={"path": "bin"}).json()["files"]
    assert [f["path"] for f in listed] == ["bin/blob"]  # no temporary file left either


def test_a_body_of_many_pieces_is_hashed_as_it_streams_and_still_checked(rest_uri: str) -> None:
    data = os.urandom((5 << 20) // 2)  # 2.5 MiB: several pieces of the server's writes
    digest = hashlib.sha256(data).hexdigest()
    with autolog.Client(rest_uri) as client:
        run_id = client.create_run("Default").info.run_id

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(data), 100_000):  # odd sizes: pieces straddle them
            yield data[start : start + 100_000]

    with httpx.Client(base_url=f"{rest_uri}/api/v1", timeout=30) as api:
        wrong = api.put(
            f"/runs/{run_id}/artifacts/big/bad",
            content=pieces(),
            headers={"X-Content-SHA256": "1" * 64, "Content-Length": str(len(data))},
        )
        _error(wrong, 400, "sha256_mismatch")
        right = api.put(
            f"/runs/{run_id}/artifacts/big/good",
            content=pieces(),
            headers={"X-Content-SHA256": digest, "Content-Length": str(len(data))},
        )
        assert right.json() == {"path": "big/good", "sha256": digest, "file_size": len(data)}
        assert api.get(f"/runs/{run_id}/artifacts/big/good").content == data
        listed = api.get(f"/runs/{run_id}/artifacts", params={"path": "big"}).json()["files"]
        assert [f["path"] for f in listed] == ["big/good"]  # the refused one left nothing


def test_log_artifact_reads_its_snapshot_once_to_hash_it(
    rest_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The snapshot is hashed while staged; the upload sends that hash (the server checks the
    bytes against it) instead of reading the file once more to hash it again."""
    from autolog.stores import rest

    hashed: list[Path] = []
    plain = rest._sha256_file

    def counted(path: Path) -> str:
        hashed.append(path)
        return plain(path)

    monkeypatch.setattr(rest, "_sha256_file", counted)
    staging = tmp_path / "tmp"
    staging.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(staging))  # where snapshots are staged
    data = os.urandom(3 << 20)
    (tmp_path / "weights.bin").write_bytes(data)
    client = autolog.Client(rest_uri)
    run_id = client.create_run("Default").info.run_id
    client.log_artifact(run_id, tmp_path / "weights.bin")
    assert client.flush(timeout=30)
    assert hashed == []
    assert list(staging.iterdir()) == []  # the snapshot went once uploaded
    digest = hashlib.sha256(data).hexdigest()
    assert client.store.get_artifact_hashes(run_id) == {"weights.bin": digest}
    copy = client.download_artifacts(run_id, "weights.bin", tmp_path / "down")
    assert Path(copy).read_bytes() == data

    # A hash recorded for a path that the file uploaded there does not have: the server
    # refuses the bytes, and the client sends them again with their own hash.
    staged = tmp_path / ".tmp-staged-other"
    staged.write_bytes(b"other bytes")
    store = client.store
    assert isinstance(store, RestStore)
    store.record_artifact_hashes(run_id, {"other.bin": "0" * 64})
    got = store.run_artifacts(run_id).put_file(staged, "other.bin")
    assert got == hashlib.sha256(b"other bytes").hexdigest()
    assert store.get_artifact_hashes(run_id)["other.bin"] == got  # what the server took
    client.close()


def test_size_limits(api: httpx.Client, run_id: str, server: ServerProcess) -> None:
    before = _files(server)
    too_big = os.urandom(600 * 1024)
    _error(_upload(api, run_id, "big.bin", too_big), 413, "too_large")

    def pieces() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(12):
            yield too_big[: 64 * 1024]

    _error(_upload(api, run_id, "chunked.bin", pieces()), 413, "too_large")  # type: ignore[arg-type]
    assert _files(server) == before
    big_batch = {"params": [{"key": "p", "value": "x" * 300_000}]}
    _error(api.post(f"/runs/{run_id}/batch", json=big_batch), 413, "too_large")


def test_an_ended_runs_artifacts_do_not_change(api: httpx.Client, run_id: str) -> None:
    assert _upload(api, run_id, "a.txt", b"one").status_code == 200
    api.patch(f"/runs/{run_id}", json={"status": "FINISHED", "end_time": T0 + 1})
    _error(_upload(api, run_id, "a.txt", b"two"), 409, "run_state")
    assert api.get(f"/runs/{run_id}/artifacts/a.txt").content == b"one"


def test_load_model_refuses_a_file_changed_on_the_server(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    autolog.set_tracking_uri(server.url)
    with autolog.start_run() as run:
        uri = autolog.log_model({"safe": True})
    assert autolog.load_model(uri) == {"safe": True}
    root: Path = server.root  # type: ignore[attr-defined]
    (pickle,) = root.glob(f"artifacts/*/{run.info.run_id}/artifacts/model/model.pkl")
    import cloudpickle

    pickle.write_bytes(cloudpickle.dumps({"safe": False}))
    with pytest.raises(ModelIntegrityError):
        autolog.load_model(uri)
    with pytest.raises(StoreError, match="does not match the SHA-256 recorded"):
        autolog.download_artifacts(run.info.run_id, "model/model.pkl")


def test_a_refused_write_into_a_model_changes_nothing(
    server: ServerProcess, api: httpx.Client
) -> None:
    """A raw upload over a model's file answers 409 and leaves every byte as log_model wrote
    it: the run's model and its registered version still load (before, the bytes landed first
    and the refusal came after)."""
    autolog.set_tracking_uri(server.url)
    run = autolog.start_run()
    try:
        uri = autolog.log_model({"safe": True})
        autolog.flush()
        version = autolog.register_model(uri, "guarded")
        run_id = run.info.run_id
        tampered = b"not the model"
        digest = hashlib.sha256(tampered).hexdigest()
        for headers in ({}, {"X-Content-SHA256": digest}):
            answer = _upload(api, run_id, "model/model.pkl", tampered, **headers)
            _error(answer, 409, "run_state")
            _error(_upload(api, run_id, "model/extra.bin", tampered, **headers), 409, "run_state")
        assert autolog.load_model(uri) == {"safe": True}
        assert autolog.load_model(f"models:/guarded/{version.version}") == {"safe": True}
        listed = api.get(f"/runs/{run_id}/artifacts", params={"path": "model"}).json()["files"]
        assert "model/extra.bin" not in [f["path"] for f in listed]
        # the same bytes again, as log_model's own retry sends them, are still taken
        original = api.get(f"/runs/{run_id}/artifacts/model/model.pkl").content
        same = hashlib.sha256(original).hexdigest()
        answer = _upload(api, run_id, "model/model.pkl", original, **{"X-Content-SHA256": same})
        assert answer.status_code == 200, answer.text
    finally:
        autolog.end_run()
    assert autolog.load_model(uri) == {"safe": True}


def test_clients_never_see_the_servers_artifact_paths(
    server: ServerProcess, api: httpx.Client
) -> None:
    """Experiments and runs name their artifacts relative to the server (a read token showed
    the server's folder); a client's own artifact URI is not kept; files still land and load."""
    root = str(server.root)  # type: ignore[attr-defined]
    autolog.set_tracking_uri(server.url)
    with autolog.start_run(experiment="paths") as run:
        autolog.log_model({"k": 1})
    run_id, experiment_id = run.info.run_id, run.info.experiment_id
    answers = [
        api.get("/server"),
        api.get("/experiments"),
        api.get(f"/experiments/{experiment_id}"),
        api.post("/experiments", json={"name": "paths"}),
        api.get(f"/runs/{run_id}"),
        api.post("/runs/search", json={"experiment_ids": [experiment_id]}),
        api.post("/runs/search-page", json={"experiment_ids": [experiment_id]}),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert root not in answer.text
    assert autolog.get_run(run_id).info.artifact_uri == (
        f"autolog-artifacts:/{experiment_id}/{run_id}/artifacts"
    )
    assert api.get(f"/experiments/{experiment_id}").json()["artifact_location"] == (
        f"autolog-artifacts:/{experiment_id}"
    )
    assert autolog.load_model(f"runs:/{run_id}/model") == {"k": 1}
    # a client naming another place for its run's files is not followed, nor recorded
    with RestStore(server.url) as store:
        other = os.urandom(16).hex()
        store.create_run(other, experiment_id, "r", T0, "/etc/elsewhere", None, {})
        assert _upload(api, other, "a.txt", b"x").status_code == 200
    stored = Path(root, "artifacts", experiment_id, other, "artifacts", "a.txt")
    assert stored.read_bytes() == b"x"
    with autolog.Client(f"sqlite:///{root}/autolog.db") as direct:
        assert direct.get_run(other).info.artifact_uri.endswith(f"/{other}/artifacts")
        assert "/etc/elsewhere" not in direct.get_run(other).info.artifact_uri


# --------------------------------------------------------------------------------------------
# paths never leave the run's artifacts
# --------------------------------------------------------------------------------------------

_ESCAPES = [
    "../../../../etc/passwd",
    "..%2f..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "..%5c..%5c..%5c..%5cetc%5cpasswd",
    "..\\..\\..\\..\\etc\\passwd",
    "%2fetc%2fpasswd",
    "/etc/passwd",
    "//etc/passwd",
    "sub/../../../../etc/passwd",
    "%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "..%00/etc/passwd",
    "C:%5cWindows%5cwin.ini",
]


def _raw_request(server: ServerProcess, method: str, target: str, body: bytes = b"") -> bytes:
    """A request sent byte for byte (no client normalises its path)."""
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Length: {len(body)}\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head.encode("latin-1") + body)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


@pytest.mark.parametrize("escape", _ESCAPES)
def test_no_path_leaves_the_runs_artifacts(
    server: ServerProcess, run_id: str, escape: str, tmp_path: Path
) -> None:
    outside = tmp_path / "outside-secret.txt"
    outside.write_text("SECRET-OUTSIDE")
    root: Path = server.root  # type: ignore[attr-defined]
    before = _files(server)
    for method, body in (("GET", b""), ("PUT", b"planted")):
        for target in (
            f"/api/v1/runs/{run_id}/artifacts/{escape}",
            f"/api/v1/runs/{run_id}/artifacts?path={escape}",
            f"/api/v1/runs/{run_id}/artifact-hashes?prefix={escape}",
        ):
            answer = _raw_request(server, method, target, body)
            status = int(answer.split(b" ", 2)[1])
            assert status in (200, 400, 404, 405, 422), answer
            assert b"root:" not in answer
            assert b"SECRET-OUTSIDE" not in answer
            assert b"Traceback" not in answer
    # What was stored (a name that only looks like a path once decoded twice) is a file of
    # this run, under its artifacts, and nothing changed anywhere else.
    for new in _files(server) - before:
        relative = new.relative_to(root / "artifacts").parts
        assert relative[1:3] == (run_id, "artifacts"), new
    assert outside.read_text() == "SECRET-OUTSIDE"
    assert not Path("/etc/planted").exists()


def test_symlinks_in_the_artifact_store_are_not_followed_out(
    server: ServerProcess, api: httpx.Client, run_id: str, tmp_path: Path
) -> None:
    assert _upload(api, run_id, "inside/a.txt", b"inside").status_code == 200
    root: Path = server.root  # type: ignore[attr-defined]
    (run_root,) = root.glob(f"artifacts/*/{run_id}/artifacts")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.txt").write_text("SECRET-KEY")
    (run_root / "link").symlink_to(secret)
    (run_root / "inside" / "file-link").symlink_to(secret / "key.txt")

    for path in ("link/key.txt", "inside/file-link"):
        answer = api.get(f"/runs/{run_id}/artifacts/{path}")
        assert answer.status_code in (400, 404)
        assert "SECRET-KEY" not in answer.text
        assert _upload(api, run_id, path, b"overwrite").status_code in (400, 404)
    assert _error(api.get(f"/runs/{run_id}/artifacts", params={"path": "link"}), 400, "unsafe_path")
    assert (secret / "key.txt").read_text() == "SECRET-KEY"
    assert sorted(p.name for p in secret.iterdir()) == ["key.txt"]


# --------------------------------------------------------------------------------------------
# hosts, origins
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.nip.io", ""])
def test_unknown_host_headers_are_refused(server: ServerProcess, host: str) -> None:
    answer = httpx.get(f"{server.url}/api/v1/server", headers={"Host": host})
    _error(answer, 400, "host_not_allowed")


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "app.localhost"])
def test_loopback_host_headers_are_served(server: ServerProcess, host: str) -> None:
    port = server.port
    answer = httpx.get(f"{server.url}/api/v1/health", headers={"Host": f"{host}:{port}"})
    assert answer.status_code == 200


def test_allowed_hosts_are_served(tmp_path: Path) -> None:
    server = ServerProcess(["--port", "0", "--allowed-hosts", "*.example.com,tracking"], tmp_path)
    try:
        for host, status in (("a.example.com", 200), ("tracking:5000", 200), ("evil.com", 400)):
            answer = httpx.get(f"{server.url}/api/v1/health", headers={"Host": host})
            assert answer.status_code == status, host
    finally:
        server.stop()


def test_cross_origin_writes_are_refused_and_cors_is_off(
    api: httpx.Client, server: ServerProcess
) -> None:
    evil = {"Origin": "http://evil.example"}
    _error(api.post("/experiments", json={"name": "x"}, headers=evil), 403, "cross_origin")
    site = {"Sec-Fetch-Site": "cross-site"}
    _error(api.post("/experiments", json={"name": "x"}, headers=site), 403, "cross_origin")
    same = {"Origin": server.url}
    assert api.post("/experiments", json={"name": "same-origin"}, headers=same).status_code == 200
    read = api.get("/experiments", headers=evil)
    assert read.status_code == 200
    assert "access-control-allow-origin" not in read.headers
    preflight = api.options(
        "/experiments", headers={**evil, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


# --------------------------------------------------------------------------------------------
# tokens
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A server that requires tokens, and one token of each scope."""
    root = tmp_path_factory.mktemp("secured")
    store = f"sqlite:///{root}/autolog.db"
    tokens = {}
    for scope in ("read", "write", "admin"):
        code, out, err = _run_command(
            "server", "token", "create", f"{scope}-bot", "--scope", scope,
            "--backend-store-uri", store, cwd=root,
        )  # fmt: skip
        assert code == 0, err
        assert "not shown again" in err
        tokens[scope] = out.strip()
    process = ServerProcess(["--port", "0", "--backend-store-uri", store, "--require-token"], root)
    try:
        yield {"server": process, "tokens": tokens, "store": store, "root": root}
    finally:
        process.stop()


def _as(secured: dict[str, Any], scope: str | None) -> httpx.Client:
    headers = {} if scope is None else {"Authorization": f"Bearer {secured['tokens'][scope]}"}
    return httpx.Client(base_url=f"{secured['server'].url}/api/v1", headers=headers, timeout=30)


def test_tokens_are_listed_without_secrets(secured: dict[str, Any]) -> None:
    code, out, _ = _run_command(
        "server", "token", "ls", "--backend-store-uri", secured["store"], cwd=secured["root"]
    )
    assert code == 0
    assert out.splitlines()[0].split() == ["name", "scope", "id", "created"]
    assert [line.split()[:2] for line in out.splitlines()[1:]] == [
        ["read-bot", "read"],
        ["write-bot", "write"],
        ["admin-bot", "admin"],
    ]
    database = Path(secured["root"], "autolog.db").read_bytes()
    for token in secured["tokens"].values():
        assert token not in out
        secret = token.split("_", 2)[2]  # autolog_<id>_<secret>
        assert secret.encode() not in database


def test_requests_need_a_valid_token_with_the_right_scope(secured: dict[str, Any]) -> None:
    with _as(secured, None) as anonymous:
        refused = anonymous.get("/experiments")
        _error(refused, 401, "unauthenticated")
        assert "AUTOLOG_TRACKING_TOKEN" in refused.json()["error"]["message"]
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert anonymous.get("/health").status_code == 200
        wrong = {"Authorization": f"Bearer {secured['tokens']['admin'][:-2]}xx"}
        _error(anonymous.get("/experiments", headers=wrong), 401, "unauthenticated")
        _error(
            anonymous.get("/experiments", headers={"Authorization": "Bearer x"}),
            401,
            "unauthenticated",
        )
    with _as(secured, "read") as reader:
        assert reader.get("/experiments").status_code == 200
        # searches are reads, even where they are POSTed
        assert reader.post("/runs/search", json={}).status_code == 200
        assert reader.post("/registered-models/search", json={}).status_code == 200
        denied = _error(reader.post("/experiments", json={"name": "e"}), 403, "forbidden")
        assert "read" in denied["message"]
        assert "write" in denied["message"]
    with _as(secured, "write") as writer:
        assert writer.post("/experiments", json={"name": "e"}).status_code == 200
        _error(writer.get("/tokens"), 403, "forbidden")
    with _as(secured, "admin") as admin:
        names = [t["name"] for t in admin.get("/tokens").json()["tokens"]]
        assert names == ["read-bot", "write-bot", "admin-bot"]


def test_clients_send_the_token_from_the_environment(
    secured: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOLOG_TRACKING_TOKEN", secured["tokens"]["write"])
    autolog.set_tracking_uri(secured["server"].url)
    with autolog.start_run() as run:
        autolog.log_metric("m", 1.0)
    assert autolog.get_run(run.info.run_id).data.metrics == {"m": 1.0}


def test_a_token_replaced_in_the_environment_takes_effect_at_once(
    secured: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token is read for every request, as a long-lived notebook needs after replacing a
    revoked token (it was read once per process)."""
    monkeypatch.setenv("AUTOLOG_TRACKING_TOKEN", secured["tokens"]["read"])
    with RestStore(secured["server"].url) as store:
        assert isinstance(store.list_experiments(), list)
        monkeypatch.setenv("AUTOLOG_TRACKING_TOKEN", secured["tokens"]["write"])
        assert store.get_or_create_experiment("replaced").name == "replaced"
        monkeypatch.delenv("AUTOLOG_TRACKING_TOKEN")
        with pytest.raises(StoreError, match="AUTOLOG_TRACKING_TOKEN"):
            store.list_experiments()
    with RestStore(secured["server"].url, token=secured["tokens"]["admin"]) as store:
        monkeypatch.setenv("AUTOLOG_TRACKING_TOKEN", "autolog_not_a_token")
        assert store.list_tokens()  # a token given to the store is the store's


def test_a_token_without_access_is_a_clear_error(
    secured: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOLOG_TRACKING_TOKEN", secured["tokens"]["read"])
    with RestStore(secured["server"].url) as store:
        assert isinstance(store.list_experiments(), list)  # reading is allowed
        # writing is not: one warning says why, and what is written is kept for later
        with pytest.warns(AutologWarning, match="has the read scope; this request needs write"):
            store.get_or_create_experiment("nope")


def test_a_revoked_token_stops_working(secured: dict[str, Any]) -> None:
    code, out, err = _run_command(
        "server", "token", "create", "short-lived", "--scope", "write",
        "--backend-store-uri", secured["store"], cwd=secured["root"],
    )  # fmt: skip
    assert code == 0, err
    headers = {"Authorization": f"Bearer {out.strip()}"}
    with _as(secured, None) as client:
        assert client.get("/experiments", headers=headers).status_code == 200
        code, _, err = _run_command(
            "server", "token", "revoke", "short-lived",
            "--backend-store-uri", secured["store"], cwd=secured["root"],
        )  # fmt: skip
        assert code == 0, err
        import time

        deadline = time.monotonic() + 10
        while client.get("/experiments", headers=headers).status_code == 200:
            assert time.monotonic() < deadline, "a revoked token still works"
            time.sleep(0.2)
        _error(client.get("/experiments", headers=headers), 401, "unauthenticated")
    code, _, err = _run_command(
        "server", "token", "revoke", "short-lived",
        "--backend-store-uri", secured["store"], cwd=secured["root"],
    )  # fmt: skip
    assert code == 1
    assert "not found" in _one_clear_line(err)


def test_bad_token_options_are_clear(tmp_path: Path) -> None:
    code, _, err = _run_command("server", "token", "create", "x", "--scope", "root", cwd=tmp_path)
    assert code == 2
    assert "root" in err
    code, _, err = _run_command("server", "token", "create", "  ", cwd=tmp_path)
    assert code == 1
    assert "token names" in _one_clear_line(err)


def test_a_purge_removes_the_runs_files_on_the_server(server: ServerProcess) -> None:
    autolog.set_tracking_uri(server.url)
    with autolog.start_run() as run:
        autolog.log_model({"doomed": True})
    autolog.flush()
    root: Path = server.root  # type: ignore[attr-defined]
    (folder,) = root.glob(f"artifacts/*/{run.info.run_id}")
    autolog.delete_run(run.info.run_id)
    with RestStore(server.url) as store:
        store.purge_run(run.info.run_id)
        with pytest.raises(NotFoundError):
            store.get_run(run.info.run_id)
    assert not folder.exists()


def test_sigterm_lets_a_request_in_flight_finish(tmp_path: Path) -> None:
    server = ServerProcess(["--port", "0"], cwd=tmp_path)
    try:
        with RestStore(server.url) as store:
            experiment = store.get_or_create_experiment("graceful")
            run_id = os.urandom(16).hex()
            store.create_run(run_id, experiment.experiment_id, "r", T0, "x", None, {})
        data = os.urandom(4 * 1024 * 1024)
        stopped = threading.Event()

        def slow_body() -> Iterator[bytes]:
            for i in range(0, len(data), 256 * 1024):
                if i == 1024 * 1024:
                    server.process.send_signal(signal.SIGTERM)  # mid-upload
                    stopped.set()
                    time.sleep(0.5)
                yield data[i : i + 256 * 1024]

        answer = httpx.put(
            f"{server.url}/api/v1/runs/{run_id}/artifacts/big.bin",
            content=slow_body(),
            headers={"X-Content-SHA256": hashlib.sha256(data).hexdigest()},
            timeout=60,
        )
        assert stopped.is_set()
        assert answer.status_code == 200, answer.text  # finished, not cut off
        assert server.process.wait(30) == 0
        (stored,) = tmp_path.glob(f"autolog-runs/artifacts/*/{run_id}/artifacts/big.bin")
        assert stored.read_bytes() == data
        assert not list(stored.parent.glob(".tmp-*"))
    finally:
        server.stop()
