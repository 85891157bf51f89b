"""The writer's side of issue 17: memory flat over any number of runs (3), artifacts copied
off the training thread (4), a full disk waited out by artifacts and models as by metrics (5),
and an exit report that tells written, not written and in flight apart (6)."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import shutil
import subprocess
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import run_script

import autolog
from autolog.errors import AutologWarning, StoreUnavailableError

# --------------------------------------------------------------------------------------------
# 3. nothing is kept per run
# --------------------------------------------------------------------------------------------


def _retained_blocks(warm_up: Callable[[], None], work: Callable[[], None]) -> tuple[int, int]:
    """Blocks and bytes allocated by autolog's own code and still held after ``work`` beyond
    what they were after ``warm_up`` (traced from before it, so that what ``work`` frees of
    it counts), once the writer has written everything (it forgets a run at the pass after
    its end)."""

    def settle() -> None:
        for _ in range(2):
            autolog.flush(timeout=30)
            time.sleep(0.05)
        gc.collect()

    ours = [tracemalloc.Filter(True, "*/autolog/*"), tracemalloc.Filter(True, "*/integrations/*")]
    tracemalloc.start(1)
    try:
        warm_up()
        settle()
        before = tracemalloc.take_snapshot().filter_traces(ours)
        work()
        settle()
        after = tracemalloc.take_snapshot().filter_traces(ours)
    finally:
        tracemalloc.stop()
    diff = after.compare_to(before, "lineno")
    return sum(d.count_diff for d in diff), sum(d.size_diff for d in diff)


def _short_runs(n: int) -> None:
    for _ in range(n):
        with autolog.start_run():
            autolog.log_param("p", 1)
            autolog.log_metric("m", 1.0)


@pytest.mark.slow
def test_thousands_of_short_runs_leave_nothing_behind() -> None:
    # the warm-up goes past every bounded memory of recent runs (1,000 ended runs)
    blocks, size = _retained_blocks(lambda: _short_runs(1_200), lambda: _short_runs(2_000))
    # A table that grew to hold a larger backlog is one block: a few may stay, never one a run.
    assert blocks < 50, f"{blocks} blocks ({size:,} bytes) kept for 2,000 ended runs"


def test_a_run_ended_long_ago_is_still_refused_writes() -> None:
    with autolog.start_run() as old:
        autolog.log_metric("m", 1.0)
    _short_runs(1_001)  # it is no longer among the ended runs remembered here
    autolog.flush()
    client = autolog.Client()
    with pytest.raises(autolog.InvalidInputError, match="FINISHED"):
        client.log_metric(old.info.run_id, "m", 2.0)  # the store says so
    assert autolog.get_run(old.info.run_id).data.metrics == {"m": 1.0}
    client.close()


@pytest.mark.slow
def test_runs_looked_up_not_started_here_are_not_kept_for_ever() -> None:
    client = autolog.Client()
    experiment = client.get_or_create_experiment("elsewhere")

    def made_elsewhere(n: int) -> list[str]:
        ids = [uuid.uuid4().hex for _ in range(n)]
        for run_id in ids:  # straight into the store, as another process would
            client.store.create_run(run_id, experiment.experiment_id, run_id, 1, "", None, {})
        return ids

    def log_to(ids: list[str]) -> None:
        for run_id in ids:
            client.log_metric(run_id, "m", 1.0)

    first, later = made_elsewhere(1_100), made_elsewhere(1_500)
    blocks, size = _retained_blocks(lambda: log_to(first), lambda: log_to(later))
    assert blocks < 50, f"{blocks} blocks ({size:,} bytes) kept for 1,500 runs logged to"
    assert len(client.get_metric_history(later[0], "m")) == 1  # forgotten, and written
    client.log_metric(later[0], "m", 2.0, step=1)  # looked up again
    assert [m.value for m in client.get_metric_history(later[0], "m")] == [1.0, 2.0]
    client.close()


# --------------------------------------------------------------------------------------------
# 4. log_artifact: a snapshot on the calling thread, the copy on the writer's
# --------------------------------------------------------------------------------------------


def _hold_file_thread(run_id: str) -> threading.Event:
    """Keep the writer's file thread busy until the returned event is set."""
    from autolog.backends import acquire

    release = threading.Event()
    backend = acquire(autolog.get_tracking_uri())
    try:
        backend.writer.heavy(run_id, lambda: release.wait(30), what="a test's wait")
    finally:
        backend.clients -= 1
    return release


