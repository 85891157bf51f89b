"""The SQL tracking store: SQLite (the default) and PostgreSQL through one code path.

Statements are written once, with ``?`` placeholders, in the SQL both engines accept
(``INSERT ... ON CONFLICT``, ``RETURNING``, row values). SQLite comes with the standard
library; ``psycopg`` (v3) is imported only when a PostgreSQL URI is opened. The drivers are in
``sql_driver``, the schema in ``sql_schema``, the translation of searches in ``sql_search``.

Metric histories are stored in chunks (``metric_codec``): each ``log_batch`` appends one row per
metric key, and the latest value of each key is kept up to date in ``metric_series``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from autolog.entities import (
    AccessToken,
    Experiment,
    Metric,
    MetricColumns,
    ModelVersion,
    Param,
    Run,
    RunData,
    RunPage,
    RunStatus,
    RunTag,
)
from autolog.errors import (
    AutologError,
    InvalidInputError,
    InvalidURIError,
    NotFoundError,
    ParamCollisionError,
    RunStateError,
    StoreError,
    StoreReplacedError,
    StoreUnavailableError,
)
from autolog.search import Comparison, OrderBy, check_page
from autolog.stores.common import (
    PRESUMED_KILLED_TAG,
    Lifecycle,
    check_batch,
    check_lifecycle,
    check_model_files,
    check_storable,
    check_unregistered,
    check_update,
    default_artifact_root,
    ended,
    fork_safe_lock,
    inside_models,
    model_path,
    now_ms,
    redact_uri,
    refuse_deleted,
)
from autolog.stores.metric_codec import Chunk, decode_columns, decode_history, encode_metrics
from autolog.stores.sql_driver import Db, PgDb, SqliteDb, classify_unconnected
from autolog.stores.sql_schema import Dialect, migrate
from autolog.stores.sql_search import RUN_COLUMNS, SearchQuery, marks, run_info
from autolog.validation import STEP_MAX, STEP_MIN

__all__ = ["SqlStore"]

# Rows fetched per "IN (...)" query: well under every engine's limit on bound parameters.
_IN_BATCH = 500
_DRIVE_PATH = re.compile(r"^/[A-Za-z]:")


class SqlStore:
    """A ``Store`` on SQLite (``sqlite:///abs/path.db``) or PostgreSQL (``postgresql://...``).

    One connection per store, shared by threads under a lock; processes may share a database.
    SQLite runs in WAL mode and keeps artifacts next to the database file by default.

    Example::

        store = SqlStore("sqlite:////tmp/runs/autolog.db")
        experiment = store.get_or_create_experiment("Default")
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._display_uri = redact_uri(uri)
        self._lock = fork_safe_lock(self)
        self._db: Db | None = None
        self._pid = os.getpid()
        self._closed = False
        self._sqlite_path: str | None = None
        self._conninfo: str | None = None
        scheme = urlsplit(uri).scheme.lower()
        if scheme == "sqlite":
            self._sqlite_path = _sqlite_path(uri)
            if self._sqlite_path == ":memory:":
                self.artifact_root = default_artifact_root()
            else:
                artifacts = Path(self._sqlite_path).parent / "artifacts"
                self.artifact_root = artifacts.resolve().as_uri()
        elif scheme.startswith(("postgresql", "postgres")):
            # libpq knows postgresql:// and postgres://, not "postgresql+psycopg://"
            self._conninfo = "postgresql" + uri[len(scheme) :]
            self.artifact_root = default_artifact_root()
        else:
            raise InvalidURIError(uri, "the SQL store takes sqlite:/// or postgresql:// URIs")
        with self._errors("opening the store"):
            self._connection()

    def __repr__(self) -> str:
        return f"SqlStore({self._display_uri!r})"

    # connection and transactions
    def _connect(self) -> Db:
        db: Db
        if self._sqlite_path is not None:
            try:
                db = SqliteDb(self._sqlite_path)
            except OSError as exc:
                raise StoreError(f"cannot create the database {self._sqlite_path}: {exc}") from exc
        else:
            assert self._conninfo is not None
            try:
                import psycopg  # optional dependency: only PostgreSQL URIs need it
            except ImportError as exc:
                raise StoreError(
                    "PostgreSQL tracking URIs need psycopg: pip install 'autolog[postgres]'"
                ) from exc
            db = PgDb(self._conninfo, psycopg)
        try:
            migrate(db, db.dialect)
        except BaseException:
            with contextlib.suppress(Exception):
                db.close()
            raise
        return db

    def _connection(self) -> Db:
        """The open connection, (re)connecting after a lost connection or a fork."""
        if self._closed:
            raise StoreError(f"the store {self._display_uri} is closed")
        db = self._db
        if db is not None and self._pid == os.getpid() and not db.broken:
            return db
        if db is not None and self._pid == os.getpid():
            with contextlib.suppress(Exception):
                db.close()
        # After a fork the parent's connection is left alone: closing it here would disturb
        # the parent, and using it would corrupt both processes' view of the database.
        self._db = None
        self._db = self._connect()
        self._pid = os.getpid()
        return self._db

    def _drop(self, db: Db) -> None:
        """Forget a connection that is no longer usable; the next call opens a new one."""
        with contextlib.suppress(Exception):
            db.close()
        if self._db is db:
            self._db = None

    def _begin(self, *, write: bool) -> Db:
        """Open a transaction on a working connection."""
        db = self._connection()
        moved = db.moved()
        if moved is not None:
            # What this connection writes would go to a file nobody will read again: say so
            # and start over on the file the URI names now (a new, empty database). Raised as
            # a failure worth retrying: the retry goes to that new database.
            self._drop(db)
            raise StoreReplacedError(
                f"{moved} (deleted or replaced): what was stored there is gone from "
                f"{self._display_uri}; a new database is used from now on"
            )
        try:
            db.execute(db.begin_write if write else db.begin_read)
        except Exception:
            if not db.broken:
                raise
            # The server went away while we were idle (restart, idle timeout): nothing of this
            # call has been done yet, so reconnecting and starting again is safe.
            self._drop(db)
            db = self._connection()
            db.execute(db.begin_write if write else db.begin_read)
        return db

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn driver exceptions into ``StoreError`` / ``StoreUnavailableError``."""
        try:
            yield
        except AutologError:
            raise
        except (UnicodeEncodeError, OverflowError) as exc:
            # text or a number no column can hold: bad input, whatever the driver calls it
            raise InvalidInputError(f"{what}: {exc}") from None
        except Exception as exc:
            if "NUL" in str(exc) and type(exc).__name__ == "DataError":
                raise InvalidInputError(f"{what}: {exc}") from None
            db = self._db
            transient = db.transient(exc) if db is not None else classify_unconnected(exc)
            if transient is None:
                raise
            if db is not None and db.broken:
                self._drop(db)
            kind = StoreUnavailableError if transient else StoreError
            raise kind(f"{what} failed on {self._display_uri}: {exc}") from exc

    @contextlib.contextmanager
    def _read(self, what: str) -> Iterator[Db]:
        """A transaction, so that a read made of several queries sees one snapshot."""
        with self._lock, self._errors(what):
            db = self._begin(write=False)
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                db.rollback_quietly()
                raise

    @contextlib.contextmanager
    def _write(self, what: str) -> Iterator[Db]:
        """A write transaction: everything in it is stored, or nothing."""
        with self._lock, self._errors(what):
            db = self._begin(write=True)
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                db.rollback_quietly()
                raise

    # experiments
    def get_or_create_experiment(self, name: str) -> Experiment:
        """The experiment called ``name``, created atomically (also across processes)."""
        check_storable("experiment name", name)
        found = self.get_experiment_by_name(name)
        if found is not None:
            return refuse_deleted(found)
        with self._write(f"creating experiment {name!r}") as db:
            if db.dialect == "sqlite":
                # ids count from 0 like the reference store; the write lock makes MAX safe
                insert = (
                    "INSERT INTO experiments (id, name, artifact_location, creation_time)"
                    " VALUES ((SELECT COALESCE(MAX(id) + 1, 0) FROM experiments), ?, '', ?)"
                )
            else:
                insert = (
                    "INSERT INTO experiments (name, artifact_location, creation_time)"
                    " VALUES (?, '', ?)"
                )
            row = db.execute(
                insert + " ON CONFLICT (name) DO NOTHING RETURNING id", (name, now_ms())
            ).fetchone()
            if row is not None:
                db.execute(
                    "UPDATE experiments SET artifact_location = ? WHERE id = ?",
                    (f"{self.artifact_root}/{row[0]}", row[0]),
                )
            # Inserted here, or by a concurrent creator whose insert ours waited for.
            row = db.execute(
                f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments WHERE name = ?",
                (name,),
            ).fetchone()
        return refuse_deleted(_experiment(row))

    def get_experiment(self, experiment_id: str) -> Experiment:
        number = _int_id(experiment_id)
        if number is None:
            raise NotFoundError("experiment", experiment_id)
        with self._read(f"reading experiment {experiment_id}") as db:
            row = db.execute(
                f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments WHERE id = ?",
                (number,),
            ).fetchone()
        if row is None:
            raise NotFoundError("experiment", experiment_id)
        return _experiment(row)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with self._read(f"reading experiment {name!r}") as db:
            row = db.execute(
                f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments WHERE name = ?",
                (name,),
            ).fetchone()
        return None if row is None else _experiment(row)

    def list_experiments(self, lifecycle: Lifecycle = "active") -> list[Experiment]:
        where = {
            "active": " WHERE deleted_time IS NULL",
            "deleted": " WHERE deleted_time IS NOT NULL",
            "all": "",
        }[check_lifecycle(lifecycle)]
        with self._read("listing experiments") as db:
            rows = db.execute(
                f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments{where} ORDER BY id"
            ).fetchall()
        return [_experiment(row) for row in rows]

    def _experiment_number(self, db: Db, experiment_id: str) -> int:
        number = _int_id(experiment_id)
        if (
            number is None
            or db.execute("SELECT 1 FROM experiments WHERE id = ?", (number,)).fetchone() is None
        ):
            raise NotFoundError("experiment", experiment_id)
        return number

    def rename_experiment(self, experiment_id: str, name: str) -> None:
        with self._write(f"renaming experiment {experiment_id}") as db:
            number = self._experiment_number(db, experiment_id)
            taken = db.execute("SELECT id FROM experiments WHERE name = ?", (name,)).fetchone()
            if taken is not None and taken[0] != number:
                raise InvalidInputError(f"experiment name {name!r} is taken (id {taken[0]})")
            db.execute("UPDATE experiments SET name = ? WHERE id = ?", (name, number))

    def delete_experiment(self, experiment_id: str) -> None:
        with self._write(f"deleting experiment {experiment_id}") as db:
            number = self._experiment_number(db, experiment_id)
            db.execute(
                "UPDATE experiments SET deleted_time = ? WHERE id = ? AND deleted_time IS NULL",
                (now_ms(), number),
            )

    def restore_experiment(self, experiment_id: str) -> None:
        with self._write(f"restoring experiment {experiment_id}") as db:
            number = self._experiment_number(db, experiment_id)
            db.execute("UPDATE experiments SET deleted_time = NULL WHERE id = ?", (number,))

    def purge_experiment(self, experiment_id: str) -> None:
        with self._write(f"purging experiment {experiment_id}") as db:
            number = self._experiment_number(db, experiment_id)
            row = db.execute(
                "SELECT name, deleted_time FROM experiments WHERE id = ?", (number,)
            ).fetchone()
            if row[1] is None:
                raise InvalidInputError(
                    f"experiment {row[0]!r} is not deleted; delete it before purging"
                )
            runs = [
                r
                for (r,) in db.execute(
                    "SELECT run_id FROM runs WHERE experiment_id = ?", (number,)
                ).fetchall()
            ]
            for run_id in runs:
                check_unregistered(run_id, _registered(db, run_id))
            for run_id in runs:
                _purge(db, run_id)
            db.execute("DELETE FROM experiments WHERE id = ?", (number,))

    # runs
    def create_run(
        self,
        run_id: str,
        experiment_id: str,
        run_name: str,
        start_time: int,
        artifact_uri: str,
        parent_run_id: str | None,
        tags: Mapping[str, str],
    ) -> None:
        """Create a RUNNING run; creating an existing run_id again is an error."""
        check_storable("run", run_id, run_name, artifact_uri, *(parent_run_id or "",))
        check_batch((), (), [RunTag(k, v) for k, v in tags.items()])
        number = _int_id(experiment_id)
        if number is None:
            raise NotFoundError("experiment", experiment_id)
        with self._write(f"creating run {run_id}") as db:
            if db.execute("SELECT 1 FROM experiments WHERE id = ?", (number,)).fetchone() is None:
                raise NotFoundError("experiment", experiment_id)
            created = db.execute(
                "INSERT INTO runs (run_id, experiment_id, run_name, status, start_time,"
                " end_time, artifact_uri, parent_run_id) VALUES (?, ?, ?, ?, ?, NULL, ?, ?)"
                " ON CONFLICT (run_id) DO NOTHING",
                (
                    run_id,
                    number,
                    run_name,
                    RunStatus.RUNNING.value,
                    start_time,
                    artifact_uri,
                    parent_run_id,
                ),
            ).rowcount
            if created != 1:
                raise InvalidInputError(f"run {run_id} already exists")
            if tags:
                db.executemany(_UPSERT_TAG, [(run_id, k, v) for k, v in sorted(tags.items())])

    def update_run(self, run_id: str, status: RunStatus, end_time: int | None) -> None:
        try:
            value = RunStatus(status).value
        except ValueError:
            raise InvalidInputError(f"unknown run status {status!r}") from None
        with self._write(f"updating run {run_id}") as db:
            row = db.execute(
                "SELECT status, end_time FROM runs WHERE run_id = ?" + _for_update(db), (run_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError("run", run_id)
            presumed = row[0] == RunStatus.KILLED.value and _presumed_killed(db, run_id)
            current = RunStatus(row[0])
            if check_update(run_id, current, row[1], RunStatus(value), end_time, presumed):
                db.execute(
                    "UPDATE runs SET status = ?, end_time = ? WHERE run_id = ?",
                    (value, end_time, run_id),
                )
                if presumed:  # the owner's end replaces a reader's presumption
                    db.execute(
                        "DELETE FROM tags WHERE run_id = ? AND key = ?",
                        (run_id, PRESUMED_KILLED_TAG),
                    )

    def get_run(self, run_id: str) -> Run:
        with self._read(f"reading run {run_id}") as db:
            row = db.execute(
                f"SELECT {RUN_COLUMNS} FROM runs r WHERE r.run_id = ?", (run_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError("run", run_id)
            return self._load_runs(db, [row])[0]

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None,
        filters: Sequence[Comparison],
        order_by: Sequence[OrderBy],
        max_results: int,
        lifecycle: Lifecycle = "active",
    ) -> list[Run]:
        """Runs of the experiments (None: all) matching every filter, in order, newest first."""
        check_lifecycle(lifecycle)
        with self._read("searching runs") as db:
            query = _search_query(db.dialect, experiment_ids, filters, order_by, lifecycle)
            if query is None:
                return []
            limit = max_results if max_results >= 0 and not query.in_python else None
            sql, params = query.sql(limit)
            rows = db.execute(sql, params).fetchall()
            if query.in_python:
                rows = [row for row in rows if query.holds_in_python(row)]
                if max_results >= 0:
                    rows = rows[:max_results]
            runs = self._load_runs(db, rows)
        # a negative max_results drops runs from the end, as slicing the reference's list does
        return runs if max_results >= 0 else runs[:max_results]

    def delete_run(self, run_id: str) -> None:
        with self._write(f"deleting run {run_id}") as db:
            _require_run(db, run_id)
            db.execute(
                "UPDATE runs SET deleted_time = ? WHERE run_id = ? AND deleted_time IS NULL",
                (now_ms(), run_id),
            )

    def restore_run(self, run_id: str) -> None:
        with self._write(f"restoring run {run_id}") as db:
            _require_run(db, run_id)
            db.execute("UPDATE runs SET deleted_time = NULL WHERE run_id = ?", (run_id,))

    def purge_run(self, run_id: str) -> None:
        with self._write(f"purging run {run_id}") as db:
            row = db.execute("SELECT deleted_time FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise NotFoundError("run", run_id)
            if row[0] is None:
                raise InvalidInputError(f"run {run_id} is not deleted; delete it before purging")
            check_unregistered(run_id, _registered(db, run_id))
            _purge(db, run_id)

    def search_run_page(
        self,
        experiment_ids: Sequence[str] | None,
        filters: Sequence[Comparison],
        order_by: Sequence[OrderBy],
        offset: int,
        limit: int,
        top_level: bool = False,
        lifecycle: Lifecycle = "active",
    ) -> RunPage:
        """A page of ``search_runs``' matches, their number, and the page's child counts."""
        check_page(offset, limit)
        check_lifecycle(lifecycle)
        with self._read("searching runs") as db:
            query = _search_query(db.dialect, experiment_ids, filters, order_by, lifecycle)
            if query is None:
                return RunPage([], 0, {})
            if top_level:
                query.where.append("r.parent_run_id IS NULL")
            if query.in_python:
                rows = db.execute(*query.sql(None)).fetchall()
                rows = [row for row in rows if query.holds_in_python(row)]
                total = len(rows)
                rows = rows[offset : offset + limit]
            elif query.order and filters and limit:
                # Filtered and ordered by a value: the page's query checks every run against
                # the filters anyway, so it counts the matches in the same pass.
                rows = db.execute(*query.sql(limit, offset, with_total=True)).fetchall()
                # past the last match no row carries the count: ask for it
                total = rows[0][-1] if rows else db.execute(*query.count_sql()).fetchone()[0]
            else:
                total = db.execute(*query.count_sql()).fetchone()[0]
                rows = []
                if limit and offset < total:
                    rows = db.execute(*query.sql(limit, offset)).fetchall()
            runs = self._load_runs(db, rows)
            page_ids = [run.info.run_id for run in runs]
            counts = _child_counts(db, experiment_ids, filters, lifecycle, page_ids)
        return RunPage(runs, total, counts)

    def _load_runs(self, db: Db, rows: Sequence[Any]) -> list[Run]:
        """Runs from ``runs`` rows, with their params, tags and latest metrics: 3 queries."""
        ids = [row[0] for row in rows]
        params = _by_run(db, "SELECT run_id, key, value FROM params", ids)
        tags = _by_run(db, "SELECT run_id, key, value FROM tags", ids)
        metrics = _by_run(db, "SELECT run_id, key, latest_value FROM metric_series", ids)
        runs = []
        for row in rows:
            run_id = row[0]
            latest = {k: math.nan if v is None else v for k, v in metrics.get(run_id, {}).items()}
            data = RunData(params.get(run_id, {}), latest, tags.get(run_id, {}))
            runs.append(Run(run_info(row), data))
        return runs

    # logging
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        batch_id: str | None = None,
    ) -> None:
        """Store everything or nothing. Re-logging a param with its stored value is a no-op."""
        check_batch(metrics, params, tags)
        chunks = encode_metrics(metrics)  # the CPU work, before taking any lock
        with self._write(f"log_batch for run {run_id}") as db:
            _require_run(db, run_id)
            if batch_id is not None and not _claim_batch(db, run_id, batch_id):
                return  # stored before: this is a retry
            _require_running(db, run_id)
            if params:
                self._insert_params(db, run_id, params)
            if tags:
                # stable sort: rows locked in key order, repeats of a key keep the last value
                rows = sorted(((run_id, key, value) for key, value in tags), key=itemgetter(1))
                db.executemany(_UPSERT_TAG, rows)
            if chunks:
                self._append_chunks(db, run_id, chunks)

    @staticmethod
    def _append_chunks(db: Db, run_id: str, chunks: Sequence[Chunk]) -> None:
        """Three statements for any number of keys: upsert the series (latest values, chunk
        counts), read their ids back, insert one chunk row per key."""
        db.executemany(
            _UPSERT_SERIES,
            [
                (run_id, c.key, c.latest_value, c.latest_step, c.latest_timestamp, c.n)
                for c in chunks
            ],
        )
        keys = [c.key for c in chunks]
        series: dict[str, tuple[int, int]] = {}
        for start in range(0, len(keys), _IN_BATCH):
            part = keys[start : start + _IN_BATCH]
            rows = db.execute(
                "SELECT key, id, n_chunks FROM metric_series"
                f" WHERE run_id = ? AND key IN ({marks(len(part))})",
                (run_id, *part),
            ).fetchall()
            series.update((key, (series_id, seq)) for key, series_id, seq in rows)
        db.executemany(
            "INSERT INTO metric_chunks (series_id, seq, n, first_step, last_step,"
            " in_order, steps, timestamps, vals) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    *series[c.key],
                    c.n,
                    c.first_step,
                    c.last_step,
                    int(c.in_order),
                    c.steps,
                    c.timestamps,
                    c.values,
                )
                for c in chunks
            ],
        )

    @staticmethod
    def _insert_params(db: Db, run_id: str, params: Sequence[Param]) -> None:
        final = dict(params)  # the last value of a key wins, as in the reference store
        stored = _values_by_key(db, "params", run_id, list(final))
        for key, value in params:
            old = stored.get(key)
            if old is not None and old != value:
                raise ParamCollisionError(run_id, key, old, value)
        new = [(run_id, key, value) for key, value in sorted(final.items()) if key not in stored]
        if not new:
            return
        db.executemany(
            "INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)"
            " ON CONFLICT (run_id, key) DO NOTHING",
            new,
        )
        if db.dialect == "postgresql":
            # Another session may have inserted one of these keys since we looked (SQLite's
            # write lock rules that out); our insert waited for it to commit: compare now.
            stored = _values_by_key(db, "params", run_id, [key for _, key, _ in new])
            for _, key, value in new:
                if stored[key] != value:
                    raise ParamCollisionError(run_id, key, stored[key], value)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every value of ``key``, ordered by step, equal steps in the order they were logged."""
        with self._read(f"reading metric {key!r} of run {run_id}") as db:
            row = db.execute(
                "SELECT ms.id FROM runs r LEFT JOIN metric_series ms"
                " ON ms.run_id = r.run_id AND ms.key = ? WHERE r.run_id = ?",
                (key, run_id),
            ).fetchone()
            if row is None:
                raise NotFoundError("run", run_id)
            if row[0] is None:
                return []
            chunks = db.execute(
                "SELECT first_step, last_step, in_order, steps, timestamps, vals"
                " FROM metric_chunks WHERE series_id = ? ORDER BY seq",
                (row[0],),
                binary=True,
            ).fetchall()
        return decode_history(key, chunks)

    def get_metric_columns(
        self, run_id: str, key: str, min_step: int | None = None, max_step: int | None = None
    ) -> MetricColumns:
        """The values of ``key`` within the step bounds, as columns: only the chunks that can
        hold such steps are read, so the newest points of a long series cost little."""
        # bounds past the 64-bit range the store holds select what the range's end would
        low = STEP_MIN if min_step is None else max(min_step, STEP_MIN)
        high = STEP_MAX if max_step is None else min(max_step, STEP_MAX)
        with self._read(f"reading metric {key!r} of run {run_id}") as db:
            row = db.execute(
                "SELECT ms.id FROM runs r LEFT JOIN metric_series ms"
                " ON ms.run_id = r.run_id AND ms.key = ? WHERE r.run_id = ?",
                (key, run_id),
            ).fetchone()
            if row is None:
                raise NotFoundError("run", run_id)
            if row[0] is None or low > high:
                return MetricColumns(array("q"), array("q"), array("d"))
            # first_step and last_step bound the steps of a chunk whose steps are in order
            chunks = db.execute(
                "SELECT first_step, last_step, in_order, steps, timestamps, vals"
                " FROM metric_chunks WHERE series_id = ?"
                " AND NOT (in_order = 1 AND (last_step < ? OR first_step > ?)) ORDER BY seq",
                (row[0], low, high),
                binary=True,
            ).fetchall()
        steps, timestamps, values = decode_columns(chunks)
        start = bisect_left(steps, low)
        stop = bisect_right(steps, high)
        if (start, stop) == (0, len(steps)):
            return MetricColumns(steps, timestamps, values)
        return MetricColumns(steps[start:stop], timestamps[start:stop], values[start:stop])

    # artifact integrity
    def record_artifact_hashes(self, run_id: str, hashes: Mapping[str, str]) -> None:
        """Record SHA-256 digests of artifact files (paths relative to the run's root)."""
        check_storable("artifact path", *hashes, *hashes.values())
        with self._write(f"recording artifact hashes of run {run_id}") as db:
            _require_running(db, run_id)
            rows = db.execute(
                "SELECT path, files FROM models WHERE run_id = ?", (run_id,)
            ).fetchall()
            inside = inside_models(hashes, {path: json.loads(files) for path, files in rows})
            if inside:
                raise RunStateError(
                    f"{inside[0]!r} is a file of a model of run {run_id}: only log_model writes it"
                )
            if hashes:
                db.executemany(
                    "INSERT INTO artifact_hashes (run_id, path, sha256) VALUES (?, ?, ?)"
                    " ON CONFLICT (run_id, path) DO UPDATE SET sha256 = excluded.sha256",
                    [(run_id, path, digest) for path, digest in hashes.items()],
                )

    def get_artifact_hashes(self, run_id: str, prefix: str = "") -> dict[str, str]:
        """The recorded digests of files at or under ``prefix``."""
        prefix = prefix.strip("/")
        sql = "SELECT path, sha256 FROM artifact_hashes WHERE run_id = ?"
        params: tuple[str, ...] = (run_id,)
        if prefix:
            # everything under "p/" sorts in ["p/", "p0"): "0" follows "/" in code points
            sql += " AND (path = ? OR (path >= ? AND path < ?))"
            params += (prefix, prefix + "/", prefix + "0")
        with self._read(f"reading artifact hashes of run {run_id}") as db:
            rows = db.execute(sql, params).fetchall()
        return dict(rows)

    def record_model(self, run_id: str, path: str, files: Mapping[str, str]) -> None:
        """Record the model ``log_model`` logged at ``path``, and its files' hashes."""
        check_model_files(path, files)
        path = path.strip("/")
        with self._write(f"recording model {path!r} of run {run_id}") as db:
            _require_running(db, run_id)
            registered = db.execute(
                "SELECT name, version FROM model_versions WHERE source = ? ORDER BY name, version",
                (f"runs:/{run_id}/{path}",),
            ).fetchone()
            if registered is not None:
                raise RunStateError(
                    f"model {path!r} of run {run_id} is registered as "
                    f"{registered[0]}/{registered[1]}: it cannot be replaced"
                )
            db.execute(
                "INSERT INTO models (run_id, path, files, creation_time) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (run_id, path) DO UPDATE SET files = excluded.files,"
                " creation_time = excluded.creation_time",
                (run_id, path, json.dumps(dict(files), sort_keys=True), now_ms()),
            )
            db.executemany(
                "INSERT INTO artifact_hashes (run_id, path, sha256) VALUES (?, ?, ?)"
                " ON CONFLICT (run_id, path) DO UPDATE SET sha256 = excluded.sha256",
                [(run_id, file, digest) for file, digest in sorted(files.items())],
            )

    def get_model_files(self, run_id: str, path: str) -> dict[str, str] | None:
        with self._read(f"reading model {path!r} of run {run_id}") as db:
            row = db.execute(
                "SELECT files FROM models WHERE run_id = ? AND path = ?", (run_id, path.strip("/"))
            ).fetchone()
        if row is None:
            return None
        files: dict[str, str] = json.loads(row[0])
        return files

    # model registry
    def create_model_version(self, name: str, source: str, run_id: str | None) -> ModelVersion:
        """Register ``source`` as the next version of model ``name`` (created if new)."""
        check_storable("registered model name", name)
        check_storable("model source", source)
        path = model_path(run_id or "", source)
        now = now_ms()
        with self._write(f"registering a version of model {name!r}") as db:
            # the run's row first, as record_model takes it: a model is never recorded again
            # between this check and the registration
            db.execute("SELECT 1 FROM runs WHERE run_id = ?" + _for_update(db), (run_id,))
            found = db.execute(
                "SELECT 1 FROM models WHERE run_id = ? AND path = ?", (run_id, path)
            ).fetchone()
            if found is None:
                raise NotFoundError("model", source)
            db.execute(
                "INSERT INTO registered_models (name, creation_time, latest_version)"
                " VALUES (?, ?, 0) ON CONFLICT (name) DO NOTHING",
                (name, now),
            )
            # the row lock taken by this update orders concurrent registrations
            (version,) = db.execute(
                "UPDATE registered_models SET latest_version = latest_version + 1"
                " WHERE name = ? RETURNING latest_version",
                (name,),
            ).fetchone()
            db.execute(
                "INSERT INTO model_versions (name, version, source, run_id, creation_time)"
                " VALUES (?, ?, ?, ?, ?)",
                (name, version, source, run_id, now),
            )
        return ModelVersion(name, int(version), source, run_id, now)

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        if not 0 < version < 2**63:
            raise NotFoundError("model version", f"{name}/{version}")
        with self._read(f"reading model version {name}/{version}") as db:
            return _model_version(db, name, version)

    def set_model_alias(self, name: str, alias: str, version: int) -> None:
        check_storable("model alias", name, alias)
        if not 0 < version < 2**63:
            raise NotFoundError("model version", f"{name}/{version}")
        with self._write(f"setting alias {alias!r} of model {name!r}") as db:
            _model_version(db, name, version)
            db.execute(
                "INSERT INTO model_aliases (name, alias, version) VALUES (?, ?, ?)"
                " ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
                (name, alias, version),
            )

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        with self._read(f"reading model {name}@{alias}") as db:
            row = db.execute(
                "SELECT version FROM model_aliases WHERE name = ? AND alias = ?", (name, alias)
            ).fetchone()
            if row is None:
                raise NotFoundError("model alias", f"{name}@{alias}")
            return _model_version(db, name, int(row[0]))

    # access tokens
    def create_token(self, token: AccessToken) -> None:
        with self._write(f"creating token {token.name!r}") as db:
            created = db.execute(
                "INSERT INTO access_tokens (token_id, name, scope, creation_time, secret_hash)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                tuple(token),
            )
            if created.rowcount != 1:
                raise InvalidInputError(
                    f"a token named {token.name!r} (or with id {token.token_id!r}) exists already"
                )

    def get_token(self, token_id: str) -> AccessToken | None:
        with self._read("reading a token") as db:
            row = db.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM access_tokens WHERE token_id = ?", (token_id,)
            ).fetchone()
        return None if row is None else _token(row)

    def list_tokens(self) -> list[AccessToken]:
        with self._read("listing tokens") as db:
            rows = db.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM access_tokens ORDER BY creation_time, name"
            ).fetchall()
        return [_token(row) for row in rows]

    def revoke_token(self, name: str) -> None:
        with self._write(f"revoking token {name!r}") as db:
            if db.execute("DELETE FROM access_tokens WHERE name = ?", (name,)).rowcount != 1:
                raise NotFoundError("token", name)

    def list_model_versions(self, name: str | None = None) -> list[ModelVersion]:
        """Every version of model ``name`` (None: of every model), by name then version."""
        where, params = ("WHERE name = ?", (name,)) if name is not None else ("", ())
        with self._read("listing model versions") as db:
            rows = db.execute(
                "SELECT name, version, source, run_id, creation_time FROM model_versions"
                f" {where} ORDER BY name, version",
                params,
            ).fetchall()
            aliases: dict[tuple[str, int], list[str]] = {}
            for model, alias, version in db.execute(
                f"SELECT name, alias, version FROM model_aliases {where} ORDER BY alias", params
            ).fetchall():
                aliases.setdefault((model, int(version)), []).append(alias)
        return [
            ModelVersion(
                model, int(n), source, run_id, created, tuple(aliases.get((model, int(n)), ()))
            )
            for model, n, source, run_id, created in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            db, self._db = self._db, None
            if db is not None and self._pid == os.getpid():
                with contextlib.suppress(Exception):
                    db.close()


_UPSERT_TAG = (
    "INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)"
    " ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value"
)

# One statement per key and batch: create the series or fold the batch into it, and hand back
# the series id and the chunk's sequence number. The batch's latest point wins ties because it
# was logged after everything stored (see memory.is_newer).
_NEWER = "(excluded.latest_step, excluded.latest_timestamp) >= (s.latest_step, s.latest_timestamp)"
_UPSERT_SERIES = f"""
INSERT INTO metric_series AS s
    (run_id, key, latest_value, latest_step, latest_timestamp, n_values, n_chunks)
VALUES (?, ?, ?, ?, ?, ?, 1)
ON CONFLICT (run_id, key) DO UPDATE SET
    latest_value = CASE WHEN {_NEWER} THEN excluded.latest_value ELSE s.latest_value END,
    latest_step = CASE WHEN {_NEWER} THEN excluded.latest_step ELSE s.latest_step END,
    latest_timestamp = CASE WHEN {_NEWER} THEN excluded.latest_timestamp
        ELSE s.latest_timestamp END,
    n_values = s.n_values + excluded.n_values,
    n_chunks = s.n_chunks + 1
"""


def _registered(db: Db, run_id: str) -> dict[str, list[ModelVersion]]:
    rows = db.execute(
        "SELECT name, version FROM model_versions WHERE run_id = ? ORDER BY name, version",
        (run_id,),
    ).fetchall()
    return {run_id: [_model_version(db, name, version) for name, version in rows]} if rows else {}


def _purge(db: Db, run_id: str) -> None:
    """Every row of the run, children first (foreign keys)."""
    db.execute(
        "DELETE FROM metric_chunks WHERE series_id IN"
        " (SELECT id FROM metric_series WHERE run_id = ?)",
        (run_id,),
    )
    tables = ("metric_series", "params", "tags", "artifact_hashes", "models", "stored_batches")
    for table in (*tables, "runs"):
        db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))


