"""The background writer: batching, ordering, flush, and a store that fails."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest
from support import queue_run

from autolog.entities import Metric, Param, RunStatus, RunTag
from autolog.errors import AutologWarning, StoreUnavailableError
from autolog.stores.memory import MemoryStore
from autolog.writer import Writer


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
