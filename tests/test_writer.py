"""The background writer: batching, ordering, flush, and a store that fails."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping, Sequence

import pytest
from support import queue_run

from autolog.entities import Metric, Param, RunStatus, RunTag
from autolog.errors import AutologWarning, StoreUnavailableError
from autolog.stores.base import RunCreation, RunWrites, Store, open_store
from autolog.stores.memory import MemoryStore
from autolog.stores.rest import RestStore
from autolog.writer import NotYet, Writer


class FlakyStore(MemoryStore):
    """A memory store whose writes fail while ``down`` is set."""

    def __init__(self) -> None:
        super().__init__("file:///tmp/unused")
        self.down = False
        self.down_runs: set[str] = set()
        self.calls = 0

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        self.calls += 1
        if self.down or run_id in self.down_runs:
            raise StoreUnavailableError("disk full (simulated)")
        super().log_batch(run_id, metrics, params, tags)

    def write_run(self, run_id: str, writes: RunWrites) -> None:
        self.calls += 1
        if self.down or run_id in self.down_runs:
            raise StoreUnavailableError("disk full (simulated)")
        super().write_run(run_id, writes)


def test_everything_is_stored_in_order_and_batched() -> None:
    store = FlakyStore()
    writer = Writer(store, interval=60)
    queue_run(writer, store, "r1")
    for step in range(10_000):
        writer.metric("r1", Metric("loss", float(step), step, step))
    writer.param("r1", Param("p", "1"))
    writer.tag("r1", RunTag("t", "x"))
    writer.end_run("r1", RunStatus.FINISHED, 5)
    assert writer.flush(timeout=10)
    run = store.get_run("r1")
    assert run.info.status is RunStatus.FINISHED
    assert run.data.params == {"p": "1"}
    assert len(store.get_metric_history("r1", "loss")) == 10_000
    assert store.calls <= 3  # batched, not one call per value
    writer.close()


def test_a_failing_store_warns_once_keeps_data_and_catches_up() -> None:
    store = FlakyStore()
    writer = Writer(store, interval=0.05)
    queue_run(writer, store, "r1")
    assert writer.flush(timeout=5)
    store.down = True
    with pytest.warns(AutologWarning, match="disk full") as record:
        for step in range(100):
            writer.metric("r1", Metric("m", 1.0, step, step))
        assert not writer.flush(timeout=0.5)  # not stored while the store is down
        for step in range(100, 200):
            writer.metric("r1", Metric("m", 1.0, step, step))
        assert not writer.flush(timeout=0.3)
    assert len(record) == 1
    store.down = False
    assert writer.flush(timeout=40)
    assert [m.step for m in store.get_metric_history("r1", "m")] == list(range(200))
    assert writer.dropped == 0
    writer.close()


def test_the_backlog_is_bounded_and_drops_oldest_metrics_first() -> None:
    store = FlakyStore()
    writer = Writer(store, interval=0.05, max_pending=50)
    queue_run(writer, store, "r1")
    assert writer.flush(timeout=5)
    store.down = True
    with pytest.warns(AutologWarning):
        for step in range(120):
            writer.metric("r1", Metric("m", 1.0, step, step))
        writer.param("r1", Param("kept", "yes"))
        writer.end_run("r1", RunStatus.FINISHED, 9)
        assert not writer.flush(timeout=0.5)
    store.down = False
    assert writer.flush(timeout=40)
    history = store.get_metric_history("r1", "m")
    assert writer.dropped == 120 - len(history)
    assert writer.dropped > 0
    assert history[-1].step == 119  # the newest values survive
    run = store.get_run("r1")
    assert run.data.params == {"kept": "yes"}
    assert run.info.status is RunStatus.FINISHED
    writer.close()


def test_refused_params_are_dropped_with_a_warning_and_the_rest_kept() -> None:
    store = FlakyStore()
    writer = Writer(store, interval=60)
    queue_run(writer, store, "r1")
    writer.param("r1", Param("p", "1"))
    assert writer.flush(timeout=5)
    # Another process (or a resumed run) stored "p" = "1"; this one says "2".
    writer.param("r1", Param("p", "2"))
    writer.param("r1", Param("q", "3"))
    writer.metric("r1", Metric("m", 1.0, 0, 0))
    with pytest.warns(AutologWarning, match="'p'"):
        assert writer.flush(timeout=5)
    run = store.get_run("r1")
    assert run.data.params == {"p": "1", "q": "3"}
    assert run.data.metrics == {"m": 1.0}
    assert writer.dropped == 1
    writer.close()


def test_flush_from_many_threads() -> None:
    store = FlakyStore()
    writer = Writer(store, interval=60)
    queue_run(writer, store, "r1")
    results: list[bool] = []

    def work(offset: int) -> None:
        for step in range(500):
            writer.metric("r1", Metric(f"k{offset}", 1.0, step, step))
        results.append(writer.flush(timeout=10))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 6
    for offset in range(6):
        assert len(store.get_metric_history("r1", f"k{offset}")) == 500
    writer.close()


def test_flush_on_an_idle_writer_returns_at_once() -> None:
    writer = Writer(FlakyStore(), interval=60)
    assert writer.flush(timeout=0.01)
    assert writer.pending == 0


def test_a_partial_failure_neither_loses_nor_duplicates() -> None:
    store = FlakyStore()
    writer = Writer(store, interval=0.05)
    for run_id in ("a", "b", "c"):
        queue_run(writer, store, run_id)
    assert writer.flush(timeout=5)
    store.down_runs = {"b"}
    with pytest.warns(AutologWarning, match="disk full"):
        for step in range(300):
            for run_id in ("a", "b", "c"):
                writer.metric(run_id, Metric("m", float(step), step, step))
            if step == 150:
                writer.end_run("a", RunStatus.FINISHED, 7)
                writer.tag("c", RunTag("t", "1"))
        assert not writer.flush(timeout=0.5)
    store.down_runs = set()
    assert writer.flush(timeout=40)
    for run_id in ("a", "b", "c"):
        steps = [m.step for m in store.get_metric_history(run_id, "m")]
        assert steps == list(range(300)), run_id
    assert store.get_run("a").info.status is RunStatus.FINISHED
    assert store.get_run("c").data.tags == {"t": "1"}
    writer.close()


class ParamFlakyStore(FlakyStore):
    """Fails transiently, once, when asked to store the param "q"."""

    def __init__(self) -> None:
        super().__init__()
        self.q_failures = 1

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        if len(params) == 1 and params[0].key == "q" and self.q_failures:
            self.q_failures -= 1
            raise StoreUnavailableError("lock timeout (simulated)")
        super().log_batch(run_id, metrics, params, tags)


def test_a_retry_after_a_partial_write_duplicates_nothing() -> None:
    store = ParamFlakyStore()
    writer = Writer(store, interval=0.05)
    queue_run(writer, store, "r1")
    writer.param("r1", Param("p", "1"))
    assert writer.flush(timeout=5)
    for step in range(3):
        writer.metric("r1", Metric("m", float(step), step, step))
    writer.param("r1", Param("p", "2"))  # refused for good
    writer.param("r1", Param("q", "3"))  # fails once, then is stored
    with pytest.warns(AutologWarning):
        assert writer.flush(timeout=40)
    assert [m.step for m in store.get_metric_history("r1", "m")] == [0, 1, 2]
    assert store.get_run("r1").data.params == {"p": "1", "q": "3"}
    writer.close()


def test_values_wait_for_their_runs_creation() -> None:
    store = FlakyStore()
    writer = Writer(store, interval=3600)
    # the values of a run whose creation another thread has yet to queue
    writer.metric_queue("late").append(Metric("m", 1.0, 0, 0))
    assert writer.flush(timeout=5)
    assert writer.pending == 1  # carried, not dropped
    queue_run(writer, store, "late")
    assert writer.flush(timeout=5)
    assert [m.value for m in store.get_metric_history("late", "m")] == [1.0]
    writer.end_run("late", RunStatus.FINISHED, 1)
    assert writer.flush(timeout=5)
    assert writer.flush(timeout=5)  # a second round forgets the ended run's empty deque
    assert "late" not in writer._metrics
    writer.close()


def test_values_of_a_run_not_created_yet_survive_a_failure_later_in_the_same_pass() -> None:
    store = FlakyStore()
    writer = Writer(store, interval=0.02)
    queue_run(writer, store, "r1")
    assert writer.flush(timeout=5)
    store.down_runs = {"r1"}  # r1's writes fail for now
    with pytest.warns(AutologWarning, match="disk full"):
        writer.param("r2", Param("p", "1"))  # r2's creation is not queued yet
        writer.param("r1", Param("q", "2"))  # after it, in the same pass (no flush marker)
        writer.wake()
        deadline = time.monotonic() + 10
        while store.calls < 3 and time.monotonic() < deadline:
            time.sleep(0.01)  # the writer's own passes fail on r1, and retry
    store.down_runs = set()
    queue_run(writer, store, "r2")
    assert writer.flush(timeout=10)
    assert store.get_run("r2").data.params == {"p": "1"}
    assert store.get_run("r1").data.params == {"q": "2"}
    writer.close()


def test_a_job_waiting_for_its_run_goes_as_soon_as_the_run_is_stored() -> None:
    # fit(); search_runs(): the model's job waits for its run to be stored, then the run's
    # end and the flush wait for the job. The file thread is woken when the run is stored,
    # not by a timer (it used to sleep exactly 1 s).
    store = MemoryStore()
    writer = Writer(store, interval=1.0)  # the default: data is durable within a second
    experiment = store.get_or_create_experiment("e")
    created = threading.Event()

    def slow_resolve(_store: object, arguments: dict[str, object]) -> dict[str, object]:
        time.sleep(0.1)  # the experiment looked up, the context found: takes a while
        return arguments

    writer.create_run(
        "r1",
        experiment_id=experiment.experiment_id,
        run_name="r1",
        start_time=1,
        artifact_uri="file:///tmp/x",
        parent_run_id=None,
        tags={},
        resolve=slow_resolve,
    )
    writer.call("r1", created.set)

    def model_job() -> None:
        if not created.is_set():
            raise NotYet("the run is not stored yet")
        writer.model("r1", "model", {"model/model.pkl": "0" * 64})

    started = time.monotonic()
    writer.heavy("r1", model_job)
    writer.end_run("r1", RunStatus.FINISHED, 2)
    assert writer.flush(timeout=10)
    elapsed = time.monotonic() - started
    assert elapsed < 0.5, f"fit then read took {elapsed:.2f} s"
    assert store.get_run("r1").info.status is RunStatus.FINISHED
    assert store.get_model_files("r1", "model") == {"model/model.pkl": "0" * 64}
    writer.close()


class CountingStore(MemoryStore):
    """A memory store that counts the write calls the writer makes, by method (not the
    calls the store makes to itself: ``create_run`` may be a ``write_run``)."""

    def __init__(self) -> None:
        super().__init__("file:///tmp/unused")
        self.counts: dict[str, int] = {}
        self.depth = 0
        self.hold: threading.Event | None = None  # write_run waits for it while set here

    @contextlib.contextmanager
    def _count(self, name: str) -> Iterator[None]:
        if self.depth == 0:
            self.counts[name] = self.counts.get(name, 0) + 1
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def write_run(self, run_id: str, writes: RunWrites) -> None:
        with self._count("write_run"):
            if self.hold is not None:
                self.hold.wait(10)
            super().write_run(run_id, writes)

    def create_run(self, run_id: str, *args: object, **kwargs: object) -> None:
        with self._count("create_run"):
            super().create_run(run_id, *args, **kwargs)  # type: ignore[arg-type]

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        batch_id: str | None = None,
    ) -> None:
        with self._count("log_batch"):
            super().log_batch(run_id, metrics, params, tags, batch_id)

    def update_run(self, run_id: str, status: RunStatus, end_time: int | None) -> None:
        with self._count("update_run"):
            super().update_run(run_id, status, end_time)

    def record_artifact_hashes(self, run_id: str, hashes: Mapping[str, str]) -> None:
        with self._count("record_artifact_hashes"):
            super().record_artifact_hashes(run_id, hashes)

    def record_model(self, run_id: str, path: str, files: Mapping[str, str]) -> None:
        with self._count("record_model"):
            super().record_model(run_id, path, files)


def _queue_short_run(writer: Writer, store: Store, run_id: str, bad: bool = False) -> None:
    queue_run(writer, store, run_id)
    writer.param(run_id, Param("C", "1.0"))
    if bad:
        writer.param(run_id, Param("bad", "a\x00b"))  # no store can hold a NUL
    writer.param(run_id, Param("max_iter", "200"))
    writer.tag(run_id, RunTag("estimator", "LogisticRegression"))
    for step in range(5):
        writer.metric(run_id, Metric("loss", 1.0 / (step + 1), step, step))
    writer.hashes(run_id, {"cv_results.csv": "1" * 64})
    writer.model(run_id, "model", {"model/model.pkl": "2" * 64})
    writer.end_run(run_id, RunStatus.FINISHED, 9)


def _check_short_run(store: Store, run_id: str) -> None:
    run = store.get_run(run_id)
    assert run.info.status is RunStatus.FINISHED
    assert run.info.end_time == 9
    assert run.data.params == {"C": "1.0", "max_iter": "200"}
    assert run.data.tags["estimator"] == "LogisticRegression"
    assert [m.step for m in store.get_metric_history(run_id, "loss")] == list(range(5))
    assert store.get_artifact_hashes(run_id)["cv_results.csv"] == "1" * 64
    assert store.get_model_files(run_id, "model") == {"model/model.pkl": "2" * 64}


def test_a_short_run_queued_whole_is_one_unit_of_work() -> None:
    store = CountingStore()
    writer = Writer(store, interval=60)
    for run_id in ("a", "b"):
        _queue_short_run(writer, store, run_id)
    assert writer.flush(timeout=10)
    assert store.counts == {"write_run": 2}  # one unit of work per run, nothing else
    for run_id in ("a", "b"):
        _check_short_run(store, run_id)
    assert writer.written_by_kind == {
        "run creations": 2,
        "params": 4,
        "tags": 2,
        "metric values": 10,
        "artifact hash records": 2,
        "model records": 2,
        "run ends": 2,
    }
    assert writer.dropped == 0
    assert writer.pending == 0
    writer.close()


def test_a_call_on_a_run_keeps_its_place_between_the_runs_records() -> None:
    store = CountingStore()
    writer = Writer(store, interval=60)
    seen: list[str] = []
    queue_run(writer, store, "r1")
    writer.param("r1", Param("p", "1"))
    # a call reads what was queued before it, and the run has not ended yet
    writer.call("r1", lambda: seen.append(store.get_run("r1").info.status.value))
    writer.end_run("r1", RunStatus.FINISHED, 3)
    assert writer.flush(timeout=10)
    assert seen == ["RUNNING"]
    assert "write_run" not in store.counts
    assert store.get_run("r1").data.params == {"p": "1"}
    writer.close()


def test_a_whole_run_the_store_refuses_loses_only_the_refused_record() -> None:
    store = CountingStore()
    writer = Writer(store, interval=60)
    _queue_short_run(writer, store, "r1", bad=True)
    with pytest.warns(AutologWarning, match="'bad'"):
        assert writer.flush(timeout=10)
    # tried whole, then record by record
    assert store.counts["write_run"] == 1
    for method in ("create_run", "record_artifact_hashes", "record_model", "update_run"):
        assert store.counts[method] == 1, method
    _check_short_run(store, "r1")
    assert writer.dropped_by_kind == {"params": 1}
    writer.close()


def test_a_whole_run_is_retried_after_a_failure_for_now_and_stored_once() -> None:
    store = FlakyStore()
    store.down = True
    writer = Writer(store, interval=0.05)
    with pytest.warns(AutologWarning, match="disk full"):
        _queue_short_run(writer, store, "r1")
        assert not writer.flush(timeout=0.3)
    assert writer.unwritten()["run creations"] == 1
    store.down = False
    assert writer.flush(timeout=40)
    _check_short_run(store, "r1")
    assert writer.dropped == 0
    writer.close()


def test_a_whole_run_in_a_store_call_is_counted_in_flight() -> None:
    store = CountingStore()
    store.hold = threading.Event()
    writer = Writer(store, interval=60)
    _queue_short_run(writer, store, "r1")
    writer.wake()
    deadline = time.monotonic() + 10
    while "write_run" not in store.counts and time.monotonic() < deadline:
        time.sleep(0.005)
    flying = writer.in_flight()
    assert flying == {
        "run creations": 1,
        "params": 2,
        "tags": 1,
        "metric values": 5,
        "artifact hash records": 1,
        "model records": 1,
        "run ends": 1,
    }
    assert writer.unwritten() == {}
    store.hold.set()
    assert writer.flush(timeout=10)
    assert writer.in_flight() == {}
    assert writer.unwritten() == {}
    _check_short_run(store, "r1")
    writer.close()


def test_a_short_run_written_whole_round_trips_through_every_store(store: Store) -> None:
    writer = Writer(store, interval=60)
    _queue_short_run(writer, store, "0" * 32)
    assert writer.flush(timeout=30)
    assert writer.dropped == 0
    _check_short_run(store, "0" * 32)
    writer.close()


def test_a_whole_run_sent_again_to_a_server_is_stored_once(rest_uri: str) -> None:
    # The REST store's write_run is requests in a row. A sender whose first try got as far
    # as the batch (its answers lost) sends it all again: one run, one batch, then the rest.
    experiment_store = open_store(rest_uri)
    experiment = experiment_store.get_or_create_experiment("e")
    experiment_store.close()
    writes = RunWrites(
        create=RunCreation(experiment.experiment_id, "r", 1, "file:///tmp/x", None, {}),
        metrics=[Metric("loss", 0.5, 0, 1)],
        params=[Param("C", "1.0")],
        batch_id="b" * 32,
        hashes={"data.csv": "1" * 64},
        models={"model": {"model/model.pkl": "2" * 64}},
        end=(RunStatus.FINISHED, 9),
    )
    run_id = "1" * 32
    with RestStore(rest_uri) as store:
        store.write_run(run_id, writes._replace(hashes=None, models=None, end=None))
        store.write_run(run_id, writes)
        run = store.get_run(run_id)
        assert run.info.status is RunStatus.FINISHED
        assert run.data.params == {"C": "1.0"}
        assert [m.value for m in store.get_metric_history(run_id, "loss")] == [0.5]
        assert store.get_artifact_hashes(run_id)["data.csv"] == "1" * 64
        assert store.get_model_files(run_id, "model") == {"model/model.pkl": "2" * 64}


def _create_now(writer: Writer, store: Store, run_id: str) -> None:
    queue_run(writer, store, run_id, start_time=time.time_ns() // 1_000_000)


def test_back_to_back_short_runs_are_one_write_each_though_each_end_wakes_the_writer() -> None:
    # Issue 16: the end of run "a" wakes the writer while run "b" has just started; b's
    # records are held back for the next pass instead of being split from its end
    store = CountingStore()
    writer = Writer(store, interval=60)
    _create_now(writer, store, "a")
    writer.param("a", Param("C", "1"))
    writer.metrics_later("a", lambda: [Metric("score", 0.5, 0, 5)])
    _create_now(writer, store, "b")
    writer.param("b", Param("C", "2"))
    writer.end_run("a", RunStatus.FINISHED, 6)  # wakes the writer: b is young and open
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and store.counts.get("write_run", 0) < 1:
        time.sleep(0.005)
    assert store.counts == {"write_run": 1}  # a, whole; nothing of b yet
    writer.metrics_later("b", lambda: [Metric("score", 0.7, 0, 7)])
    writer.end_run("b", RunStatus.FINISHED, 8)
    assert writer.flush(timeout=10)
    assert store.counts == {"write_run": 2}
    for run_id, c, score in (("a", "1", 0.5), ("b", "2", 0.7)):
        run = store.get_run(run_id)
        assert run.info.status is RunStatus.FINISHED
        assert run.data.params == {"C": c}
        assert run.data.metrics == {"score": score}
    writer.close()


def test_a_flush_writes_a_run_that_just_started_at_once() -> None:
    store = CountingStore()
    writer = Writer(store, interval=60)
    _create_now(writer, store, "r")
    writer.metric("r", Metric("m", 1.0, 0, 0))
    assert writer.flush(timeout=10)  # not held back: a flush writes everything before it
    assert store.get_run("r").data.metrics == {"m": 1.0}
    writer.close()


def test_values_computed_later_that_fail_are_dropped_by_name_and_the_rest_kept() -> None:
    store = CountingStore()
    writer = Writer(store, interval=60)
    queue_run(writer, store, "r")

    def broken() -> list[Metric]:
        raise ZeroDivisionError("no samples")

    writer.metrics_later("r", broken)
    writer.metrics_later("r", lambda: [Metric("ok", 1.0, 0, 0)])
    writer.end_run("r", RunStatus.FINISHED, 2)
    with pytest.warns(AutologWarning, match="metrics computed later.*no samples"):
        assert writer.flush(timeout=10)
    assert store.get_run("r").data.metrics == {"ok": 1.0}
    assert writer.dropped_by_kind == {"metric computations": 1}
    writer.close()
