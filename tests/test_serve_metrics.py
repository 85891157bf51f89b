"""``/metrics`` of ``autolog models serve --workers N`` shows the server's totals (issue 20,
item 5): whichever worker answers a scrape, every counter and bucket is the sum over all
workers, and a worker killed by SIGKILL (uvicorn starts another in its place) takes none of
its counts away.

Which worker answers is the kernel's choice, so the tests make it: a worker stopped with
SIGSTOP accepts nothing, and the other one answers every connection until it continues.
Real processes throughout: the console script on a free loopback port, real HTTP, a real
scikit-learn model in a real SQLite store."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import autolog
from autolog.serving.metrics import FILE_SUFFIX, Metrics

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")
pytest.importorskip("uvicorn")
psutil = pytest.importorskip("psutil")

AUTOLOG = str(Path(sys.executable).with_name("autolog"))
COLUMNS = ["age", "visits"]
JSON = {"Content-Type": "application/json"}
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP/SIGKILL, /proc")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """``autolog models serve --workers 2`` in a subprocess, with its worker processes."""

    def __init__(self, root: Path) -> None:
        from sklearn.linear_model import LogisticRegression

        rng = np.random.default_rng(0)
        X = pd.DataFrame({"age": rng.random(200) * 80, "visits": rng.integers(0, 9, 200)})
        store = f"sqlite:///{root}/runs.db"
        with autolog.Client(store) as client:
            run_id = client.create_run("serve-metrics").info.run_id
            model = LogisticRegression().fit(X, (X["age"] > 40).astype(int))
            client.register_model(client.log_model(run_id, model, "m", input_example=X), "clf")
            assert client.flush(60)
        self.port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOLOG_")}
        self.process = subprocess.Popen(
            [AUTOLOG, "models", "serve", "models:/clf/1", "--tracking-uri", store,
             "--port", str(self.port), "--workers", "2", "--batch-wait-ms", "0"],
            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.workers()  # both up and answering
        self.folder = Path(self._settings(self.workers()[0])["metrics_dir"])

    def workers(self, but: frozenset[int] = frozenset(), wait: float = 120) -> list[int]:
        """The pids of the two workers, once both answer; waits for uvicorn to replace a
        dead one (any pid in ``but``)."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.communicate()[1]
            pids = self.children()
            if len(pids) == 2 and not set(pids) & but and all(map(self._answers, pids)):
                return pids
            time.sleep(0.2)
        raise AssertionError("the server's two workers did not answer in time")

    def children(self) -> list[int]:
        """The pids of the live worker processes (multiprocessing's helper aside)."""
        pids = []
        for child in psutil.Process(self.process.pid).children():
            try:
                if child.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(
                    child.cmdline()
                ):
                    pids.append(child.pid)
            except psutil.NoSuchProcess:
                continue
        return sorted(pids)

    def _answers(self, pid: int) -> bool:
        """Whether worker ``pid`` answers /ping (the other stopped meanwhile, briefly)."""
        try:
            with self.only(pid) as client:
                return client.get("/ping", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextmanager
    def only(self, pid: int) -> Iterator[httpx.Client]:
        """A client whose connections worker ``pid`` answers: every other worker is stopped
        meanwhile (a few seconds at most, or uvicorn takes them for hung and kills them)."""
        others = [other for other in self.children() if other != pid]
        for other in others:
            os.kill(other, signal.SIGSTOP)
        try:
            with httpx.Client(base_url=self.url, timeout=3) as client:
                yield client
        finally:
            for other in others:
                with suppress(ProcessLookupError):
                    os.kill(other, signal.SIGCONT)

    def _settings(self, pid: int) -> dict[str, Any]:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        value = next(v for v in environ if v.startswith(b"AUTOLOG_SERVE_SETTINGS="))
        return dict(json.loads(value.partition(b"=")[2]))

    def close(self) -> str:
        self.process.terminate()
        return self.process.communicate(timeout=60)[1]


def scrape(client: httpx.Client) -> dict[str, float]:
    """The samples of one /metrics answer, by series."""
    answer = client.get("/metrics")
    assert answer.status_code == 200
    found = re.findall(r"^(\w+(?:\{[^}]*\})?) (\S+)$", answer.text, re.MULTILINE)
    return {series: float(value) for series, value in found}


def requests(client: httpx.Client, good: int, bad: int, missing: int) -> None:
    """``good`` predictions of two rows, ``bad`` malformed bodies (400), ``missing`` GETs
    of a route that is not there (404)."""
    rows = {"dataframe_split": {"columns": COLUMNS, "data": [[30.0, 2], [70.0, 5]]}}
    for _ in range(good):
        assert client.post("/invocations", json=rows).status_code == 200
    for _ in range(bad):
        answer = client.post("/invocations", content=b"{not json", headers=JSON)
        assert answer.status_code == 400
    for _ in range(missing):
        assert client.get("/nope").status_code == 404


def counted(samples: dict[str, float]) -> dict[str, float]:
    """The series a test's own requests decide (the scrapes and the start's /pings aside)."""
    names = (
        'autolog_serve_requests_total{path="/invocations",code="200"}',
        'autolog_serve_requests_total{path="/invocations",code="400"}',
        'autolog_serve_requests_total{path="other",code="404"}',
        "autolog_serve_errors_total",
        "autolog_serve_predictions_total",
        "autolog_serve_batch_size_count",
        "autolog_serve_batch_size_sum",
        'autolog_serve_batch_size_bucket{le="1.0"}',
    )
    return {name: samples.get(name, 0.0) for name in names}


def expected(good: int, bad: int, missing: int) -> dict[str, float]:
    return dict(
        zip(
            counted({}),
            (good, bad, missing, bad + missing, 2 * good, good, good, good),
            strict=True,
        )
    )


def _metrics_parent() -> Path:
    shm = Path("/dev/shm")
    return (
        shm if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else Path(tempfile.gettempdir())
    )


#: metrics folders as servers leave them: one of a server killed (its process is gone), one of
#: a server still running (this process); made before the module's server starts
ABANDONED = _metrics_parent() / "autolog-serve-metrics-{pid}-killed"
LIVE = _metrics_parent() / f"autolog-serve-metrics-{os.getpid()}-running"


def _dead_pid() -> int:
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    abandoned = Path(str(ABANDONED).format(pid=_dead_pid()))
    for folder in (abandoned, LIVE):
        folder.mkdir()
        (folder / f"0{FILE_SUFFIX}").write_bytes(b"\0" * 64)
    try:
        server = Served(tmp_path_factory.mktemp("serve-metrics"))
        try:
            # a server killed with SIGKILL leaves its folder: the next one removes it
            assert not abandoned.exists()
            assert LIVE.exists()
            yield server
        finally:
            err = server.close()
    finally:
        shutil.rmtree(abandoned, ignore_errors=True)
        shutil.rmtree(LIVE, ignore_errors=True)
    assert "Traceback" not in err
    assert not server.folder.exists()  # the workers' counts go with the server


@posix_only
@pytest.mark.slow
def test_any_worker_scraped_shows_the_totals_of_all_workers(served: Served) -> None:
    first, second = served.workers()
    with served.only(first) as client:
        before = scrape(client)
    base = counted(before)
    with served.only(first) as client:
        requests(client, good=5, bad=3, missing=0)
    with served.only(second) as client:
        requests(client, good=7, bad=2, missing=4)
    want = {n: v + base[n] for n, v in expected(12, 5, 4).items()}
    seen_metrics = []
    for pid in (first, second, first, second):
        with served.only(pid) as client:
            samples = scrape(client)
        assert counted(samples) == want
        buckets = [v for k, v in samples.items() if "duration_seconds_bucket" in k]
        assert buckets == sorted(buckets)
        assert buckets[-1] == samples["autolog_serve_request_duration_seconds_count"]
        seen_metrics.append(samples['autolog_serve_requests_total{path="/metrics",code="200"}'])
    assert seen_metrics == sorted(seen_metrics)  # the scrapes count themselves, on both
    for _ in range(6):  # a connection each: either worker answers
        with httpx.Client(base_url=served.url, timeout=5) as client:
            assert counted(scrape(client)) == want


@posix_only
@pytest.mark.slow
def test_a_worker_killed_takes_none_of_its_counts_away(served: Served) -> None:
    first, second = served.workers()
    with served.only(first) as client:
        requests(client, good=4, bad=1, missing=2)
        before = counted(scrape(client))
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while len(served.children()) < 2 and time.monotonic() < deadline:
        with httpx.Client(base_url=served.url, timeout=5) as client:  # until another starts
            assert counted(scrape(client)) == before
        time.sleep(0.1)
    third, fourth = served.workers(but=frozenset({first}))
    fresh = third if third != second else fourth
    for pid in (fresh, second):
        with served.only(pid) as client:
            assert counted(scrape(client)) == before
    with served.only(fresh) as client:
        requests(client, good=3, bad=0, missing=1)
    after = {n: v + before[n] for n, v in expected(3, 0, 1).items()}
    for pid in (second, fresh):
        with served.only(pid) as client:
            assert counted(scrape(client)) == after
    # the new worker took the dead one's file over: one file a worker, however many died
    assert len(list(served.folder.glob(f"*{FILE_SUFFIX}"))) == 2


def test_counts_in_a_folder_are_summed_and_a_file_let_go_is_taken_over() -> None:
    with tempfile.TemporaryDirectory() as folder:
        one, two = Metrics(folder), Metrics(folder)
        one.request("/invocations", 200, 0.002)
        two.request("/invocations", 200, 0.2)
        two.request("/nowhere", 404, 0.0001)
        two.request("/ping", 1099, 0.0001)  # not an HTTP status: counted as "other"
        one.batch(3, 9)
        assert one.text(1) == two.text(1)
        text = one.text(1)
        assert 'autolog_serve_requests_total{path="/invocations",code="200"} 2\n' in text
        assert 'autolog_serve_requests_total{path="other",code="404"} 1\n' in text
        assert 'autolog_serve_requests_total{path="/ping",code="other"} 1\n' in text
        assert "autolog_serve_errors_total 1\n" in text
        assert 'autolog_serve_request_duration_seconds_bucket{le="0.0025"} 3\n' in text
        assert "autolog_serve_request_duration_seconds_count 4\n" in text
        assert "autolog_serve_predictions_total 9\n" in text
        one.close()
        one.request("/invocations", 200, 0.002)  # after close: dropped, not an error
        three = Metrics(folder)  # takes over the file let go, with its counts
        three.request("/invocations", 200, 0.002)
        assert 'path="/invocations",code="200"} 3\n' in two.text(None)
        assert len(list(Path(folder).glob(f"*{FILE_SUFFIX}"))) == 2
        four = Metrics(folder)  # no file is free: a new one
        assert len(list(Path(folder).glob(f"*{FILE_SUFFIX}"))) == 3
        assert four.text(None) == three.text(None)
        for metrics in (two, three, four):
            metrics.close()


def test_one_process_counts_in_memory() -> None:
    metrics = Metrics()
    metrics.request("/metrics", 200, 0.001)
    metrics.swapped()
    assert 'autolog_serve_requests_total{path="/metrics",code="200"} 1\n' in metrics.text(None)
    assert "autolog_serve_model_swaps_total 1\n" in metrics.text(None)
    metrics.close()
