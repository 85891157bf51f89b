"""Fault injection (issue 12): a store that refuses, locks, hangs, fills up, disappears; a
process killed or terminated with a backlog; a writer thread that dies; links planted in
artifact folders. Training must never wait on the store, nothing may be lost silently, and
every error is ours."""

from __future__ import annotations

import errno
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from support import queue_run, run_script

import autolog
from autolog import RunStatus
from autolog.entities import Metric, Param, RunTag
from autolog.errors import (
    AutologWarning,
    InvalidFilterError,
    InvalidInputError,
    InvalidValueError,
    NotFoundError,
    StoreUnavailableError,
    UnsafePathError,
)
from autolog.stores.base import RunWrites
from autolog.stores.memory import MemoryStore
from autolog.writer import Writer

# --------------------------------------------------------------------------------------------
# 1. one string must not stop the writer
# --------------------------------------------------------------------------------------------


def test_text_no_store_can_hold_raises_at_the_call_and_logging_goes_on() -> None:
    with autolog.start_run() as run:
        with pytest.raises(InvalidValueError, match=r"'p'.*surrogate"):
            autolog.log_param("p", "bad\ud800")
        with pytest.raises(InvalidValueError, match=r"'t'.*NUL"):
            autolog.set_tag("t", "nul\x00")
        with pytest.raises(InvalidInputError, match="surrogate"):
            autolog.log_metric("m\ud800", 1.0)
        autolog.log_param("p", "good")
        autolog.log_metric("m", 1.0)
    autolog.flush(timeout=10)
    stored = autolog.get_run(run.info.run_id)
    assert stored.info.status is RunStatus.FINISHED
    assert (stored.data.params, stored.data.metrics) == ({"p": "good"}, {"m": 1.0})


class RefusingStore(MemoryStore):
    """A store that raises an exception of no kind it promises (a driver's, a bug's) for the
    param "bad", every time: retrying it can never help."""

    def __init__(self) -> None:
        super().__init__("file:///tmp/unused")

    def write_run(self, run_id: str, writes: RunWrites) -> None:
        # every write of the service goes through write_run (log_batch included)
        if any(p.key == "bad" for p in writes.params):
            raise UnicodeEncodeError("utf-8", "bad\ud800", 3, 4, "surrogates not allowed")
        super().write_run(run_id, writes)


def test_a_record_refused_for_good_is_dropped_by_name_and_never_blocks_the_rest() -> None:
    store = RefusingStore()
    writer = Writer(store, interval=60)
    queue_run(writer, store, "r1")
    writer.param("r1", Param("bad", "x"))
    writer.param("r1", Param("good", "y"))
    writer.metric("r1", Metric("m", 1.0, 0, 0))
    writer.end_run("r1", RunStatus.FINISHED, 2)
    with pytest.warns(AutologWarning, match="param 'bad' of run r1"):
        assert writer.flush(timeout=5)
    # a later run of the same store is written too
    queue_run(writer, store, "r2")
    writer.metric("r2", Metric("m", 2.0, 0, 0))
    writer.end_run("r2", RunStatus.FINISHED, 3)
    assert writer.flush(timeout=5)
    first, second = store.get_run("r1"), store.get_run("r2")
    assert first.info.status is second.info.status is RunStatus.FINISHED
    assert first.data.params == {"good": "y"}
    assert (first.data.metrics, second.data.metrics) == ({"m": 1.0}, {"m": 2.0})
    assert writer.dropped_by_kind == {"params": 1}
    writer.close()


# --------------------------------------------------------------------------------------------
# 2. a locked or hanging store never stalls training
# --------------------------------------------------------------------------------------------


def _train(seconds_budget: float, tmp_path: Path) -> tuple[str, float]:
    """What a training loop logs by hand: start, params, 5,000 metrics, an artifact, a model,
    the end. Returns the run id and how long the training thread spent in autolog."""
    (tmp_path / "notes.txt").write_text("notes")
    started = time.perf_counter()
    run = autolog.start_run(run_name="stalled?")
    autolog.log_params({"lr": 0.1, "layers": 3})
    for step in range(5_000):
        autolog.log_metric("loss", 1.0 / (step + 1), step=step)
    autolog.set_tag("phase", "done")
    autolog.log_artifact(tmp_path / "notes.txt")
    autolog.log_model({"weights": [1, 2, 3]})
    autolog.end_run()
    spent = time.perf_counter() - started
    assert spent < seconds_budget, f"the training thread waited {spent:.2f} s on the store"
    return run.info.run_id, spent


