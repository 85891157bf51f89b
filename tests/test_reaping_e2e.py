"""A run whose process was SIGKILLed reads KILLED for every reader of a tracking server, and no
read writes (issue 16).

Real processes: ``autolog server`` on a free loopback port over an SQLite database, a training
process logging to it and killed with SIGKILL, then the ``Client``, the web UI's JSON API and
``autolog runs ls`` reading through the server. The database is compared before and after the
reads, and its engine still holds the run as its owner left it.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the tracking server needs the server extra")

import httpx
from servers import AUTOLOG, ServerProcess

import autolog
from autolog import wire
from autolog.entities import Run, RunStatus
from autolog.stores import open_store
from autolog.tracking import PRESUMED_KILLED_TAG, Tracking

pytestmark = pytest.mark.server

# logs to the server, says which run, then waits to be killed
TRAINING = """
import sys, time
import autolog

autolog.set_tracking_uri(sys.argv[1])
autolog.set_experiment("e2e")
run = autolog.start_run(run_name="doomed")
autolog.log_params({"epochs": 3})
autolog.log_metric("loss", 0.5, step=0)
autolog.flush()
print(run.info.run_id, flush=True)
time.sleep(300)
"""


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "server" / "autolog.db"


@pytest.fixture
def server(database: Path) -> Iterator[ServerProcess]:
    root = database.parent
    root.mkdir()
    args = ["--port", "0", "--backend-store-uri", f"sqlite:///{database}"]
    args += ["--artifacts-destination", str(root / "artifacts")]
    process = ServerProcess(args, cwd=root)
    try:
        yield process
    finally:
        process.stop()


def _killed_run(url: str, cwd: Path) -> str:
    """Run TRAINING against ``url`` and SIGKILL it once its run is stored; the run's id."""
    env = {**os.environ}
    env.pop("AUTOLOG_TRACKING_URI", None)
    child = subprocess.Popen(
        [sys.executable, "-c", TRAINING, url],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        run_id = child.stdout.readline().strip()
    finally:
        os.kill(child.pid, signal.SIGKILL)
        _, stderr = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert len(run_id) == 32, stderr
    return run_id


def _content(database: Path) -> list[str]:
    """Everything the database holds, as SQL (what a write would change)."""
    with sqlite3.connect(database) as connection:
        return list(connection.iterdump())


def _assert_reaped(run: Run, run_id: str) -> None:
    assert run.info.run_id == run_id
    assert run.info.status is RunStatus.KILLED
    assert run.info.end_time is not None
    assert run.info.end_time >= run.info.start_time
    assert PRESUMED_KILLED_TAG in run.data.tags
    assert (dict(run.data.params), dict(run.data.metrics)) == ({"epochs": "3"}, {"loss": 0.5})


def test_a_sigkilled_run_reads_killed_everywhere_and_no_read_writes(
    server: ServerProcess, database: Path, tmp_path: Path
) -> None:
    run_id = _killed_run(server.url, tmp_path)
    before = _content(database)

    # the Client (the public API's core), through the server
    with autolog.Client(server.url) as client:
        _assert_reaped(client.get_run(run_id), run_id)
        (found,) = client.search_runs(["e2e"])
        _assert_reaped(found, run_id)
        assert client.search_runs(["e2e"], "attributes.status = 'RUNNING'") == []
    # the web UI's JSON API
    with httpx.Client(base_url=server.url, timeout=30) as http:
        answer = http.post("/api/v1/runs/search-page", json={})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert page["total"] == 1
        _assert_reaped(wire.run_from_json(page["runs"][0]), run_id)
        killed = http.post(
            "/api/v1/runs/search-page", json={"filter": "attributes.status = 'KILLED'"}
        ).json()
        assert [r["info"]["run_id"] for r in killed["runs"]] == [run_id]
        summaries = http.get("/api/v1/experiment-summaries").json()["experiments"]
        (e2e,) = [s for s in summaries if s["name"] == "e2e"]
        assert (e2e["run_count"], e2e["running_count"]) == (1, 0)
    # `autolog runs ls`, a process of its own
    listed = subprocess.run(
        [AUTOLOG, "runs", "ls", "--tracking-uri", server.url, "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    (record,) = json.loads(listed.stdout)
    assert (record["run_id"], record["status"]) == (run_id, "KILLED")
    assert PRESUMED_KILLED_TAG in record["tags"]

    # no read wrote: the database is as the killed process left it, its run RUNNING
    assert _content(database) == before
    store = open_store(f"sqlite:///{database}")
    try:
        assert isinstance(store, Tracking)
        stored = store.engine.run(run_id)
        assert stored is not None
        assert (stored.info.status, stored.info.end_time) == (RunStatus.RUNNING, None)
        assert PRESUMED_KILLED_TAG not in stored.data.tags
    finally:
        store.close()