_TOKEN_COLUMNS = "token_id, name, scope, creation_time, secret_hash"


def _token(row: Sequence[Any]) -> AccessToken:
    return AccessToken(row[0], row[1], row[2], int(row[3]), row[4])


def _claim_batch(db: Db, run_id: str, batch_id: str) -> bool:
    """Record ``batch_id`` as stored for the run (in the caller's transaction); False if it
    was stored before."""
    claimed = db.execute(
        "INSERT INTO stored_batches (run_id, batch_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (run_id, batch_id),
    )
    return claimed.rowcount == 1


def _search_query(
    dialect: Dialect,
    experiment_ids: Sequence[str] | None,
    filters: Sequence[Comparison],
    order_by: Sequence[OrderBy],
    lifecycle: Lifecycle,
) -> SearchQuery | None:
    """The query for a search, or None where no experiment id can exist (nothing matches)."""
    query = SearchQuery(dialect)
    if lifecycle == "active":
        query.where.append(
            "r.deleted_time IS NULL AND r.experiment_id NOT IN"
            " (SELECT id FROM experiments WHERE deleted_time IS NOT NULL)"
        )
    elif lifecycle == "deleted":
        query.where.append("r.deleted_time IS NOT NULL")
    if experiment_ids is not None:
        numbers = [n for n in map(_int_id, experiment_ids) if n is not None]
        if not numbers:
            return None
        query.where.append(f"r.experiment_id IN ({marks(len(numbers))})")
        query.where_params.extend(numbers)
    for comparison in filters:
        query.add_filter(comparison)
    for clause in order_by:
        query.add_order(clause)
    return query