def _check_recorded(run_id: str) -> None:
    run = autolog.get_run(run_id)
    assert run.info.status is RunStatus.FINISHED
    assert run.info.run_name == "stalled?"
    assert run.data.params == {"lr": "0.1", "layers": "3"}
    assert run.data.tags["phase"] == "done"
    assert len(autolog.get_metric_history(run_id, "loss")) == 5_000
    assert [f.path for f in autolog.list_artifacts(run_id)] == ["model", "notes.txt"]
    assert autolog.load_model(f"runs:/{run_id}/model") == {"weights": [1, 2, 3]}


@pytest.mark.slow
def test_a_locked_sqlite_store_does_not_stall_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOLOG_START_TIMEOUT", "0.3")
    monkeypatch.setenv("AUTOLOG_STRICT", "0")
    path = tmp_path / "locked.db"
    autolog.set_tracking_uri(f"sqlite:///{path}")
    # another process's view: an exclusive lock on the whole file, held for the training
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("PRAGMA locking_mode = EXCLUSIVE")
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        run_id, _ = _train(1.5, tmp_path)
        # the writer waits for the lock meanwhile (SQLite's busy timeout), and holds everything
        assert not autolog.Client(autolog.get_tracking_uri()).flush(timeout=0.5)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    autolog.flush(timeout=60)
    _check_recorded(run_id)


class HungStore(MemoryStore):
    """Every call hangs until ``until`` (a store on a stalled network mount or server, for
    the length of the outage), then answers."""

    until = 0.0

    def __getattribute__(self, name: str) -> Any:
        attribute = super().__getattribute__(name)
        if callable(attribute) and not name.startswith("_") and name != "close":
            time.sleep(max(0.0, type(self).until - time.monotonic()))
        return attribute