def test_log_artifact_of_a_large_file_does_not_copy_it_on_the_calling_thread(
    tmp_path: Path,
) -> None:
    big = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    with big.open("wb") as f:
        for _ in range(64):
            f.write(block)
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    started = time.perf_counter()
    copied = hashlib.sha256()
    shutil.copyfile(big, tmp_path / "copy.bin")  # what the call cost before: copy and hash
    copied.update((tmp_path / "copy.bin").read_bytes())
    copy_seconds = time.perf_counter() - started
    with autolog.start_run() as run:
        autolog.log_metric("warm", 1.0)
        autolog.flush()
        calls = []
        for folder in ("a", "b", "c"):
            started = time.perf_counter()
            autolog.log_artifact(big, folder)
            calls.append(time.perf_counter() - started)
    assert min(calls) < copy_seconds / 10, (calls, copy_seconds)
    for folder in ("a", "b", "c"):
        out = Path(
            autolog.download_artifacts(run.info.run_id, f"{folder}/big.bin", tmp_path / folder)
        )
        assert hashlib.sha256(out.read_bytes()).hexdigest() == digest


def test_a_large_file_replaced_or_deleted_after_the_call_is_logged_as_it_was(
    tmp_path: Path,
) -> None:
    first = tmp_path / "first.bin"
    second = tmp_path / "second.bin"
    old = os.urandom(1 << 20)
    first.write_bytes(old)
    second.write_bytes(old)
    with autolog.start_run() as run:
        release = _hold_file_thread(run.info.run_id)  # the copies wait: the changes come first
        autolog.log_artifact(first)
        autolog.log_artifact(second)
        replacement = tmp_path / "new.bin"
        replacement.write_bytes(b"new content")
        os.replace(replacement, first)  # how a careful program rewrites a file
        second.unlink()
        release.set()
    for name in ("first.bin", "second.bin"):
        out = Path(autolog.download_artifacts(run.info.run_id, name, tmp_path / "out"))
        assert out.read_bytes() == old
    leftovers = [p.name for p in tmp_path.rglob("*") if ".tmp-" in p.name]
    assert leftovers == []


def test_a_large_file_rewritten_in_place_before_its_copy_is_not_logged_and_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOLOG_STRICT", "0")  # the drop is a warning from the writer thread
    path = tmp_path / "weights.bin"
    path.write_bytes(os.urandom(1 << 20))
    small = tmp_path / "small.json"
    small.write_text('{"a": 1}')
    with pytest.warns(AutologWarning, match=r"weights\.bin changed .*not logged"):
        with autolog.start_run() as run:
            release = _hold_file_thread(run.info.run_id)
            autolog.log_artifact(path)
            autolog.log_artifact(small)
            with path.open("r+b") as f:  # in place: the logged bytes are gone
                f.write(b"rewritten")
            small.write_text('{"a": 2}')  # a small file was copied at the call
            release.set()
        autolog.flush(timeout=30)
    names = [f.path for f in autolog.list_artifacts(run.info.run_id)]
    assert names == ["small.json"]
    out = Path(autolog.download_artifacts(run.info.run_id, "small.json", tmp_path / "out"))
    assert out.read_text() == '{"a": 1}'