def _child_counts(
    db: Db,
    experiment_ids: Sequence[str] | None,
    filters: Sequence[Comparison],
    lifecycle: Lifecycle,
    parent_ids: Sequence[str],
) -> dict[str, int]:
    """How many runs matching the search each of ``parent_ids`` has as children."""
    if not parent_ids:
        return {}
    query = _search_query(db.dialect, experiment_ids, filters, (), lifecycle)
    if query is None:
        return {}
    query.where.append(f"r.parent_run_id IN ({marks(len(parent_ids))})")
    query.where_params.extend(parent_ids)
    if not query.in_python:
        return dict(db.execute(*query.count_sql(by_parent=True)).fetchall())
    counts: dict[str, int] = {}
    for row in db.execute(*query.sql(None)).fetchall():
        if query.holds_in_python(row):
            parent = run_info(row).parent_run_id
            assert parent is not None
            counts[parent] = counts.get(parent, 0) + 1
    return counts


def _require_run(db: Db, run_id: str) -> None:
    if db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
        raise NotFoundError("run", run_id)


def _for_update(db: Db) -> str:
    """Lock the rows read until the transaction ends (PostgreSQL; SQLite's write transactions
    hold the whole database already): a run's end and a write to the run are ordered."""
    return " FOR UPDATE" if db.dialect == "postgresql" else ""


