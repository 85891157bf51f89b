"""The one database connection a SQL engine shares between its threads.

``SharedConnection`` opens the connection on first use and again after it was lost or the
process forked, runs transactions on it under a lock, and tells driver failures as
``StoreError`` or ``StoreUnavailableError`` (worth retrying). Transactions nest: what a thread
asks for while its own transaction is open runs inside it.

Group commit (SQLite): a run unit that finishes while other units wait for the connection
leaves its transaction open for them, and the last of them commits for all; each joining unit
runs in a savepoint, so one that fails undoes only itself. A tracking server's threads logging
batches of several clients so share one commit instead of queueing for one each.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
from collections.abc import Callable, Iterator

from autolog.errors import AutologError, StoreError, StoreReplacedError, StoreUnavailableError
from autolog.stores.common import fork_safe_lock
from autolog.stores.sql_driver import Db, classify_unconnected

__all__ = ["SharedConnection"]

# Units committed together at most: the first of a group waits for the others' work.
_MAX_GROUP = 16


class _Group:
    """A write transaction open for the units queued behind the one that began it."""

    __slots__ = ("broken", "done", "error", "units")

    def __init__(self) -> None:
        self.units = 0  # units kept in it so far
        self.broken = False  # a savepoint could not be undone: the whole group is lost
        self.done = threading.Event()
        self.error: StoreError | None = None  # why its commit failed, told to every unit


class SharedConnection:
    """One connection for every thread of an engine, under a lock.

    Args:
        display_uri: the database's URI without its password, for messages.
        connect: opens (and migrates) a new connection.
        group_commit: let run units waiting for the connection share one commit.
    """

    def __init__(self, display_uri: str, connect: Callable[[], Db], *, group_commit: bool) -> None:
        self.display_uri = display_uri
        self._connect = connect
        self._group_commit = group_commit
        self._lock = fork_safe_lock(self)
        self.db: Db | None = None
        self._pid = os.getpid()
        self._closed = False
        self._owner: int | None = None  # the thread whose transaction is open
        self._group: _Group | None = None
        # one entry per unit waiting for the lock (deque appends and pops are atomic)
        self._queued: collections.deque[None] = collections.deque()

    # -- the connection --------------------------------------------------------------------

    def open(self) -> None:
        """Connect now, so that a bad URI or database fails at once."""
        with self._lock, self.errors("opening the store"):
            self._connection()

    def _connection(self) -> Db:
        """The open connection, (re)connecting after a lost connection or a fork."""
        if self._closed:
            raise StoreError(f"the store {self.display_uri} is closed")
        db = self.db
        if db is not None and self._pid == os.getpid() and not db.broken:
            return db
        if db is not None and self._pid == os.getpid():
            with contextlib.suppress(Exception):
                db.close()
        # After a fork the parent's connection is left alone: closing it here would disturb
        # the parent, and using it would corrupt both processes' view of the database.
        self.db = None
        self.db = self._connect()
        self._pid = os.getpid()
        return self.db

    def _drop(self, db: Db) -> None:
        """Forget a connection that is no longer usable; the next call opens a new one."""
        with contextlib.suppress(Exception):
            db.close()
        if self.db is db:
            self.db = None

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
                f"{self.display_uri}; a new database is used from now on"
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
    def errors(self, what: str) -> Iterator[None]:
        """Turn driver exceptions into ``StoreError`` / ``StoreUnavailableError``."""
        try:
            yield
        except AutologError:
            raise
        except (UnicodeEncodeError, OverflowError) as exc:
            # a text or number no column holds (the service checks them before they get here)
            raise StoreError(f"{what}: {exc}") from exc
        except Exception as exc:
            db = self.db
            transient = db.transient(exc) if db is not None else classify_unconnected(exc)
            if transient is None:
                raise
            if db is not None and db.broken:
                self._drop(db)
            kind = StoreUnavailableError if transient else StoreError
            raise kind(f"{what} failed on {self.display_uri}: {exc}") from exc

    def _take(self, *, queued: bool = False) -> None:
        """Acquire the lock; in a forked child, forget the parent's transactions (and its
        queue, ours included) first. ``queued``: the caller counted itself in the queue."""
        self._lock.acquire()
        if self._pid != os.getpid():
            self._group, self._owner = None, None
            self._queued.clear()
        elif queued:
            self._queued.pop()

    # -- transactions ----------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self, what: str, *, write: bool) -> Iterator[Db]:
        """A transaction: what it reads is one snapshot; what it writes is kept, or nothing.
        Inside this thread's open transaction: that transaction."""
        if self._owner == threading.get_ident():
            assert self.db is not None
            with self.errors(what):
                yield self.db
            return
        self._take()
        try:
            self._finish_group()
            with self.errors(what):
                db = self._begin(write=write)
                self._owner = threading.get_ident()
                try:
                    yield db
                    db.execute("COMMIT")
                except BaseException:
                    db.rollback_quietly()
                    raise
                finally:
                    self._owner = None
        finally:
            self._lock.release()

    @contextlib.contextmanager
    def unit(self, what: str) -> Iterator[Db]:
        """A write transaction for one run's unit of work, kept whole or not at all; with
        group commit, shared with the units queued behind it."""
        if not self._group_commit or self._owner == threading.get_ident():
            with self.transaction(what, write=True) as db:
                yield db
            return
        self._queued.append(None)
        self._take(queued=True)
        group: _Group | None = None
        kept = False
        try:
            with self.errors(what):
                group, db = self._join_group()
            self._owner = threading.get_ident()
            try:
                with self.errors(what), self._savepoint(db, group):
                    yield db
                kept = True
            finally:
                self._owner = None
        finally:
            waiting = self._leave_group(group, kept)
        if waiting is not None:
            waiting.done.wait()
            if waiting.error is not None:
                raise type(waiting.error)(str(waiting.error)) from waiting.error

    def _join_group(self) -> tuple[_Group, Db]:
        """The open group, or a new one with its write transaction begun."""
        if self._group is None:
            db = self._begin(write=True)
            self._group = _Group()
            return self._group, db
        assert self.db is not None
        return self._group, self.db

    @contextlib.contextmanager
    def _savepoint(self, db: Db, group: _Group) -> Iterator[None]:
        """The unit's writes, undone alone if it fails. The group's first unit needs no
        savepoint: undoing it is undoing the transaction."""
        if not group.units:
            try:
                yield
            except BaseException:
                group.broken = True  # nothing kept: roll back, the next unit begins anew
                raise
            return
        try:
            db.execute("SAVEPOINT unit")
        except BaseException:
            group.broken = True
            raise
        try:
            yield
        except BaseException:
            try:
                db.execute("ROLLBACK TO SAVEPOINT unit")
                db.execute("RELEASE SAVEPOINT unit")
            except Exception:
                group.broken = True
            raise
        try:
            db.execute("RELEASE SAVEPOINT unit")
        except BaseException:
            group.broken = True
            raise

    def _leave_group(self, group: _Group | None, kept: bool) -> _Group | None:
        """Leave the group open for a queued unit, or end it; release the lock. Returns the
        group to wait for when this unit's writes wait for another unit's commit."""
        try:
            if group is None:
                return None
            if kept:
                group.units += 1
            if group.broken:
                self._abort_group(group)
                return None
            if self._queued and group.units < _MAX_GROUP:
                return group if kept else None
            error = self._finish_group()
            if kept and error is not None:
                raise error
            return None
        finally:
            self._lock.release()

    def _finish_group(self) -> StoreError | None:
        """Commit the open group, if any, and tell its units; the commit's failure if any."""
        group = self._group
        if group is None:
            return None
        self._group = None
        db = self.db
        assert db is not None
        try:
            with self.errors(f"committing {group.units} units of work"):
                db.execute("COMMIT")
        except StoreError as exc:
            db.rollback_quietly()
            group.error = exc
        group.done.set()
        return group.error

    def _abort_group(self, group: _Group) -> None:
        """Roll back a group that lost a unit's savepoint (or had only a failed unit)."""
        self._group = None
        if self.db is not None:
            self.db.rollback_quietly()
        if group.units:
            group.error = StoreUnavailableError(
                f"a transaction on {self.display_uri} failed: {group.units} units of work in it"
                " were not stored"
            )
        group.done.set()

    def close(self) -> None:
        self._take()
        try:
            if self._pid == os.getpid():
                self._finish_group()
            self._closed = True
            db, self.db = self.db, None
            if db is not None and self._pid == os.getpid():
                with contextlib.suppress(Exception):
                    db.close()
        finally:
            self._lock.release()
