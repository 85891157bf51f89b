"""What every engine must keep, run on each of them and through the REST store.

The stores that keep runs themselves (memory, file, SQLite, PostgreSQL) are ``Tracking`` over
an engine (``autolog.stores.engine``); the REST store is a transport to a server running the
same service. The rules are the service's and tested once (test_tracking_rules.py); here is
what differs by engine: round trips of every field and value, search pushed down to the engine
(equal to the reference, the memory engine), units of work (a unit that raises leaves nothing,
units of one run exclude each other, a process killed inside one leaves nothing), and threads.
Tests through the ``Store`` protocol run on every store; tests of the ``Engine`` protocol
(``store.engine``) on every engine (``EVERY_ENGINE``).
"""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from engines import (
    DURABLE_ENGINES,
    EVERY_ENGINE,
    HASH_A,
    HASH_B,
    HASH_C,
    HASH_D,
    T0,
    logged_model,
    new_run,
    register,
    run_in_threads,
    same_float,
)

from autolog.entities import (
    AccessToken,
    Metric,
    ModelVersion,
    Param,
    Run,
    RunInfo,
    RunPage,
    RunStatus,
    RunTag,
)
from autolog.errors import AutologError, NotFoundError, RunStateError
from autolog.search import parse_filter, parse_order_by
from autolog.stores import Store, open_store
from autolog.stores.engine import Engine
from autolog.stores.memory import MemoryStore
from autolog.stores.rest import RestStore
from autolog.tracking import Tracking

# --------------------------------------------------------------------------------------------
# experiments
# --------------------------------------------------------------------------------------------


def test_get_or_create_experiment_is_idempotent(store: Store) -> None:
    first = store.get_or_create_experiment("exp")
    again = store.get_or_create_experiment("exp")
    other = store.get_or_create_experiment("other")

    assert again == first
    assert first.name == "exp"
    assert isinstance(first.experiment_id, str)
    assert isinstance(first.creation_time, int)
    assert first.creation_time > T0
    assert other.experiment_id != first.experiment_id
    assert other.name == "other"


def test_experiment_artifact_location_is_under_the_artifact_root(store: Store) -> None:
    first = store.get_or_create_experiment("exp")
    other = store.get_or_create_experiment("other")

    root = store.artifact_root.rstrip("/")
    assert first.artifact_location.startswith(root + "/")
    assert other.artifact_location.startswith(root + "/")
    assert first.artifact_location != other.artifact_location


def test_get_experiment_by_id_and_by_name(store: Store) -> None:
    created = store.get_or_create_experiment("it's ünïcode / ok")

    assert store.get_experiment(created.experiment_id) == created
    assert store.get_experiment_by_name("it's ünïcode / ok") == created
    assert store.get_experiment_by_name("missing") is None


def test_list_experiments_holds_each_experiment_once(store: Store) -> None:
    created = [store.get_or_create_experiment(name) for name in ("a", "b", "c", "a")]

    listed = store.list_experiments()

    ids = [e.experiment_id for e in listed]
    assert len(ids) == len(set(ids))
    mine = {e.name: e for e in listed if e.name in ("a", "b", "c")}
    assert mine == {e.name: e for e in created}


# --------------------------------------------------------------------------------------------
# runs
# --------------------------------------------------------------------------------------------


def test_create_run_then_get_run(store: Store) -> None:
    experiment = store.get_or_create_experiment("exp")
    parent_id = new_run(store, run_name="parent")
    run_id = uuid.uuid4().hex

    store.create_run(
        run_id,
        experiment.experiment_id,
        "child-run",
        T0 + 123,
        f"file:///somewhere/{run_id}/artifacts",
        parent_id,
        {"source": "train.py", "team": "vision"},
    )
    run = store.get_run(run_id)

    assert run.info.run_id == run_id
    assert run.info.experiment_id == experiment.experiment_id
    assert run.info.run_name == "child-run"
    assert run.info.status is RunStatus.RUNNING
    assert run.info.start_time == T0 + 123
    assert run.info.end_time is None
    # a tracking server keeps a run's files where its experiment says and names that place
    # relative to itself; the other stores keep the place the caller chose
    expected = (
        f"autolog-artifacts:/{experiment.experiment_id}/{run_id}/artifacts"
        if isinstance(store, RestStore)
        else f"file:///somewhere/{run_id}/artifacts"
    )
    assert run.info.artifact_uri == expected
    assert run.info.parent_run_id == parent_id
    assert dict(run.data.tags) == {"source": "train.py", "team": "vision"}
    assert dict(run.data.params) == {}
    assert dict(run.data.metrics) == {}
    assert store.get_run(parent_id).info.parent_run_id is None


@pytest.mark.parametrize("status", [RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED])
def test_update_run_sets_status_and_end_time(store: Store, status: RunStatus) -> None:
    run_id = new_run(store)
    other_id = new_run(store)

    store.update_run(run_id, status, T0 + 5_000)

    run = store.get_run(run_id)
    assert run.info.status is status
    assert run.info.status.is_terminal
    assert run.info.end_time == T0 + 5_000
    assert run.info.start_time == T0
    untouched = store.get_run(other_id)
    assert untouched.info.status is RunStatus.RUNNING
    assert untouched.info.end_time is None


# --------------------------------------------------------------------------------------------
# log_batch: params, tags, metrics, and the values they hold
# --------------------------------------------------------------------------------------------


def test_log_batch_stores_params_tags_and_metrics(store: Store) -> None:
    run_id = new_run(store, tags={"initial": "yes"})

    store.log_batch(
        run_id,
        metrics=[Metric("loss", 0.5, 0, T0), Metric("acc", 0.25, 0, T0)],
        params=[Param("lr", "0.01"), Param("layers", "3")],
        tags=[RunTag("team", "vision")],
    )

    data = store.get_run(run_id).data
    assert dict(data.params) == {"lr": "0.01", "layers": "3"}
    assert dict(data.tags) == {"initial": "yes", "team": "vision"}
    assert dict(data.metrics) == {"loss": 0.5, "acc": 0.25}
    assert store.get_metric_history(run_id, "loss") == [Metric("loss", 0.5, 0, T0)]
    assert store.get_metric_history(run_id, "never-logged") == []


def test_runs_do_not_share_data(store: Store) -> None:
    first = new_run(store)
    second = new_run(store)

    store.log_batch(first, [Metric("m", 1.0, 0, T0)], [Param("p", "a")], [RunTag("t", "x")])
    store.log_batch(second, [Metric("m", 2.0, 0, T0)], [Param("p", "b")], [RunTag("t", "y")])

    assert dict(store.get_run(first).data.params) == {"p": "a"}
    assert dict(store.get_run(second).data.tags) == {"t": "y"}
    assert store.get_metric_history(first, "m") == [Metric("m", 1.0, 0, T0)]
    assert store.get_metric_history(second, "m") == [Metric("m", 2.0, 0, T0)]


def test_tags_overwrite(store: Store) -> None:
    run_id = new_run(store, tags={"stage": "created"})

    store.log_batch(run_id, tags=[RunTag("stage", "training"), RunTag("other", "1")])
    store.log_batch(run_id, tags=[RunTag("stage", "done")])

    assert dict(store.get_run(run_id).data.tags) == {"stage": "done", "other": "1"}


def test_latest_metric_value_is_highest_step_then_newest_timestamp(store: Store) -> None:
    run_id = new_run(store)

    def latest() -> float:
        return store.get_run(run_id).data.metrics["loss"]

    store.log_batch(run_id, metrics=[Metric("loss", 1.0, 0, T0 + 50)])
    assert latest() == 1.0
    store.log_batch(run_id, metrics=[Metric("loss", 2.0, 2, T0), Metric("loss", 3.0, 1, T0 + 99)])
    assert latest() == 2.0  # step 2 beats the newer value at step 1
    store.log_batch(run_id, metrics=[Metric("loss", 4.0, 2, T0 + 1)])
    assert latest() == 4.0  # same step, newer timestamp
    store.log_batch(run_id, metrics=[Metric("loss", 5.0, 2, T0 - 100)])
    assert latest() == 4.0  # same step, older timestamp
    store.log_batch(run_id, metrics=[Metric("loss", 7.0, 2, T0 + 1)])
    assert latest() == 7.0  # same step and timestamp: the last logged
    store.log_batch(run_id, metrics=[Metric("loss", 6.0, 1, T0 + 10_000)])
    assert latest() == 7.0  # an old step, however new, never wins


def test_metric_history_is_ordered_by_step_then_logging_order(store: Store) -> None:
    run_id = new_run(store)
    big, small = 2**63 - 1, -(2**63)  # steps are 64-bit integers
    batches = [
        [Metric("m", 30.0, 3, T0), Metric("m", 10.0, 1, T0), Metric("other", 7.0, 0, T0)],
        [Metric("m", 20.0, 2, T0), Metric("m", 11.0, 1, T0), Metric("m", 0.0, 0, T0 + 1)],
        [Metric("m", 31.0, 3, T0 - 5), Metric("m", 99.0, big, T0), Metric("m", -1.0, small, T0)],
        [Metric("m", 12.0, 1, T0)],
    ]
    for batch in batches:
        store.log_batch(run_id, metrics=batch)

    history = store.get_metric_history(run_id, "m")

    assert history == [
        Metric("m", -1.0, small, T0),
        Metric("m", 0.0, 0, T0 + 1),
        Metric("m", 10.0, 1, T0),
        Metric("m", 11.0, 1, T0),
        Metric("m", 12.0, 1, T0),
        Metric("m", 20.0, 2, T0),
        Metric("m", 30.0, 3, T0),
        Metric("m", 31.0, 3, T0 - 5),
        Metric("m", 99.0, big, T0),
    ]
    assert all(type(m.step) is int and type(m.timestamp) is int for m in history)
    assert store.get_metric_history(run_id, "other") == [Metric("other", 7.0, 0, T0)]
    assert store.get_run(run_id).data.metrics["m"] == 99.0


