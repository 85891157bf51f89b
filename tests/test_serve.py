"""``autolog models serve`` (issue 20, item 5) as a user meets it: the console script as a
subprocess on a free loopback port, real HTTP (httpx), real scikit-learn and PyTorch models in
a real SQLite store, MLflow's request bodies written by hand (MLflow is not a test
dependency), and every kind of bad input refused with a 4xx JSON error, never a traceback."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import autolog

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")
pytest.importorskip("uvicorn")

pytestmark = pytest.mark.slow

AUTOLOG = str(Path(sys.executable).with_name("autolog"))
COLUMNS = ["age", "visits", "score"]
JSON = {"Content-Type": "application/json"}
# a model whose predict fails with an error that says nothing about its input
RAISING = """
class Raising:
    def predict(self, X):
        raise RuntimeError("the GPU fell off the bus")
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _frame(rows: int, seed: int) -> Any:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.random(rows) * 80,
            "visits": rng.integers(0, 9, rows),
            "score": rng.random(rows).astype("float32"),
        }
    )


class Store:
    """A SQLite store holding the models the servers serve, and what they should answer."""

    def __init__(self, root: Path) -> None:
        from sklearn.linear_model import LogisticRegression

        self.root = root
        self.uri = f"sqlite:///{root}/runs.db"
        X = _frame(300, 0)
        y = (X["age"] / 80 + X["score"] > 1).astype(int)
        self.X = X
        self.v1 = LogisticRegression().fit(X, y)
        self.v2 = LogisticRegression().fit(X, 1 - y)  # the opposite answer on every row
        sys.path.insert(0, str(root))
        (root / "raising_model.py").write_text(RAISING)
        import raising_model  # type: ignore[import-not-found]

        with autolog.Client(self.uri) as client:
            run_id = client.create_run("serve").info.run_id
            first = client.log_model(run_id, self.v1, "v1", input_example=X)
            second = client.log_model(run_id, self.v2, "v2", input_example=X)
            self.raising = client.log_model(
                run_id, raising_model.Raising(), "raising", signature=_signature()
            )
            self.torch = self._torch(client, run_id)
            assert client.flush(60)
            for name in ("clf", "moving"):
                client.register_model(first, name)
                client.register_model(second, name)
                client.set_model_alias(name, "prod", 1)

    def _torch(self, client: Any, run_id: str) -> str | None:
        try:
            import torch
        except ImportError:
            return None
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2)
        )
        return str(
            client.log_model(
                run_id, self.net, "net", flavor="torch", input_example=torch.randn(8, 4)
            )
        )


def _signature() -> dict[str, Any]:
    columns = [
        {"name": "age", "dtype": "float64"},
        {"name": "visits", "dtype": "int64"},
        {"name": "score", "dtype": "float32"},
    ]
    return {"inputs": {"type": "dataframe", "columns": columns}}