@pytest.mark.slow
def test_a_store_that_hangs_does_not_stall_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOLOG_START_TIMEOUT", "0.2")
    monkeypatch.setenv("AUTOLOG_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    store = HungStore()
    HungStore.until = time.monotonic() + 3.0
    monkeypatch.setattr("autolog.backends.open_store", lambda uri: store)
    autolog.set_tracking_uri("memory:")
    run_id, _ = _train(1.0, tmp_path)
    autolog.flush(timeout=60)
    _check_recorded(run_id)


# --------------------------------------------------------------------------------------------
# 3. durable within a flush interval, also behind a backlog; SIGTERM says what it could not do
# --------------------------------------------------------------------------------------------


def test_the_file_store_writes_each_tag_once_per_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autolog.stores import file as file_store
    from autolog.stores import file_journal

    written: list[int] = []
    real = file_journal.write_files  # the files that show the journal, where tags are stored

    def counting(items: Sequence[tuple[Path, Any]], **kwargs: Any) -> None:
        written.append(len(items))
        real(items, **kwargs)

    monkeypatch.setattr(file_journal, "write_files", counting)
    store = file_store.FileStore(str(tmp_path / "files"))
    experiment = store.get_or_create_experiment("e")
    store.create_run("r", experiment.experiment_id, "r", 1, "file:///a", None, {})
    written.clear()
    store.log_batch("r", tags=[RunTag("phase", str(i)) for i in range(1_000)])
    assert written == [1]
    assert store.get_run("r").data.tags == {"phase": "999"}


@pytest.mark.slow
def test_a_model_being_written_does_not_hold_up_the_metrics_behind_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from autolog.artifacts.local import LocalArtifactRepository

    release = threading.Event()
    real = LocalArtifactRepository.put_bytes

    def slow_put(self: Any, path: str, data: bytes, sha256: str | None = None) -> str:
        release.wait(30)  # a large model on a slow disk
        return real(self, path, data, sha256)

    monkeypatch.setattr(LocalArtifactRepository, "put_bytes", slow_put)
    client = autolog.Client()
    run = client.create_run("e")
    client.log_model(run.info.run_id, {"big": 1})
    client.log_param(run.info.run_id, "after", "model")
    client.log_metric(run.info.run_id, "m", 1.0)
    client.set_tag(run.info.run_id, "t", "x")
    client._backend.writer.wake()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                stored = client.store.get_run(run.info.run_id)  # straight from the store
            except NotFoundError:
                continue  # not created yet
            model = client.store.get_model_files(run.info.run_id, "model")
            if stored.data.params and stored.data.metrics:
                break
            time.sleep(0.05)
        assert stored.data.params == {"after": "model"}
        assert stored.data.metrics == {"m": 1.0}
        # A first model of a run is recorded once its files are in place (issue 17: a kill
        # while they are written leaves no record of a model that cannot load)
        assert model is None
    finally:
        release.set()
    client.set_terminated(run.info.run_id)
    assert client.load_model(f"runs:/{run.info.run_id}/model") == {"big": 1}
    client.close()


BACKLOG = """
import sys, time
import autolog
autolog.set_tracking_uri(sys.argv[1])
run = autolog.start_run()
autolog.flush()
print(run.info.run_id, flush=True)
for i in range(100_000):
    autolog.log_metric("m", float(i), step=i)
    if i % 10 == 0:
        autolog.set_tag("last", str(i))
print("logged", flush=True)
time.sleep(60)
"""


@pytest.fixture(params=["file", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def process_store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A tracking URI another process can write to, of each persistent kind."""
    if request.param == "file":
        return (tmp_path / "files").as_uri()
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/t.db"
    uri: str = request.getfixturevalue("postgres_uri")
    return uri


@pytest.mark.slow
def test_sigterm_with_a_backlog_writes_everything(process_store_uri: str, tmp_path: Path) -> None:
    (tmp_path / "child.py").write_text(BACKLOG)
    child = subprocess.Popen(
        [sys.executable, "child.py", process_store_uri],
        cwd=tmp_path,
        env={**os.environ, "AUTOLOG_FLUSH_INTERVAL": "3600", "AUTOLOG_EXIT_TIMEOUT": "60"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    assert child.stdout.readline().strip() == "logged"
    child.send_signal(signal.SIGTERM)
    _, stderr = child.communicate(timeout=90)
    assert child.returncode == -signal.SIGTERM
    assert "not written" not in stderr, stderr
    with autolog.Client(process_store_uri) as client:
        run = client.get_run(run_id)
        assert run.info.status is RunStatus.KILLED
        assert len(client.get_metric_history(run_id, "m")) == 100_000
        assert run.data.tags["last"] == "99990"


LOGGER = """
import sys, time
import autolog
autolog.set_tracking_uri(sys.argv[1])
run = autolog.start_run()
print(run.info.run_id, flush=True)
i = 0
while True:
    autolog.log_metric("i", i, step=i)
    if i % 10 == 0:
        autolog.set_tag("last", str(i))
    if i % 100 == 0:
        print(i, time.time(), flush=True)
    i += 1
    time.sleep(0.001)
"""


@pytest.mark.slow
def test_sigkill_loses_at_most_the_last_second(process_store_uri: str, tmp_path: Path) -> None:
    (tmp_path / "child.py").write_text(LOGGER)
    child = subprocess.Popen(
        [sys.executable, "child.py", process_store_uri],
        cwd=tmp_path,
        env={**os.environ, "AUTOLOG_FLUSH_INTERVAL": "1.0"},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    progress: list[tuple[int, float]] = []
    started = time.time()
    while time.time() - started < 2.5:
        index, stamp = child.stdout.readline().split()
        progress.append((int(index), float(stamp)))
    child.send_signal(signal.SIGKILL)
    killed_at = time.time()
    child.wait(10)
    child.stdout.close()
    durable = max(index for index, stamp in progress if stamp <= killed_at - 1.3)
    with autolog.Client(process_store_uri) as client:
        history = client.get_metric_history(run_id, "i")
        assert len(history) > durable
        assert [m.step for m in history] == list(range(len(history)))  # nothing torn or twice
        assert int(client.get_run(run_id).data.tags["last"]) >= durable - 10


# --------------------------------------------------------------------------------------------
# 6. exit while the store is down: bounded and said; a dead writer does not go unnoticed
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_exit_while_the_store_is_down_is_bounded_and_says_what_was_not_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "down.db"
    sqlite3.connect(path).close()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("PRAGMA locking_mode = EXCLUSIVE")
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        done = run_script(
            f"""
            import autolog
            autolog.set_tracking_uri("sqlite:///{path}")
            with autolog.start_run():
                for i in range(1000):
                    autolog.log_metric("m", float(i))
            """,
            tmp_path,
            env={"AUTOLOG_EXIT_TIMEOUT": "1", "AUTOLOG_START_TIMEOUT": "0.2"},
        )
        took = time.monotonic() - started
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert done.returncode == 0, done.stderr
    assert took < 8, f"exit took {took:.1f} s"
    assert "not written to sqlite:///" in done.stderr
    assert "1,000 metric values" in done.stderr
    assert "1 run creations" in done.stderr
    assert "1 run ends" in done.stderr


@pytest.mark.slow
def test_exit_keeps_its_bound_when_the_store_locks_up_mid_run(tmp_path: Path) -> None:
    # The store was open and written to; then another process locks it, so the writer sits in
    # a store call (SQLite's busy timeout is 30 s) holding the store: exit must not wait for it.
    path = tmp_path / "busy.db"
    signal_file = tmp_path / "locked"
    script = tmp_path / "script.py"
    script.write_text(
        f"""
import os, time
import autolog
autolog.set_tracking_uri("sqlite:///{path}")
with autolog.start_run():
    autolog.log_metric("m", 0.0)
    autolog.flush()
    print("ready", flush=True)
    while not os.path.exists({str(signal_file)!r}):
        time.sleep(0.01)
    for i in range(1000):
        autolog.log_metric("m", float(i))
    autolog.Client(autolog.get_tracking_uri()).flush(timeout=1)  # the writer is in the store
"""
    )
    env = {**os.environ, "AUTOLOG_EXIT_TIMEOUT": "1"}
    env.pop("AUTOLOG_TRACKING_URI", None)
    process = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    blocker = None
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        signal_file.touch()
        started = time.monotonic()
        _, stderr = process.communicate(timeout=60)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        if blocker is not None:
            blocker.execute("ROLLBACK")
            blocker.close()
    assert process.returncode == 0, stderr
    assert took < 10, f"exit took {took:.1f} s"
    assert "not written to sqlite:///" in stderr
    assert "metric values" in stderr


def test_a_writer_thread_that_died_is_noticed_and_replaced() -> None:
    store = MemoryStore("file:///tmp/unused")
    writer = Writer(store, interval=60)
    queue_run(writer, store, "r1")
    assert writer.flush(timeout=5)
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    writer._thread = dead  # what the thread looks like after something killed it
    with pytest.warns(AutologWarning, match="writer thread had stopped"):
        writer.param("r1", Param("p", "1"))
        assert writer.flush(timeout=5)
    assert store.get_run("r1").data.params == {"p": "1"}
    writer.close()


# --------------------------------------------------------------------------------------------
# 7. store faults in direct calls are warnings, as through autolog(); bad input still raises
# --------------------------------------------------------------------------------------------


def test_a_full_disk_at_log_artifacts_is_waited_out_and_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 17: a full disk at the call no longer drops the files (metrics wait for space, so
    # do artifacts): the copies are retried on the writer's file thread and land.
    import warnings

    from autolog.artifacts import local

    folder = tmp_path / "out"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.txt").write_text("a")
    (folder / "b.txt").write_text("b")
    real = local.tempfile.mkstemp
    full = [True]

    def mkstemp(*args: Any, **kwargs: Any) -> Any:
        if full[0]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    with autolog.start_run() as run:
        autolog.log_metric("before", 1.0)
        autolog.flush()
        monkeypatch.setattr(local.tempfile, "mkstemp", mkstemp)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AutologWarning)  # "the store failed": said once
            autolog.log_artifacts(folder, "outputs")  # neither raises nor drops
            autolog.log_artifact(folder / "b.txt")
            with pytest.raises(InvalidInputError):
                autolog.log_artifact(tmp_path / "missing.txt")  # bad input still raises
            with pytest.raises(StoreUnavailableError):
                autolog.flush(timeout=1)
            full[0] = False
            autolog.flush(timeout=30)
        autolog.log_metric("after", 1.0)
    run_id = run.info.run_id
    listed = sorted(f.path for f in autolog.list_artifacts(run_id))
    assert listed == ["b.txt", "outputs"]
    copy = autolog.download_artifacts(run_id, "outputs/sub/a.txt", tmp_path / "copy")
    assert Path(copy).read_text() == "a"
    root = Path(run.info.artifact_uri.removeprefix("file://"))
    assert [p.name for p in root.rglob("*") if p.name.startswith(".tmp-")] == []
    assert set(autolog.get_run(run_id).data.metrics) == {"before", "after"}


def test_log_artifacts_cut_short_for_now_are_all_placed_by_the_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import warnings

    from autolog import staging

    folder = tmp_path / "out"
    folder.mkdir()
    for name in ("a", "b", "c"):
        (folder / f"{name}.txt").write_text(name)
    real, tries = staging.place, []

    def disk_full_once_at_b(repo: Any, staged: Any, target: str) -> None:
        tries.append(target)
        if target.endswith("b.txt") and tries.count(target) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")  # a is in place already
        real(repo, staged, target)

    monkeypatch.setattr(staging, "place", disk_full_once_at_b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AutologWarning)  # the failure for now is reported
        with autolog.start_run() as run:
            autolog.log_artifacts(folder, "outputs")
        autolog.flush(timeout=30)
    run_id = run.info.run_id
    listed = [f.path for f in autolog.list_artifacts(run_id, "outputs")]
    assert listed == ["outputs/a.txt", "outputs/b.txt", "outputs/c.txt"]
    for name in ("a", "b", "c"):
        copy = autolog.download_artifacts(run_id, f"outputs/{name}.txt", tmp_path / name)
        assert Path(copy).read_text() == name


def test_start_run_on_a_store_that_cannot_be_opened_does_not_raise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOLOG_START_TIMEOUT", "0.2")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    autolog.set_tracking_uri(f"sqlite:///{blocker}/runs.db")
    with pytest.warns(AutologWarning, match="tracking store failed"):
        with autolog.start_run() as run:
            autolog.log_metric("m", 1.0)
            autolog.log_param("p", 1)
        assert run.info.run_id
        with pytest.raises(StoreUnavailableError):
            autolog.flush(timeout=1)  # asking explicitly is answered, not hidden
    autolog.set_tracking_uri(None)


# --------------------------------------------------------------------------------------------
# 8. every bad input gets an AutologError naming it
# --------------------------------------------------------------------------------------------


def test_bad_input_is_always_an_autolog_error_naming_it() -> None:
    with autolog.start_run() as run:
        with pytest.raises(InvalidValueError, match="'m'"):
            autolog.log_metric("m", 10**400)
        with pytest.raises(InvalidValueError):
            autolog.log_param("huge", 10**5000)
    cases = [
        (lambda: autolog.set_experiment("exp\ud800"), InvalidInputError),
        (lambda: autolog.start_run(experiment="exp\x00"), InvalidInputError),
        (lambda: autolog.get_run("run\ud800"), InvalidInputError),
        (lambda: autolog.get_run("x" * 32), NotFoundError),
        (lambda: autolog.search_runs(filter_string="params.a = 'x\ud800'"), InvalidFilterError),
        (lambda: autolog.search_runs(filter_string="params.a = 'x\x00'"), InvalidFilterError),
        (lambda: autolog.search_runs(order_by=["params.a\ud800"]), InvalidFilterError),
        (lambda: autolog.search_runs("exp\ud800"), InvalidInputError),
        (lambda: autolog.load_model("models:/x/99999999999999999999999"), NotFoundError),
        (lambda: autolog.load_model("models:/x\ud800/1"), InvalidInputError),
        (lambda: autolog.register_model(f"runs:/{run.info.run_id}/model", "n\ud800"), None),
        (lambda: autolog.set_model_alias("n", "a", 99999999999999999999999), InvalidInputError),
        (lambda: autolog.get_metric_history(run.info.run_id, "m\ud800"), InvalidInputError),
        (lambda: autolog.list_artifacts(run.info.run_id, "a\ud800"), InvalidInputError),
        (lambda: autolog.download_artifacts(run.info.run_id, "a\x00"), InvalidInputError),
    ]
    for call, kind in cases:
        with pytest.raises(kind or InvalidInputError):
            call()
    assert autolog.search_runs(filter_string="attributes.start_time > 1e19") == []


# --------------------------------------------------------------------------------------------
# 9. one damaged file must not break the file store
# --------------------------------------------------------------------------------------------


def test_a_status_that_is_not_text_is_refused_naming_its_type() -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no text for you")

    with autolog.start_run() as run:
        for status in (Unprintable(), 3, None):
            with pytest.raises(InvalidInputError, match=type(status).__name__):
                autolog.end_run(status)  # type: ignore[arg-type]
            with pytest.raises(InvalidInputError, match=type(status).__name__):
                run.end(status)  # type: ignore[arg-type]
        assert autolog.active_run() is run  # nothing changed
    assert autolog.get_run(run.info.run_id).info.status is RunStatus.FINISHED


def test_a_damaged_file_store_record_is_skipped_and_reported(tmp_path: Path) -> None:
    uri = (tmp_path / "files").as_uri()
    autolog.set_tracking_uri(uri)
    with autolog.start_run() as broken:
        autolog.log_metric("m", 1.0)
    with autolog.start_run() as fine:
        autolog.log_metric("m", 2.0)
    autolog.set_experiment("other")
    with autolog.start_run():
        pass
    autolog.set_experiment(None)
    autolog.flush()
    root = tmp_path / "files"
    (root / "0" / broken.info.run_id / "run.json").write_text("{ garbage")
    (root / "0" / "experiment.json").write_text("not json at all")
    with pytest.warns(AutologWarning, match="damaged"):
        found = autolog.search_runs()
        assert fine.info.run_id in [r.info.run_id for r in found]
        assert broken.info.run_id not in [r.info.run_id for r in found]
        with autolog.start_run() as again:  # its experiment's record is the damaged one
            autolog.log_metric("m", 3.0)
        experiments = autolog.Client(uri).list_experiments()
    assert [e.name for e in experiments] == ["other"]
    assert autolog.get_run(again.info.run_id).data.metrics == {"m": 3.0}
    assert autolog.get_run(again.info.run_id).info.experiment_id == "0"


# --------------------------------------------------------------------------------------------
# 11. downloads never follow links
# --------------------------------------------------------------------------------------------


def test_downloads_neither_write_through_nor_read_through_links(tmp_path: Path) -> None:
    (tmp_path / "report.txt").write_text("ours")
    with autolog.start_run() as run:
        autolog.log_artifact(tmp_path / "report.txt")
    autolog.flush()
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    destination = tmp_path / "dst"
    destination.mkdir()
    (destination / "report.txt").symlink_to(outside)
    autolog.download_artifacts(run.info.run_id, "report.txt", destination)
    assert outside.read_text() == "precious"  # the link was replaced, not followed
    assert (destination / "report.txt").read_text() == "ours"
    assert not (destination / "report.txt").is_symlink()

    root = Path(run.info.artifact_uri.removeprefix("file://"))
    secret = tmp_path / "secret.txt"
    secret.write_text("not an artifact")
    os.link(secret, root / "planted.txt")
    with pytest.raises(UnsafePathError, match="hard links"):
        autolog.download_artifacts(run.info.run_id, "planted.txt", tmp_path / "dst2")
    with pytest.raises(UnsafePathError, match="hard links"):
        autolog.download_artifacts(run.info.run_id, "", tmp_path / "dst3")


# --------------------------------------------------------------------------------------------
# 12. the memory bound applies as values arrive
# --------------------------------------------------------------------------------------------


class HangingStore(MemoryStore):
    """Writes block until ``release`` is set (a store stuck for the length of an outage)."""

    def __init__(self) -> None:
        super().__init__("file:///tmp/unused")
        self.release = threading.Event()

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        self.release.wait(60)
        super().log_batch(run_id, metrics, params, tags)


def test_the_memory_bound_applies_as_values_arrive() -> None:
    store = HangingStore()
    writer = Writer(store, interval=0.01, batch_size=1_000, max_pending=5_000)
    queue_run(writer, store, "r1")
    queue = writer.metric_queue("r1")
    writer.metric("r1", Metric("m", -1.0, -1, 0))
    time.sleep(0.2)  # the writer is now stuck in the store with that one value
    with pytest.warns(AutologWarning, match="oldest metric values are being dropped"):
        for step in range(100_000):
            queue.append(Metric("m", float(step), step, 0))  # what Client.log_metric does
            if len(queue) >= writer.batch_size:
                writer.wake()
            if step % 10_000 == 0:
                assert writer.pending <= 5_000 + 1_100
        assert writer.pending <= 5_000 + 1_100
    store.release.set()
    assert writer.flush(timeout=30)
    history = store.get_metric_history("r1", "m")
    assert history[-1].step == 99_999  # the newest survive
    assert len(history) + writer.dropped == 100_001
    writer.close()


def test_the_memory_bound_counts_the_values_the_store_is_stuck_with() -> None:
    store = HangingStore()
    writer = Writer(store, interval=0.01, batch_size=1_000, max_pending=5_000)
    queue_run(writer, store, "r1")
    queue = writer.metric_queue("r1")
    for step in range(4_000):
        queue.append(Metric("m", float(step), step, 0))
    writer.wake()
    time.sleep(0.3)  # the writer took what was queued and is stuck in the store with it
    pushed = 4_000
    with pytest.warns(AutologWarning, match="oldest metric values are being dropped"):
        for step in range(4_000, 50_000):
            queue.append(Metric("m", float(step), step, 0))
            pushed += 1
            if len(queue) >= writer.batch_size:
                writer.wake()
            if step % 5_000 == 0:
                # held: in the store's call (nothing is stored yet) and queued
                assert pushed - writer.dropped <= 5_000 + 1_100
    store.release.set()
    assert writer.flush(timeout=30)
    history = store.get_metric_history("r1", "m")
    assert history[-1].step == 49_999
    assert len(history) + writer.dropped == 50_000
    writer.close()


# --------------------------------------------------------------------------------------------
# 13. a deleted database does not lose data silently
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_deleted_sqlite_database_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    autolog.set_tracking_uri(f"sqlite:///{path}")
    first = autolog.start_run()
    autolog.log_metric("m", 1.0)
    autolog.flush()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    # said once, and the live run goes on in the new database (issue 17: it was lost, with a
    # warning per record)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        autolog.log_metric("m", 2.0)
        autolog.end_run()
        autolog.flush(timeout=10)
    messages = [str(w.message) for w in caught if issubclass(w.category, AutologWarning)]
    assert len(messages) == 1, messages
    assert "created again" in messages[0]
    assert path.exists()  # a new database, where what comes next goes
    again = autolog.get_run(first.info.run_id)
    assert again.data.metrics == {"m": 2.0}
    assert again.info.status is RunStatus.FINISHED
    with autolog.start_run() as run:
        autolog.log_metric("m", 3.0)
    assert autolog.get_run(run.info.run_id).data.metrics == {"m": 3.0}


@pytest.mark.slow
def test_a_database_replaced_is_said_even_while_another_failure_is_being_reported() -> None:
    from autolog.errors import StoreReplacedError

    class Failing(MemoryStore):
        def __init__(self) -> None:
            super().__init__("file:///tmp/unused")
            self.errors: list[Exception] = [
                StoreUnavailableError("database is locked"),
                StoreReplacedError("the database file /x.db was deleted while in use"),
            ]

        def log_batch(self, run_id: str, *args: Any, **kwargs: Any) -> None:
            if self.errors:
                raise self.errors.pop(0)
            super().log_batch(run_id, *args, **kwargs)

    store = Failing()
    writer = Writer(store, interval=0.01, batch_size=1_000, max_pending=5_000)
    queue_run(writer, store, "r1")
    with pytest.warns(AutologWarning) as caught:
        writer.metric("r1", Metric("m", 1.0, 0, 0))
        assert writer.flush(timeout=30)
    messages = [str(w.message) for w in caught]
    assert any("database is locked" in m for m in messages), messages
    assert any("deleted while in use" in m for m in messages), messages
    assert [m.value for m in store.get_metric_history("r1", "m")] == [1.0]
    writer.close()


# --------------------------------------------------------------------------------------------
# 4 and 5 through the public API: finished means finished; a model is what log_model made
# --------------------------------------------------------------------------------------------


def test_a_second_process_cannot_write_to_a_run_its_owner_ended(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/shared.db"
    with autolog.Client(uri) as owner:
        run_id = owner.create_run("e").info.run_id
        owner.log_metric(run_id, "m", 1.0)
    script = tmp_path / "second.py"
    script.write_text(
        f"""
import time, warnings
import autolog
client = autolog.Client({uri!r})
client.log_metric({run_id!r}, "m", 2.0)
client.flush()
print("ready", flush=True)
while client.store.get_run({run_id!r}).info.status.value == "RUNNING":
    time.sleep(0.05)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    client.log_metric({run_id!r}, "m", 3.0)
    client.log_param({run_id!r}, "late", "x")
    client.flush()
print(len(caught), "|".join(str(w.message) for w in caught), flush=True)
"""
    )
    second = subprocess.Popen(
        [sys.executable, str(script)], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    assert second.stdout is not None
    assert second.stdout.readline().strip() == "ready"
    with autolog.Client(uri) as owner:
        owner.set_terminated(run_id)
        owner.flush()
    output, _ = second.communicate(timeout=60)
    assert "FINISHED" in output, output
    assert "takes no writes" in output, output
    with autolog.Client(uri) as reader:
        stored = reader.get_run(run_id)
        assert stored.info.status is RunStatus.FINISHED
        assert [m.value for m in reader.get_metric_history(run_id, "m")] == [1.0, 2.0]
        assert stored.data.params == {}


def test_a_registered_version_always_loads_what_was_registered() -> None:
    with autolog.start_run() as run:
        autolog.log_model({"version": "original"}, "clf")
        autolog.flush()
        version = autolog.register_model(f"runs:/{run.info.run_id}/clf", "clf")
        with pytest.warns(AutologWarning, match="registered"):
            autolog.log_model({"version": "REPLACED"}, "clf")
            autolog.flush()
    assert autolog.load_model(f"models:/clf/{version.version}") == {"version": "original"}
    assert autolog.load_model(f"runs:/{run.info.run_id}/clf") == {"version": "original"}


class _Bomb:
    """Unpickling it leaves a mark: it must never happen."""

    def __init__(self, mark: str) -> None:
        self.mark = mark

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path(self.mark).write_text, ("unpickled!",))


def test_a_folder_that_looks_like_a_model_is_not_one(tmp_path: Path) -> None:
    mark = tmp_path / "mark.txt"
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "model.pkl").write_bytes(pickle.dumps(_Bomb(str(mark))))
    (evil / "autolog-model.json").write_text(
        '{"flavor": "pickle", "files": {}, "format_version": 1}'
    )
    with autolog.start_run() as run:
        autolog.log_artifacts(evil, "evil")
    autolog.flush()
    assert {f.path for f in autolog.list_artifacts(run.info.run_id, "evil")} == {
        "evil/autolog-model.json",
        "evil/model.pkl",
    }
    with pytest.raises(NotFoundError, match="model"):
        autolog.register_model(f"runs:/{run.info.run_id}/evil", "evil")
    with pytest.raises(NotFoundError, match="model"):
        autolog.load_model(f"runs:/{run.info.run_id}/evil")
    assert not mark.exists()


# --------------------------------------------------------------------------------------------
# issue 11, item 4: warnings the tests can see
# --------------------------------------------------------------------------------------------


def test_a_warning_made_an_error_on_the_writer_thread_is_reported_not_swallowed(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = run_script(
        f"""
        import autolog
        autolog.set_tracking_uri("sqlite:///{blocker}/runs.db")
        with autolog.start_run():
            autolog.log_metric("m", 1.0)
        print("training went on", flush=True)
        """,
        tmp_path,
        env={"PYTHONWARNINGS": "error", "AUTOLOG_EXIT_TIMEOUT": "1", "AUTOLOG_START_TIMEOUT": "0"},
    )
    assert done.returncode == 0, done.stderr
    assert "training went on" in done.stdout
    # Python's report of an exception no one caught in a thread, with our warning in it
    assert "Exception in thread autolog-writer" in done.stderr
    assert "AutologWarning: autolog: the tracking store failed" in done.stderr


def test_a_model_of_a_run_looked_up_too_late_is_written_and_holds_nothing_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The run was made elsewhere; looking it up is not waited for (the store is slow): the
    # model still needs the run's artifact folder, and must not hold up the run's end.
    from autolog.stores.base import open_store

    uri = f"sqlite:///{tmp_path}/runs.db"
    store = open_store(uri)
    experiment = store.get_or_create_experiment("elsewhere")
    run_id = "ab" * 16
    artifacts = f"{tmp_path}/artifacts/{run_id}"
    store.create_run(run_id, experiment.experiment_id, "r", 1, artifacts, None, {})
    store.close()
    monkeypatch.setenv("AUTOLOG_START_TIMEOUT", "0")
    with autolog.Client(uri) as client:
        client.log_model(run_id, {"made": "late"})
        client.log_metric(run_id, "m", 1.0)
        client.set_terminated(run_id)
        assert client.flush(timeout=20)
        assert client.get_run(run_id).info.status is RunStatus.FINISHED
        assert client.load_model(f"runs:/{run_id}/model") == {"made": "late"}


def test_a_full_disk_is_transient_for_every_kind_of_write() -> None:
    # Issue 17: one retry policy (errors.is_transient) for values, artifacts and models; a
    # layer that wraps a full disk in a StoreError does not turn it into a drop.
    from autolog.errors import StoreError, is_transient

    for code in (errno.ENOSPC, errno.EDQUOT):
        full = OSError(code, os.strerror(code))
        assert is_transient(full)
        wrapped = StoreError("cannot write artifact model/model.pkl")
        wrapped.__cause__ = full  # raise ... from full
        assert is_transient(wrapped)
    assert not is_transient(StoreError("a file where a folder should be"))
    # Issue 16: one policy for every store and kind of write. A permission error or a
    # read-only mount may be given back (an administrator, a backup's chmod): retried like a
    # full disk, for metrics in a file store and for a model's copy alike.
    for code in (errno.EACCES, errno.EPERM, errno.EROFS, errno.EMFILE):
        assert is_transient(OSError(code, os.strerror(code)))
    assert not is_transient(InvalidInputError("bad"))