# --------------------------------------------------------------------------------------------
# 5. a full disk: artifacts and models wait for space, as metrics do, and land
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _small_disk(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """``folder`` on a full disk (a 1 MiB tmpfs filled up, where this process may mount one;
    else every temporary file made under it fails with ENOSPC, the one way autolog's artifact
    writes create files). Yields the function that frees the space."""
    import errno

    from autolog.artifacts import local

    folder.mkdir(parents=True, exist_ok=True)
    mounted = (
        os.geteuid() == 0
        and shutil.which("mount") is not None
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    filler = folder / "filler"
    if mounted:
        with contextlib.suppress(OSError), filler.open("wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()

        def free() -> None:
            filler.unlink()

    else:
        real = local.tempfile.mkstemp
        full = [True]

        def mkstemp(*args: Any, **kwargs: Any) -> Any:
            where = str(kwargs.get("dir", ""))
            if full[0] and where.startswith(str(folder)):
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(*args, **kwargs)

        monkeypatch.setattr(local.tempfile, "mkstemp", mkstemp)

        def free() -> None:
            full[0] = False

    try:
        yield free
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.slow
def test_artifacts_and_models_on_a_full_disk_wait_for_space_and_land(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    large = tmp_path / "large.bin"
    large.write_bytes(os.urandom(300 * 1024))
    small = tmp_path / "small.txt"
    small.write_text("small")
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.txt").write_text("a")
    with autolog.start_run() as run:  # the run's artifact folder is made before the disk fills
        autolog.flush()
    artifacts = tmp_path / "autolog-runs" / "artifacts"
    with _small_disk(artifacts, monkeypatch) as free:
        failing = pytest.warns(AutologWarning, match="tracking store failed")
        with failing, autolog.start_run() as run:
            autolog.log_metric("m", 1.0)
            autolog.log_artifact(large)
            autolog.log_artifact(small)
            autolog.log_artifacts(folder, "tree")
            autolog.log_model({"weights": list(range(100))})
            with pytest.raises(StoreUnavailableError):
                autolog.flush(timeout=1.5)  # the disk is full: waited out, not dropped
            free()
            autolog.flush(timeout=60)
        run_id = run.info.run_id
        paths = sorted(f.path for f in autolog.list_artifacts(run_id))
        assert paths == ["large.bin", "model", "small.txt", "tree"]
        out = tmp_path / "out"
        assert Path(autolog.download_artifacts(run_id, "large.bin", out)).read_bytes() == (
            large.read_bytes()
        )
        assert Path(autolog.download_artifacts(run_id, "tree/sub/a.txt", out)).read_text() == "a"
        assert autolog.load_model(f"runs:/{run_id}/model") == {"weights": list(range(100))}
        assert autolog.get_run(run_id).data.metrics == {"m": 1.0}
        autolog.flush()


# --------------------------------------------------------------------------------------------
# 6. the exit report: written, not written, in flight
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_exit_report_tells_what_is_in_flight_from_what_was_not_written(
    tmp_path: Path,
) -> None:
    done = run_script(
        f"""
        import threading
        import autolog
        from autolog.stores.sql import SqlStore

        real = SqlStore.log_batch
        entered, hang = threading.Event(), threading.Event()

        def log_batch(self, run_id, metrics=(), params=(), tags=()):
            if hang.is_set():
                entered.set()
                threading.Event().wait()  # a store call that never returns
            return real(self, run_id, metrics, params, tags)

        SqlStore.log_batch = log_batch
        autolog.set_tracking_uri("sqlite:///{tmp_path}/runs.db")
        with autolog.start_run():
            for i in range(1000):
                autolog.log_metric("m", float(i))
            autolog.flush()
            hang.set()
            for i in range(500):
                autolog.log_metric("m", float(i))
            autolog.Client(autolog.get_tracking_uri()).flush(timeout=0.01)  # no wait
            assert entered.wait(10)
            for i in range(200):
                autolog.log_metric("m", float(i))
        """,
        tmp_path,
        env={"AUTOLOG_EXIT_TIMEOUT": "1"},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert any(
        "not written to sqlite:///" in line and line.endswith(": 200 metric values, 1 run ends")
        for line in lines
    ), done.stderr
    assert any(
        "in flight" in line and "outcome unknown" in line and ": 500 metric values" in line
        for line in lines
    ), done.stderr
    assert any("written to sqlite:///" in line and "1,000 metric values" in line for line in lines)
