"""What the SQL store adds to the store contract: schema migrations, exact chunked metric
storage, SQL translation of searches, error mapping, and many processes sharing one database.

The behaviour every store shares is in test_engine_contract.py and test_tracking_rules.py.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import random
import sqlite3
import struct
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from autolog.entities import Metric, Param, RunStatus, RunTag
from autolog.errors import (
    NotFoundError,
    ParamCollisionError,
    StoreError,
    StoreUnavailableError,
)
from autolog.search import parse_filter, parse_order_by
from autolog.stores import sql_driver, sql_schema
from autolog.stores.memory import MemoryStore
from autolog.stores.sql import SqlStore

T0 = 1_700_000_000_000
SPECIAL_FLOATS = (math.nan, math.inf, -math.inf, 1e308, -0.0, 0.0, 5e-324, -1.7976931348623157e308)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def sql_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URI naming a new, empty SQL database of each dialect."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/db/t.db"
    uri: str = request.getfixturevalue("postgres_uri")
    return uri


@pytest.fixture
def sql_store(sql_uri: str) -> Iterator[SqlStore]:
    store = SqlStore(sql_uri)
    try:
        yield store
    finally:
        store.close()


def new_run(store: SqlStore | MemoryStore, experiment: str = "exp", **kw: Any) -> str:
    run_id: str = kw.pop("run_id", None) or uuid.uuid4().hex
    experiment_id = store.get_or_create_experiment(experiment).experiment_id
    store.create_run(
        run_id,
        experiment_id,
        kw.pop("run_name", "run"),
        kw.pop("start_time", T0),
        f"file:///artifacts/{run_id}",
        kw.pop("parent_run_id", None),
        kw.pop("tags", {}),
    )
    return run_id


def bits(value: float) -> bytes:
    return struct.pack("<d", value)


def db_of(store: SqlStore) -> Any:
    db = store.engine.db
    assert db is not None
    return db


def schema_version(store: SqlStore) -> int:
    row = db_of(store).execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0])


# --------------------------------------------------------------------------------------------
# Migrations
# --------------------------------------------------------------------------------------------


class _CountingConnection:
    """Passes statements through to a store's connection, recording them."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.statements: list[str] = []

    def execute(self, sql: str, params: Sequence[object] = ()) -> Any:
        self.statements.append(sql)
        return self.db.execute(sql, params)


def test_a_fresh_database_gets_the_newest_schema(sql_store: SqlStore) -> None:
    assert schema_version(sql_store) == sql_schema.LATEST_VERSION
    rows = db_of(sql_store).execute("SELECT version FROM schema_version ORDER BY version")
    assert [v for (v,) in rows.fetchall()] == [m.version for m in sql_schema.MIGRATIONS]


def test_migrations_are_numbered_in_order() -> None:
    versions = [m.version for m in sql_schema.MIGRATIONS]
    assert versions == list(range(1, len(versions) + 1))
    for migration in sql_schema.MIGRATIONS:
        assert migration.statements("sqlite")
        assert migration.statements("postgresql")


def test_migrating_an_up_to_date_database_costs_one_query(sql_store: SqlStore) -> None:
    db = db_of(sql_store)
    counting = _CountingConnection(db)
    assert sql_schema.migrate(counting, db.dialect) == sql_schema.LATEST_VERSION
    assert counting.statements == ["SELECT MAX(version) FROM schema_version"]


def test_reopening_is_idempotent_and_keeps_the_data(sql_uri: str) -> None:
    first = SqlStore(sql_uri)
    run_id = new_run(first)
    first.log_batch(run_id, [Metric("m", 1.5, 0, T0)], [Param("p", "v")])
    first.close()
    for _ in range(3):
        again = SqlStore(sql_uri)
        try:
            assert schema_version(again) == sql_schema.LATEST_VERSION
            count = db_of(again).execute("SELECT COUNT(*) FROM schema_version").fetchone()[0]
            assert count == len(sql_schema.MIGRATIONS)
            run = again.get_run(run_id)
            assert run.data.params == {"p": "v"}
            assert run.data.metrics == {"m": 1.5}
        finally:
            again.close()


def test_a_database_newer_than_the_code_is_refused(sql_uri: str) -> None:
    store = SqlStore(sql_uri)
    newer = sql_schema.LATEST_VERSION + 1
    db_of(store).execute("INSERT INTO schema_version VALUES (?, ?)", (newer, T0))
    store.close()
    with pytest.raises(StoreError, match=f"version {newer}, newer than this autolog"):
        SqlStore(sql_uri)


