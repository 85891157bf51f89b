"""The SQL engine: SQLite (the default) and PostgreSQL through one code path.

Statements are written once, with ``?`` placeholders, in the SQL both databases accept
(``INSERT ... ON CONFLICT``, ``RETURNING``, row values). SQLite comes with the standard
library; ``psycopg`` (v3) is imported only when a PostgreSQL URI is opened. The drivers are in
``sql_driver``, the shared connection and its transactions in ``sql_connection``, the schema in
``sql_schema``, the translation of searches in ``sql_search``.

``SqlEngine`` stores and fetches (``autolog.stores.engine.Engine``); the rules are
``autolog.tracking.Tracking``'s, and ``SqlStore`` is that service over this engine. A run's
unit of work is one write transaction holding the run's row (PostgreSQL: ``FOR UPDATE``;
SQLite: the database's write lock, ``BEGIN IMMEDIATE``).

Metric histories are stored in chunks (``metric_codec``): each batch appends one row per metric
key, and the latest value of each key is kept up to date in ``metric_series``.
"""

from __future__ import annotations

import contextlib
import json
import math
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from autolog.entities import (
    AccessToken,
    Experiment,
    Metric,
    MetricColumns,
    ModelVersion,
    Param,
    RegisteredModel,
    Run,
    RunData,
    RunInfo,
    RunPage,
    RunStatus,
    RunTag,
)
from autolog.errors import InvalidURIError, StoreError
from autolog.search import Comparison, OrderBy
from autolog.stores.common import Lifecycle, default_artifact_root, redact_uri
from autolog.stores.metric_codec import Chunk, decode_columns, decode_history, encode_metrics
from autolog.stores.sql_connection import SharedConnection
from autolog.stores.sql_driver import Db, PgDb, SqliteDb
from autolog.stores.sql_schema import Dialect, migrate
from autolog.stores.sql_search import RUN_COLUMNS, SearchQuery, marks, run_info
from autolog.stores.uris import sqlite_path
from autolog.tracking import Tracking
from autolog.validation import STEP_MAX, STEP_MIN

__all__ = ["SqlEngine", "SqlStore"]

# Rows fetched per "IN (...)" query: well under every database's limit on bound parameters.
_IN_BATCH = 500


class SqlStore(Tracking):
    """A ``Store`` on SQLite (``sqlite:///relative.db`` or ``sqlite:////abs/path.db``) or
    PostgreSQL (``postgresql://...``): the tracking service over a ``SqlEngine``.

    Example::

        store = SqlStore("sqlite:////tmp/runs/autolog.db")
        experiment = store.get_or_create_experiment("Default")
    """

    engine: SqlEngine

    def __init__(self, uri: str) -> None:
        super().__init__(SqlEngine(uri))

    def __repr__(self) -> str:
        return f"SqlStore({self.engine.display_uri!r})"