def test_metric_columns_are_the_history_within_step_bounds(store: Store) -> None:
    run_id = new_run(store)
    big, small = 2**63 - 1, -(2**63)
    batches = [  # out of order across and within batches, equal steps, 64-bit extremes
        [Metric("m", 30.0, 3, T0), Metric("m", 10.0, 1, T0 + 1)],
        [Metric("m", 20.0, 2, T0 + 2), Metric("m", 11.0, 1, T0 + 3), Metric("m", 0.0, 0, T0)],
        [Metric("m", 31.0, 3, T0 - 5), Metric("m", 99.0, big, T0), Metric("m", -1.0, small, T0)],
        # in-order batches, whose step ranges a store may use to skip reading them
        *(
            [Metric("m", float(s), s, T0 + s) for s in range(10 + 5 * b, 15 + 5 * b)]
            for b in range(6)
        ),
    ]
    for batch in batches:
        store.log_batch(run_id, metrics=batch)
    history = store.get_metric_history(run_id, "m")

    for low, high in [
        (None, None),
        (1, 2),
        (2, None),
        (None, 0),
        (3, 3),
        (12, 27),
        (14, 15),
        (16, 1000),
        (5, 4),
        (big, big),
        (small, small),
        (4, 9),
        (-(2**70), 2**70),  # past the 64-bit range: the same as no bound
    ]:
        columns = store.get_metric_columns(run_id, "m", low, high)
        expected = [
            m
            for m in history
            if (low is None or m.step >= low) and (high is None or m.step <= high)
        ]
        assert list(columns.steps) == [m.step for m in expected], (low, high)
        assert list(columns.timestamps) == [m.timestamp for m in expected], (low, high)
        assert list(columns.values) == [m.value for m in expected], (low, high)
    assert list(store.get_metric_columns(run_id, "never-logged").steps) == []
    with pytest.raises(NotFoundError):
        store.get_metric_columns(uuid.uuid4().hex, "m")


def test_metric_columns_keep_special_floats(store: Store) -> None:
    run_id = new_run(store)
    values = list(SPECIAL_FLOATS.values())
    store.log_batch(run_id, metrics=[Metric("s", v, step, T0) for step, v in enumerate(values)])

    columns = store.get_metric_columns(run_id, "s", 1, None)

    assert list(columns.steps) == list(range(1, len(values)))
    for got, expected in zip(columns.values, values[1:], strict=True):
        assert same_float(got, expected)


SPECIAL_FLOATS = {
    "nan": math.nan,
    "inf": math.inf,
    "neg_inf": -math.inf,
    "huge": 1e308,
    "neg_zero": -0.0,
    "denormal": 5e-324,
    "third": 1 / 3,
    "tenth": 0.1,
}


def test_special_floats_round_trip_exactly(store: Store) -> None:
    run_id = new_run(store)
    store.log_batch(
        run_id, metrics=[Metric(key, value, 0, T0) for key, value in SPECIAL_FLOATS.items()]
    )
    values = list(SPECIAL_FLOATS.values())
    store.log_batch(
        run_id, metrics=[Metric("series", value, step, T0) for step, value in enumerate(values)]
    )

    latest = store.get_run(run_id).data.metrics
    assert set(latest) == {*SPECIAL_FLOATS, "series"}
    for key, expected in SPECIAL_FLOATS.items():
        assert same_float(latest[key], expected), (key, latest[key])
        (only,) = store.get_metric_history(run_id, key)
        assert same_float(only.value, expected), (key, only.value)
    history = store.get_metric_history(run_id, "series")
    assert [m.step for m in history] == list(range(len(values)))
    for metric, expected in zip(history, values, strict=True):
        assert same_float(metric.value, expected), (metric.step, metric.value)
    assert same_float(latest["series"], values[-1])


def test_keys_with_slashes_spaces_and_unicode(store: Store) -> None:
    run_id = new_run(store)
    keys = ["train/loss", "val acc", "ключ/μ-λ", "日本語 キー", "a/b/c d/e"]

    store.log_batch(
        run_id,
        metrics=[Metric(key, float(i), 0, T0) for i, key in enumerate(keys)],
        params=[Param(key, f"p{i}") for i, key in enumerate(keys)],
        tags=[RunTag(key, f"t{i}") for i, key in enumerate(keys)],
    )

    data = store.get_run(run_id).data
    assert dict(data.metrics) == {key: float(i) for i, key in enumerate(keys)}
    assert dict(data.params) == {key: f"p{i}" for i, key in enumerate(keys)}
    assert dict(data.tags) == {key: f"t{i}" for i, key in enumerate(keys)}
    for i, key in enumerate(keys):
        assert store.get_metric_history(run_id, key) == [Metric(key, float(i), 0, T0)]


