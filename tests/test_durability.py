"""Bounded loss: what a killed, terminated or exiting process leaves in the store."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import run_script

import autolog
from autolog import RunStatus

LOGGER = """
import sys, time
import autolog
run = autolog.start_run(run_name="victim")
print(run.info.run_id, flush=True)
i = 0
while True:
    autolog.log_metric("i", i, step=i)
    if i % 100 == 0:
        print(i, time.time(), flush=True)
    i += 1
    time.sleep(0.001)
"""


def _start(code: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    (cwd / "child.py").write_text(code)
    return subprocess.Popen(
        [sys.executable, "child.py"],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_sigkill_loses_at_most_the_last_second_and_the_run_reads_killed(tmp_path: Path) -> None:
    child = _start(LOGGER, tmp_path, {"AUTOLOG_FLUSH_INTERVAL": "1.0"})
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    progress: list[tuple[int, float]] = []
    started = time.time()
    while time.time() - started < 3.0:
        index, stamp = child.stdout.readline().split()
        progress.append((int(index), float(stamp)))
    child.send_signal(signal.SIGKILL)
    killed_at = time.time()
    child.wait(10)
    child.stdout.close()
    # everything logged more than ~1 s before the kill (plus a little scheduling slack)
    durable = max(index for index, stamp in progress if stamp <= killed_at - 1.3)
    run = autolog.Client(f"sqlite:///{tmp_path}/autolog-runs/autolog.db").get_run(run_id)
    history = autolog.Client(f"sqlite:///{tmp_path}/autolog-runs/autolog.db").get_metric_history(
        run_id, "i"
    )
    steps = [m.step for m in history]
    assert steps == list(range(len(steps)))  # a prefix, nothing missing in between
    assert len(steps) > durable
    assert run.info.status is RunStatus.KILLED
    assert run.info.end_time is not None
    # every reader sees the verdict (the store's own service included), and no read wrote it:
    # the owner's late writes (a spool) and its end could still land
    store = autolog.Client(f"sqlite:///{tmp_path}/autolog-runs/autolog.db").store
    assert store.get_run(run_id).info.status is RunStatus.KILLED
    stored = store.engine.run(run_id)  # type: ignore[attr-defined]
    assert stored is not None
    assert stored.info.status is RunStatus.RUNNING


PARAM_LOGGER = """
import time
import autolog
run = autolog.start_run(run_name="victim")
print(run.info.run_id, flush=True)
start = time.monotonic()
i = 0
while True:
    autolog.log_param(f"p{i}", str(i))
    i += 1
    if i % 10 == 0:
        print(i, time.time(), flush=True)  # i params logged by then
    lag = start + i / 1000 - time.monotonic()  # 1,000 a second
    if lag > 0:
        time.sleep(lag)
"""


@pytest.mark.slow
def test_sigkill_of_a_file_store_writer_at_1000_params_a_second_loses_at_most_a_second(
    tmp_path: Path,
) -> None:
    # Each param was a synced file of its own: the writer fell behind, a kill lost 1.1-3.8 s.
    uri = (tmp_path / "runs").as_uri()
    env = {"AUTOLOG_TRACKING_URI": uri, "AUTOLOG_FLUSH_INTERVAL": "1.0"}
    child = _start(PARAM_LOGGER, tmp_path, env)
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    progress: list[tuple[int, float]] = []
    kill_after = random.uniform(2.0, 3.5)  # a random moment, flushes included
    started = time.time()
    while time.time() - started < kill_after:
        count, stamp = child.stdout.readline().split()
        progress.append((int(count), float(stamp)))
    child.send_signal(signal.SIGKILL)
    killed_at = time.time()
    child.wait(10)
    child.stdout.close()
    # everything logged more than ~1 s before the kill (plus a little scheduling slack)
    durable = max(count for count, stamp in progress if stamp <= killed_at - 1.3)
    assert durable >= 500  # it logged at about the rate under test
    with autolog.Client(uri) as client:
        run = client.get_run(run_id)
    stored = len(run.data.params)
    assert stored >= durable
    assert run.data.params == {f"p{i}": str(i) for i in range(stored)}  # nothing changed or lost
    assert run.info.status is RunStatus.KILLED
    # the params/ files are a browsable view brought up to date after each write: the view
    # may lag the journal a SIGKILL cut short (no read writes, so nobody ended the run), but
    # it never shows a param that was not stored, nor another value
    (folder,) = (tmp_path / "runs").glob(f"[0-9]*/{run_id}")
    files = {p.name: p.read_text() for p in (folder / "params").iterdir() if p.name[0] != "."}
    assert files.items() <= run.data.params.items()


def test_sigterm_flushes_everything_and_ends_the_run_killed(tmp_path: Path) -> None:
    code = """