class SqlEngine:
    """Runs kept in a SQL database; one connection per engine, shared by threads; processes
    may share a database. SQLite runs in WAL mode and keeps artifacts next to the database
    file by default; its run units waiting on one another share a commit (group commit)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.display_uri = redact_uri(uri)
        self._sqlite_path: str | None = None
        self._conninfo: str | None = None
        #: the folder of a SQLite file: artifact locations under it are kept relative to it
        self.home: Path | None = None
        scheme = urlsplit(uri).scheme.lower()
        if scheme == "sqlite":
            self._sqlite_path = _sqlite_path(uri)
            if self._sqlite_path == ":memory:":
                self.artifact_root = default_artifact_root()
            else:
                artifacts = Path(self._sqlite_path).parent / "artifacts"
                self.artifact_root = artifacts.resolve().as_uri()
                self.home = Path(self._sqlite_path).parent
        elif scheme.startswith(("postgresql", "postgres")):
            # libpq knows postgresql:// and postgres://, not "postgresql+psycopg://"
            self._conninfo = "postgresql" + uri[len(scheme) :]
            self.artifact_root = default_artifact_root()
        else:
            raise InvalidURIError(uri, "the SQL store takes sqlite:/// or postgresql:// URIs")
        # Group commit on SQLite only: its write lock covers the whole database anyway, while
        # PostgreSQL's row locks held for several runs at once could deadlock across processes.
        self._conn = SharedConnection(
            self.display_uri, self._connect, group_commit=self._sqlite_path is not None
        )
        self._conn.open()

    def __repr__(self) -> str:
        return f"SqlEngine({self.display_uri!r})"

    @property
    def db(self) -> Db | None:
        """The open connection (None before the first call or after ``close``): for tests and
        tools that look at the database itself."""
        return self._conn.db

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

    def _read(self, what: str) -> contextlib.AbstractContextManager[Db]:
        """A transaction, so that a read made of several queries sees one snapshot."""
        return self._conn.transaction(what, write=False)

    def _write(self, what: str) -> contextlib.AbstractContextManager[Db]:
        """A write transaction: everything in it is stored, or nothing."""
        return self._conn.transaction(what, write=True)

    @contextlib.contextmanager
    def run_unit(self, run_id: str) -> Iterator[SqlRunUnit]:
        """One write transaction holding the run's row until it ends."""
        with self._conn.unit(f"writing run {run_id}") as db:
            unit = SqlRunUnit(db, run_id)
            if db.dialect == "postgresql":
                unit.lock()
            yield unit

    # experiments
    def experiment(self, experiment_id: str) -> Experiment | None:
        number = _int_id(experiment_id)
        if number is None:
            return None
        with self._read(f"reading experiment {experiment_id}") as db:
            row = db.execute(
                f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments WHERE id = ?", (number,)
            ).fetchone()
            return None if row is None else _experiment(db, row)

    def experiment_named(self, name: str) -> Experiment | None:
        with self._read(f"reading experiment {name!r}") as db:
            return _experiment_named(db, name)

    def experiments(self) -> list[Experiment]:
        with self._read("listing experiments") as db:
            rows = db.execute(f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments ORDER BY id")
            experiments = rows.fetchall()
            tags: dict[int, dict[str, str]] = {}
            for number, key, value in db.execute(
                "SELECT experiment_id, key, value FROM experiment_tags ORDER BY experiment_id, key"
            ).fetchall():
                tags.setdefault(number, {})[key] = value
            return [_experiment(db, row, tags.get(row[0], {})) for row in experiments]

    def add_experiment(self, name: str, creation_time: int) -> Experiment:
        with self._write(f"creating experiment {name!r}") as db:
            if db.dialect == "sqlite":
                # ids count from 0 like the reference engine's; the write lock makes MAX safe
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
                insert + " ON CONFLICT (name) DO NOTHING RETURNING id", (name, creation_time)
            ).fetchone()
            if row is not None:
                db.execute(
                    "UPDATE experiments SET artifact_location = ? WHERE id = ?",
                    (f"{self.artifact_root}/{row[0]}", row[0]),
                )
            # inserted here, or by a concurrent creator whose insert ours waited for
            found = _experiment_named(db, name)
        if found is None:
            raise StoreError(f"experiment {name!r} was neither created nor found")
        return found

    def set_experiment(self, experiment: Experiment) -> bool:
        number = _int_id(experiment.experiment_id)
        with self._write(f"updating experiment {experiment.experiment_id}") as db:
            taken = db.execute(
                "SELECT id FROM experiments WHERE name = ?", (experiment.name,)
            ).fetchone()
            if taken is not None and taken[0] != number:
                return False
            db.execute(
                "UPDATE experiments SET name = ?, deleted_time = ? WHERE id = ?",
                (experiment.name, experiment.deleted_time, number),
            )
        return True

    def set_experiment_tag(self, experiment_id: str, key: str, value: str | None) -> None:
        number = _int_id(experiment_id)
        if number is None:
            return
        with self._write(f"tagging experiment {experiment_id}") as db:
            if value is None:
                db.execute(
                    "DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?",
                    (number, key),
                )
                return
            db.execute(
                "INSERT INTO experiment_tags (experiment_id, key, value)"
                " SELECT id, ?, ? FROM experiments WHERE id = ?"
                " ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
                (key, value, number),
            )

    def drop_experiment(self, experiment_id: str) -> None:
        number = _int_id(experiment_id)
        with self._write(f"purging experiment {experiment_id}") as db:
            runs = db.execute("SELECT run_id FROM runs WHERE experiment_id = ?", (number,))
            for (run_id,) in runs.fetchall():
                _purge(db, run_id)
            db.execute("DELETE FROM experiment_tags WHERE experiment_id = ?", (number,))
            db.execute("DELETE FROM experiments WHERE id = ?", (number,))

    # runs
    def run(self, run_id: str) -> Run | None:
        with self._read(f"reading run {run_id}") as db:
            row = db.execute(
                f"SELECT {RUN_COLUMNS} FROM runs r WHERE r.run_id = ?", (run_id,)
            ).fetchone()
            return None if row is None else _load_runs(db, [row])[0]

    def find_runs(
        self,
        experiment_ids: Sequence[str] | None,
        filters: Sequence[Comparison],
        order_by: Sequence[OrderBy],
        max_results: int,
        lifecycle: Lifecycle,
    ) -> list[Run]:
        with self._read("searching runs") as db:
            query = _search_query(db.dialect, experiment_ids, filters, order_by, lifecycle)
            if query is None:
                return []
            limit = max_results if max_results >= 0 and not query.in_python else None
            rows = db.execute(*query.sql(limit)).fetchall()
            if query.in_python:
                rows = [row for row in rows if query.holds_in_python(row)]
                if max_results >= 0:
                    rows = rows[:max_results]
            runs = _load_runs(db, rows)
        # a negative max_results drops runs from the end, as slicing the reference's list does
        return runs if max_results >= 0 else runs[:max_results]

    def find_run_page(
        self,
        experiment_ids: Sequence[str] | None,
        filters: Sequence[Comparison],
        order_by: Sequence[OrderBy],
        offset: int,
        limit: int,
        top_level: bool,
        lifecycle: Lifecycle,
    ) -> RunPage:
        with self._read("searching runs") as db:
            query = _search_query(db.dialect, experiment_ids, filters, order_by, lifecycle)
            if query is None:
                return RunPage([], 0, {})
            if top_level:
                query.where.append("r.parent_run_id IS NULL")
            rows, total = _page_rows(db, query, bool(filters), offset, limit)
            runs = _load_runs(db, rows)
            page_ids = [run.info.run_id for run in runs]
            counts = _child_counts(db, experiment_ids, filters, lifecycle, page_ids)
        return RunPage(runs, total, counts)

    def drop_run(self, run_id: str) -> None:
        with self._write(f"purging run {run_id}") as db:
            _purge(db, run_id)

    def metric_history(self, run_id: str, key: str) -> list[Metric] | None:
        with self._read(f"reading metric {key!r} of run {run_id}") as db:
            found, series_id = _series_id(db, run_id, key)
            if not found:
                return None
            if series_id is None:
                return []
            chunks = db.execute(
                "SELECT first_step, last_step, in_order, steps, timestamps, vals"
                " FROM metric_chunks WHERE series_id = ? ORDER BY seq",
                (series_id,),
                binary=True,
            ).fetchall()
        return decode_history(key, chunks)

    def metric_columns(
        self, run_id: str, key: str, min_step: int | None, max_step: int | None
    ) -> MetricColumns | None:
        """Only the chunks that can hold steps within the bounds are read, so the newest
        points of a long series cost little."""
        # bounds past the 64-bit range the database holds select what the range's end would
        low = STEP_MIN if min_step is None else max(min_step, STEP_MIN)
        high = STEP_MAX if max_step is None else min(max_step, STEP_MAX)
        with self._read(f"reading metric {key!r} of run {run_id}") as db:
            found, series_id = _series_id(db, run_id, key)
            if not found:
                return None
            if series_id is None or low > high:
                return MetricColumns(array("q"), array("q"), array("d"))
            # first_step and last_step bound the steps of a chunk whose steps are in order
            chunks = db.execute(
                "SELECT first_step, last_step, in_order, steps, timestamps, vals"
                " FROM metric_chunks WHERE series_id = ?"
                " AND NOT (in_order = 1 AND (last_step < ? OR first_step > ?)) ORDER BY seq",
                (series_id, low, high),
                binary=True,
            ).fetchall()
        steps, timestamps, values = decode_columns(chunks)
        start = bisect_left(steps, low)
        stop = bisect_right(steps, high)
        if (start, stop) == (0, len(steps)):
            return MetricColumns(steps, timestamps, values)
        return MetricColumns(steps[start:stop], timestamps[start:stop], values[start:stop])

    def artifact_hashes(self, run_id: str, prefix: str) -> dict[str, str]:
        prefix = prefix.strip("/")
        sql = "SELECT path, sha256 FROM artifact_hashes WHERE run_id = ?"
        params: tuple[str, ...] = (run_id,)
        if prefix:
            # everything under "p/" sorts in ["p/", "p0"): "0" follows "/" in code points
            sql += " AND (path = ? OR (path >= ? AND path < ?))"
            params += (prefix, prefix + "/", prefix + "0")
        with self._read(f"reading artifact hashes of run {run_id}") as db:
            return dict(db.execute(sql, params).fetchall())

    def model_files(self, run_id: str, path: str) -> dict[str, str] | None:
        with self._read(f"reading model {path!r} of run {run_id}") as db:
            row = db.execute(
                "SELECT files FROM models WHERE run_id = ? AND path = ?", (run_id, path.strip("/"))
            ).fetchone()
        if row is None:
            return None
        files: dict[str, str] = json.loads(row[0])
        return files

    # model registry
    def model_version(self, name: str, version: int) -> ModelVersion | None:
        if not 0 < version < 2**63:
            return None  # no such number fits the column
        with self._read(f"reading model version {name}/{version}") as db:
            return _model_version(db, name, version)

    def model_versions(self, name: str | None) -> list[ModelVersion]:
        where, params = ("WHERE name = ?", (name,)) if name is not None else ("", ())
        with self._read("listing model versions") as db:
            return _versions(db, where, params)

    def versions_of_run(self, run_id: str) -> list[ModelVersion]:
        with self._read(f"listing model versions of run {run_id}") as db:
            return _versions(db, "WHERE run_id = ?", (run_id,))

    def alias_version(self, name: str, alias: str) -> int | None:
        with self._read(f"reading model {name}@{alias}") as db:
            row = db.execute(
                "SELECT version FROM model_aliases WHERE name = ? AND alias = ?", (name, alias)
            ).fetchone()
        return None if row is None else int(row[0])

    def set_alias(self, name: str, alias: str, version: int) -> None:
        with self._write(f"setting alias {alias!r} of model {name!r}") as db:
            db.execute(
                "INSERT INTO model_aliases (name, alias, version) VALUES (?, ?, ?)"
                " ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
                (name, alias, version),
            )

    def drop_alias(self, name: str, alias: str) -> bool:
        with self._write(f"deleting alias {alias!r} of model {name!r}") as db:
            dropped = db.execute(
                "DELETE FROM model_aliases WHERE name = ? AND alias = ?", (name, alias)
            )
            return dropped.rowcount == 1

    def registered_model(self, name: str) -> RegisteredModel | None:
        with self._read(f"reading registered model {name!r}") as db:
            found = _registered_models(db, "WHERE name = ?", (name,))
        return found[0] if found else None

    def registered_models(self) -> list[RegisteredModel]:
        with self._read("listing registered models") as db:
            return _registered_models(db, "", ())

    def drop_model_version(self, name: str, version: int, update_time: int) -> None:
        with self._write(f"deleting model version {name}/{version}") as db:
            for table in ("model_aliases", "model_version_tags", "model_versions"):
                db.execute(f"DELETE FROM {table} WHERE name = ? AND version = ?", (name, version))
            _touch(db, name, update_time)

    def drop_registered_model(self, name: str) -> None:
        with self._write(f"deleting registered model {name!r}") as db:
            tables = ("model_aliases", "model_version_tags", "model_versions")
            for table in (*tables, "registered_model_tags", "registered_models"):
                db.execute(f"DELETE FROM {table} WHERE name = ?", (name,))

    def rename_model(self, name: str, new_name: str, update_time: int) -> bool:
        """Rows are copied under the new name, then the old ones deleted: every foreign key
        holds at each statement."""
        with self._write(f"renaming registered model {name!r}") as db:
            taken = db.execute(
                "INSERT INTO registered_models (name, creation_time, latest_version,"
                " description, last_updated_time) SELECT ?, creation_time, latest_version,"
                " description, ? FROM registered_models WHERE name = ? ON CONFLICT DO NOTHING",
                (new_name, update_time, name),
            )
            if taken.rowcount != 1:
                return False
            db.execute(
                "INSERT INTO model_versions (name, version, source, run_id, creation_time,"
                " description) SELECT ?, version, source, run_id, creation_time, description"
                " FROM model_versions WHERE name = ?",
                (new_name, name),
            )
            for table in ("model_aliases", "model_version_tags", "registered_model_tags"):
                db.execute(f"UPDATE {table} SET name = ? WHERE name = ?", (new_name, name))
            db.execute("DELETE FROM model_versions WHERE name = ?", (name,))
            db.execute("DELETE FROM registered_models WHERE name = ?", (name,))
            return True

    def describe_model(
        self, name: str, version: int | None, description: str | None, update_time: int
    ) -> None:
        with self._write(f"describing registered model {name!r}") as db:
            if version is None:
                db.execute(
                    "UPDATE registered_models SET description = ? WHERE name = ?",
                    (description, name),
                )
            else:
                db.execute(
                    "UPDATE model_versions SET description = ? WHERE name = ? AND version = ?",
                    (description, name, version),
                )
            _touch(db, name, update_time)

    def tag_model(
        self, name: str, version: int | None, key: str, value: str | None, update_time: int
    ) -> None:
        owner: tuple[object, ...] = (name,) if version is None else (name, version)
        table = "registered_model_tags" if version is None else "model_version_tags"
        columns = "name, key" if version is None else "name, version, key"
        where = " AND ".join(f"{c} = ?" for c in columns.split(", "))
        with self._write(f"tagging registered model {name!r}") as db:
            if value is None:
                db.execute(f"DELETE FROM {table} WHERE {where}", (*owner, key))
            else:
                db.execute(
                    f"INSERT INTO {table} ({columns}, value) VALUES ({marks(len(owner) + 2)})"
                    f" ON CONFLICT ({columns}) DO UPDATE SET value = excluded.value",
                    (*owner, key, value),
                )
            _touch(db, name, update_time)

    # access tokens
    def add_token(self, token: AccessToken) -> bool:
        with self._write(f"creating token {token.name!r}") as db:
            created = db.execute(
                "INSERT INTO access_tokens (token_id, name, scope, creation_time, secret_hash)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                tuple(token),
            )
            return created.rowcount == 1

    def token(self, token_id: str) -> AccessToken | None:
        with self._read("reading a token") as db:
            row = db.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM access_tokens WHERE token_id = ?", (token_id,)
            ).fetchone()
        return None if row is None else _token(row)

    def tokens(self) -> list[AccessToken]:
        with self._read("listing tokens") as db:
            rows = db.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM access_tokens ORDER BY creation_time, name"
            ).fetchall()
        return [_token(row) for row in rows]

    def drop_token(self, name: str) -> bool:
        with self._write(f"revoking token {name!r}") as db:
            return db.execute("DELETE FROM access_tokens WHERE name = ?", (name,)).rowcount == 1

    def close(self) -> None:
        self._conn.close()


