"""Database drivers behind the SQL engine: one small interface over sqlite3 and psycopg, and
nothing else (the connection an engine shares between threads is ``sql_connection``'s).

A ``Db`` is a connection in autocommit mode spoken to with ``?`` placeholders; transactions are
opened and closed by ``sql_connection`` (``begin_read`` / ``begin_write``), which asks the
driver whether a failure is worth retrying (``transient``). psycopg is imported only by whoever
opens a PostgreSQL URI and passes the module in.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from autolog.stores.sql_schema import Dialect

if TYPE_CHECKING:
    import psycopg

__all__ = ["Cursor", "Db", "PgDb", "SqliteDb", "classify_unconnected"]

# How long a write waits for another process's write transaction before giving up.
_BUSY_TIMEOUT_S = 30.0
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


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Db:
    """A driver connection in autocommit mode, spoken to with ``?`` placeholders."""

    dialect: Dialect
    #: opens a transaction whose queries all see one snapshot of the database
    begin_read: str
    #: opens a transaction that holds the write lock from its first statement
    begin_write: str

    def execute(self, sql: str, params: Sequence[object] = (), *, binary: bool = False) -> Cursor:
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

    def moved(self) -> str | None:
        """Why the database this connection writes to is no longer the one its URI names (a
        file deleted or replaced), or None."""
        return None

    def rollback_quietly(self) -> None:
        # Called while another exception propagates: it must not replace that exception.
        with contextlib.suppress(Exception):
            self.execute("ROLLBACK")


class SqliteDb(Db):
    dialect: Dialect = "sqlite"
    begin_read = "BEGIN"  # the snapshot is taken by the first SELECT and kept until COMMIT
    # A deferred transaction that later writes fails at once with SQLITE_BUSY in WAL mode when
    # another connection wrote meanwhile; IMMEDIATE waits for the lock (busy_timeout) up front.
    begin_write = "BEGIN IMMEDIATE"

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._raw = sqlite3.connect(
            path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        self._identity = _identity(path)
        self._cursor = self._raw.cursor()
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

    def execute(self, sql: str, params: Sequence[object] = (), *, binary: bool = False) -> Cursor:
        # One cursor for the connection (its caller reads the answer before the next
        # statement, under the connection's lock): ``Connection.execute`` makes a cursor per
        # statement and keeps a weak reference to each, pruned only every 200 cursors.
        return self._cursor.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        self._cursor.executemany(sql, rows)

    @property
    def broken(self) -> bool:
        return False

    def moved(self) -> str | None:
        if self._identity is None:
            return None  # in memory
        now = _identity(self._path)
        if now is None:
            return f"the database file {self._path} was deleted while in use"
        if now != self._identity:
            return f"the database file {self._path} was replaced while in use"
        return None

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


class PgDb(Db):
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

    def execute(self, sql: str, params: Sequence[object] = (), *, binary: bool = False) -> Cursor:
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


def _identity(path: str) -> tuple[int, int] | None:
    """Which file ``path`` is (device, inode); None where there is none (or no file: memory)."""
    if path == ":memory:":
        return None
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


def classify_unconnected(exc: BaseException) -> bool | None:
    # Connecting failed before a Db existed: sqlite3 or psycopg raised while opening.
    if isinstance(exc, sqlite3.Error):
        return isinstance(exc, sqlite3.OperationalError)
    psycopg_module = sys.modules.get("psycopg")
    if psycopg_module is not None and isinstance(exc, psycopg_module.Error):
        return isinstance(exc, psycopg_module.OperationalError)
    return None