def _require_running(db: Db, run_id: str) -> None:
    row = db.execute(
        "SELECT status FROM runs WHERE run_id = ?" + _for_update(db), (run_id,)
    ).fetchone()
    if row is None:
        raise NotFoundError("run", run_id)
    if row[0] != RunStatus.RUNNING.value and not (
        row[0] == RunStatus.KILLED.value and _presumed_killed(db, run_id)
    ):
        raise ended(run_id, row[0])


def _presumed_killed(db: Db, run_id: str) -> bool:
    found = db.execute(
        "SELECT 1 FROM tags WHERE run_id = ? AND key = ?", (run_id, PRESUMED_KILLED_TAG)
    ).fetchone()
    return found is not None


def _values_by_key(db: Db, table: str, run_id: str, keys: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(keys), _IN_BATCH):
        part = keys[start : start + _IN_BATCH]
        rows = db.execute(
            f"SELECT key, value FROM {table} WHERE run_id = ? AND key IN ({marks(len(part))})",
            (run_id, *part),
        ).fetchall()
        found.update(rows)
    return found


def _by_run(db: Db, select: str, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{run_id: {key: value}}`` from a ``SELECT run_id, key, value FROM table``."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(run_ids), _IN_BATCH):
        part = run_ids[start : start + _IN_BATCH]
        rows = db.execute(f"{select} WHERE run_id IN ({marks(len(part))})", part).fetchall()
        for run_id, key, value in rows:
            found.setdefault(run_id, {})[key] = value
    return found


def _model_version(db: Db, name: str, version: int) -> ModelVersion:
    row = db.execute(
        "SELECT source, run_id, creation_time FROM model_versions WHERE name = ? AND version = ?",
        (name, version),
    ).fetchone()
    if row is None:
        raise NotFoundError("model version", f"{name}/{version}")
    aliases = db.execute(
        "SELECT alias FROM model_aliases WHERE name = ? AND version = ? ORDER BY alias",
        (name, version),
    ).fetchall()
    return ModelVersion(name, version, row[0], row[1], row[2], tuple(a for (a,) in aliases))


_EXPERIMENT_COLUMNS = "id, name, artifact_location, creation_time, deleted_time"


def _experiment(row: Any) -> Experiment:
    return Experiment(str(row[0]), row[1], row[2], row[3], row[4])


def _int_id(experiment_id: str) -> int | None:
    """The stored form of an experiment id; None for one that cannot exist ("07", "x")."""
    if not isinstance(experiment_id, str) or not experiment_id.isascii():
        return None
    if not experiment_id.isdigit() or len(experiment_id) > 18:
        return None
    number = int(experiment_id)
    return number if str(number) == experiment_id else None


def _sqlite_path(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise InvalidURIError(uri, "SQLite URIs name a local file: sqlite:///abs/path.db")
    path = unquote(parts.path)
    if path in ("", "/", ":memory:", "/:memory:"):
        return ":memory:"
    if _DRIVE_PATH.match(path):  # sqlite:///C:/dir/x.db
        path = path[1:]
    return str(Path(path).resolve())
