"""The SQL tracking store: SQLite (the default) and PostgreSQL through one code path.

Statements are written once, with ``?`` placeholders, in the SQL both engines accept
(``INSERT ... ON CONFLICT``, ``RETURNING``, row values). SQLite comes with the standard
library; ``psycopg`` (v3) is imported only when a PostgreSQL URI is opened.

Metric histories are stored in chunks: each ``log_batch`` appends one row per metric key holding
the batch's steps and timestamps as little-endian int64 arrays and its values as little-endian
float64 arrays, so a batch of any size is a few statements and a history of a million points is
a few blob reads. The latest value of each key is kept up to date in ``metric_series``.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import random
import re
import sqlite3
import sys
import time
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice, repeat
from operator import itemgetter, le
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import unquote, urlsplit, urlunsplit

from autolog.entities import (
    Experiment,
    Metric,
    ModelVersion,
    Param,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
)
from autolog.errors import (
    AutologError,
    InvalidFilterError,
    InvalidInputError,
    InvalidURIError,
    NotFoundError,
    ParamCollisionError,
    StoreError,
    StoreUnavailableError,
)
from autolog.search import NUMERIC_ATTRIBUTES, STRING_ATTRIBUTES, Comparison, OrderBy, matches
from autolog.stores.base import default_artifact_root, fork_safe_lock
from autolog.stores.sql_schema import Dialect, migrate

if TYPE_CHECKING:
    import psycopg

__all__ = ["SqlStore"]

# How long a write waits for another process's write transaction before giving up.
_BUSY_TIMEOUT_S = 30.0
# Rows fetched per "IN (...)" query: well under every engine's limit on bound parameters.
_IN_BATCH = 500
_BIG_ENDIAN = sys.byteorder == "big"
_DRIVE_PATH = re.compile(r"^/[A-Za-z]:")
_RUN_COLUMNS = (
    "r.run_id, r.experiment_id, r.run_name, r.status, r.start_time, r.end_time,"
    " r.artifact_uri, r.parent_run_id"
)
_N_RUN_COLUMNS = 8
_TABLES = {"param": "params", "tag": "tags"}
_SQLITE_TRANSIENT_CODES = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_FULL",
    "SQLITE_IOERR",
    "SQLITE_CANTOPEN",
    "SQLITE_PROTOCOL",
    "SQLITE_NOMEM",
)
# Python 3.10's sqlite3 errors carry no error code: recognise the transient ones by message.
_SQLITE_TRANSIENT_WORDS = ("locked", "busy", "disk is full", "disk i/o", "unable to open")


class _Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class _Db:
    """A driver connection in autocommit mode, spoken to with ``?`` placeholders."""

    dialect: Dialect
    #: opens a transaction whose queries all see one snapshot of the database
    begin_read: str
    #: opens a transaction that holds the write lock from its first statement
    begin_write: str

    def execute(self, sql: str, params: Sequence[object] = (), *, binary: bool = False) -> _Cursor:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        raise NotImplementedError

    @property
    def broken(self) -> bool:
        raise NotImplementedError

    def transient(self, exc: BaseException) -> bool | None:
        """True for a failure worth retrying, False for another driver error, None otherwise."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def rollback_quietly(self) -> None:
        # Called while another exception propagates: it must not replace that exception.
        with contextlib.suppress(Exception):
            self.execute("ROLLBACK")