class Server:
    """``autolog models serve`` in a subprocess, answering on a free loopback port."""

    def __init__(self, store: Store, uri: str, *options: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOLOG_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(store.root), env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [
                AUTOLOG,
                "models",
                "serve",
                uri,
                "--tracking-uri",
                store.uri,
                "--port",
                str(self.port),
                *options,
            ],
            cwd=store.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.http = httpx.Client(base_url=self.url, timeout=30)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server stopped: {self.process.communicate()}")
            try:
                if self.http.get("/ping").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("the server did not answer /ping within 90 s")

    def invoke(self, body: object, **headers: str) -> httpx.Response:
        return self.http.post("/invocations", content=json.dumps(body), headers={**JSON, **headers})

    def metric(self, name: str) -> float:
        text = self.http.get("/metrics").text
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        assert match is not None, f"{name} not in /metrics:\n{text}"
        return float(match.group(1))

    def close(self) -> str:
        self.http.close()
        self.process.terminate()
        _, err = self.process.communicate(timeout=30)
        return err


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    made = Store(tmp_path_factory.mktemp("serve"))
    yield made
    sys.path.remove(str(made.root))
    sys.modules.pop("raising_model", None)


@pytest.fixture(scope="module")
def served(store: Store) -> Iterator[Server]:
    server = Server(
        store, "models:/clf@prod", "--max-request-bytes", "100000", "--batch-wait-ms", "20"
    )
    yield server
    err = server.close()
    assert "Traceback" not in err


def _expected(model: Any, frame: Any) -> list[int]:
    return [int(v) for v in model.predict(frame)]


# -- MLflow's request bodies ---------------------------------------------------------------


def test_every_mlflow_json_form_and_csv_get_the_models_predictions(
    served: Server, store: Store
) -> None:
    rows = store.X.iloc[:4]
    expected = {"predictions": _expected(store.v1, rows)}
    records = json.loads(rows.to_json(orient="records"))
    values = [[r["age"], r["visits"], r["score"]] for r in records]
    columns = {name: [r[name] for r in records] for name in COLUMNS}
    bodies = [
        {"dataframe_split": {"columns": COLUMNS, "data": values}},
        {"dataframe_split": {"columns": COLUMNS, "data": values, "index": [7, 8, 9, 10]}},
        {"dataframe_split": {"data": values}},  # the signature's column order
        {"dataframe_records": records},
        {"dataframe_records": [{k: r[k] for k in reversed(COLUMNS)} for r in records]},
        {"instances": records},
        {"instances": values},
        {"inputs": columns},
        {"inputs": values},
    ]
    for body in bodies:
        answer = served.invoke(body)
        assert answer.status_code == 200, (body, answer.text)
        assert answer.json() == expected, body
    csv = served.http.post(
        "/invocations",
        content=rows.to_csv(index=False),
        headers={"Content-Type": "text/csv; charset=utf-8"},
    )
    assert csv.status_code == 200, csv.text
    assert csv.json() == expected


def test_one_row_given_flat_and_a_json_media_type_with_parameters(
    served: Server, store: Store
) -> None:
    row = json.loads(store.X.iloc[:1].to_json(orient="records"))[0]
    answer = served.http.post(
        "/invocations",
        content=json.dumps({"inputs": {k: row[k] for k in COLUMNS}}),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert answer.json() == {"predictions": _expected(store.v1, store.X.iloc[:1])}


def test_the_read_only_routes_describe_the_served_model(served: Server, store: Store) -> None:
    assert served.http.get("/ping").status_code == 200
    health = served.http.get("/health").json()
    assert health["status"] == "ok"
    assert health["version"] == 1
    version = served.http.get("/version").json()
    assert version["autolog"] == autolog.__version__
    assert version["version"] == 1
    metadata = served.http.get("/metadata").json()
    with autolog.Client(store.uri) as client:
        info = client.get_model_info("models:/clf/1")
    assert metadata["signature"] == info.signature
    assert metadata["flavor"] == info.flavor
    assert metadata["run_id"] == info.run_id
    assert metadata["input_example"] == info.input_example
    spec = served.http.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    body = spec["paths"]["/invocations"]["post"]["requestBody"]["content"]
    forms = {
        next(iter(f["properties"])): f["properties"]
        for f in body["application/json"]["schema"]["oneOf"]
    }
    assert set(forms) == {"dataframe_split", "dataframe_records", "instances", "inputs"}
    record = forms["dataframe_records"]["dataframe_records"]["items"]
    assert record["properties"] == {
        "age": {"type": "number"},
        "visits": {"type": "integer"},
        "score": {"type": "number"},
    }
    assert record["required"] == COLUMNS
    assert "text/csv" in body


def test_metrics_are_prometheus_text_counting_requests_errors_and_latency(served: Server) -> None:
    served.invoke({"instances": [[1.0, 2, 0.5]]})
    served.invoke({"instances": [[1.0]]})
    answer = served.http.get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = answer.text
    for family, kind in (
        ("autolog_serve_requests_total", "counter"),
        ("autolog_serve_errors_total", "counter"),
        ("autolog_serve_request_duration_seconds", "histogram"),
        ("autolog_serve_batch_size", "histogram"),
    ):
        assert f"# TYPE {family} {kind}" in text
    assert re.search(
        r'^autolog_serve_requests_total\{path="/invocations",code="200"\} [1-9]', text, re.M
    )
    assert re.search(
        r'^autolog_serve_requests_total\{path="/invocations",code="400"\} [1-9]', text, re.M
    )
    assert served.metric("autolog_serve_errors_total") >= 1
    buckets = re.findall(
        r'^autolog_serve_request_duration_seconds_bucket\{le="([^"]+)"\} (\d+)$', text, re.M
    )
    counts = [int(c) for _, c in buckets]
    assert buckets[-1][0] == "+Inf"
    assert counts == sorted(counts)
    total = re.search(r"^autolog_serve_request_duration_seconds_count (\d+)$", text, re.M)
    assert total is not None
    assert counts[-1] == int(total.group(1))


# -- bad input: a 4xx JSON error naming what is wrong ---------------------------------------


def _row(**changes: object) -> dict[str, object]:
    return {"age": 30.0, "visits": 2, "score": 0.5, **changes}


BAD_JSON = [
    ({"dataframe_records": [{"age": 30.0, "score": 0.5}]}, 400, "visits"),
    ({"dataframe_records": [_row(age="old")]}, 400, "'age'"),
    ({"dataframe_records": [_row(visits=2.5)]}, 400, "'visits'"),
    ({"dataframe_split": {"columns": ["age", "visits"], "data": [[30.0, 2]]}}, 400, "score"),
    ({"dataframe_split": {"columns": COLUMNS, "data": [[30.0, 2]]}}, 400, "row 0"),
    ({"dataframe_split": [[30.0, 2, 0.5]]}, 400, "dataframe_split"),
    ({"dataframe_records": {"age": 30.0}}, 400, "dataframe_records"),
    ({"dataframe_records": [_row(), {"age": 1.0, "visits": 1}]}, 400, "row 1"),
    ({"instances": [[30.0, 2]]}, 400, "3 columns"),
    ({"instances": "30,2,0.5"}, 400, "instances"),
    ({"inputs": 7}, 400, "inputs"),
    ({"instances": []}, 400, "no rows"),
    ({"dataframe_records": []}, 400, "no rows"),
    ({"data": [[30.0, 2, 0.5]]}, 400, "exactly one of"),
    ({"instances": [[30.0, 2, 0.5]], "inputs": [[30.0, 2, 0.5]]}, 400, "exactly one of"),
    ({"instances": [[30.0, 2, 0.5]], "params": {"k": 1}}, 400, "params"),
    ([[30.0, 2, 0.5]], 400, "object"),
]


@pytest.mark.parametrize(("body", "status", "named"), BAD_JSON)
def test_bad_json_input_is_a_4xx_naming_what_is_wrong(
    served: Server, body: object, status: int, named: str
) -> None:
    _refused(served.invoke(body), status, named)


@pytest.mark.parametrize(
    ("content", "content_type", "status", "named"),
    [
        (b'{"instances": [[1, 2', "application/json", 400, "not valid JSON"),
        (b'{"instances": [["\xff"]]}', "application/json", 400, "UTF-8"),
        (b'age,visits,score\n"30,2\n', "text/csv", 400, "CSV"),
        (b"", "text/csv", 400, "CSV"),
        (b"age,visits\n30,2\n", "text/csv", 400, "score"),
        (b"age,visits,score\nold,2,0.5\n", "text/csv", 400, "'age'"),
        (b"30,2,0.5", "text/plain", 415, "text/plain"),
        (b'{"instances": [[30.0, 2, 0.5]]}', "", 415, "content type"),
        (b'{"instances": [[30.0, 2, 0.5]]}', "application/xml", 415, "application/json"),
    ],
)
def test_malformed_bodies_and_wrong_content_types_are_refused(
    served: Server, content: bytes, content_type: str, status: int, named: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    _refused(served.http.post("/invocations", content=content, headers=headers), status, named)


def test_too_large_a_body_is_413_and_the_server_goes_on(served: Server) -> None:
    rows = [[30.0, 2, 0.5]] * 10_000  # about 150 kB; the limit is 100 kB
    _refused(served.invoke({"instances": rows}), 413, "100000 bytes")
    chunks = iter([b'{"instances": ['] + [b"[30.0, 2, 0.5],"] * 10_000 + [b"[1.0, 2, 0.5]]}"])
    chunked = served.http.post("/invocations", content=chunks, headers=JSON)  # no length
    _refused(chunked, 413, "100000 bytes")
    assert served.invoke({"instances": [[30.0, 2, 0.5]]}).status_code == 200


def test_wrong_routes_methods_and_hosts_are_refused(served: Server) -> None:
    _refused(served.http.get("/invocations"), 405, "POST")
    _refused(served.http.post("/ping"), 405, "GET")
    _refused(served.http.get("/predict"), 404, "/invocations")
    _refused(
        served.invoke({"instances": [[30.0, 2, 0.5]]}, Host="attacker.example"),
        400,
        "attacker.example",
    )


def test_a_value_the_model_refuses_is_422_and_a_failing_model_500_without_traceback(
    served: Server, store: Store
) -> None:
    # NaN fits the float column; the model itself refuses it (ValueError: the input's fault)
    _refused(served.invoke({"dataframe_records": [_row(age=None)]}), 422, "ValueError")
    failing = Server(store, store.raising)
    try:
        _refused(failing.invoke({"dataframe_records": [_row()]}), 500, "the GPU fell off the bus")
        assert failing.http.get("/ping").status_code == 200
    finally:
        err = failing.close()
    assert "RuntimeError" in err  # the traceback goes to the server's log, not the client


def _refused(answer: httpx.Response, status: int, named: str) -> None:
    """A JSON error naming ``named``: autolog's error object, with MLflow's ``message``
    beside it where the model server answers (the tracking server's checks, 400 for a host,
    401/403 and 413, answer autolog's alone)."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert "Traceback" not in answer.text
    error = answer.json()["error"]
    assert named in error["message"], error
    if error["code"] not in ("host_not_allowed", "unauthenticated", "forbidden", "too_large"):
        assert answer.json()["message"] == error["message"]


# -- batching --------------------------------------------------------------------------------


def _hammer(
    server: Server, rows: list[list[Any]], clients: int, each: int
) -> list[tuple[int, Any]]:
    """``clients`` threads, each sending ``each`` one-row requests; (row index, answer)."""
    answers: list[tuple[int, Any]] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for i in range(each):
                index = (number * each + i) % len(rows)
                answer = http.post(
                    "/invocations", headers=JSON, content=json.dumps({"instances": [rows[index]]})
                )
                with lock:
                    answers.append(
                        (index, answer.json() if answer.status_code == 200 else answer.status_code)
                    )

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_concurrent_one_row_requests_share_predict_calls_and_get_their_own_rows(
    served: Server, store: Store
) -> None:
    frame = store.X.iloc[:64]
    rows = json.loads(frame.to_json(orient="values"))
    expected = _expected(store.v1, frame)
    before = served.metric("autolog_serve_batch_size_count")
    answers = _hammer(served, rows, clients=16, each=20)
    assert [a for _, a in answers] == [{"predictions": [expected[i]]} for i, _ in answers]
    calls = served.metric("autolog_serve_batch_size_count") - before
    assert calls < len(answers), "every request had a predict call of its own"
    text = served.http.get("/metrics").text
    single = float(
        re.search(r'^autolog_serve_batch_size_bucket\{le="1.0"\} (\d+)$', text, re.M).group(1)
    )
    assert served.metric("autolog_serve_batch_size_count") > single  # batches of more than 1


def test_a_bad_request_batched_with_good_ones_fails_alone(served: Server, store: Store) -> None:
    frame = store.X.iloc[:16]
    rows: list[list[Any]] = json.loads(frame.to_json(orient="values"))
    bad = [[f"row {i}", 2, 0.5] for i in range(16)]  # text in the float column
    expected = _expected(store.v1, frame)
    answers = _hammer(served, [row for pair in zip(rows, bad, strict=True) for row in pair],
                      clients=16, each=16)  # fmt: skip
    for index, answer in answers:
        if index % 2:
            assert answer == 400
        else:
            assert answer == {"predictions": [expected[index // 2]]}


@pytest.fixture(scope="module")
def torch_server(store: Store) -> Iterator[Server]:
    if store.torch is None:
        pytest.skip("torch is not installed")
    server = Server(store, store.torch, "--batch-wait-ms", "0")
    yield server
    server.close()


def test_a_torch_model_takes_tensors_and_with_batching_off_never_batches(
    torch_server: Server, store: Store
) -> None:
    import torch

    x = np.random.default_rng(1).random((5, 4)).astype("float32")
    with torch.no_grad():
        expected = store.net(torch.from_numpy(x)).numpy()
    for body in (
        {"instances": x.tolist()},
        {"inputs": x.tolist()},
        {"dataframe_split": {"data": x.tolist()}},
    ):
        answer = torch_server.invoke(body)
        assert answer.status_code == 200, answer.text
        assert np.allclose(answer.json()["predictions"], expected, atol=1e-5)
    _refused(torch_server.invoke({"instances": [[1.0, 2.0]]}), 400, "shape")
    _refused(torch_server.invoke({"instances": [["a", "b", "c", "d"]]}), 400, "float32")
    rows = x.tolist()
    answers = _hammer(torch_server, rows, clients=8, each=10)
    for index, answer in answers:
        assert np.allclose(answer["predictions"], expected[index : index + 1], atol=1e-5)
    assert torch_server.metric("autolog_serve_batch_size_count") == float(
        re.search(
            r'^autolog_serve_batch_size_bucket\{le="1.0"\} (\d+)$',
            torch_server.http.get("/metrics").text,
            re.M,
        ).group(1)
    )


# -- following an alias ----------------------------------------------------------------------


def test_an_alias_that_moves_is_followed_under_load_with_no_failed_request(store: Store) -> None:
    server = Server(store, "models:/moving@prod", "--alias-poll-seconds", "0.2")
    frame = store.X.iloc[:32]
    rows = json.loads(frame.to_json(orient="values"))
    old, new = _expected(store.v1, frame), _expected(store.v2, frame)
    stop = threading.Event()
    seen: list[tuple[int, Any]] = []

    def load() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            i = 0
            while not stop.is_set():
                answer = http.post(
                    "/invocations", headers=JSON, content=json.dumps({"instances": [rows[i % 32]]})
                )
                seen.append(
                    (i % 32, answer.json() if answer.status_code == 200 else answer.status_code)
                )
                i += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(1)
        with autolog.Client(store.uri) as client:
            client.set_model_alias("moving", "prod", 2)
        deadline = time.monotonic() + 30
        while server.http.get("/version").json()["version"] != 2:
            assert time.monotonic() < deadline, "the alias move was not followed in 30 s"
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    failed = [a for _, a in seen if not isinstance(a, dict)]
    assert not failed
    for index, answer in seen:
        assert answer["predictions"] in ([old[index]], [new[index]])
    assert seen[-1][1]["predictions"] == [new[seen[-1][0]]]
    assert server.metric("autolog_serve_model_swaps_total") == 1
    assert server.metric("autolog_serve_model_version") == 2
    assert server.http.get("/metadata").json()["served_uri"] == "models:/moving/2"
    server.close()


# -- access ----------------------------------------------------------------------------------


def test_a_non_loopback_bind_without_tokens_is_refused_before_listening(
    store: Store, tmp_path: Path
) -> None:
    empty = f"sqlite:///{tmp_path}/empty.db"
    autolog.Client(empty).close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOLOG_")}
    for host in ("0.0.0.0", "::"):
        done = subprocess.run(
            [AUTOLOG, "models", "serve", store.raising, "--host", host, "--tracking-uri", empty],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )
        assert done.returncode == 1
        assert f"refusing to serve on {host} without access tokens" in done.stderr
        assert "--insecure-no-auth" in done.stderr
        assert "Traceback" not in done.stderr


def test_tokens_when_required_guard_everything_but_the_probes(store: Store, tmp_path: Path) -> None:
    from autolog.server.tokens import create_token
    from autolog.stores.base import open_store

    opened = open_store(store.uri)
    try:
        secret, _ = create_token(opened, "serve-client", "write")
        reader, _ = create_token(opened, "serve-reader", "read")
    finally:
        opened.close()
    server = Server(store, "models:/clf/1", "--require-token")
    try:
        body = {"instances": [[30.0, 2, 0.5]]}
        _refused(server.invoke(body), 401, "access token")
        _refused(server.invoke(body, Authorization="Bearer nonsense"), 401, "not valid")
        assert server.invoke(body, Authorization=f"Bearer {secret}").status_code == 200
        assert server.http.get("/ping").status_code == 200
        assert server.http.get("/health").status_code == 200
        assert server.http.get("/metadata").status_code == 401
        metadata = server.http.get("/metadata", headers={"Authorization": f"Bearer {reader}"})
        assert metadata.status_code == 200
        # a prediction changes nothing: a read token may ask for one
        assert server.invoke(body, Authorization=f"Bearer {reader}").status_code == 200
    finally:
        server.close()


def test_serve_is_listed_and_refuses_a_model_that_is_not_there(store: Store) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOLOG_")}
    shown = subprocess.run(
        [AUTOLOG, "models", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    for option in (
        "--host",
        "--port",
        "--workers",
        "--batch-wait-ms",
        "--insecure-no-auth",
        "--tracking-uri",
    ):
        assert option in shown.stdout
    missing = subprocess.run(
        [
            AUTOLOG,
            "models",
            "serve",
            "models:/nothing/1",
            "--tracking-uri",
            store.uri,
            "--port",
            str(_free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert missing.returncode == 1
    assert "nothing" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_an_exported_folder_is_served_and_several_workers_answer(
    store: Store, tmp_path: Path
) -> None:
    from autolog.export import export_model

    with autolog.Client(store.uri) as client:
        folder = export_model(client, "models:/clf/1", tmp_path / "exported")
    server = Server(store, str(folder), "--workers", "2")
    try:
        rows = store.X.iloc[:3]
        answer = server.invoke({"dataframe_split": json.loads(rows.to_json(orient="split"))})
        assert answer.json() == {"predictions": _expected(store.v1, rows)}
        assert server.http.get("/version").json()["version"] is None
        assert server.http.get("/metadata").json()["signature"]["inputs"]["type"] == "dataframe"
    finally:
        server.close()
    assert not (store.root / "autolog-runs").exists()  # the server's working folder


def test_predictions_are_written_as_mlflow_writes_them_with_null_for_nan() -> None:
    from autolog.serving.formats import predictions_body

    def written(output: object) -> object:
        return json.loads(predictions_body(output))["predictions"]

    assert written(np.array([1.0, np.nan, np.inf])) == [1.0, None, None]
    assert written(np.array([[1, 2], [3, 4]], dtype="int32")) == [[1, 2], [3, 4]]
    frame = pd.DataFrame({"p": [0.25, np.nan], "label": ["a", "b"]})
    assert written(frame) == [{"p": 0.25, "label": "a"}, {"p": None, "label": "b"}]
    assert written(pd.Series(["x", "y"])) == ["x", "y"]
    assert written([np.float32("nan"), np.int64(3)]) == [None, 3]
    assert written(np.float64(2.5)) == [2.5]
    assert written(np.array(["2024-01-02"], dtype="datetime64[D]")) == ["2024-01-02"]