def test_a_one_megabyte_param_and_tag_are_stored_whole(store: Store) -> None:
    run_id = new_run(store)
    chunk = "".join(chr(c) for c in range(32, 127)) + "é€😀\n\t'\"%_"
    value = (chunk * (1_048_576 // len(chunk) + 1))[:1_048_576]
    assert len(value.encode()) > 1_048_576

    store.log_batch(run_id, params=[Param("big", value)], tags=[RunTag("big", value[::-1])])

    data = store.get_run(run_id).data
    assert data.params["big"] == value
    assert data.tags["big"] == value[::-1]


UNICODE_VALUES = {
    "greek": "αβγ δ",
    "emoji": "🚀 fast 🐍",
    "cjk": "深層学習",
    "combining": "e\u0301 vs é",
    "rtl": "שלום",
    "quotes": 'it\'s a "quote" \\ back`tick`',
    "sql": "'; DROP TABLE runs; --",
    "like": "100%_done",
    "lines": "line 1\nline 2\r\n\tend",
    "empty": "",
    "spaces": "  padded  ",
}


def test_unicode_param_and_tag_values_round_trip(store: Store) -> None:
    run_id = new_run(store)

    store.log_batch(
        run_id,
        params=[Param(key, value) for key, value in UNICODE_VALUES.items()],
        tags=[RunTag(key, value[::-1]) for key, value in UNICODE_VALUES.items()],
    )

    data = store.get_run(run_id).data
    assert dict(data.params) == UNICODE_VALUES
    assert dict(data.tags) == {key: value[::-1] for key, value in UNICODE_VALUES.items()}
    # re-logging the same values (after a round trip through the store) is still a no-op
    store.log_batch(run_id, params=[Param(key, value) for key, value in UNICODE_VALUES.items()])


# --------------------------------------------------------------------------------------------
# search_runs and search_run_page, pushed down to the engines
# --------------------------------------------------------------------------------------------


@dataclass
class SearchData:
    experiment_a: str
    experiment_b: str
    ids: dict[str, str] = field(default_factory=dict)

    def names(self, runs: Sequence[Run]) -> list[str]:
        by_id = {run_id: name for name, run_id in self.ids.items()}
        return [by_id[run.info.run_id] for run in runs]


def seed_search_data(store: Store) -> SearchData:
    """Five runs: four in experiment A (rf-1 oldest ... svm-1 newest), one in B."""
    data = SearchData(
        store.get_or_create_experiment("search-a").experiment_id,
        store.get_or_create_experiment("search-b").experiment_id,
    )
    specs: list[tuple[str, str, dict[str, str], dict[str, float], dict[str, str], RunStatus]] = [
        (
            "rf-1",
            "search-a",
            {"model": "rf", "depth": "3", "note": "it's"},
            {"acc": 0.9, "loss": 0.3},
            {"team": "x"},
            RunStatus.FINISHED,
        ),
        (
            "rf-2",
            "search-a",
            {"model": "rf", "depth": "10"},
            {"acc": 0.95},
            {"team": "y"},
            RunStatus.FAILED,
        ),
        ("gbm-1", "search-a", {"model": "GBM"}, {"acc": 0.8, "loss": 0.5}, {}, RunStatus.RUNNING),
        ("svm-1", "search-a", {"model": "svm"}, {}, {"team": "x"}, RunStatus.KILLED),
        ("other", "search-b", {"model": "rf"}, {"acc": 0.99}, {"team": "x"}, RunStatus.FINISHED),
    ]
    for offset, (name, experiment, params, metrics, tags, status) in enumerate(specs, start=1):
        parent = data.ids["rf-1"] if name == "gbm-1" else None
        run_id = new_run(
            store, experiment, run_name=name, start_time=T0 + offset, parent_run_id=parent
        )
        data.ids[name] = run_id
        store.log_batch(
            run_id,
            metrics=[Metric(k, v, 0, T0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        if status is not RunStatus.RUNNING:
            store.update_run(run_id, status, T0 + 100 + offset)
    return data


def search(
    store: Store,
    experiment_ids: Sequence[str] | None,
    filter_string: str = "",
    order_by: Sequence[str] | None = None,
    max_results: int = 1000,
) -> list[Run]:
    return store.search_runs(
        experiment_ids, parse_filter(filter_string), parse_order_by(order_by), max_results
    )


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("", ["svm-1", "gbm-1", "rf-2", "rf-1"]),
        ("metrics.acc > 0.9", ["rf-2"]),
        ("metrics.acc >= 0.9", ["rf-2", "rf-1"]),
        ("metrics.acc < 0.9", ["gbm-1"]),
        ("metrics.acc <= 0.9", ["gbm-1", "rf-1"]),
        ("metrics.acc = 0.9", ["rf-1"]),
        ("metrics.acc != 0.9", ["gbm-1", "rf-2"]),
        ("metrics.missing > 0", []),
        ("params.model = 'rf'", ["rf-2", "rf-1"]),
        ("params.model != 'rf'", ["svm-1", "gbm-1"]),
        ("params.model LIKE 'r%'", ["rf-2", "rf-1"]),
        ("params.model LIKE 'G_M'", ["gbm-1"]),
        ("params.model LIKE 'g%'", []),  # LIKE is case-sensitive
        ("params.model ILIKE 'g%'", ["gbm-1"]),
        ("params.model NOT LIKE 'r%'", ["svm-1", "gbm-1"]),
        ("params.model IN ('rf', 'svm')", ["svm-1", "rf-2", "rf-1"]),
        ("params.model NOT IN ('rf', 'svm')", ["gbm-1"]),
        ("params.depth = '10'", ["rf-2"]),
        ("params.note = 'it''s'", ["rf-1"]),
        ("tags.team = 'x'", ["svm-1", "rf-1"]),
        ("tags.team != 'x'", ["rf-2"]),
        ("tags.team IN ('y')", ["rf-2"]),
        ("attributes.status = 'FINISHED'", ["rf-1"]),
        ("attributes.status = 'finished'", ["rf-1"]),
        ("attributes.status != 'RUNNING'", ["svm-1", "rf-2", "rf-1"]),
        ("attributes.status IN ('FAILED', 'KILLED')", ["svm-1", "rf-2"]),
        ("attributes.run_name = 'rf-2'", ["rf-2"]),
        ("attributes.run_name LIKE 'rf-%'", ["rf-2", "rf-1"]),
        ("attributes.run_name NOT IN ('rf-1', 'svm-1')", ["gbm-1", "rf-2"]),
        (f"attributes.start_time >= {T0 + 3}", ["svm-1", "gbm-1"]),
        (f"attributes.start_time < {T0 + 2}", ["rf-1"]),
        (f"attributes.end_time > {T0 + 102}", ["svm-1"]),
        ("params.model = 'rf' and metrics.acc > 0.9", ["rf-2"]),
        ("tags.team = 'x' and attributes.status = 'FINISHED' and metrics.loss < 1", ["rf-1"]),
        ("metrics.acc > 0.5 and params.model = 'svm'", []),
    ],
)
def test_search_runs_filters(store: Store, filter_string: str, expected: list[str]) -> None:
    data = seed_search_data(store)

    assert data.names(search(store, [data.experiment_a], filter_string)) == expected


def test_search_runs_by_run_id_parent_run_id_and_experiment_id(store: Store) -> None:
    data = seed_search_data(store)
    ids = data.ids

    def names(filter_string: str) -> list[str]:
        return data.names(search(store, None, filter_string))

    assert names(f"attributes.run_id = '{ids['rf-2']}'") == ["rf-2"]
    assert names(f"attributes.run_id IN ('{ids['rf-1']}', '{ids['other']}')") == ["other", "rf-1"]
    assert names(f"attributes.parent_run_id = '{ids['rf-1']}'") == ["gbm-1"]
    assert names(f"attributes.experiment_id = '{data.experiment_b}'") == ["other"]


def test_search_runs_experiment_ids(store: Store) -> None:
    data = seed_search_data(store)
    a, b = data.experiment_a, data.experiment_b

    assert data.names(search(store, None)) == ["other", "svm-1", "gbm-1", "rf-2", "rf-1"]
    assert data.names(search(store, [a])) == ["svm-1", "gbm-1", "rf-2", "rf-1"]
    assert data.names(search(store, [b])) == ["other"]
    assert data.names(search(store, [b, a])) == ["other", "svm-1", "gbm-1", "rf-2", "rf-1"]
    assert data.names(search(store, [])) == []
    assert data.names(search(store, None, "params.model = 'rf'")) == ["other", "rf-2", "rf-1"]


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (["metrics.acc DESC"], ["rf-2", "rf-1", "gbm-1", "svm-1"]),
        (["metrics.acc ASC"], ["gbm-1", "rf-1", "rf-2", "svm-1"]),
        (["metrics.acc"], ["gbm-1", "rf-1", "rf-2", "svm-1"]),
        (["metrics.loss DESC"], ["gbm-1", "rf-1", "svm-1", "rf-2"]),
        (["params.model"], ["gbm-1", "rf-2", "rf-1", "svm-1"]),
        (["params.depth DESC"], ["rf-1", "rf-2", "svm-1", "gbm-1"]),  # strings: '3' > '10'
        (["params.model ASC", "metrics.acc ASC"], ["gbm-1", "rf-1", "rf-2", "svm-1"]),
        (["tags.team DESC"], ["rf-2", "svm-1", "rf-1", "gbm-1"]),
        (["attributes.start_time ASC"], ["rf-1", "rf-2", "gbm-1", "svm-1"]),
        (["start_time"], ["rf-1", "rf-2", "gbm-1", "svm-1"]),
        (["attributes.run_name DESC"], ["svm-1", "rf-2", "rf-1", "gbm-1"]),
        (["attributes.end_time DESC"], ["svm-1", "rf-2", "rf-1", "gbm-1"]),
    ],
)
def test_search_runs_order_by(store: Store, order_by: list[str], expected: list[str]) -> None:
    data = seed_search_data(store)

    assert data.names(search(store, [data.experiment_a], order_by=order_by)) == expected


def test_search_runs_max_results(store: Store) -> None:
    data = seed_search_data(store)
    a = [data.experiment_a]

    assert data.names(search(store, a, max_results=2)) == ["svm-1", "gbm-1"]
    assert data.names(search(store, a, order_by=["metrics.acc DESC"], max_results=1)) == ["rf-2"]
    assert data.names(search(store, a, "params.model = 'rf'", max_results=1)) == ["rf-2"]
    assert data.names(search(store, None, max_results=10)) == [
        "other",
        "svm-1",
        "gbm-1",
        "rf-2",
        "rf-1",
    ]


def test_search_runs_returns_whole_runs(store: Store) -> None:
    data = seed_search_data(store)

    for run in search(store, None):
        stored = store.get_run(run.info.run_id)
        assert run.info == stored.info
        assert dict(run.data.params) == dict(stored.data.params)
        assert dict(run.data.metrics) == dict(stored.data.metrics)
        assert dict(run.data.tags) == dict(stored.data.tags)
    (rf1,) = search(store, None, "attributes.run_name = 'rf-1'")
    assert rf1.info.run_id == data.ids["rf-1"]
    assert dict(rf1.data.metrics) == {"acc": 0.9, "loss": 0.3}
    assert dict(rf1.data.params) == {"model": "rf", "depth": "3", "note": "it's"}


def test_search_on_special_keys_and_latest_metric_values(store: Store) -> None:
    run_id = new_run(store, run_name="special")
    new_run(store, run_name="plain", start_time=T0 + 1)
    store.log_batch(
        run_id,
        metrics=[Metric("val acc", 0.1, 5, T0), Metric("val acc", 0.7, 1, T0 + 9)],
        params=[Param("ключ/μ", "значение")],
        tags=[RunTag("a b", "c d")],
    )

    def names(filter_string: str) -> list[str]:
        return [r.info.run_name for r in search(store, None, filter_string)]

    assert names("metrics.`val acc` < 0.5") == ["special"]  # the latest value is step 5's
    assert names("metrics.`val acc` > 0.5") == []
    assert names("params.`ключ/μ` = 'значение'") == ["special"]
    assert names("tags.\"a b\" = 'c d'") == ["special"]


def test_like_is_case_sensitive_and_ilike_folds_every_letter(store: Store) -> None:
    for offset, name in enumerate(["JOSÉ", "josé", "Jose", "ÅSA"]):
        run_id = new_run(store, run_name=name, start_time=T0 + offset)
        store.log_batch(run_id, params=[Param("owner", name)])

    def names(filter_string: str) -> list[str]:
        return [r.info.run_name for r in search(store, None, filter_string)]

    assert names("params.owner LIKE 'jos%'") == ["josé"]
    assert names("params.owner LIKE 'JOS_'") == ["JOSÉ"]
    assert names("params.owner ILIKE 'jos_'") == ["Jose", "josé", "JOSÉ"]
    # not only ASCII letters: 'é' and 'É' are one letter in two cases
    assert names("params.owner ILIKE 'josé'") == ["josé", "JOSÉ"]
    assert names("params.owner ILIKE 'åsa'") == ["ÅSA"]
    assert names("params.owner NOT ILIKE '%é'") == ["ÅSA", "Jose"]


def test_duration_is_end_minus_start_and_missing_while_running(store: Store) -> None:
    spans = {"short": 50, "long": 5_000, "mid": 700}
    for offset, (name, span) in enumerate(spans.items()):
        run_id = new_run(store, run_name=name, start_time=T0 + offset)
        store.update_run(run_id, RunStatus.FINISHED, T0 + offset + span)
    new_run(store, run_name="running", start_time=T0 + 10)

    def names(filter_string: str = "", order_by: Sequence[str] = ()) -> list[str]:
        return [r.info.run_name for r in search(store, None, filter_string, order_by)]

    assert names(order_by=["attributes.duration DESC"]) == ["long", "mid", "short", "running"]
    assert names(order_by=["attributes.duration ASC"]) == ["short", "mid", "long", "running"]
    assert names("attributes.duration > 600") == ["mid", "long"]
    assert names("attributes.duration <= 50") == ["short"]


def test_nan_never_satisfies_an_ordering_comparison(store: Store) -> None:
    nan_run = new_run(store, run_name="nan")
    one_run = new_run(store, run_name="one", start_time=T0 + 1)
    store.log_batch(nan_run, metrics=[Metric("m", math.nan, 0, T0)])
    store.log_batch(one_run, metrics=[Metric("m", 1.0, 0, T0)])

    for op in (">", ">=", "<", "<="):
        found = [r.info.run_name for r in search(store, None, f"metrics.m {op} 0.5")]
        assert "nan" not in found, op


def test_nan_sorts_last_like_a_missing_value(store: Store) -> None:
    nan_run = new_run(store, run_name="nan", start_time=T0 + 3)
    new_run(store, run_name="none", start_time=T0 + 2)
    low = new_run(store, run_name="low", start_time=T0 + 1)
    high = new_run(store, run_name="high", start_time=T0)
    store.log_batch(nan_run, metrics=[Metric("m", math.nan, 0, T0)])
    store.log_batch(low, metrics=[Metric("m", 1.0, 0, T0)])
    store.log_batch(high, metrics=[Metric("m", 2.0, 0, T0)])
    for clause, expected in (
        ("metrics.m ASC", ["low", "high", "nan", "none"]),
        ("metrics.m DESC", ["high", "low", "nan", "none"]),
    ):
        found = [r.info.run_name for r in store.search_runs(None, [], parse_order_by(clause), 10)]
        assert found == expected, clause


def page(
    store: Store,
    experiment_ids: Sequence[str] | None,
    offset: int,
    limit: int,
    filter_string: str = "",
    order_by: Sequence[str] | None = None,
    *,
    top_level: bool = False,
) -> RunPage:
    return store.search_run_page(
        experiment_ids,
        parse_filter(filter_string),
        parse_order_by(order_by),
        offset,
        limit,
        top_level=top_level,
    )


def test_search_run_page_pages_counts_and_children(store: Store) -> None:
    data = seed_search_data(store)
    a = [data.experiment_a]
    rf_1 = data.ids["rf-1"]

    def show(result: RunPage) -> tuple[list[str], int, dict[str, int]]:
        names = {run_id: name for name, run_id in data.ids.items()}
        counts = {names[run_id]: n for run_id, n in result.child_counts.items()}
        return data.names(result.runs), result.total, counts

    assert show(page(store, a, 0, 2)) == (["svm-1", "gbm-1"], 4, {})
    assert show(page(store, a, 2, 2)) == (["rf-2", "rf-1"], 4, {"rf-1": 1})
    assert show(page(store, a, 3, 100)) == (["rf-1"], 4, {"rf-1": 1})
    assert show(page(store, a, 4, 2)) == ([], 4, {})
    assert show(page(store, a, 0, 0)) == ([], 4, {})
    assert show(page(store, a, 0, 10, top_level=True)) == (
        ["svm-1", "rf-2", "rf-1"],
        3,
        {"rf-1": 1},
    )
    assert show(page(store, None, 1, 2, top_level=True)) == (["svm-1", "rf-2"], 4, {})
    # children are counted when they match the same filters
    finished = "attributes.status = 'FINISHED'"
    assert show(page(store, a, 0, 10, finished, top_level=True)) == (["rf-1"], 1, {})
    assert show(page(store, a, 0, 10, "params.model ILIKE '%'", top_level=True)) == (
        ["svm-1", "rf-2", "rf-1"],
        3,
        {"rf-1": 1},
    )
    assert show(page(store, a, 0, 10, "params.model ILIKE 'g%'", top_level=True)) == ([], 0, {})
    # a parent's children are a search of their own
    assert show(page(store, a, 0, 10, f"attributes.parent_run_id = '{rf_1}'")) == (
        ["gbm-1"],
        1,
        {},
    )
    assert show(page(store, a, 0, 2, "", ["metrics.acc DESC"])) == (
        ["rf-2", "rf-1"],
        4,
        {"rf-1": 1},
    )
    assert show(page(store, [], 0, 2)) == ([], 0, {})
    for whole in page(store, a, 0, 10).runs:
        assert whole == store.get_run(whole.info.run_id)


def test_search_run_page_leaves_deleted_runs_out_like_search_runs(store: Store) -> None:
    data = seed_search_data(store)
    a = [data.experiment_a]
    store.delete_run(data.ids["gbm-1"])  # rf-1's only child
    store.delete_run(data.ids["svm-1"])

    def show(result: RunPage) -> tuple[list[str], int, dict[str, int]]:
        return data.names(result.runs), result.total, dict(result.child_counts)

    assert show(page(store, a, 0, 10)) == (["rf-2", "rf-1"], 2, {})
    deleted = store.search_run_page(a, [], [], 0, 10, lifecycle="deleted")
    assert show(deleted) == (["svm-1", "gbm-1"], 2, {})
    everything = store.search_run_page(a, [], [], 0, 10, top_level=True, lifecycle="all")
    assert show(everything) == (["svm-1", "rf-2", "rf-1"], 3, {data.ids["rf-1"]: 1})
    store.delete_experiment(data.experiment_b)
    assert show(page(store, None, 0, 10)) == (["rf-2", "rf-1"], 2, {})


def test_out_of_range_numbers_in_a_filter_are_answered_not_raised(store: Store) -> None:
    run_id = new_run(store)
    store.log_batch(run_id, metrics=[Metric("m", 1.0, 0, T0)])
    filters = {
        "attributes.start_time > 1e19": [],
        "attributes.start_time < 1e19": [run_id],
        "attributes.start_time > -1e30": [run_id],
        "attributes.end_time < 99999999999999999999999": [],
        "metrics.m < 1e308": [run_id],
        "metrics.m > -1e400": [run_id],
    }
    for text, expected in filters.items():
        found = store.search_runs(None, parse_filter(text), [], 10)
        assert [r.info.run_id for r in found] == expected, text
    with pytest.raises(NotFoundError):
        store.get_model_version("clf", 99999999999999999999999)


def test_every_stored_value_can_be_matched_with_equals(store: Store) -> None:
    values = ["C:\\dir\\", "a\\'b", "it's", 'say "hi"', "back\\\\slash", "\\", "'"]
    runs = {}
    for value in values:
        run_id = new_run(store)
        store.log_batch(run_id, params=[Param("p", value)], tags=[RunTag("t", value)])
        runs[value] = run_id
    for value, run_id in runs.items():
        quoted = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        doubled = "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
        for literal in (quoted, doubled):
            for entity in ("params.p", "tags.t"):
                found = store.search_runs(None, parse_filter(f"{entity} = {literal}"), [], 10)
                assert [r.info.run_id for r in found] == [run_id], (value, literal)


# --------------------------------------------------------------------------------------------
# search against the reference engine, on generated data
# --------------------------------------------------------------------------------------------


_RNG_SEED = 20240611


PROPERTY_RUNS = 30


PARENT_ID = uuid.UUID(int=random.Random(_RNG_SEED).getrandbits(128)).hex


@dataclass(frozen=True)
class RunSpec:
    run_id: str
    experiment: str
    run_name: str
    start_time: int
    parent_run_id: str | None
    status: RunStatus
    end_time: int | None
    params: dict[str, str]
    tags: dict[str, str]
    metrics: list[Metric]


def generate_runs() -> list[RunSpec]:
    rng = random.Random(_RNG_SEED)
    models = ["rf", "RF", "gbm", "svm", "lin_reg", "linxreg", "knn%"]
    teams = ["a", "b", "é", "Ab"]
    metric_values = [0.0, 0.25, 0.5, 0.75, 1.0, 0.3, -2.0, 1e9, math.inf, -math.inf]
    starts = rng.sample(range(T0, T0 + 10_000), PROPERTY_RUNS)
    specs = []
    for i in range(PROPERTY_RUNS):
        run_id = PARENT_ID if i == 0 else uuid.UUID(int=rng.getrandbits(128)).hex
        params = {"model": rng.choice(models), "lr": rng.choice(["0.1", "0.01", "1e-3"])}
        if rng.random() < 0.3:
            del params["model"]
        tags = {"team": rng.choice(teams)} if rng.random() < 0.7 else {}
        if rng.random() < 0.5:
            tags["owner name"] = rng.choice(["josé", "ann", "bo"])
        metrics = []
        for key in ("acc", "loss"):
            if rng.random() < 0.8:
                for step in rng.sample(range(5), rng.randint(1, 3)):
                    metrics.append(
                        Metric(key, rng.choice(metric_values), step, T0 + rng.randrange(50))
                    )
        status = rng.choice(list(RunStatus))
        specs.append(
            RunSpec(
                run_id=run_id,
                experiment=rng.choice(["gen-1", "gen-2"]),
                run_name=f"run-{i}",
                start_time=starts[i],
                parent_run_id=PARENT_ID if i > 0 and rng.random() < 0.3 else None,
                status=status,
                end_time=None if status is RunStatus.RUNNING else starts[i] + rng.randrange(1000),
                params=params,
                tags=tags,
                metrics=metrics,
            )
        )
    return specs


def populate(store: Store, specs: Sequence[RunSpec]) -> None:
    for spec in specs:
        new_run(
            store,
            spec.experiment,
            run_id=spec.run_id,
            run_name=spec.run_name,
            start_time=spec.start_time,
            parent_run_id=spec.parent_run_id,
        )
        half = len(spec.metrics) // 2  # two batches, so latest values span writes
        store.log_batch(spec.run_id, spec.metrics[:half], [Param(*p) for p in spec.params.items()])
        store.log_batch(
            spec.run_id, spec.metrics[half:], tags=[RunTag(*t) for t in spec.tags.items()]
        )
        if spec.status is not RunStatus.RUNNING:
            store.update_run(spec.run_id, spec.status, spec.end_time)


PROPERTY_FILTERS = [
    "",
    "metrics.acc > 0.5",
    "metrics.acc >= 0.5",
    "metrics.acc < 0.25",
    "metrics.acc <= 0.25",
    "metrics.acc = 0.3",
    "metrics.acc != 0.75",
    "metrics.loss > -1e-3",
    "metrics.loss < inf",
    "metrics.loss > -inf",
    "params.model = 'rf'",
    "params.model != 'rf'",
    "params.model LIKE 'r%'",
    "params.model LIKE 'lin_reg'",
    "params.model ILIKE 'rf'",
    "params.model NOT LIKE '%n%'",
    "params.model NOT ILIKE 'R%'",
    "params.model IN ('rf', 'svm', 'nope')",
    "params.model NOT IN ('rf', 'RF')",
    "params.lr = '0.1'",
    "tags.team = 'a'",
    "tags.team != 'a'",
    "tags.`owner name` LIKE '%é'",
    "attributes.status = 'FINISHED'",
    "attributes.status IN ('FAILED', 'KILLED')",
    "attributes.run_name LIKE 'run-1%'",
    f"attributes.start_time >= {T0 + 5_000}",
    f"attributes.end_time < {T0 + 6_000}",
    "attributes.duration < 400",
    "attributes.duration >= 400",
    f"attributes.parent_run_id = '{PARENT_ID}'",
    "metrics.acc > 0.25 and params.model != 'svm' and tags.team IN ('a', 'b')",
    "metrics.acc > 0 and metrics.loss <= 1",
]


PROPERTY_ORDERS: list[list[str]] = [
    [],
    ["metrics.acc DESC"],
    ["metrics.loss ASC"],
    ["params.model", "metrics.acc DESC"],
    ["tags.team DESC"],
    ["attributes.run_name"],
    ["end_time DESC"],
    ["attributes.duration DESC"],
]


def test_search_runs_matches_the_reference_store(store: Store) -> None:
    specs = generate_runs()
    reference = MemoryStore(artifact_root="file:///reference")
    populate(reference, specs)
    populate(store, specs)

    def experiment_ids(target: Store) -> dict[str | None, list[str] | None]:
        return {None: None, "gen-1": [target.get_or_create_experiment("gen-1").experiment_id]}

    reference_ids, store_ids = experiment_ids(reference), experiment_ids(store)

    # every filter under every order; the experiment and max_results variants once per filter
    cases = [(f, order, None, 1000) for f in PROPERTY_FILTERS for order in PROPERTY_ORDERS]
    for i, filter_string in enumerate(PROPERTY_FILTERS):
        cases.append((filter_string, PROPERTY_ORDERS[i % len(PROPERTY_ORDERS)], "gen-1", 1000))
        cases.append((filter_string, PROPERTY_ORDERS[(i + 3) % len(PROPERTY_ORDERS)], None, 3))
    failures = []
    for filter_string, order_by, experiment, max_results in cases:
        args = (parse_filter(filter_string), parse_order_by(order_by), max_results)
        want = [r.info.run_id for r in reference.search_runs(reference_ids[experiment], *args)]
        got = [r.info.run_id for r in store.search_runs(store_ids[experiment], *args)]
        if got != want:
            failures.append((filter_string, order_by, experiment, max_results))
    searched = len(cases)
    assert not failures, f"{len(failures)} of {searched} searches differ, e.g. {failures[:5]}"


def test_search_run_page_matches_the_reference_store(store: Store) -> None:
    specs = generate_runs()
    reference = MemoryStore(artifact_root="file:///reference")
    populate(reference, specs)
    populate(store, specs)
    failures = []
    for i, filter_string in enumerate(PROPERTY_FILTERS):
        order_by = parse_order_by(PROPERTY_ORDERS[i % len(PROPERTY_ORDERS)])
        for offset, limit, top_level in ((0, 7, i % 2 == 0), (5, 4, i % 2 == 1)):
            args = (parse_filter(filter_string), order_by, offset, limit)
            want = reference.search_run_page(None, *args, top_level=top_level)
            got = store.search_run_page(None, *args, top_level=top_level)
            ids = ([r.info.run_id for r in got.runs], got.total, dict(got.child_counts))
            if ids != ([r.info.run_id for r in want.runs], want.total, dict(want.child_counts)):
                failures.append((filter_string, offset, top_level))
    assert not failures, f"{len(failures)} pages differ, e.g. {failures[:5]}"


def test_generated_runs_exercise_the_filters() -> None:
    """Guard the property test against data that makes most filters trivially empty."""
    reference = MemoryStore(artifact_root="file:///reference")
    populate(reference, generate_runs())
    counts = [len(reference.search_runs(None, parse_filter(f), [], 1000)) for f in PROPERTY_FILTERS]

    assert counts[0] == PROPERTY_RUNS
    empty = [f for f, n in zip(PROPERTY_FILTERS, counts, strict=True) if n == 0]
    everything = [f for f, n in zip(PROPERTY_FILTERS[1:], counts[1:], strict=True) if n == 30]
    assert not empty
    assert not everything


# --------------------------------------------------------------------------------------------
# artifact hashes
# --------------------------------------------------------------------------------------------


def test_artifact_hashes_round_trip_with_path_prefixes(store: Store) -> None:
    run_id = new_run(store)
    other_id = new_run(store)
    recorded = {
        "model": HASH_A,
        "model/a.pkl": HASH_B,
        "model/sub/b.txt": HASH_C,
        "models/x": HASH_D,
        "model.txt": HASH_A,
        "my_model/a": HASH_B,
        "myXmodel/b": HASH_C,
        "100%/a": HASH_D,
        "100xyz/b": HASH_A,
    }
    store.record_artifact_hashes(run_id, recorded)
    store.record_artifact_hashes(other_id, {"model/a.pkl": HASH_D})

    assert store.get_artifact_hashes(run_id) == recorded
    assert store.get_artifact_hashes(run_id, "") == recorded
    assert store.get_artifact_hashes(run_id, "model") == {
        "model": HASH_A,
        "model/a.pkl": HASH_B,
        "model/sub/b.txt": HASH_C,
    }
    assert store.get_artifact_hashes(run_id, "model/") == store.get_artifact_hashes(run_id, "model")
    assert store.get_artifact_hashes(run_id, "model/sub") == {"model/sub/b.txt": HASH_C}
    assert store.get_artifact_hashes(run_id, "model/a.pkl") == {"model/a.pkl": HASH_B}
    assert store.get_artifact_hashes(run_id, "models") == {"models/x": HASH_D}
    assert store.get_artifact_hashes(run_id, "mod") == {}
    assert store.get_artifact_hashes(run_id, "my_model") == {"my_model/a": HASH_B}
    assert store.get_artifact_hashes(run_id, "100%") == {"100%/a": HASH_D}
    assert store.get_artifact_hashes(other_id, "model") == {"model/a.pkl": HASH_D}


def test_recording_an_artifact_hash_again_replaces_it(store: Store) -> None:
    run_id = new_run(store)
    store.record_artifact_hashes(run_id, {"model/a.pkl": HASH_A, "model/b.pkl": HASH_B})

    store.record_artifact_hashes(run_id, {"model/a.pkl": HASH_C})

    assert store.get_artifact_hashes(run_id) == {"model/a.pkl": HASH_C, "model/b.pkl": HASH_B}


# --------------------------------------------------------------------------------------------
# model registry
# --------------------------------------------------------------------------------------------


def test_model_versions_are_numbered_per_name(store: Store) -> None:
    run_id = new_run(store)

    sources = [logged_model(store, run_id, f"model-{i}") for i in range(3)]
    created = [store.create_model_version("clf", source, run_id) for source in sources]
    other_source = logged_model(store)
    other_run = other_source.split("/")[1]
    other = store.create_model_version("regressor", other_source, other_run)

    assert [v.version for v in created] == [1, 2, 3]
    assert all(v.name == "clf" and v.run_id == run_id for v in created)
    assert [v.source for v in created] == [f"runs:/{run_id}/model-{i}" for i in range(3)]
    assert all(isinstance(v.creation_time, int) and v.creation_time > T0 for v in created)
    assert (other.name, other.version, other.run_id) == ("regressor", 1, other_run)
    for version in created:
        assert store.get_model_version("clf", version.version) == version
    assert store.get_model_version("regressor", 1) == other


def test_model_aliases_set_move_and_resolve(store: Store) -> None:
    versions = [register(store, "clf", logged_model(store)) for _ in (1, 2, 3)]
    other_source = logged_model(store)
    register(store, "other", other_source)

    store.set_model_alias("clf", "champion", 1)
    resolved = store.get_model_version_by_alias("clf", "champion")
    assert (resolved.version, resolved.source) == (1, versions[0].source)
    assert resolved.aliases == ("champion",)

    store.set_model_alias("clf", "champion", 3)
    store.set_model_alias("clf", "prod", 3)
    store.set_model_alias("clf", "a_test", 2)
    store.set_model_alias("other", "champion", 1)

    assert store.get_model_version_by_alias("clf", "champion").version == 3
    assert store.get_model_version_by_alias("clf", "a_test").version == 2
    assert store.get_model_version_by_alias("other", "champion").source == other_source
    assert store.get_model_version("clf", 1).aliases == ()
    assert store.get_model_version("clf", 2).aliases == ("a_test",)
    third = store.get_model_version("clf", 3)
    assert isinstance(third.aliases, tuple)
    assert sorted(third.aliases) == ["champion", "prod"]
    assert (third.name, third.version, third.source) == ("clf", 3, versions[2].source)
    assert sorted(store.get_model_version_by_alias("clf", "prod").aliases) == ["champion", "prod"]


def test_list_model_versions_of_one_model_or_all(store: Store) -> None:
    assert store.list_model_versions() == []
    run_id = new_run(store)
    long_name = "a model named at length " + "x" * 300
    sources = {path: logged_model(store, run_id, path) for path in ("z1", "c1", "c2", "l1", "c3")}
    for name, path in [
        ("zeta", "z1"),
        ("Clf", "c1"),
        ("clf", "c1"),
        ("clf", "c2"),
        (long_name, "l1"),
        ("clf", "c3"),
    ]:
        store.create_model_version(name, sources[path], run_id)
    store.set_model_alias("clf", "prod", 2)
    store.set_model_alias("clf", "champion", 2)
    store.set_model_alias("zeta", "b", 1)

    everything = store.list_model_versions()
    assert [(v.name, v.version) for v in everything] == [
        ("Clf", 1),
        (long_name, 1),
        ("clf", 1),
        ("clf", 2),
        ("clf", 3),
        ("zeta", 1),
    ]
    assert everything == [store.get_model_version(v.name, v.version) for v in everything]
    clf = store.list_model_versions("clf")
    assert [(v.version, v.source, v.run_id) for v in clf] == [
        (1, sources["c1"], run_id),
        (2, sources["c2"], run_id),
        (3, sources["c3"], run_id),
    ]
    assert sorted(clf[1].aliases) == ["champion", "prod"]
    assert store.list_model_versions("nothing-by-this-name") == []


# --------------------------------------------------------------------------------------------
# soft delete, restore, purge, rename
# --------------------------------------------------------------------------------------------


def _ids(runs: Sequence[Run]) -> set[str]:
    return {run.info.run_id for run in runs}


def test_a_deleted_run_is_hidden_from_search_until_restored(store: Store) -> None:
    kept, gone = new_run(store), new_run(store)
    store.log_batch(gone, params=[Param("p", "1")])
    store.delete_run(gone)
    assert _ids(store.search_runs(None, [], [], 100)) == {kept}
    assert _ids(store.search_runs(None, [], [], 100, "deleted")) == {gone}
    assert _ids(store.search_runs(None, [], [], 100, "all")) == {kept, gone}
    deleted = store.get_run(gone)  # still readable, and says when it was deleted
    assert deleted.info.deleted_time is not None
    assert deleted.data.params == {"p": "1"}
    assert store.get_run(kept).info.deleted_time is None
    first = deleted.info.deleted_time
    store.delete_run(gone)  # again: nothing changes
    assert store.get_run(gone).info.deleted_time == first
    store.restore_run(gone)
    assert store.get_run(gone).info.deleted_time is None
    assert _ids(store.search_runs(None, [], [], 100)) == {kept, gone}
    store.restore_run(gone)  # a run that is not deleted stays as it is
    with pytest.raises(NotFoundError):
        store.delete_run("f" * 32)
    with pytest.raises(NotFoundError):
        store.restore_run("f" * 32)


def test_lifecycle_combines_with_filters_and_experiment_ids(store: Store) -> None:
    a = new_run(store, "one")
    b = new_run(store, "one")
    store.log_batch(a, metrics=[Metric("m", 1.0, 0, T0)])
    store.log_batch(b, metrics=[Metric("m", 2.0, 0, T0)])
    store.delete_run(b)
    one = store.get_experiment_by_name("one")
    assert one is not None
    filters = parse_filter("metrics.m > 0")
    assert _ids(store.search_runs([one.experiment_id], filters, [], 10)) == {a}
    assert _ids(store.search_runs([one.experiment_id], filters, [], 10, "deleted")) == {b}
    with pytest.raises(AutologError):
        store.search_runs(None, [], [], 10, "gone")  # type: ignore[arg-type]


def test_rename_experiment(store: Store) -> None:
    run_id = new_run(store, "before")
    experiment = store.get_experiment_by_name("before")
    assert experiment is not None
    store.rename_experiment(experiment.experiment_id, "after")
    assert store.get_experiment_by_name("before") is None
    renamed = store.get_experiment_by_name("after")
    assert renamed is not None
    assert renamed.experiment_id == experiment.experiment_id
    assert store.get_run(run_id).info.experiment_id == experiment.experiment_id
    # the old name is free again, and a taken name is refused
    other = store.get_or_create_experiment("before")
    assert other.experiment_id != experiment.experiment_id
    with pytest.raises(AutologError, match="taken"):
        store.rename_experiment(other.experiment_id, "after")
    store.rename_experiment(experiment.experiment_id, "after")  # its own name: nothing to do
    with pytest.raises(NotFoundError):
        store.rename_experiment("12345", "x")


def test_purge_removes_a_deleted_run_for_good(store: Store) -> None:
    run_id = new_run(store, tags={"t": "1"})
    store.log_batch(
        run_id,
        metrics=[Metric("m", 1.0, 0, T0), Metric("m", 2.0, 1, T0)],
        params=[Param("p", "1")],
    )
    store.record_artifact_hashes(run_id, {"f.txt": HASH_A})
    logged_model(store, run_id)
    with pytest.raises(AutologError, match="not deleted"):
        store.purge_run(run_id)
    store.delete_run(run_id)
    store.purge_run(run_id)
    with pytest.raises(NotFoundError):
        store.get_run(run_id)
    assert _ids(store.search_runs(None, [], [], 10, "all")) == set()
    with pytest.raises(NotFoundError):
        store.purge_run(run_id)
    # the id is free: nothing of the old run comes back with a new one
    new_run(store, run_id=run_id)
    assert store.get_run(run_id).data.params == {}
    assert store.get_metric_history(run_id, "m") == []
    assert store.get_artifact_hashes(run_id) == {}
    assert store.get_model_files(run_id, "model") is None


def test_purge_experiment_removes_it_with_its_runs(store: Store) -> None:
    first = new_run(store, "old")
    second = new_run(store, "old")
    store.log_batch(first, params=[Param("p", "1")])
    other = new_run(store, "other")
    old = store.get_experiment_by_name("old")
    assert old is not None
    with pytest.raises(AutologError, match="not deleted"):
        store.purge_experiment(old.experiment_id)
    store.delete_experiment(old.experiment_id)
    store.purge_experiment(old.experiment_id)
    for run_id in (first, second):
        with pytest.raises(NotFoundError):
            store.get_run(run_id)
    with pytest.raises(NotFoundError):
        store.get_experiment(old.experiment_id)
    assert store.get_experiment_by_name("old") is None
    assert [e.name for e in store.list_experiments("all")] == ["other"]
    assert _ids(store.search_runs(None, [], [], 10, "all")) == {other}
    assert store.get_or_create_experiment("old").experiment_id != old.experiment_id


# --------------------------------------------------------------------------------------------
# access tokens of a tracking server
# --------------------------------------------------------------------------------------------


def token(name: str, token_id: str, scope: str = "write", created: int = T0) -> AccessToken:
    return AccessToken(token_id, name, scope, created, format(len(name), "x") * 64)


def test_tokens_are_created_found_listed_and_revoked(store: Store) -> None:
    assert store.list_tokens() == []
    first = token("ci", "00aa11bb22cc33dd", "write", T0)
    second = token("admin bot ✓", "ffee", "admin", T0 + 5)
    store.create_token(second)
    store.create_token(first)

    assert store.get_token("00aa11bb22cc33dd") == first
    assert store.get_token("ffee") == second
    assert store.get_token("0123") is None
    assert store.list_tokens() == [first, second]

    store.revoke_token("ci")

    assert store.get_token("00aa11bb22cc33dd") is None
    assert store.list_tokens() == [second]
    with pytest.raises(NotFoundError):
        store.revoke_token("ci")


def test_token_names_and_ids_are_unique(store: Store) -> None:
    store.create_token(token("ci", "aaaa"))

    with pytest.raises(AutologError):
        store.create_token(token("ci", "bbbb"))
    with pytest.raises(AutologError):
        store.create_token(token("other", "aaaa"))

    assert [t.name for t in store.list_tokens()] == ["ci"]
    store.revoke_token("ci")
    store.create_token(token("ci", "cccc"))  # a revoked token's name may be used again
    assert [t.token_id for t in store.list_tokens()] == ["cccc"]


# --------------------------------------------------------------------------------------------
# threads
# --------------------------------------------------------------------------------------------


def test_concurrent_batches_to_different_runs_lose_nothing(store: Store) -> None:
    run_ids = [new_run(store, run_name=f"t{i}") for i in range(4)]
    batches = 25

    def log(i: int) -> None:
        for b in range(batches):
            store.log_batch(
                run_ids[i],
                metrics=[Metric(f"m{k}", float(b * 10 + k), b, T0 + b) for k in range(4)],
                params=[Param(f"p{b}", f"{i}-{b}")],
                tags=[RunTag("last", str(b)), RunTag(f"t{b}", str(i))],
            )

    run_in_threads(4, log)

    for i, run_id in enumerate(run_ids):
        run = store.get_run(run_id)
        assert dict(run.data.params) == {f"p{b}": f"{i}-{b}" for b in range(batches)}
        assert run.data.tags["last"] == str(batches - 1)
        assert len(run.data.tags) == batches + 1
        assert dict(run.data.metrics) == {f"m{k}": float((batches - 1) * 10 + k) for k in range(4)}
        for k in range(4):
            history = store.get_metric_history(run_id, f"m{k}")
            assert [m.value for m in history] == [float(b * 10 + k) for b in range(batches)]


def test_concurrent_get_or_create_experiment_makes_one(store: Store) -> None:
    found = run_in_threads(4, lambda _: store.get_or_create_experiment("shared"))

    assert len({e.experiment_id for e in found}) == 1
    assert [e.name for e in store.list_experiments()].count("shared") == 1


def test_concurrent_model_versions_get_distinct_numbers(store: Store) -> None:
    run_id = new_run(store)
    sources = [[logged_model(store, run_id, f"m{i}-{j}") for j in range(5)] for i in range(4)]

    def register_all(i: int) -> list[ModelVersion]:
        return [register(store, "clf", source) for source in sources[i]]

    created = run_in_threads(4, register_all)

    numbers = sorted(v.version for batch in created for v in batch)
    assert numbers == list(range(1, 21))
    registered = {store.get_model_version("clf", n).source for n in numbers}
    assert registered == {source for batch in sources for source in batch}


def test_many_threads_into_one_run_lose_nothing(store: Store) -> None:
    run_id = new_run(store)
    threads, batches = 8, 10

    def log(i: int) -> None:
        for b in range(batches):
            store.log_batch(
                run_id,
                metrics=[
                    Metric("shared", float(i * batches + b), b, T0 + i),
                    Metric(f"own{i}", float(b), b, T0),
                ],
                params=[Param(f"p{i}-{b}", str(b))],
                tags=[RunTag(f"t{i}", str(b))],
                batch_id=f"{i}-{b}",
            )

    run_in_threads(threads, log)

    run = store.get_run(run_id)
    expected = {f"p{i}-{b}": str(b) for i in range(threads) for b in range(batches)}
    assert dict(run.data.params) == expected
    assert dict(run.data.tags) == {f"t{i}": str(batches - 1) for i in range(threads)}
    shared = store.get_metric_history(run_id, "shared")
    assert sorted(m.value for m in shared) == [float(v) for v in range(threads * batches)]
    assert [m.step for m in shared] == sorted(m.step for m in shared)
    # the highest step, then the newest timestamp: the last thread's last value
    assert run.data.metrics["shared"] == float(threads * batches - 1)
    for i in range(threads):
        own = store.get_metric_history(run_id, f"own{i}")
        assert [m.value for m in own] == [float(b) for b in range(batches)]
        assert run.data.metrics[f"own{i}"] == float(batches - 1)


# --------------------------------------------------------------------------------------------
# what the service reads: records kept and fetched, nothing judged
# --------------------------------------------------------------------------------------------


def test_a_deleted_experiment_hides_its_runs_until_restored(store: Store) -> None:
    inside = new_run(store, "old")
    outside = new_run(store, "new")
    old = store.get_experiment_by_name("old")
    assert old is not None

    store.delete_experiment(old.experiment_id)

    assert [e.name for e in store.list_experiments()] == ["new"]
    assert [e.name for e in store.list_experiments("deleted")] == ["old"]
    assert [e.name for e in store.list_experiments("all")] == ["old", "new"]
    assert store.get_experiment(old.experiment_id).deleted_time is not None
    assert _ids(store.search_runs(None, [], [], 10)) == {outside}
    assert _ids(store.search_runs(None, [], [], 10, "deleted")) == set()  # deleted runs only
    assert _ids(store.search_runs(None, [], [], 10, "all")) == {inside, outside}
    assert store.search_run_page(None, [], [], 0, 10).total == 1
    store.restore_experiment(old.experiment_id)
    assert store.get_experiment(old.experiment_id) == old
    assert _ids(store.search_runs(None, [], [], 10)) == {inside, outside}


def test_a_model_record_round_trips_and_a_new_record_replaces_it(store: Store) -> None:
    run_id = new_run(store)
    files = {"model/model.pkl": HASH_A, "model/autolog-model.json": HASH_B}
    deep = {"nested/deep/model.pkl": HASH_C}

    store.record_model(run_id, "model", files)
    store.record_model(run_id, "nested/deep/", deep)

    assert store.get_model_files(run_id, "model") == files
    assert store.get_model_files(run_id, "/model/") == files
    assert store.get_model_files(run_id, "nested/deep") == deep
    assert store.get_model_files(run_id, "nested") is None
    assert store.get_model_files(run_id, "model/model.pkl") is None
    assert store.get_artifact_hashes(run_id) == {**files, **deep}
    store.record_model(run_id, "model", {"model/model.pkl": HASH_D})
    assert store.get_model_files(run_id, "model") == {"model/model.pkl": HASH_D}
    assert store.get_artifact_hashes(run_id, "model")["model/model.pkl"] == HASH_D
    assert store.get_model_files(run_id, "nested/deep") == deep


@EVERY_ENGINE
def test_missing_things_are_answered_none_not_raised(store: Tracking) -> None:
    engine = store.engine
    run_id = new_run(store)
    missing = uuid.uuid4().hex

    assert engine.run(missing) is None
    assert engine.metric_history(missing, "m") is None
    assert engine.metric_columns(missing, "m", None, None) is None
    assert engine.metric_history(run_id, "never-logged") == []
    assert engine.model_files(missing, "model") is None
    assert engine.model_files(run_id, "model") is None
    assert engine.artifact_hashes(missing, "") == {}
    assert engine.versions_of_run(missing) == []
    assert engine.experiment("987654") is None
    assert engine.experiment_named("nope") is None
    assert engine.model_version("clf", 1) is None
    assert engine.model_versions("clf") == []
    assert engine.alias_version("clf", "champion") is None
    assert engine.token("00aa") is None
    assert engine.drop_token("nobody") is False
    with engine.run_unit(missing) as unit:
        assert unit.info() is None
        assert unit.tag("t") is None
    assert engine.run(missing) is None


@EVERY_ENGINE
def test_reads_in_a_unit_see_its_writes_and_a_taken_id_is_refused(store: Tracking) -> None:
    engine = store.engine
    experiment_id = store.get_or_create_experiment("exp").experiment_id
    run_id = uuid.uuid4().hex
    info = RunInfo(run_id, experiment_id, "first", RunStatus.RUNNING, T0, None, "file:///a")
    source = f"runs:/{run_id}/model"

    with engine.run_unit(run_id) as unit:
        assert unit.info() is None
        assert unit.create(info, {"a": "1"})
        assert unit.info() == info
        assert not unit.create(info._replace(run_name="second"), {"a": "2"})
        assert (unit.info(), unit.tag("a")) == (info, "1")
        unit.add([Metric("m", 1.0, 0, T0)], [Param("p", "1")], [RunTag("a", "2")])
        assert unit.params(["p", "q"]) == {"p": "1"}
        assert unit.tag("a") == "2"
        unit.untag("a")
        assert unit.tag("a") is None
        assert unit.claim_batch("b-1")
        assert not unit.claim_batch("b-1")
        unit.put_model("model", {"model/model.pkl": HASH_A}, T0)
        assert unit.models() == {"model": {"model/model.pkl": HASH_A}}
        assert unit.registered_as(source) is None
        version = unit.register("clf", source, T0 + 1)
        assert (version.name, version.version, version.source) == ("clf", 1, source)
        assert version.run_id == run_id
        registered = unit.registered_as(source)
        assert registered is not None
        assert (registered.name, registered.version) == ("clf", 1)
        unit.set_status(RunStatus.FINISHED, T0 + 5)
        assert unit.info() == info._replace(status=RunStatus.FINISHED, end_time=T0 + 5)
        unit.set_name("renamed")
        assert unit.info() == info._replace(
            run_name="renamed", status=RunStatus.FINISHED, end_time=T0 + 5
        )

    with engine.run_unit(run_id) as unit:  # a taken id, in a later unit too
        assert not unit.create(info._replace(run_name="second"), {"a": "3"})
        assert not unit.claim_batch("b-1")
    run = engine.run(run_id)
    assert run is not None
    assert run.info == info._replace(run_name="renamed", status=RunStatus.FINISHED, end_time=T0 + 5)
    assert (dict(run.data.params), dict(run.data.tags)) == ({"p": "1"}, {})
    assert engine.metric_history(run_id, "m") == [Metric("m", 1.0, 0, T0)]
    assert engine.model_files(run_id, "model") == {"model/model.pkl": HASH_A}
    assert engine.artifact_hashes(run_id, "") == {}  # the service records a model's hashes
    stored = engine.model_version("clf", 1)
    assert stored is not None
    assert (stored.source, stored.run_id) == (source, run_id)


@EVERY_ENGINE
def test_batch_ids_are_claimed_once_per_run(store: Tracking) -> None:
    engine = store.engine
    first, second = new_run(store), new_run(store)

    with engine.run_unit(first) as unit:
        assert unit.claim_batch("b-1")
    with engine.run_unit(first) as unit:
        assert not unit.claim_batch("b-1")
        assert unit.claim_batch("b-2")
    with engine.run_unit(second) as unit:
        assert unit.claim_batch("b-1")  # ids belong to their run


def _everything(engine: Engine, run_id: str) -> tuple[object, ...]:
    """All an engine keeps of a run."""
    return (
        engine.run(run_id),
        engine.metric_history(run_id, "m"),
        engine.artifact_hashes(run_id, ""),
        engine.model_files(run_id, "model"),
        engine.model_files(run_id, "other"),
        engine.versions_of_run(run_id),
    )


class _Abandoned(Exception):
    """Raised inside a unit of work, to leave it."""


@EVERY_ENGINE
def test_a_unit_that_raises_leaves_nothing_written(store: Tracking) -> None:
    engine = store.engine
    run_id = new_run(store, tags={"kept": "1"})
    store.log_batch(run_id, [Metric("m", 1.0, 0, T0)], [Param("p", "1")], [RunTag("t", "1")])
    source = logged_model(store, run_id)
    before = _everything(engine, run_id)
    experiment_id = store.get_or_create_experiment("exp").experiment_id
    unborn = uuid.uuid4().hex
    info = RunInfo(unborn, experiment_id, "unborn", RunStatus.RUNNING, T0, None, "file:///u")

    with pytest.raises(_Abandoned), engine.run_unit(run_id) as unit:
        assert unit.claim_batch("b-1")
        unit.add([Metric("m", 2.0, 1, T0)], [Param("q", "2")], [RunTag("t", "2"), RunTag("u", "3")])
        unit.untag("kept")
        unit.add_hashes({"f.txt": HASH_C, "model/model.pkl": HASH_D})
        unit.put_model("other", {"other/model.pkl": HASH_C}, T0)
        unit.put_model("model", {"model/model.pkl": HASH_D}, T0)
        unit.register("clf", source, T0)
        unit.set_status(RunStatus.FINISHED, T0 + 5)
        unit.set_name("abandoned")
        unit.set_deleted(T0 + 6)
        raise _Abandoned
    with pytest.raises(_Abandoned), engine.run_unit(unborn) as unit:
        assert unit.create(info, {"t": "1"})
        unit.add([Metric("m", 1.0, 0, T0)], [Param("p", "1")], [])
        raise _Abandoned

    assert _everything(engine, run_id) == before
    assert engine.model_versions(None) == []
    assert engine.run(unborn) is None
    with engine.run_unit(run_id) as unit:
        assert unit.claim_batch("b-1")  # the claim went with the rest
    with engine.run_unit(unborn) as unit:
        assert unit.create(info, {})  # the id is free
    store.log_batch(run_id, metrics=[Metric("m", 3.0, 2, T0)])  # and the engine goes on
    assert [m.value for m in store.get_metric_history(run_id, "m")] == [1.0, 3.0]


@EVERY_ENGINE
def test_units_of_one_run_exclude_each_other_across_threads(store: Tracking) -> None:
    engine = store.engine
    run_id = new_run(store)
    threads, rounds = 4, 10

    def bump(_: int) -> None:
        for _ in range(rounds):
            with engine.run_unit(run_id) as unit:
                count = int(unit.tag("count") or "0")
                time.sleep(0.001)  # widen the window a lost update needs
                unit.add((), (), [RunTag("count", str(count + 1))])

    run_in_threads(threads, bump)

    run = engine.run(run_id)
    assert run is not None
    assert run.data.tags["count"] == str(threads * rounds)

    events: list[str] = []
    inside = threading.Event()

    def first(_: int) -> None:
        with engine.run_unit(run_id):
            events.append("first in")
            inside.set()
            time.sleep(0.3)
            events.append("first out")

    def second(_: int) -> None:
        assert inside.wait(30)
        with engine.run_unit(run_id):
            events.append("second in")

    run_in_threads(2, lambda i: (first, second)[i](i))
    assert events == ["first in", "first out", "second in"]


# a process that dies inside a unit of work: SIGKILL after the unit's writes, before it ends
_DIES_IN_A_UNIT = """
import sys, time
from autolog.entities import Metric, Param, RunStatus, RunTag
from autolog.stores import open_store

store = open_store(sys.argv[1])
with store.engine.run_unit(sys.argv[2]) as unit:
    unit.claim_batch("b-dying")
    unit.add([Metric("m", 9.0, 9, 0)], [Param("dying", "1")], [RunTag("dying", "1")])
    unit.add_hashes({"dying.txt": "e" * 64})
    unit.set_status(RunStatus.FINISHED, 1)
    print("inside", flush=True)
    time.sleep(120)
"""


@DURABLE_ENGINES
def test_a_process_killed_inside_a_unit_leaves_nothing_and_no_lock(
    store: Tracking, store_uri: str
) -> None:
    run_id = new_run(store)
    store.log_batch(run_id, [Metric("m", 1.0, 0, T0)], [Param("p", "1")])
    before = _everything(store.engine, run_id)
    child = subprocess.Popen(
        [sys.executable, "-c", _DIES_IN_A_UNIT, store_uri, run_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line == "inside\n", line + child.stderr.read() if child.stderr else line
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.communicate(timeout=30)

    assert _everything(store.engine, run_id) == before
    reopened = open_store(store_uri)
    try:
        assert isinstance(reopened, Tracking)
        assert _everything(reopened.engine, run_id) == before
        # the run's unit was released with the process: the next writer gets in at once
        started = time.monotonic()
        reopened.log_batch(run_id, [Metric("m", 2.0, 1, T0)], batch_id="b-dying")
        assert time.monotonic() - started < 10
        assert [m.value for m in reopened.get_metric_history(run_id, "m")] == [1.0, 2.0]
        assert reopened.get_run(run_id).info.status is RunStatus.RUNNING
    finally:
        reopened.close()


@DURABLE_ENGINES
def test_everything_stored_is_there_after_reopening(store: Tracking, store_uri: str) -> None:
    run_id = new_run(store, run_name="kept", tags={"t": "1"})
    store.log_batch(
        run_id,
        [Metric("m", math.nan, 0, T0), Metric("m", -0.0, 1, T0 + 1)],
        [Param("p", "ünïcode ✓")],
        [RunTag("big", "x" * 100_000)],
        batch_id="b-1",
    )
    source = logged_model(store, run_id)
    store.record_artifact_hashes(run_id, {"f.txt": HASH_C})
    store.create_model_version("clf", source, run_id)
    store.set_model_alias("clf", "champion", 1)
    store.create_token(AccessToken("00aa", "ci", "write", T0, "f" * 64))
    store.update_run(run_id, RunStatus.FINISHED, T0 + 9)
    gone = new_run(store, "old")
    old = store.get_experiment_by_name("old")
    assert old is not None
    store.delete_run(gone)
    store.delete_experiment(old.experiment_id)
    kept = (
        store.get_run(run_id),
        store.get_run(gone),
        store.get_artifact_hashes(run_id),
        store.get_model_files(run_id, "model"),
        store.list_model_versions(),
        store.list_tokens(),
        store.list_experiments("all"),
    )
    history = store.get_metric_history(run_id, "m")
    store.close()

    reopened = open_store(store_uri)
    try:
        assert (
            reopened.get_run(run_id),
            reopened.get_run(gone),
            reopened.get_artifact_hashes(run_id),
            reopened.get_model_files(run_id, "model"),
            reopened.list_model_versions(),
            reopened.list_tokens(),
            reopened.list_experiments("all"),
        ) == kept
        again = reopened.get_metric_history(run_id, "m")
        assert [(m.step, m.timestamp) for m in again] == [(m.step, m.timestamp) for m in history]
        assert same_float(again[0].value, math.nan)
        assert same_float(again[1].value, -0.0)
        with pytest.raises(AutologError, match="FINISHED"):  # its end was kept
            reopened.log_batch(run_id, [Metric("m", 1.0, 2, T0)], batch_id="b-2")
    finally:
        reopened.close()


@EVERY_ENGINE
def test_engine_search_matches_the_reference_engine(store: Tracking) -> None:
    """Every filter on the engine itself, attributes the service judges included (status,
    end and duration: a stored run with no runner tag is never reaped)."""
    specs = generate_runs()
    reference = MemoryStore(artifact_root="file:///reference")
    populate(reference, specs)
    populate(store, specs)
    failures = []
    for i, filter_string in enumerate(PROPERTY_FILTERS):
        filters = parse_filter(filter_string)
        for order in PROPERTY_ORDERS:
            order_by = parse_order_by(order)
            want = reference.engine.find_runs(None, filters, order_by, 1000, "active")
            got = store.engine.find_runs(None, filters, order_by, 1000, "active")
            if [r.info.run_id for r in got] != [r.info.run_id for r in want]:
                failures.append((filter_string, order))
        order_by = parse_order_by(PROPERTY_ORDERS[i % len(PROPERTY_ORDERS)])
        for offset, limit, top_level in ((0, 7, i % 2 == 0), (5, 4, i % 2 == 1)):
            pages = [
                engine.find_run_page(None, filters, order_by, offset, limit, top_level, "active")
                for engine in (reference.engine, store.engine)
            ]
            if _page_ids(pages[1]) != _page_ids(pages[0]):
                failures.append((filter_string, (offset, limit, top_level)))
    assert not failures, f"{len(failures)} engine searches differ, e.g. {failures[:5]}"


def _page_ids(page: RunPage) -> tuple[list[str], int, dict[str, int]]:
    return [r.info.run_id for r in page.runs], page.total, dict(page.child_counts)


# --------------------------------------------------------------------------------------------
# experiment tags, and the times an import keeps
# --------------------------------------------------------------------------------------------


def test_experiment_tags_round_trip_and_change_one_key_at_a_time(store: Store) -> None:
    experiment = store.get_or_create_experiment("tagged")
    assert experiment.tags == {}
    store.set_experiment_tag(experiment.experiment_id, "team", "vision")
    store.set_experiment_tag(experiment.experiment_id, "notes/ü", "x" * 5000)
    store.set_experiment_tag(experiment.experiment_id, "team", "nlp")  # replaces
    store.set_experiment_tag(experiment.experiment_id, "empty", "")
    want = {"team": "nlp", "notes/ü": "x" * 5000, "empty": ""}

    assert store.get_experiment(experiment.experiment_id).tags == want
    assert store.get_experiment_by_name("tagged").tags == want  # type: ignore[union-attr]
    listed = {e.name: e for e in store.list_experiments()}
    assert listed["tagged"].tags == want
    assert store.get_or_create_experiment("tagged").tags == want

    store.delete_experiment_tag(experiment.experiment_id, "team")
    store.delete_experiment_tag(experiment.experiment_id, "team")  # again: no change
    assert store.get_experiment(experiment.experiment_id).tags == {
        "notes/ü": "x" * 5000,
        "empty": "",
    }
    other = store.get_or_create_experiment("untagged")
    assert store.get_experiment(other.experiment_id).tags == {}


def test_renaming_and_deleting_an_experiment_keep_its_tags(store: Store) -> None:
    experiment = store.get_or_create_experiment("before")
    store.set_experiment_tag(experiment.experiment_id, "k", "v")
    store.rename_experiment(experiment.experiment_id, "after")
    store.delete_experiment(experiment.experiment_id)
    store.restore_experiment(experiment.experiment_id)

    assert store.get_experiment(experiment.experiment_id).tags == {"k": "v"}


def test_a_purged_experiment_takes_its_tags_along(store: Store) -> None:
    experiment = store.get_or_create_experiment("gone")
    store.set_experiment_tag(experiment.experiment_id, "k", "v")
    new_run(store, "gone")
    store.delete_experiment(experiment.experiment_id)
    store.purge_experiment(experiment.experiment_id)

    again = store.get_or_create_experiment("gone")  # the name is free, and has no tags
    assert again.tags == {}


def test_an_import_keeps_the_creation_and_deletion_times_it_gives(store: Store) -> None:
    created = store.get_or_create_experiment("imported", creation_time=1_234)
    assert created.creation_time == 1_234
    # only where it is created: an experiment that exists keeps its own
    assert store.get_or_create_experiment("imported", creation_time=99).creation_time == 1_234
    store.delete_experiment(created.experiment_id, deleted_time=5_678)

    assert store.get_experiment(created.experiment_id).deleted_time == 5_678
    store.delete_experiment(created.experiment_id, deleted_time=9_999)  # deleted: no change
    assert store.get_experiment(created.experiment_id).deleted_time == 5_678
    assert [e.creation_time for e in store.list_experiments("deleted")] == [1_234]


# --------------------------------------------------------------------------------------------
# a run's name and tags after its end (metadata: the rules are test_tracking_rules.py's)
# --------------------------------------------------------------------------------------------


def test_a_finished_runs_name_and_tags_change_and_are_searched(store: Store) -> None:
    run_id = new_run(store, run_name="first", tags={"a": "1", "b": "2"})
    other = new_run(store, run_name="other", tags={"b": "2"})
    store.log_batch(run_id, [Metric("m", 1.0, 0, T0)], [Param("p", "1")])
    store.update_run(run_id, RunStatus.FINISHED, T0 + 5)
    before = store.get_run(run_id)

    store.rename_run(run_id, "ünïcode name ✓")
    store.log_batch(run_id, tags=[RunTag("a", "changed"), RunTag("mlflow.note.content", "# n")])
    store.delete_tag(run_id, "b")
    store.delete_tag(run_id, "missing")  # no change

    run = store.get_run(run_id)
    assert run.info == before.info._replace(run_name="ünïcode name ✓")
    assert run.data.tags == {"a": "changed", "mlflow.note.content": "# n"}
    assert (run.data.metrics, run.data.params) == ({"m": 1.0}, {"p": "1"})
    assert store.get_run(other).data.tags == {"b": "2"}  # the other run's keeps its own
    named = parse_filter("attributes.run_name = 'ünïcode name ✓' and tags.a = 'changed'")
    assert [r.info.run_id for r in store.search_runs(None, named, [], 10)] == [run_id]
    untagged = store.search_runs(None, parse_filter("tags.b = '2'"), [], 10)
    assert [r.info.run_id for r in untagged] == [other]
    with pytest.raises(RunStateError, match="FINISHED"):  # the rest stays refused
        store.log_batch(run_id, [Metric("m", 2.0, 1, T0)])


def test_a_deleted_run_refuses_a_new_name_and_once_ended_its_tags(store: Store) -> None:
    run_id = new_run(store, run_name="kept", tags={"t": "1"})
    store.update_run(run_id, RunStatus.FINISHED, T0 + 5)
    store.delete_run(run_id)
    with pytest.raises(RunStateError, match="deleted"):
        store.rename_run(run_id, "new")
    with pytest.raises(RunStateError, match="deleted"):
        store.log_batch(run_id, tags=[RunTag("t", "2")])
    with pytest.raises(RunStateError, match="deleted"):
        store.delete_tag(run_id, "t")
    with pytest.raises(NotFoundError):
        store.rename_run(uuid.uuid4().hex, "new")
    run = store.get_run(run_id)
    assert (run.info.run_name, run.data.tags) == ("kept", {"t": "1"})


@DURABLE_ENGINES
def test_a_name_and_tags_changed_after_the_end_are_there_after_reopening(
    store: Tracking, store_uri: str
) -> None:
    run_id = new_run(store, run_name="first", tags={"a": "1", "b": "2"})
    store.update_run(run_id, RunStatus.FAILED, T0 + 5)
    store.rename_run(run_id, "second")
    store.log_batch(run_id, tags=[RunTag("a", "changed")])
    store.delete_tag(run_id, "b")
    kept = store.get_run(run_id)
    store.close()

    reopened = open_store(store_uri)
    try:
        assert reopened.get_run(run_id) == kept
        assert (kept.info.run_name, kept.data.tags) == ("second", {"a": "changed"})
    finally:
        reopened.close()