class SqlRunUnit:
    """One run's unit of work inside the engine's write transaction (``RunUnit``)."""

    def __init__(self, db: Db, run_id: str) -> None:
        self._db = db
        self._run_id = run_id
        # the run's record as last read, kept until the unit changes it (one query a unit)
        self._info: RunInfo | None = None
        self._info_read = False

    def lock(self) -> None:
        """Read the run's row and lock it until the transaction ends (PostgreSQL; SQLite's
        write transaction holds the whole database): units of one run follow one another."""
        self._read_info(" FOR UPDATE")

    def _read_info(self, suffix: str = "") -> RunInfo | None:
        row = self._db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs r WHERE r.run_id = ?{suffix}", (self._run_id,)
        ).fetchone()
        self._info = None if row is None else run_info(row)
        self._info_read = True
        return self._info

    def info(self) -> RunInfo | None:
        return self._info if self._info_read else self._read_info()

    def tag(self, key: str) -> str | None:
        row = self._db.execute(
            "SELECT value FROM tags WHERE run_id = ? AND key = ?", (self._run_id, key)
        ).fetchone()
        return None if row is None else str(row[0])

    def params(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(keys), _IN_BATCH):
            part = keys[start : start + _IN_BATCH]
            rows = self._db.execute(
                f"SELECT key, value FROM params WHERE run_id = ? AND key IN ({marks(len(part))})",
                (self._run_id, *part),
            ).fetchall()
            found.update(rows)
        return found

    def claim_batch(self, batch_id: str) -> bool:
        claimed = self._db.execute(
            "INSERT INTO stored_batches (run_id, batch_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (self._run_id, batch_id),
        )
        return claimed.rowcount == 1

    def models(self) -> dict[str, dict[str, str]]:
        rows = self._db.execute(
            "SELECT path, files FROM models WHERE run_id = ?", (self._run_id,)
        ).fetchall()
        return {path: json.loads(files) for path, files in rows}

    def registered_as(self, source: str) -> ModelVersion | None:
        row = self._db.execute(
            "SELECT name, version FROM model_versions WHERE source = ?"
            " ORDER BY name, version LIMIT 1",
            (source,),
        ).fetchone()
        return None if row is None else _model_version(self._db, row[0], int(row[1]))

    def create(self, info: RunInfo, tags: Mapping[str, str]) -> bool:
        number = _int_id(info.experiment_id)
        if number is None:
            raise StoreError(f"run {info.run_id}: no experiment has the id {info.experiment_id!r}")
        self._info_read = False
        created = self._db.execute(
            "INSERT INTO runs (run_id, experiment_id, run_name, status, start_time, end_time,"
            " artifact_uri, parent_run_id, deleted_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (run_id) DO NOTHING",
            (
                info.run_id,
                number,
                info.run_name,
                RunStatus(info.status).value,
                info.start_time,
                info.end_time,
                info.artifact_uri,
                info.parent_run_id,
                info.deleted_time,
            ),
        ).rowcount
        if created != 1:
            return False
        if tags:
            self._db.executemany(
                _UPSERT_TAG, [(info.run_id, k, v) for k, v in sorted(tags.items())]
            )
        return True

    def add(
        self, metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
    ) -> None:
        run_id = self._run_id
        if params:
            # new keys only (the service compared the stored ones); a repeated key: the last
            rows = sorted(dict(params).items())
            self._db.executemany(
                "INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)"
                " ON CONFLICT (run_id, key) DO NOTHING",
                [(run_id, key, value) for key, value in rows],
            )
        if tags:
            # stable sort: rows locked in key order, repeats of a key keep the last value
            ordered = sorted(((run_id, key, value) for key, value in tags), key=itemgetter(1))
            self._db.executemany(_UPSERT_TAG, ordered)
        if metrics:
            _append_chunks(self._db, run_id, encode_metrics(metrics))

    def untag(self, key: str) -> None:
        self._db.execute("DELETE FROM tags WHERE run_id = ? AND key = ?", (self._run_id, key))

    def set_status(self, status: RunStatus, end_time: int | None) -> None:
        self._info_read = False
        self._db.execute(
            "UPDATE runs SET status = ?, end_time = ? WHERE run_id = ?",
            (RunStatus(status).value, end_time, self._run_id),
        )

    def set_name(self, run_name: str) -> None:
        self._info_read = False
        self._db.execute("UPDATE runs SET run_name = ? WHERE run_id = ?", (run_name, self._run_id))

    def set_deleted(self, deleted_time: int | None) -> None:
        self._info_read = False
        self._db.execute(
            "UPDATE runs SET deleted_time = ? WHERE run_id = ?", (deleted_time, self._run_id)
        )

    def add_hashes(self, hashes: Mapping[str, str]) -> None:
        if hashes:
            self._db.executemany(
                _UPSERT_HASH, [(self._run_id, path, digest) for path, digest in hashes.items()]
            )

    def put_model(self, path: str, files: Mapping[str, str], creation_time: int) -> None:
        self._db.execute(
            "INSERT INTO models (run_id, path, files, creation_time) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (run_id, path) DO UPDATE SET files = excluded.files,"
            " creation_time = excluded.creation_time",
            (self._run_id, path, json.dumps(dict(files), sort_keys=True), creation_time),
        )

    def register(self, name: str, source: str, creation_time: int) -> ModelVersion:
        db = self._db
        db.execute(
            "INSERT INTO registered_models (name, creation_time, latest_version)"
            " VALUES (?, ?, 0) ON CONFLICT (name) DO NOTHING",
            (name, creation_time),
        )
        # the row lock taken by this update orders concurrent registrations
        (version,) = db.execute(
            "UPDATE registered_models SET latest_version = latest_version + 1"
            " WHERE name = ? RETURNING latest_version",  # never lowered: numbers never reused
            (name,),
        ).fetchone()
        db.execute(
            "INSERT INTO model_versions (name, version, source, run_id, creation_time)"
            " VALUES (?, ?, ?, ?, ?)",
            (name, version, source, self._run_id, creation_time),
        )
        _touch(db, name, creation_time)
        return ModelVersion(name, int(version), source, self._run_id, creation_time)