def test_a_new_migration_upgrades_an_existing_database(
    sql_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqlStore(sql_uri)
    run_id = new_run(store)
    store.close()
    extra = sql_schema.Migration(
        sql_schema.LATEST_VERSION + 1,
        "a test table",
        ("CREATE TABLE upgrade_probe (x INTEGER)",),
        ("CREATE TABLE upgrade_probe (x INTEGER)",),
    )
    monkeypatch.setattr(sql_schema, "MIGRATIONS", (*sql_schema.MIGRATIONS, extra))
    monkeypatch.setattr(sql_schema, "LATEST_VERSION", extra.version)
    upgraded = SqlStore(sql_uri)
    try:
        assert schema_version(upgraded) == extra.version
        assert db_of(upgraded).execute("SELECT COUNT(*) FROM upgrade_probe").fetchone() == (0,)
        assert upgraded.get_run(run_id).info.run_id == run_id
    finally:
        upgraded.close()


def test_threads_opening_a_fresh_database_migrate_it_once(sql_uri: str) -> None:
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []
    stores: list[SqlStore] = []

    def open_store() -> None:
        try:
            barrier.wait(timeout=60)
            stores.append(SqlStore(sql_uri))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert errors == []
        assert len(stores) == 8
        count = db_of(stores[0]).execute("SELECT COUNT(*) FROM schema_version").fetchone()[0]
        assert count == len(sql_schema.MIGRATIONS)
    finally:
        for store in stores:
            store.close()


# --------------------------------------------------------------------------------------------
# Chunked metrics
# --------------------------------------------------------------------------------------------


def test_special_floats_round_trip_bit_for_bit(sql_store: SqlStore) -> None:
    run_id = new_run(sql_store)
    history = [Metric("m", v, i, T0 + i) for i, v in enumerate(SPECIAL_FLOATS)]
    sql_store.log_batch(run_id, history)
    # each special value is also the latest of its own key, logged in a batch of its own
    for i, value in enumerate(SPECIAL_FLOATS):
        sql_store.log_batch(run_id, [Metric(f"k{i}", 7.0, 0, T0), Metric(f"k{i}", value, 1, T0)])

    stored = sql_store.get_metric_history(run_id, "m")
    assert [(m.key, m.step, m.timestamp) for m in stored] == [
        (m.key, m.step, m.timestamp) for m in history
    ]
    for got, want in zip(stored, SPECIAL_FLOATS, strict=True):
        assert type(got.value) is float
        assert math.isnan(got.value) if math.isnan(want) else bits(got.value) == bits(want)

    latest = sql_store.get_run(run_id).data.metrics
    for i, want in enumerate(SPECIAL_FLOATS):
        got = latest[f"k{i}"]
        assert math.isnan(got) if math.isnan(want) else bits(got) == bits(want)
    assert bits(latest["m"]) == bits(SPECIAL_FLOATS[-1])


def test_each_batch_appends_one_chunk_per_key(sql_store: SqlStore) -> None:
    run_id = new_run(sql_store)
    batch = [Metric("a" if i % 3 else "b", float(i), i, T0) for i in range(30)]
    sql_store.log_batch(run_id, batch)
    sql_store.log_batch(run_id, batch[:4])
    rows = (
        db_of(sql_store)
        .execute(
            "SELECT s.key, c.seq, c.n FROM metric_chunks c JOIN metric_series s"
            " ON s.id = c.series_id ORDER BY s.key, c.seq"
        )
        .fetchall()
    )
    assert [tuple(r) for r in rows] == [("a", 1, 20), ("a", 2, 2), ("b", 1, 10), ("b", 2, 2)]
    counts = db_of(sql_store).execute("SELECT key, n_values FROM metric_series ORDER BY key")
    assert [tuple(r) for r in counts.fetchall()] == [("a", 22), ("b", 12)]


def test_chunks_hold_little_endian_int64_and_float64_arrays(sql_store: SqlStore) -> None:
    run_id = new_run(sql_store)
    sql_store.log_batch(run_id, [Metric("m", -0.5, -3, T0), Metric("m", 2.0, 2**40, T0 + 1)])
    row = (
        db_of(sql_store)
        .execute(
            "SELECT n, first_step, last_step, in_order, steps, timestamps, vals FROM metric_chunks"
        )
        .fetchone()
    )
    n, first_step, last_step, in_order, steps, timestamps, values = row
    assert (n, first_step, last_step, in_order) == (2, -3, 2**40, 1)
    assert bytes(steps) == struct.pack("<2q", -3, 2**40)
    assert bytes(timestamps) == struct.pack("<2q", T0, T0 + 1)
    assert bytes(values) == struct.pack("<2d", -0.5, 2.0)


def test_out_of_order_steps_are_sorted_stably_across_chunks(sql_store: SqlStore) -> None:
    reference = MemoryStore()
    batches = [
        [(5, 0), (1, 1), (3, 2), (1, 3)],  # unsorted within the chunk, with a tie
        [(6, 4), (7, 5)],  # sorted, after the first chunk
        [(1, 6), (2, 7)],  # sorted, but starts below the previous chunk's last step
        [(7, 8), (7, 2)],  # the latest step again: the newer timestamp wins over later logging
    ]
    sql_run = new_run(sql_store)
    ref_run = new_run(reference, run_id=sql_run)
    for number, batch in enumerate(batches):
        metrics = [
            Metric("m", float(number * 10 + i), step, T0 + t) for i, (step, t) in enumerate(batch)
        ]
        sql_store.log_batch(sql_run, metrics)
        reference.log_batch(ref_run, metrics)
        assert sql_store.get_metric_history(sql_run, "m") == reference.get_metric_history(
            ref_run, "m"
        )
        assert sql_store.get_run(sql_run).data.metrics == reference.get_run(ref_run).data.metrics
    steps = [m.step for m in sql_store.get_metric_history(sql_run, "m")]
    assert steps == sorted(steps)
    assert sql_store.get_run(sql_run).data.metrics["m"] == 30.0


def test_random_batches_match_the_reference_store(sql_store: SqlStore) -> None:
    rng = random.Random(20240611)
    reference = MemoryStore()
    sql_run = new_run(sql_store)
    ref_run = new_run(reference, run_id=sql_run)
    keys = ["loss", "acc", "lr/group 0"]
    for _ in range(25):
        batch = [
            Metric(
                rng.choice(keys),
                rng.choice([rng.uniform(-1, 1), math.inf, -0.0, 0.0]),
                rng.randrange(0, 12),
                T0 + rng.randrange(0, 5),
            )
            for _ in range(rng.randrange(1, 40))
        ]
        sql_store.log_batch(sql_run, batch)
        reference.log_batch(ref_run, batch)
    for key in keys:
        got = sql_store.get_metric_history(sql_run, key)
        want = reference.get_metric_history(ref_run, key)
        assert [(m.step, m.timestamp, bits(m.value)) for m in got] == [
            (m.step, m.timestamp, bits(m.value)) for m in want
        ]
    got_latest = sql_store.get_run(sql_run).data.metrics
    want_latest = reference.get_run(ref_run).data.metrics
    assert {k: bits(v) for k, v in got_latest.items()} == {
        k: bits(v) for k, v in want_latest.items()
    }


def test_history_of_a_missing_key_is_empty_and_of_a_missing_run_raises(
    sql_store: SqlStore,
) -> None:
    run_id = new_run(sql_store)
    assert sql_store.get_metric_history(run_id, "nothing") == []
    with pytest.raises(NotFoundError):
        sql_store.get_metric_history(uuid.uuid4().hex, "m")


def test_bad_metric_values_are_refused_before_anything_is_written(sql_store: SqlStore) -> None:
    run_id = new_run(sql_store)
    with pytest.raises(ValueError, match="64 bits"):
        sql_store.log_batch(run_id, [Metric("m", 1.0, 2**63, T0)], [Param("p", "1")])
    assert sql_store.get_run(run_id).data.params == {}


# --------------------------------------------------------------------------------------------
# Params, search and reads in SQL
# --------------------------------------------------------------------------------------------


def test_a_param_collision_in_a_batch_writes_nothing_of_it(sql_store: SqlStore) -> None:
    run_id = new_run(sql_store)
    sql_store.log_batch(run_id, params=[Param("a", "1")])
    with pytest.raises(ParamCollisionError):
        sql_store.log_batch(
            run_id,
            [Metric("m", 1.0, 0, T0)],
            [Param("new", "x"), Param("a", "1"), Param("a", "2")],
            [RunTag("t", "v")],
        )
    run = sql_store.get_run(run_id)
    assert (run.data.params, run.data.metrics, run.data.tags) == ({"a": "1"}, {}, {})
    assert sql_store.get_metric_history(run_id, "m") == []


def test_concurrent_writers_of_one_param_cannot_both_win(sql_uri: str) -> None:
    stores = [SqlStore(sql_uri) for _ in range(4)]
    run_id = new_run(stores[0])
    barrier = threading.Barrier(len(stores))
    outcomes: list[str] = []

    def write(store: SqlStore, value: str) -> None:
        barrier.wait(timeout=60)
        try:
            store.log_batch(run_id, params=[Param("p", value)])
            outcomes.append(value)
        except ParamCollisionError:
            outcomes.append("collision")

    threads = [
        threading.Thread(target=write, args=(store, str(i))) for i, store in enumerate(stores)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        winners = [o for o in outcomes if o != "collision"]
        assert len(outcomes) == 4
        assert len(winners) == 1
        assert stores[1].get_run(run_id).data.params == {"p": winners[0]}
    finally:
        for store in stores:
            store.close()


def test_concurrent_batches_with_keys_in_any_order_do_not_deadlock(sql_uri: str) -> None:
    stores = [SqlStore(sql_uri) for _ in range(4)]
    run_id = new_run(stores[0])
    keys = [f"k{i}" for i in range(12)]
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def write(store: SqlStore, seed: int) -> None:
        rng = random.Random(seed)
        barrier.wait(timeout=60)
        try:
            for step in range(25):
                order = rng.sample(keys, len(keys))
                store.log_batch(
                    run_id,
                    [Metric(key, float(seed), step, T0 + seed) for key in order],
                    tags=[RunTag(key, str(seed)) for key in order],
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, i)) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert errors == []
        for key in keys:
            assert len(stores[0].get_metric_history(run_id, key)) == 25 * len(stores)
    finally:
        for store in stores:
            store.close()


def _populate(stores: Sequence[SqlStore | MemoryStore], seed: int) -> None:
    """The same runs in every store, chosen to trip up a translation to SQL."""
    rng = random.Random(seed)
    strings = ["a", "A", "ab", "aB", "a%b", "a_b", "axb", "a\\b", "é", "10", "9", "", "x y"]
    for store in stores:
        for number in range(12):  # 12 experiments: "10" < "2" as strings
            store.get_or_create_experiment(f"exp{number}")
    runs: list[str] = []
    for i in range(70):
        run_id = uuid.uuid4().hex
        experiment_id = str(rng.randrange(12))
        parent = rng.choice([None, None, *runs[:5]])
        start = T0 + rng.randrange(8)  # many ties: ordered by run id
        tags = {"t": rng.choice(strings)} if rng.random() < 0.8 else {}
        status = rng.choice(list(RunStatus))
        end = rng.choice([None, T0 + rng.randrange(10)])
        params = [Param("p", rng.choice(strings))] if rng.random() < 0.85 else []
        params.append(Param("q", str(i % 4)))
        metrics = []
        if rng.random() < 0.85:
            loss = rng.choice([-1.5, 0.0, -0.0, 1.0, 2.5, 1e308, math.inf, -math.inf, 3.0])
            metrics.append(Metric("loss", loss, 0, T0))
        if rng.random() < 0.85:
            metrics.append(Metric("acc", rng.choice([math.nan, 0.5, -0.0, 1.0, math.inf]), 0, T0))
        for store in stores:
            store.create_run(run_id, experiment_id, f"run-{i}", start, "file:///a", parent, tags)
            store.log_batch(run_id, metrics, params)
            if status is not RunStatus.RUNNING:
                store.update_run(run_id, status, end)
        runs.append(run_id)


_FILTERS = [
    "",
    "params.p = 'a'",
    "params.p != 'a'",
    "params.p = ''",
    "params.p LIKE 'a%'",
    "params.p LIKE 'a_b'",
    "params.p LIKE 'a\\b'",
    "params.p LIKE '%\\%'",
    "params.p LIKE 'A%'",
    "params.p LIKE '%'",
    "params.p NOT LIKE 'a%'",
    "params.p ILIKE 'a%'",
    "params.p ILIKE 'AB'",
    "params.p NOT ILIKE 'a_'",
    "params.p ILIKE 'É'",
    "params.p NOT ILIKE '%É%'",
    "tags.t ILIKE 'X Y'",
    "attributes.run_name ILIKE 'RUN-1%'",
    "attributes.parent_run_id ILIKE '%'",
    "params.p ILIKE 'a%' and tags.t NOT ILIKE 'A%' and metrics.loss > 0",
    "params.p IN ('a', 'A', '10')",
    "params.p NOT IN ('a', '')",
    "params.p = 'é'",
    "tags.t = 'x y'",
    "tags.t != 'a'",
    "tags.t LIKE '_'",
    "metrics.loss > 0.5",
    "metrics.loss >= 0",
    "metrics.loss < 0",
    "metrics.loss <= -0.0",
    "metrics.loss = 0",
    "metrics.loss != 1",
    "metrics.loss = inf",
    "metrics.loss > -inf",
    "metrics.loss > 1e307",
    "metrics.acc != 1",
    "metrics.acc = 0.5",
    "metrics.acc < 2",
    "metrics.acc != nan",
    "metrics.acc = nan",
    "metrics.acc < nan",
    "attributes.status = 'finished'",
    "attributes.status != 'RUNNING'",
    "attributes.run_name LIKE 'run-1%'",
    "attributes.start_time > " + str(T0 + 3),
    "attributes.end_time <= " + str(T0 + 5),
    "attributes.end_time != " + str(T0 + 3),
    "attributes.parent_run_id LIKE '%'",
    "attributes.parent_run_id NOT LIKE 'z%'",
    "attributes.experiment_id = '1'",
    "attributes.experiment_id IN ('0', '11')",
    "attributes.experiment_id LIKE '1%'",
    "metrics.loss < 2 and params.p LIKE 'a%' and tags.t != 'b' and params.q = '1'",
]
_ORDERS: list[list[str]] = [
    [],
    ["metrics.loss"],
    ["metrics.loss DESC"],
    ["metrics.acc", "params.q"],
    ["metrics.acc DESC"],
    ["params.p"],
    ["params.p DESC", "metrics.loss"],
    ["tags.t", "params.q DESC"],
    ["attributes.end_time"],
    ["attributes.end_time DESC"],
    ["attributes.run_name"],
    ["attributes.status", "params.p DESC"],
    ["attributes.experiment_id DESC"],
    ["attributes.parent_run_id"],
    ["start_time"],
    ["run_id DESC"],
]


def test_search_translates_to_sql_exactly_as_the_reference_filters(sql_store: SqlStore) -> None:
    reference = MemoryStore()
    _populate([sql_store, reference], seed=99)
    for filter_string in _FILTERS:
        filters = parse_filter(filter_string)
        for experiment_ids in (None, ["0"], ["1", "11"], [], ["no such id"]):
            want = [r.info.run_id for r in reference.search_runs(experiment_ids, filters, [], 1000)]
            got = [r.info.run_id for r in sql_store.search_runs(experiment_ids, filters, [], 1000)]
            assert got == want, (filter_string, experiment_ids)
    for order in _ORDERS:
        order_by = parse_order_by(order)
        for filter_string in ("", "params.q != '2'", "tags.t LIKE 'a%'", "params.p ILIKE 'A%'"):
            for max_results in (1000, 7, 0, -3):
                filters = parse_filter(filter_string)
                want = reference.search_runs(None, filters, order_by, max_results)
                got = sql_store.search_runs(None, filters, order_by, max_results)
                assert [r.info.run_id for r in got] == [r.info.run_id for r in want], (
                    order,
                    filter_string,
                    max_results,
                )


def test_search_loads_runs_in_a_few_queries(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path}/t.db")
    try:
        for i in range(40):
            run_id = new_run(store, start_time=T0 + i)
            store.log_batch(run_id, [Metric("m", 1.0, 0, T0)], [Param("p", str(i))])
        statements: list[str] = []
        db_of(store)._raw.set_trace_callback(statements.append)
        runs = store.search_runs(None, parse_filter("metrics.m > 0"), [], 1000)
        db_of(store)._raw.set_trace_callback(None)
        assert len(runs) == 40
        assert all(run.data.params and run.data.metrics for run in runs)
        assert len(statements) <= 6, statements
    finally:
        store.close()


def test_artifact_hash_prefixes_are_not_like_patterns(sql_store: SqlStore) -> None:
    run_id = new_run(sql_store)
    hashes = {"a_b/x": "1", "axb/y": "2", "a%/z": "3", "a_b": "4", "a_b0": "5", "a_b/c/d": "6"}
    sql_store.record_artifact_hashes(run_id, hashes)
    assert sql_store.get_artifact_hashes(run_id, "a_b") == {
        "a_b/x": "1",
        "a_b": "4",
        "a_b/c/d": "6",
    }
    assert sql_store.get_artifact_hashes(run_id, "a%/") == {"a%/z": "3"}
    assert sql_store.get_artifact_hashes(run_id) == hashes


def test_experiment_ids_count_from_zero(sql_store: SqlStore) -> None:
    first = sql_store.get_or_create_experiment("Default")
    second = sql_store.get_or_create_experiment("other")
    assert (first.experiment_id, second.experiment_id) == ("0", "1")
    assert sql_store.get_or_create_experiment("Default") == first
    assert first.artifact_location == f"{sql_store.artifact_root}/0"


# --------------------------------------------------------------------------------------------
# URIs, files and errors
# --------------------------------------------------------------------------------------------


def test_sqlite_creates_missing_folders_and_keeps_artifacts_beside_the_file(
    tmp_path: Path,
) -> None:
    store = SqlStore(f"sqlite:///{tmp_path}/deep/er/runs.db")
    try:
        assert (tmp_path / "deep" / "er" / "runs.db").is_file()
        assert store.artifact_root == (tmp_path / "deep" / "er" / "artifacts").resolve().as_uri()
        mode = db_of(store).execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    finally:
        store.close()


def test_a_locked_sqlite_database_is_unavailable_not_a_driver_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_driver, "_BUSY_TIMEOUT_S", 0.2)
    path = tmp_path / "t.db"
    store = SqlStore(f"sqlite:///{path}")
    run_id = new_run(store)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailableError, match="writing run") as caught:
            store.log_batch(run_id, [Metric("m", 1.0, 0, T0)])
        assert not isinstance(caught.value, sqlite3.Error)
        blocker.execute("ROLLBACK")
        store.log_batch(run_id, [Metric("m", 1.0, 0, T0)])  # usable again
        assert store.get_run(run_id).data.metrics == {"m": 1.0}
    finally:
        blocker.close()
        store.close()