import os, signal, sys
import autolog
run = autolog.start_run()
for i in range(50_000):
    autolog.log_metric("i", i, step=i)
autolog.log_param("p", "v")
print(run.info.run_id, flush=True)
signal.pause()
"""
    # A flush interval of an hour: only the SIGTERM handler can have written the data.
    child = _start(code, tmp_path, {"AUTOLOG_FLUSH_INTERVAL": "3600"})
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    child.send_signal(signal.SIGTERM)
    assert child.wait(30) == -signal.SIGTERM  # still dies of SIGTERM
    child.stdout.close()
    client = autolog.Client(f"sqlite:///{tmp_path}/autolog-runs/autolog.db")
    run = client.get_run(run_id)
    assert run.info.status is RunStatus.KILLED
    assert run.data.params == {"p": "v"}
    assert len(client.get_metric_history(run_id, "i")) == 50_000


def test_a_program_sigterm_handler_still_runs(tmp_path: Path) -> None:
    code = """
import signal, sys
def mine(signum, frame):
    print("mine", flush=True)
    sys.exit(3)
signal.signal(signal.SIGTERM, mine)
import autolog
run = autolog.start_run()
autolog.log_metric("m", 1.0)
print(run.info.run_id, flush=True)
signal.pause()
"""
    child = _start(code, tmp_path, {"AUTOLOG_FLUSH_INTERVAL": "3600"})
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    child.send_signal(signal.SIGTERM)
    assert child.wait(30) == 3
    assert child.stdout.read().strip() == "mine"
    child.stdout.close()
    client = autolog.Client(f"sqlite:///{tmp_path}/autolog-runs/autolog.db")
    assert client.get_run(run_id).data.metrics == {"m": 1.0}


def test_normal_exit_writes_everything_and_finishes_open_runs(tmp_path: Path) -> None:
    code = """
import autolog
for i in range(20_000):
    autolog.log_metric("i", i)  # no start_run: a run is started, and ended at exit
print(autolog.active_run().info.run_id)
"""
    done = run_script(code, tmp_path, env={"AUTOLOG_FLUSH_INTERVAL": "3600"})
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    client = autolog.Client(f"sqlite:///{tmp_path}/autolog-runs/autolog.db")
    assert client.get_run(run_id).info.status is RunStatus.FINISHED
    assert len(client.get_metric_history(run_id, "i")) == 20_000


def test_uncaught_exception_still_writes_what_was_logged(tmp_path: Path) -> None:
    code = """
import autolog
run = autolog.start_run()
print(run.info.run_id, flush=True)
autolog.log_metric("m", 5.0)
raise SystemExit("crash")
"""
    done = run_script(code, tmp_path, env={"AUTOLOG_FLUSH_INTERVAL": "3600"})
    assert done.returncode == 1
    run_id = done.stdout.strip()
    client = autolog.Client(f"sqlite:///{tmp_path}/autolog-runs/autolog.db")
    assert client.get_run(run_id).data.metrics == {"m": 5.0}


def test_a_running_run_of_a_live_process_stays_running(tmp_path: Path) -> None:
    with autolog.start_run() as run:
        autolog.log_metric("m", 1.0)
        assert autolog.get_run(run.info.run_id).info.status is RunStatus.RUNNING


def test_a_run_on_another_host_is_killed_only_when_its_heartbeat_is_stale(tmp_path: Path) -> None:
    client = autolog.Client(f"sqlite:///{tmp_path}/hb.db")
    experiment = client.get_or_create_experiment("e")
    now = int(time.time() * 1000)
    for run_id, beat in (("a" * 32, now), ("b" * 32, now - 3_600_000)):
        client.store.create_run(
            run_id,
            experiment.experiment_id,
            run_id[:4],
            now - 7_200_000,
            "file:///tmp/x",
            None,
            {"autolog.runner": "elsewhere:ns:123:456", "autolog.heartbeat": str(beat)},
        )
    assert client.get_run("a" * 32).info.status is RunStatus.RUNNING
    stale = client.get_run("b" * 32)
    assert stale.info.status is RunStatus.KILLED
    assert stale.info.end_time == now - 3_600_000


def test_a_forked_child_logs_through_its_own_writer_and_leaves_parent_runs_open(
    tmp_path: Path,
) -> None:
    code = """
import os
import autolog
run = autolog.start_run()
for i in range(1000):
    autolog.log_metric("parent", i)   # queued, maybe unwritten, at the fork