_UPSERT_TAG = (
    "INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)"
    " ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value"
)
_UPSERT_HASH = (
    "INSERT INTO artifact_hashes (run_id, path, sha256) VALUES (?, ?, ?)"
    " ON CONFLICT (run_id, path) DO UPDATE SET sha256 = excluded.sha256"
)

# One statement per key and batch: create the series or fold the batch into it, and hand back
# the series id and the chunk's sequence number. The batch's latest point wins ties because it
# was logged after everything stored (see common.is_newer).
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


def _append_chunks(db: Db, run_id: str, chunks: Sequence[Chunk]) -> None:
    """Three statements for any number of keys: upsert the series (latest values, chunk
    counts), read their ids back, insert one chunk row per key."""
    db.executemany(
        _UPSERT_SERIES,
        [(run_id, c.key, c.latest_value, c.latest_step, c.latest_timestamp, c.n) for c in chunks],
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


def _series_id(db: Db, run_id: str, key: str) -> tuple[bool, int | None]:
    """Whether the run exists, and the id of its series of ``key`` (None: no values)."""
    row = db.execute(
        "SELECT ms.id FROM runs r LEFT JOIN metric_series ms"
        " ON ms.run_id = r.run_id AND ms.key = ? WHERE r.run_id = ?",
        (key, run_id),
    ).fetchone()
    return (False, None) if row is None else (True, row[0])


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


def _load_runs(db: Db, rows: Sequence[Any]) -> list[Run]:
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


def _by_run(db: Db, select: str, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{run_id: {key: value}}`` from a ``SELECT run_id, key, value FROM table``."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(run_ids), _IN_BATCH):
        part = run_ids[start : start + _IN_BATCH]
        rows = db.execute(f"{select} WHERE run_id IN ({marks(len(part))})", part).fetchall()
        for run_id, key, value in rows:
            found.setdefault(run_id, {})[key] = value
    return found


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


def _page_rows(
    db: Db, query: SearchQuery, filtered: bool, offset: int, limit: int
) -> tuple[list[Any], int]:
    """The rows of a page of matches, and how many match in all."""
    if query.in_python:
        found = db.execute(*query.sql(None)).fetchall()
        rows = [row for row in found if query.holds_in_python(row)]
        return rows[offset : offset + limit], len(rows)
    if query.order and filtered and limit:
        # Filtered and ordered by a value: the page's query checks every run against the
        # filters anyway, so it counts the matches in the same pass.
        rows = db.execute(*query.sql(limit, offset, with_total=True)).fetchall()
        # past the last match no row carries the count: ask for it
        total = rows[0][-1] if rows else db.execute(*query.count_sql()).fetchone()[0]
        return rows, int(total)
    total = int(db.execute(*query.count_sql()).fetchone()[0])
    if limit and offset < total:
        return db.execute(*query.sql(limit, offset)).fetchall(), total
    return [], total


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


def _touch(db: Db, name: str, update_time: int) -> None:
    db.execute(
        "UPDATE registered_models SET last_updated_time = ? WHERE name = ?", (update_time, name)
    )


def _model_version(db: Db, name: str, version: int) -> ModelVersion | None:
    found = _versions(db, "WHERE name = ? AND version = ?", (name, version))
    return found[0] if found else None


def _by_model(db: Db, select: str, names: Sequence[str], suffix: str = "") -> list[Any]:
    """The rows of ``select ... WHERE name IN (names) suffix``, a few hundred names a query."""
    rows: list[Any] = []
    for start in range(0, len(names), _IN_BATCH):
        part = names[start : start + _IN_BATCH]
        where = f" WHERE name IN ({marks(len(part))}){suffix}"
        rows += db.execute(select + where, part).fetchall()
    return rows


def _versions(db: Db, where: str, params: Sequence[object]) -> list[ModelVersion]:
    """The model versions a ``WHERE`` on ``model_versions`` selects, with their aliases and
    tags, by name then number."""
    rows = db.execute(
        "SELECT name, version, source, run_id, creation_time, description"
        f" FROM model_versions {where} ORDER BY name, version",
        params,
    ).fetchall()
    names = sorted({row[0] for row in rows})
    aliases: dict[tuple[str, int], list[str]] = {}
    for model, alias, version in sorted(
        _by_model(db, "SELECT name, alias, version FROM model_aliases", names),
        key=itemgetter(1),
    ):
        aliases.setdefault((model, int(version)), []).append(alias)
    tags: dict[tuple[str, int], dict[str, str]] = {}
    for model, version, key, value in _by_model(
        db, "SELECT name, version, key, value FROM model_version_tags", names
    ):
        tags.setdefault((model, int(version)), {})[key] = value
    return [
        ModelVersion(
            model,
            int(n),
            source,
            run_id,
            created,
            tuple(aliases.get((model, int(n)), ())),
            description,
            tags.get((model, int(n)), {}),
        )
        for model, n, source, run_id, created, description in rows
    ]


def _registered_models(db: Db, where: str, params: Sequence[object]) -> list[RegisteredModel]:
    """The registered models a ``WHERE`` on ``registered_models`` selects, by name."""
    rows = db.execute(
        "SELECT name, creation_time, last_updated_time, description FROM registered_models"
        f" {where} ORDER BY name",
        params,
    ).fetchall()
    names = [row[0] for row in rows]
    tags: dict[str, dict[str, str]] = {}
    for model, key, value in _by_model(
        db, "SELECT name, key, value FROM registered_model_tags", names
    ):
        tags.setdefault(model, {})[key] = value
    aliases: dict[str, dict[str, int]] = {}
    for model, alias, version in sorted(
        _by_model(db, "SELECT name, alias, version FROM model_aliases", names), key=itemgetter(1)
    ):
        aliases.setdefault(model, {})[alias] = int(version)
    select = "SELECT name, MAX(version) FROM model_versions"
    latest = {m: int(n) for m, n in _by_model(db, select, names, " GROUP BY name")}
    return [
        RegisteredModel(
            name,
            created,
            created if updated is None else updated,
            description,
            tags.get(name, {}),
            aliases.get(name, {}),
            latest.get(name),
        )
        for name, created, updated, description in rows
    ]


_EXPERIMENT_COLUMNS = "id, name, artifact_location, creation_time, deleted_time"


def _experiment(db: Db, row: Any, tags: dict[str, str] | None = None) -> Experiment:
    """The experiment of ``row``, with ``tags`` (None: read here)."""
    if tags is None:
        found = db.execute(
            "SELECT key, value FROM experiment_tags WHERE experiment_id = ? ORDER BY key",
            (row[0],),
        )
        tags = dict(found.fetchall())
    return Experiment(str(row[0]), row[1], row[2], row[3], row[4], tags)


def _experiment_named(db: Db, name: str) -> Experiment | None:
    row = db.execute(
        f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments WHERE name = ?", (name,)
    ).fetchone()
    return None if row is None else _experiment(db, row)


_TOKEN_COLUMNS = "token_id, name, scope, creation_time, secret_hash"


def _token(row: Sequence[Any]) -> AccessToken:
    return AccessToken(row[0], row[1], row[2], int(row[3]), row[4])


def _int_id(experiment_id: str) -> int | None:
    """The stored form of an experiment id; None for one that cannot exist ("07", "x")."""
    if not isinstance(experiment_id, str) or not experiment_id.isascii():
        return None
    if not experiment_id.isdigit() or len(experiment_id) > 18:
        return None
    number = int(experiment_id)
    return number if str(number) == experiment_id else None


def _sqlite_path(uri: str) -> str:
    """The absolute path of the database file (``uris.sqlite_path``: ``sqlite:///runs.db`` is
    relative to the working folder of this call, ``sqlite:////srv/runs.db`` absolute), or
    ``":memory:"``."""
    path = sqlite_path(uri)
    return path if path == ":memory:" else str(Path(path).expanduser().resolve())