class _SqliteDb(_Db):
    dialect: Dialect = "sqlite"
    begin_read = "BEGIN"  # the snapshot is taken by the first SELECT and kept until COMMIT
    # A deferred transaction that later writes fails at once with SQLITE_BUSY in WAL mode when
    # another connection wrote meanwhile; IMMEDIATE waits for the lock (busy_timeout) up front.
    begin_write = "BEGIN IMMEDIATE"

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._raw = sqlite3.connect(
            path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        try:
            self._raw.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
            self._enable_wal()
            # In WAL mode a crash of the process loses no commit; a power cut may lose the last
            # ones but never damages the database. FULL would sync the disk at every batch.
            self._raw.execute("PRAGMA synchronous = NORMAL")
            self._raw.execute("PRAGMA case_sensitive_like = ON")  # LIKE as in autolog.search
            self._raw.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            self._raw.close()
            raise

    def _enable_wal(self) -> None:
        # Switching a fresh file to WAL takes an exclusive lock, and SQLite may report "database
        # is locked" for it without waiting on busy_timeout when many processes open the file
        # at the same moment: retry with jittered backoff.
        deadline = time.monotonic() + _BUSY_TIMEOUT_S
        delay = 0.002
        while True:
            try:
                self._raw.execute("PRAGMA journal_mode = WAL").fetchone()
                return
            except sqlite3.OperationalError as exc:
                if not self.transient(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, 0.25)

    def execute(self, sql: str, params: Sequence[object] = (), *, binary: bool = False) -> _Cursor:
        return self._raw.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        self._raw.executemany(sql, rows)

    @property
    def broken(self) -> bool:
        return False

    def transient(self, exc: BaseException) -> bool | None:
        if not isinstance(exc, sqlite3.Error):
            return None
        if not isinstance(exc, sqlite3.OperationalError):
            return False
        code = getattr(exc, "sqlite_errorname", None)
        if code is not None:
            return str(code).startswith(_SQLITE_TRANSIENT_CODES)
        message = str(exc).lower()
        return any(word in message for word in _SQLITE_TRANSIENT_WORDS)

    def close(self) -> None:
        self._raw.close()


class _PgDb(_Db):
    dialect: Dialect = "postgresql"
    # READ COMMITTED would give each statement its own snapshot; a read-only REPEATABLE READ
    # transaction costs the same and never fails to serialise.
    begin_read = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
    begin_write = "BEGIN"

    def __init__(self, conninfo: str, module: ModuleType) -> None:
        self._module = module
        extra = {} if "connect_timeout" in conninfo else {"connect_timeout": 10}
        # autocommit: transactions are opened and closed explicitly, as with SQLite
        self._raw: psycopg.Connection[Any] = module.connect(conninfo, autocommit=True, **extra)
        self._converted: dict[str, str] = {}

    def _sql(self, sql: str) -> str:
        converted = self._converted.get(sql)
        if converted is None:
            # none of our statements has "?" or "%" inside a literal
            converted = sql.replace("%", "%%").replace("?", "%s")
            if len(self._converted) < 1000:  # searches make statements without end
                self._converted[sql] = converted
        return converted

    def execute(self, sql: str, params: Sequence[object] = (), *, binary: bool = False) -> _Cursor:
        if binary:
            # binary results: bytea arrives as raw bytes instead of hex text to decode
            return self._raw.cursor(binary=True).execute(self._sql(sql), params)
        return self._raw.execute(self._sql(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        self._raw.cursor().executemany(self._sql(sql), rows)

    @property
    def broken(self) -> bool:
        return self._raw.closed or self._raw.broken

    def transient(self, exc: BaseException) -> bool | None:
        if not isinstance(exc, self._module.Error):
            return None
        # OperationalError covers a refused or lost connection, deadlocks, serialization
        # failures and cancelled statements; an unusable connection is transient by nature.
        return isinstance(exc, self._module.OperationalError) or self.broken

    def close(self) -> None:
        self._raw.close()


@dataclass(frozen=True)
class _Chunk:
    """One key's part of a batch, encoded for ``metric_chunks``."""

    key: str
    n: int
    steps: bytes
    timestamps: bytes
    values: bytes
    first_step: int
    last_step: int
    in_order: bool
    latest_value: float | None  # None for NaN, which SQLite cannot store
    latest_step: int
    latest_timestamp: int


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
        self._display_uri = _redact(uri)
        self._lock = fork_safe_lock(self)
        self._db: _Db | None = None
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
    def _connect(self) -> _Db:
        db: _Db
        if self._sqlite_path is not None:
            try:
                db = _SqliteDb(self._sqlite_path)
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
            db = _PgDb(self._conninfo, psycopg)
        try:
            migrate(db, db.dialect)
        except BaseException:
            with contextlib.suppress(Exception):
                db.close()
            raise
        return db

    def _connection(self) -> _Db:
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

    def _drop(self, db: _Db) -> None:
        """Forget a connection that is no longer usable; the next call opens a new one."""
        with contextlib.suppress(Exception):
            db.close()
        if self._db is db:
            self._db = None

    def _begin(self, *, write: bool) -> _Db:
        """Open a transaction on a working connection."""
        db = self._connection()
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
        except Exception as exc:
            db = self._db
            transient = db.transient(exc) if db is not None else _classify_unconnected(exc)
            if transient is None:
                raise
            if db is not None and db.broken:
                self._drop(db)
            kind = StoreUnavailableError if transient else StoreError
            raise kind(f"{what} failed on {self._display_uri}: {exc}") from exc

    @contextlib.contextmanager
    def _read(self, what: str) -> Iterator[_Db]:
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
    def _write(self, what: str) -> Iterator[_Db]:
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
        found = self.get_experiment_by_name(name)
        if found is not None:
            return found
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
                insert + " ON CONFLICT (name) DO NOTHING RETURNING id", (name, _now())
            ).fetchone()
            if row is not None:
                db.execute(
                    "UPDATE experiments SET artifact_location = ? WHERE id = ?",
                    (f"{self.artifact_root}/{row[0]}", row[0]),
                )
            # Inserted here, or by a concurrent creator whose insert ours waited for.
            row = db.execute(
                "SELECT id, name, artifact_location, creation_time FROM experiments WHERE name = ?",
                (name,),
            ).fetchone()
        return _experiment(row)

    def get_experiment(self, experiment_id: str) -> Experiment:
        number = _int_id(experiment_id)
        if number is None:
            raise NotFoundError("experiment", experiment_id)
        with self._read(f"reading experiment {experiment_id}") as db:
            row = db.execute(
                "SELECT id, name, artifact_location, creation_time FROM experiments WHERE id = ?",
                (number,),
            ).fetchone()
        if row is None:
            raise NotFoundError("experiment", experiment_id)
        return _experiment(row)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with self._read(f"reading experiment {name!r}") as db:
            row = db.execute(
                "SELECT id, name, artifact_location, creation_time FROM experiments WHERE name = ?",
                (name,),
            ).fetchone()
        return None if row is None else _experiment(row)

    def list_experiments(self) -> list[Experiment]:
        with self._read("listing experiments") as db:
            rows = db.execute(
                "SELECT id, name, artifact_location, creation_time FROM experiments ORDER BY id"
            ).fetchall()
        return [_experiment(row) for row in rows]

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
            updated = db.execute(
                "UPDATE runs SET status = ?, end_time = ? WHERE run_id = ?",
                (value, end_time, run_id),
            ).rowcount
            if updated != 1:
                raise NotFoundError("run", run_id)

    def get_run(self, run_id: str) -> Run:
        with self._read(f"reading run {run_id}") as db:
            row = db.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs r WHERE r.run_id = ?", (run_id,)
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
    ) -> list[Run]:
        """Runs of the experiments (None: all) matching every filter, in order, newest first."""
        with self._read("searching runs") as db:
            query = _SearchQuery(db.dialect)
            if experiment_ids is not None:
                numbers = [n for n in map(_int_id, experiment_ids) if n is not None]
                if not numbers:
                    return []
                query.where.append(f"r.experiment_id IN ({_marks(len(numbers))})")
                query.where_params.extend(numbers)
            for comparison in filters:
                query.add_filter(comparison)
            for clause in order_by:
                query.add_order(clause)
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

    def _load_runs(self, db: _Db, rows: Sequence[Any]) -> list[Run]:
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
            runs.append(Run(_run_info(row), data))
        return runs

    # logging
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Store everything or nothing. Re-logging a param with its stored value is a no-op."""
        chunks = _encode_metrics(metrics)  # the CPU work, before taking any lock
        with self._write(f"log_batch for run {run_id}") as db:
            _require_run(db, run_id)
            if params:
                self._insert_params(db, run_id, params)
            if tags:
                # stable sort: rows locked in key order, repeats of a key keep the last value
                rows = sorted(((run_id, key, value) for key, value in tags), key=itemgetter(1))
                db.executemany(_UPSERT_TAG, rows)
            if chunks:
                self._append_chunks(db, run_id, chunks)

    @staticmethod
    def _append_chunks(db: _Db, run_id: str, chunks: Sequence[_Chunk]) -> None:
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
                f" WHERE run_id = ? AND key IN ({_marks(len(part))})",
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
    def _insert_params(db: _Db, run_id: str, params: Sequence[Param]) -> None:
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
        return _decode_history(key, chunks)

    # artifact integrity
    def record_artifact_hashes(self, run_id: str, hashes: Mapping[str, str]) -> None:
        """Record SHA-256 digests of artifact files (paths relative to the run's root)."""
        with self._write(f"recording artifact hashes of run {run_id}") as db:
            _require_run(db, run_id)
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

    # model registry
    def create_model_version(self, name: str, source: str, run_id: str | None) -> ModelVersion:
        """Register ``source`` as the next version of model ``name`` (created if new)."""
        now = _now()
        with self._write(f"registering a version of model {name!r}") as db:
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
        with self._read(f"reading model version {name}/{version}") as db:
            return _model_version(db, name, version)

    def set_model_alias(self, name: str, alias: str, version: int) -> None:
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


class _SearchQuery:
    """A filter and order translated to one SELECT over ``runs r``.

    ILIKE is the exception: SQLite's lower() and PostgreSQL's ILIKE on "C" text fold ASCII
    letters only, autolog.search folds every letter ("É" ~ "é"). Those comparisons are checked
    in Python with ``autolog.search.matches`` itself, on values the query selects for them.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.in_python: list[Comparison] = []
        # (entity, key) of the param and tag values selected after the run columns
        self.python_values: list[tuple[str, str]] = []
        self.select_params: list[object] = []
        self.joins: list[str] = []
        self.join_params: list[object] = []
        self.where: list[str] = []
        self.where_params: list[object] = []
        self.order: list[str] = []

    def sql(self, limit: int | None) -> tuple[str, list[object]]:
        columns = [
            _RUN_COLUMNS,
            *(
                f"(SELECT x.value FROM {_TABLES[entity]} x WHERE x.run_id = r.run_id AND x.key = ?)"
                for entity, _ in self.python_values
            ),
        ]
        parts = [f"SELECT {', '.join(columns)} FROM runs r", *self.joins]
        if self.where:
            parts.append("WHERE " + " AND ".join(self.where))
        # ties (and no order_by) go newest first, then by run id, as in autolog.search
        parts.append("ORDER BY " + ", ".join([*self.order, "r.start_time DESC", "r.run_id"]))
        params = [*self.select_params, *self.join_params, *self.where_params]
        if limit is not None:
            parts.append("LIMIT ?")
            params.append(limit)
        return " ".join(parts), params

    def _attribute(self, key: str) -> str:
        if key == "experiment_id":
            # compared and ordered as the string the caller sees ("10" < "2")
            collate = ' COLLATE "C"' if self.dialect == "postgresql" else ""
            return f"CAST(r.experiment_id AS TEXT){collate}"
        if key in STRING_ATTRIBUTES or key in NUMERIC_ATTRIBUTES:
            return f"r.{key}"
        raise InvalidFilterError(f"attributes.{key}", f"unknown attribute {key!r}")

    def holds_in_python(self, row: Sequence[Any]) -> bool:
        """Whether a selected row passes the comparisons left to Python."""
        values: dict[str, dict[str, str]] = {"param": {}, "tag": {}}
        for (entity, key), value in zip(self.python_values, row[_N_RUN_COLUMNS:], strict=True):
            if value is not None:
                values[entity][key] = value
        run = Run(_run_info(row), RunData(values["param"], {}, values["tag"]))
        return matches(run, self.in_python)

    def add_filter(self, c: Comparison) -> None:
        if c.op in ("ILIKE", "NOT ILIKE"):
            self.in_python.append(c)
            if c.entity in _TABLES:
                self.python_values.append((c.entity, c.key))
                self.select_params.append(c.key)
            return
        if c.entity == "metric":
            self._add_metric_filter(c)
            return
        if c.entity == "attribute":
            column = self._attribute(c.key)
            if c.key in NUMERIC_ATTRIBUTES:
                condition, params = self._numeric(column, c)
            else:
                condition, params = self._string(column, c)
            self.where.append(condition)
            self.where_params.extend(params)
            return
        table = _TABLES[c.entity]
        condition, params = self._string("x.value", c)
        self.where.append(
            f"EXISTS (SELECT 1 FROM {table} x WHERE x.run_id = r.run_id AND x.key = ?"
            f" AND {condition})"
        )
        self.where_params.extend([c.key, *params])

    def _add_metric_filter(self, c: Comparison) -> None:
        # latest_value is NULL for NaN. NaN compares like Python: only "!=" holds for it, and
        # nothing but "!=" holds against a NaN in the filter. A missing metric never matches.
        if isinstance(c.value, str | tuple):
            raise InvalidFilterError(str(c), f"metric {c.key!r} compares to a number")
        params: list[object] = []
        if math.isnan(c.value):
            condition = "1 = 1" if c.op == "!=" else "1 = 0"
        elif c.op == "!=":
            condition, params = "(m.latest_value IS NULL OR m.latest_value <> ?)", [c.value]
        else:
            condition, params = self._numeric("m.latest_value", c)
        self.where.append(
            "EXISTS (SELECT 1 FROM metric_series m WHERE m.run_id = r.run_id AND m.key = ?"
            f" AND {condition})"
        )
        self.where_params.extend([c.key, *params])

    @staticmethod
    def _numeric(column: str, c: Comparison) -> tuple[str, list[object]]:
        sql_op = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}.get(c.op)
        if sql_op is None or isinstance(c.value, str | tuple):
            raise InvalidFilterError(str(c), f"{c.op} {c.value!r} does not apply to {c.key!r}")
        return f"{column} {sql_op} ?", [c.value]

    def _string(self, column: str, c: Comparison) -> tuple[str, list[object]]:
        op = c.op
        if op in ("IN", "NOT IN"):
            if not isinstance(c.value, tuple) or not all(isinstance(v, str) for v in c.value):
                raise InvalidFilterError(str(c), f"{op} needs a list of strings")
            if not c.value:  # "IN ()" is not valid PostgreSQL
                return ("1 = 0" if op == "IN" else f"{column} IS NOT NULL"), []
            return f"{column} {op} ({_marks(len(c.value))})", list(c.value)
        if not isinstance(c.value, str):
            raise InvalidFilterError(str(c), f"{c.key!r} compares to a string")
        if op in ("=", "!="):
            return f"{column} {'=' if op == '=' else '<>'} ?", [c.value]
        if op not in ("LIKE", "NOT LIKE"):
            raise InvalidFilterError(str(c), f"operator {op} does not apply to {c.key!r}")
        # PostgreSQL treats a backslash as an escape by default; autolog.search has none.
        escape = " ESCAPE ''" if self.dialect == "postgresql" else ""
        condition = f"{column} LIKE ?{escape}"
        # NOT (NULL LIKE x) is NULL: a missing attribute still does not match
        return (f"NOT ({condition})" if op == "NOT LIKE" else condition), [c.value]

    def add_order(self, clause: OrderBy) -> None:
        direction = "ASC" if clause.ascending else "DESC"
        alias = f"o{len(self.joins)}"
        if clause.entity == "attribute":
            column = self._attribute(clause.key)
            # missing values last whatever the direction, as in autolog.search
            self.order += [f"({column} IS NULL)", f"{column} {direction}"]
            return
        if clause.entity == "metric":
            self.joins.append(
                f"LEFT JOIN metric_series {alias} ON {alias}.run_id = r.run_id AND {alias}.key = ?"
            )
            # NaN is stored as NULL, and sorts as a missing value does: last, tied with them
            self.order += [
                f"({alias}.latest_value IS NULL)",
                f"{alias}.latest_value {direction}",
            ]
        else:
            table = _TABLES[clause.entity]
            self.joins.append(
                f"LEFT JOIN {table} {alias} ON {alias}.run_id = r.run_id AND {alias}.key = ?"
            )
            self.order += [f"({alias}.value IS NULL)", f"{alias}.value {direction}"]
        self.join_params.append(clause.key)


def _encode_metrics(metrics: Sequence[Metric]) -> list[_Chunk]:
    """Group a batch by key, in logging order, and pack each group's arrays."""
    if not metrics:
        return []
    # Column by column in C: this is what keeps a 200,000-metric batch well under 0.2 s.
    keys, values, steps, timestamps = (list(map(itemgetter(i), metrics)) for i in range(4))
    first = keys[0]
    if keys.count(first) == len(keys):
        return [_encode(first, values, steps, timestamps)]
    positions: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        positions.setdefault(key, []).append(i)
    return [
        _encode(
            key,
            [values[i] for i in where],
            [steps[i] for i in where],
            [timestamps[i] for i in where],
        )
        # sorted: concurrent batches lock their series rows in one order (no deadlocks)
        for key, where in sorted(positions.items())
    ]


def _encode(
    key: str, values: Sequence[float], steps: Sequence[int], timestamps: Sequence[int]
) -> _Chunk:
    try:
        step_array = array("q", steps)
        time_array = array("q", timestamps)
        value_array = array("d", values)
    except (TypeError, OverflowError) as exc:
        raise InvalidInputError(
            f"metric {key!r}: steps and timestamps must be 64-bit integers and values floats"
            f" ({exc})"
        ) from None
    n = len(step_array)
    top = max(step_array)
    if step_array.count(top) == 1:
        newest = step_array.index(top)
    else:
        # equal steps: the newest timestamp, then the last logged
        newest = max(
            (t, i) for i, (s, t) in enumerate(zip(step_array, time_array, strict=True)) if s == top
        )[1]
    latest_value = value_array[newest]
    latest_timestamp = time_array[newest]
    in_order = all(map(le, step_array, islice(step_array, 1, None)))
    first_step, last_step = step_array[0], step_array[-1]
    if _BIG_ENDIAN:
        for packed in (step_array, time_array, value_array):
            packed.byteswap()
    return _Chunk(
        key=key,
        n=n,
        steps=step_array.tobytes(),
        timestamps=time_array.tobytes(),
        values=value_array.tobytes(),
        first_step=first_step,
        last_step=last_step,
        in_order=in_order,
        latest_value=None if math.isnan(latest_value) else latest_value,
        latest_step=top,
        latest_timestamp=latest_timestamp,
    )


def _decode_history(key: str, chunks: Sequence[Any]) -> list[Metric]:
    steps: array[int] = array("q")
    timestamps: array[int] = array("q")
    values: array[float] = array("d")
    in_order = True
    previous_last: int | None = None
    for first_step, last_step, chunk_in_order, step_bytes, time_bytes, value_bytes in chunks:
        steps.frombytes(step_bytes)
        timestamps.frombytes(time_bytes)
        values.frombytes(value_bytes)
        in_order = (
            in_order
            and bool(chunk_in_order)
            and (previous_last is None or previous_last <= first_step)
        )
        previous_last = last_step
    if _BIG_ENDIAN:
        for packed in (steps, timestamps, values):
            packed.byteswap()
    # A million tuples would trigger several full collections for nothing: none can be cyclic.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if in_order:
            rows: Iterator[tuple[str, float, int, int]] = zip(
                repeat(key), values, steps, timestamps
            )
        else:
            order = sorted(range(len(steps)), key=steps.__getitem__)  # stable: logging order
            rows = ((key, values[i], steps[i], timestamps[i]) for i in order)
        # tuple.__new__ is what Metric._make calls, without its per-row length check
        return cast(list[Metric], list(map(tuple.__new__, repeat(Metric), rows)))
    finally:
        if gc_was_enabled:
            gc.enable()


def _classify_unconnected(exc: BaseException) -> bool | None:
    # Connecting failed before a _Db existed: sqlite3 or psycopg raised while opening.
    if isinstance(exc, sqlite3.Error):
        return isinstance(exc, sqlite3.OperationalError)
    psycopg_module = sys.modules.get("psycopg")
    if psycopg_module is not None and isinstance(exc, psycopg_module.Error):
        return isinstance(exc, psycopg_module.OperationalError)
    return None


def _run_info(row: Sequence[Any]) -> RunInfo:
    """A RunInfo from the ``_RUN_COLUMNS`` at the start of a row."""
    run_id, experiment_id, run_name, status, start, end, artifact_uri, parent = row[:_N_RUN_COLUMNS]
    return RunInfo(
        run_id, str(experiment_id), run_name, RunStatus(status), start, end, artifact_uri, parent
    )


def _require_run(db: _Db, run_id: str) -> None:
    if db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
        raise NotFoundError("run", run_id)


def _values_by_key(db: _Db, table: str, run_id: str, keys: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(keys), _IN_BATCH):
        part = keys[start : start + _IN_BATCH]
        rows = db.execute(
            f"SELECT key, value FROM {table} WHERE run_id = ? AND key IN ({_marks(len(part))})",
            (run_id, *part),
        ).fetchall()
        found.update(rows)
    return found


def _by_run(db: _Db, select: str, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{run_id: {key: value}}`` from a ``SELECT run_id, key, value FROM table``."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(run_ids), _IN_BATCH):
        part = run_ids[start : start + _IN_BATCH]
        rows = db.execute(f"{select} WHERE run_id IN ({_marks(len(part))})", part).fetchall()
        for run_id, key, value in rows:
            found.setdefault(run_id, {})[key] = value
    return found


def _model_version(db: _Db, name: str, version: int) -> ModelVersion:
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


def _experiment(row: Any) -> Experiment:
    return Experiment(str(row[0]), row[1], row[2], row[3])


def _int_id(experiment_id: str) -> int | None:
    """The stored form of an experiment id; None for one that cannot exist ("07", "x")."""
    if not isinstance(experiment_id, str) or not experiment_id.isascii():
        return None
    if not experiment_id.isdigit() or len(experiment_id) > 18:
        return None
    number = int(experiment_id)
    return number if str(number) == experiment_id else None


def _marks(n: int) -> str:
    return ", ".join(["?"] * n)


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


def _redact(uri: str) -> str:
    """The URI without its password, for messages."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[2]}"))


def _now() -> int:
    return time.time_ns() // 1_000_000