pid = os.fork()
if pid == 0:
    autolog.log_metric("child", 1.0)  # the inherited active run, through the child's writer
    with autolog.start_run(nested=True) as child:
        autolog.log_param("who", "child")
    autolog.flush()
    os._exit(0) if os.environ.get("HARD_EXIT") else None
    raise SystemExit(0)               # a normal exit runs atexit handlers in the child
_, status = os.waitpid(pid, 0)
assert status == 0, status
assert autolog.active_run() is not None
print(run.info.run_id)
"""
    done = run_script(code, tmp_path)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    client = autolog.Client(f"sqlite:///{tmp_path}/autolog-runs/autolog.db")
    parent = client.get_run(run_id)
    assert parent.info.status is RunStatus.FINISHED  # ended by the parent at its exit only
    assert len(client.get_metric_history(run_id, "parent")) == 1000  # no duplicates from the child
    assert parent.data.metrics["child"] == 1.0
    children = [r for r in client.search_runs() if r.info.parent_run_id == run_id]
    assert [r.data.params for r in children] == [{"who": "child"}]


def test_a_dead_pid_in_another_pid_namespace_is_judged_by_the_heartbeat(tmp_path: Path) -> None:
    from autolog import context

    client = autolog.Client(f"sqlite:///{tmp_path}/ns.db")
    experiment = client.get_or_create_experiment("e")
    now = int(time.time() * 1000)
    host = context.process_identity().split(":")[0]
    # same host name, another container: pid 999999 means nothing here
    client.store.create_run(
        "c" * 32,
        experiment.experiment_id,
        "other-container",
        now,
        "file:///tmp/x",
        None,
        {"autolog.runner": f"{host}:other-ns:999999:1", "autolog.heartbeat": str(now)},
    )
    assert client.get_run("c" * 32).info.status is RunStatus.RUNNING


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_children_keep_what_they_logged(tmp_path: Path, method: str) -> None:
    code = """
import multiprocessing as mp
import sys
import autolog

def work(index):
    with autolog.start_run(run_name=f"child{index}"):
        for i in range(100):
            autolog.log_metric("m", float(i))
    return index

if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    procs = [ctx.Process(target=work, args=(i,)) for i in range(3)]
    for p in procs: p.start()
    for p in procs: p.join()
    with ctx.Pool(2) as pool:
        assert sorted(pool.map(work, [10, 11])) == [10, 11]
"""
    done = run_script(code, tmp_path, env={"AUTOLOG_FLUSH_INTERVAL": "3600"}, args=[method])
    assert done.returncode == 0, done.stderr
    client = autolog.Client(f"sqlite:///{tmp_path}/autolog-runs/autolog.db")
    runs = client.search_runs()
    assert sorted(r.info.run_name for r in runs) == [
        "child0",
        "child1",
        "child10",
        "child11",
        "child2",
    ]
    for run in runs:
        assert run.info.status is RunStatus.FINISHED
        assert len(client.get_metric_history(run.info.run_id, "m")) == 100


def test_sigterm_writes_runs_started_by_other_threads(tmp_path: Path) -> None:
    code = """
import signal, threading
import autolog
autolog.Client()  # any use of autolog on the main thread installs the SIGTERM handler
ids = []
def work():
    run = autolog.start_run()
    for i in range(1000):
        autolog.log_metric("m", i)
    ids.append(run.info.run_id)
thread = threading.Thread(target=work)
thread.start(); thread.join()
print(ids[0], flush=True)
signal.pause()
"""
    child = _start(code, tmp_path, {"AUTOLOG_FLUSH_INTERVAL": "3600"})
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    child.send_signal(signal.SIGTERM)
    assert child.wait(30) == -signal.SIGTERM
    child.stdout.close()
    client = autolog.Client(f"sqlite:///{tmp_path}/autolog-runs/autolog.db")
    assert client.get_run(run_id).info.status is RunStatus.KILLED
    assert len(client.get_metric_history(run_id, "m")) == 1000


def test_an_artifact_that_can_never_be_written_does_not_hold_up_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOLOG_STRICT", "0")
    with autolog.start_run() as blocked:
        root = Path(blocked.info.artifact_uri.removeprefix("file://"))
        root.mkdir(parents=True)
        (root / "model").write_text("a file where the model folder should go")
        with pytest.warns(autolog.AutologWarning, match="could not record"):
            autolog.log_model({"x": 1})
            autolog.flush(timeout=10)
    with autolog.start_run() as other:
        autolog.log_metric("m", 1.0)
    assert autolog.get_run(other.info.run_id).data.metrics == {"m": 1.0}