def test_an_unopenable_sqlite_file_is_unavailable_not_a_driver_error(tmp_path: Path) -> None:
    (tmp_path / "folder.db").mkdir()
    with pytest.raises(StoreUnavailableError, match="unable to open") as caught:
        SqlStore(f"sqlite:///{tmp_path}/folder.db")
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)


def test_a_closed_store_refuses_calls(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path}/t.db")
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.list_experiments()


@pytest.mark.postgres
def test_postgres_refused_connection_is_unavailable_and_hides_the_password() -> None:
    pytest.importorskip("psycopg")
    uri = "postgresql://autolog:secret-pw@127.0.0.1:1/nothing?connect_timeout=3"
    with pytest.raises(StoreUnavailableError) as caught:
        SqlStore(uri)
    assert "secret-pw" not in str(caught.value)
    assert "***" in str(caught.value)


@pytest.mark.postgres
def test_postgres_reconnects_after_losing_its_connection(postgres_uri: str) -> None:
    import psycopg

    store = SqlStore(postgres_uri)
    try:
        run_id = new_run(store)
        pid = db_of(store)._raw.info.backend_pid
        with psycopg.connect(postgres_uri, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            deadline = time.monotonic() + 30
            while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
                assert time.monotonic() < deadline
                time.sleep(0.01)
        # the loss is found when the next call opens its transaction: it reconnects and goes on
        assert store.get_run(run_id).info.run_id == run_id
        assert db_of(store)._raw.info.backend_pid != pid
        store.log_batch(run_id, [Metric("m", 2.0, 0, T0)])
        assert store.get_run(run_id).data.metrics == {"m": 2.0}
    finally:
        store.close()


def test_modules_import_only_the_standard_library(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from autolog.stores.sql import SqlStore;"
        f" SqlStore('sqlite:///{tmp_path}/t.db').close();"
        " assert 'psycopg' not in sys.modules, 'psycopg imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------------------------
# Group commit (SQLite): units waiting for the connection share one commit
# --------------------------------------------------------------------------------------------


class _Boom(Exception):
    pass


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlStore]:
    store = SqlStore(f"sqlite:///{tmp_path}/t.db")
    try:
        yield store
    finally:
        store.close()


def _commits(store: SqlStore) -> list[str]:
    """The COMMIT statements the store's connection runs from now on."""
    seen: list[str] = []
    db_of(store)._raw.set_trace_callback(lambda sql: seen.append(sql) if sql == "COMMIT" else None)
    return seen


def _start_queued(store: SqlStore, targets: Sequence[Any]) -> list[threading.Thread]:
    """Threads running ``targets``, started once each is queued for the connection (which
    the caller's open unit holds)."""
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(store.engine._conn._queued) < len(threads):
        assert time.monotonic() < deadline, "the units never queued"
        time.sleep(0.001)
    return threads


def _logger(store: SqlStore, run_id: str, errors: list[BaseException]) -> Any:
    def log() -> None:
        try:
            store.log_batch(run_id, [Metric("m", 1.0, 0, T0)], [Param("p", "1")])
        except BaseException as exc:
            errors.append(exc)

    return log


def test_units_queued_behind_an_open_unit_share_its_commit(sqlite_store: SqlStore) -> None:
    runs = [new_run(sqlite_store) for _ in range(4)]
    commits = _commits(sqlite_store)
    errors: list[BaseException] = []
    with sqlite_store.engine.run_unit(runs[0]) as unit:
        unit.add([Metric("m", 0.0, 0, T0)], [], [])
        threads = _start_queued(sqlite_store, [_logger(sqlite_store, r, errors) for r in runs[1:]])
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert commits == ["COMMIT"]
    for run_id in runs:
        assert sqlite_store.get_metric_history(run_id, "m")
    assert sqlite_store.get_run(runs[3]).data.params == {"p": "1"}


def test_a_failing_unit_in_a_group_undoes_only_itself(sqlite_store: SqlStore) -> None:
    first, failing, last = (new_run(sqlite_store) for _ in range(3))
    sqlite_store.log_batch(failing, params=[Param("p", "0")])
    errors: list[BaseException] = []

    def fail() -> None:
        try:
            with sqlite_store.engine.run_unit(failing) as unit:
                unit.add([Metric("m", 2.0, 0, T0)], [Param("q", "2")], [RunTag("t", "2")])
                raise _Boom
        except BaseException as exc:
            errors.append(exc)

    with sqlite_store.engine.run_unit(first) as unit:
        unit.add([Metric("m", 0.0, 0, T0)], [], [])
        logger = _logger(sqlite_store, last, errors)
        collision = _logger(sqlite_store, failing, errors)  # p is "0" there: ParamCollisionError
        threads = _start_queued(sqlite_store, [fail, logger, collision])
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(type(e).__name__ for e in errors) == ["ParamCollisionError", "_Boom"]
    assert sqlite_store.get_metric_history(first, "m")
    assert sqlite_store.get_metric_history(last, "m")
    run = sqlite_store.get_run(failing)
    assert (run.data.params, run.data.metrics, run.data.tags) == ({"p": "0"}, {}, {})


def test_a_failing_first_unit_leaves_the_queued_ones_stored(sqlite_store: SqlStore) -> None:
    first, second, third = (new_run(sqlite_store) for _ in range(3))
    errors: list[BaseException] = []
    with pytest.raises(_Boom), sqlite_store.engine.run_unit(first) as unit:
        unit.add([Metric("m", 0.0, 0, T0)], [Param("p", "x")], [])
        targets = [_logger(sqlite_store, second, errors), _logger(sqlite_store, third, errors)]
        threads = _start_queued(sqlite_store, targets)
        raise _Boom
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sqlite_store.get_run(first).data.params == {}
    assert sqlite_store.get_metric_history(first, "m") == []
    for run_id in (second, third):
        assert sqlite_store.get_run(run_id).data.params == {"p": "1"}


def test_many_threads_logging_through_one_store_lose_nothing(sqlite_store: SqlStore) -> None:
    runs = [new_run(sqlite_store) for _ in range(8)]
    errors: list[BaseException] = []

    def log(run_id: str) -> None:
        try:
            for step in range(50):
                metrics = [Metric("m", float(step), step, T0 + i) for i in range(100)]
                sqlite_store.log_batch(run_id, metrics, batch_id=f"{run_id}-{step}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=log, args=(run_id,)) for run_id in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    for run_id in runs:
        assert len(sqlite_store.get_metric_history(run_id, "m")) == 50 * 100


# --------------------------------------------------------------------------------------------
# Many processes, one database
# --------------------------------------------------------------------------------------------


def _open_fresh(uri: str, barrier: Any, results: Any) -> None:
    try:
        if uri.startswith("postgresql"):
            # time the store, not 16 interpreters importing the driver at once on a few cores
            import psycopg  # noqa: F401
        barrier.wait(timeout=120)
        started = time.perf_counter()
        store = SqlStore(uri)
        try:
            experiment = store.get_or_create_experiment("shared")
            opened = time.perf_counter() - started
            run_id = uuid.uuid4().hex
            store.create_run(run_id, experiment.experiment_id, "r", T0, "file:///a", None, {})
            store.log_batch(run_id, [Metric("m", 1.0, 0, T0)], [Param("p", run_id)])
        finally:
            store.close()
        results.put(("ok", experiment.experiment_id, opened))
    except BaseException as exc:
        results.put(("error", repr(exc), 0.0))


def _log_many(uri: str, run_id: str, worker: int, barrier: Any, results: Any) -> None:
    try:
        store = SqlStore(uri)
        try:
            barrier.wait(timeout=120)
            started = time.time()
            for start in range(0, 10_000, 500):
                batch = [
                    Metric(
                        "shared" if i % 2 else f"own{worker}",
                        float(worker * 10_000 + i),
                        worker * 10_000 + i,
                        T0 + i,
                    )
                    for i in range(start, start + 500)
                ]
                store.log_batch(run_id, batch, tags=[RunTag(f"worker{worker}", str(start))])
            results.put(("ok", started, time.time()))
        finally:
            store.close()
    except BaseException as exc:
        results.put(("error", repr(exc), 0.0))


def _run_processes(target: Any, args_for: Any, count: int) -> list[tuple[str, Any, Any]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(count)
    results = context.Queue()
    processes = [
        context.Process(target=target, args=(*args_for(i), barrier, results)) for i in range(count)
    ]
    for process in processes:
        process.start()
    try:
        return [results.get(timeout=240) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=60)


@pytest.mark.slow
def test_16_processes_open_one_fresh_database_at_once(
    sql_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    results = _run_processes(_open_fresh, lambda i: (sql_uri,), 16)
    errors = [r for r in results if r[0] != "ok"]
    assert errors == []
    assert len({experiment_id for _, experiment_id, _ in results}) == 1
    store = SqlStore(sql_uri)
    try:
        assert [e.name for e in store.list_experiments()] == ["shared"]
        assert len(store.search_runs(None, [], [], 100)) == 16
    finally:
        store.close()
    with capsys.disabled():
        slowest = max(opened for _, _, opened in results)
        print(
            f"\n[{sql_uri.partition(':')[0]}] 16 processes opened one fresh database; "
            f"slowest open + get_or_create_experiment: {slowest:.3f} s"
        )


@pytest.mark.slow
def test_8_processes_logging_10k_metrics_each_lose_nothing(
    sql_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = SqlStore(sql_uri)
    try:
        run_id = new_run(store)
        results = _run_processes(_log_many, lambda i: (sql_uri, run_id, i), 8)
        assert [r for r in results if r[0] != "ok"] == []
        shared = store.get_metric_history(run_id, "shared")
        assert len(shared) == 40_000
        assert sorted(m.step for m in shared) == sorted(
            w * 10_000 + i for w in range(8) for i in range(1, 10_000, 2)
        )
        for worker in range(8):
            own = store.get_metric_history(run_id, f"own{worker}")
            assert [m.step for m in own] == [worker * 10_000 + i for i in range(0, 10_000, 2)]
        run = store.get_run(run_id)
        assert run.data.metrics["shared"] == 79_999.0
        assert run.data.tags == {f"worker{w}": "9500" for w in range(8)}
    finally:
        store.close()
    with capsys.disabled():
        span = max(end for _, _, end in results) - min(start for _, start, _ in results)
        print(
            f"\n[{sql_uri.partition(':')[0]}] 8 processes x 10,000 metrics (batches of 500): "
            f"{span:.3f} s"
        )


# --------------------------------------------------------------------------------------------
# Timings: printed, not asserted (the benchmarks assert)
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_timing_log_batch_200k_and_history_1m(
    sql_store: SqlStore, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = new_run(sql_store)
    batches = [
        [Metric("loss", i * 0.001, i, T0 + i) for i in range(start, start + 200_000)]
        for start in range(0, 1_000_000, 200_000)
    ]
    log_times = []
    for batch in batches:
        started = time.perf_counter()
        sql_store.log_batch(run_id, batch)
        log_times.append(time.perf_counter() - started)
    read_times = []
    for _ in range(3):
        started = time.perf_counter()
        history = sql_store.get_metric_history(run_id, "loss")
        read_times.append(time.perf_counter() - started)
        assert len(history) == 1_000_000
        del history
    history = sql_store.get_metric_history(run_id, "loss")
    assert history[0] == Metric("loss", 0.0, 0, T0)
    assert history[-1] == Metric("loss", 999_999 * 0.001, 999_999, T0 + 999_999)
    with capsys.disabled():
        dialect = db_of(sql_store).dialect
        print(
            f"\n[{dialect}] log_batch of 200,000 metrics: first {log_times[0]:.3f} s,"
            f" best {min(log_times):.3f} s; get_metric_history of 1,000,000 points:"
            f" first {read_times[0]:.3f} s, best {min(read_times):.3f} s"
        )


def test_a_forked_child_writes_run_units_on_a_connection_of_its_own(tmp_path: Path) -> None:
    # The group-commit queue is the parent's at the fork: the child forgets it (it once popped
    # an empty queue and dropped every write of the child)
    store = SqlStore(f"sqlite:///{tmp_path}/fork.db")
    run_id = new_run(store)
    store.log_batch(run_id, [Metric("m", 1.0, 0, T0)])
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports by its exit status
        code = 1
        try:
            store.log_batch(run_id, [Metric("m", 2.0, 1, T0)])
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [m.value for m in store.get_metric_history(run_id, "m")] == [1.0, 2.0]
    store.close()
