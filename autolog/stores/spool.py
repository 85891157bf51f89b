"""The spool: writes a tracking server did not take, kept in order until it answers again.

When the server does not answer (down, restarting, too slow, refusing the token), the REST
store appends each write to its spool instead of failing, and training goes on. The REST store
spools on the writer's thread, never the caller's. Each write goes to disk at once (written and
fsync'd before ``append`` returns), so a process killed while the server is away loses nothing
the writer had handed over: the store's "durable within a second" holds. Where that costs too
much, ``$AUTOLOG_SPOOL_MEMORY`` bytes (0 by default; metric values take 24 bytes each in the
binary form they are sent in) may wait in memory first, lost if the process is killed. On disk,
under the working folder::

    autolog-runs/spool/<server>/<session>/
        target.json             {"tracking_uri": ...}: where these writes go
        lock                    held (flock) by the process that writes the session
        000000000001.create_run one file per write, numbered in order; a batch of metric
        000000000002.batch      values in its binary form, with its batch id; an artifact's
        000000000003.artifact   bytes beside its description (.artifact.data)
        ...

A write leaves the spool only once the server has taken it, and every write is idempotent (a
batch carries its id, a run that exists already was created by an earlier try), so sending
the same spool twice, or a spool that was half sent when a process died, stores everything
exactly once. What is still spooled when the process exits stays on disk; ``autolog sync``
(``autolog.sync()``) sends it later.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

from autolog import lifecycle
from autolog.errors import InvalidInputError, StoreError

__all__ = [
    "MEMORY_ENV",
    "Op",
    "Spool",
    "SyncReport",
    "spool_root",
    "spooled_sessions",
]

MEMORY_ENV = "AUTOLOG_SPOOL_MEMORY"
# Nothing waits in memory: the spool keeps the writer's promise of durability within a second.
_DEFAULT_MEMORY = 0
_KINDS = ("create_run", "batch", "update_run", "hashes", "artifact", "model")
_CHUNK = 1 << 20

try:  # POSIX: a session is written by one process at a time
    import fcntl
except ImportError:  # pragma: no cover - Windows: sessions are told apart by pid only
    fcntl = None  # type: ignore[assignment]


class Op(NamedTuple):
    """One write: ``kind`` (create_run, batch, update_run, hashes, artifact, model), its run,
    ``meta`` (JSON), ``data`` (a batch's body, or a small artifact's bytes) or ``path`` (an
    artifact's bytes in a file), and how many values it carries (for progress and reports)."""

    kind: str
    run_id: str
    meta: dict[str, Any]
    data: bytes | None = None
    path: Path | None = None
    values: int = 1

    @property
    def size(self) -> int:
        return len(self.data or b"") + 256


class SyncReport(NamedTuple):
    """What ``autolog.sync()`` sent: writes, values among them, runs, and sessions left
    (written by a process that is still running)."""

    writes: int
    values: int
    runs: int
    busy_sessions: int


def spool_root(folder: str | os.PathLike[str] | None = None) -> Path:
    """``<folder>/autolog-runs/spool`` (the working folder by default)."""
    from autolog.stores.common import DEFAULT_DIR

    return Path(folder or Path.cwd()).resolve() / DEFAULT_DIR / "spool"


def _server_key(uri: str) -> str:
    return hashlib.sha256(uri.encode()).hexdigest()[:16]


def _memory_bound() -> int:
    configured = os.environ.get(MEMORY_ENV)
    if not configured:
        return _DEFAULT_MEMORY
    try:
        return max(0, int(configured))
    except ValueError:
        raise InvalidInputError(f"{MEMORY_ENV} is a number of bytes, not {configured!r}") from None


_spools: weakref.WeakSet[Spool] = weakref.WeakSet()


class Spool:
    """Writes waiting for one tracking server, oldest first, in a session folder on disk
    (in memory first up to ``$AUTOLOG_SPOOL_MEMORY`` bytes where that is set). Safe to use
    from any thread."""

    def __init__(self, target: str, root: Path | None = None, *, session: Path | None = None):
        self.target = target
        self.root = (root or spool_root()) / _server_key(target)
        self._memory: deque[Op] = deque()
        self._memory_bytes = 0
        self._bound = _memory_bound()
        self._lock = threading.RLock()
        self._session = session
        self._lock_file: IO[bytes] | None = None
        self._disk: deque[Path] = deque()  # files of the ops on disk, oldest first
        self._disk_values: deque[int] = deque()  # the values each of them carries
        self._seq = 0
        if session is not None:
            self._disk.extend(_op_files(session))
            self._disk_values.extend(int(_read_meta(path).get("values", 1)) for path in self._disk)
            if self._disk:
                self._seq = int(self._disk[-1].name.split(".", 1)[0])
        _spools.add(self)

    # the owner --------------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return len(self._memory) + len(self._disk)

    @property
    def session(self) -> Path | None:
        return self._session

    def append(self, op: Op) -> None:
        """Keep ``op`` after every write kept before it."""
        with self._lock:
            if self._disk or op.path is not None or self._memory_bytes + op.size > self._bound:
                self._spill()
                self._write(op)
            else:
                self._memory.append(op)
                self._memory_bytes += op.size

    def oldest(self) -> Op | None:
        """The write to send next (None: nothing is waiting)."""
        with self._lock:
            if self._disk:
                return _read_op(self._disk[0])
            return self._memory[0] if self._memory else None

    def done(self, op: Op) -> None:
        """The server took ``op`` (the oldest): forget it."""
        with self._lock:
            if self._disk:
                _remove_op(self._disk.popleft())
                self._disk_values.popleft()
            elif self._memory and self._memory[0] is op:
                self._memory.popleft()
                self._memory_bytes -= op.size

    def values(self) -> int:
        """How many values are waiting."""
        with self._lock:
            return sum(self._disk_values) + sum(op.values for op in self._memory)

    def runs(self) -> set[str]:
        with self._lock:
            found = {op.run_id for op in self._memory}
            return found | {str(_read_meta(path).get("run_id", "")) for path in self._disk}

    def persist(self) -> Path | None:
        """Put what waits in memory on disk (at exit); the session folder, if anything waits."""
        with self._lock:
            if self._memory:
                self._spill()
            return self._session if self._disk else None

    def release(self) -> None:
        """Let another process (``autolog sync``) take the session; remove it if empty."""
        with self._lock:
            lock_file, self._lock_file = self._lock_file, None
            session = self._session
            if session is not None and not self._disk and not self._memory:
                shutil.rmtree(session, ignore_errors=True)
                self._session = None
            if lock_file is not None:
                lock_file.close()  # drops the flock

    # disk ---------------------------------------------------------------------------------------

    def _spill(self) -> None:
        while self._memory:
            op = self._memory.popleft()
            self._memory_bytes -= op.size
            self._write(op)

    def _open_session(self) -> Path:
        if self._session is None:
            session = self.root / f"{os.getpid()}-{secrets.token_hex(4)}"
            session.mkdir(parents=True, exist_ok=False)
            (session / "target.json").write_text(json.dumps({"tracking_uri": self.target}))
            self._session = session
        if self._lock_file is None:
            self._lock_file = _lock(self._session)
            if self._lock_file is None:
                raise StoreError(f"the spool {self._session} is in use by another process")
        return self._session

    def _write(self, op: Op) -> None:
        session = self._open_session()
        self._seq += 1
        base = session / f"{self._seq:012d}.{op.kind}"
        meta = {**op.meta, "run_id": op.run_id, "values": op.values}
        if op.kind == "batch":
            assert op.data is not None
            _write_file(base, op.data)  # the body as sent: its header holds the batch id
            _write_file(base.with_name(base.name + ".meta"), json.dumps(meta).encode())
        elif op.kind == "artifact":
            data = base.with_name(base.name + ".data")
            if op.path is not None:
                _copy_file(op.path, data)
            else:
                _write_file(data, op.data or b"")
            _write_file(base, json.dumps(meta).encode())
        else:
            _write_file(base, json.dumps(meta).encode())
        self._disk.append(base)
        self._disk_values.append(op.values)

    def _after_fork(self) -> None:
        # The child's spool starts empty: the parent's writes are the parent's to send.
        self._lock = threading.RLock()
        self._memory = deque()
        self._memory_bytes = 0
        self._disk = deque()
        self._disk_values = deque()
        self._session = None
        self._lock_file = None


def _after_fork_in_child() -> None:
    for spool in list(_spools):
        spool._after_fork()


lifecycle.on_fork(lifecycle.Layer.STORE, after_in_child=_after_fork_in_child)


# ------------------------------------------------------------------------------- op files


def _op_files(session: Path) -> list[Path]:
    """The complete op files of a session, in order (a half-written one has no final name)."""
    found = []
    for path in session.iterdir():
        number, _, kind = path.name.partition(".")
        if number.isdigit() and kind in _KINDS:
            found.append(path)
    return sorted(found, key=lambda p: int(p.name.split(".", 1)[0]))


def _read_meta(path: Path) -> dict[str, Any]:
    source = path.with_name(path.name + ".meta") if path.name.endswith(".batch") else path
    try:
        meta: dict[str, Any] = json.loads(source.read_bytes())
    except (OSError, ValueError):
        return {}
    return meta


def _read_op(path: Path) -> Op:
    kind = path.name.split(".", 1)[1]
    meta = _read_meta(path)
    run_id = str(meta.get("run_id", ""))
    values = int(meta.get("values", 1))
    if kind == "batch":
        return Op(kind, run_id, meta, path.read_bytes(), None, values)
    if kind == "artifact":
        return Op(kind, run_id, meta, None, path.with_name(path.name + ".data"), values)
    return Op(kind, run_id, meta, None, None, values)


def _remove_op(path: Path) -> None:
    for suffix in ("", ".meta", ".data"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()


def _write_file(path: Path, data: bytes) -> None:
    temp = path.with_name(f".tmp-{path.name}")
    with open(temp, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temp, path)


def _copy_file(source: Path, target: Path) -> None:
    temp = target.with_name(f".tmp-{target.name}")
    with source.open("rb") as src, open(temp, "wb") as dst:
        while block := src.read(_CHUNK):
            dst.write(block)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(temp, target)


def _lock(session: Path) -> IO[bytes] | None:
    """Hold the session's lock file (None: another process holds it)."""
    handle = open(session / "lock", "ab")  # noqa: SIM115 - held open for the session's life
    if fcntl is not None:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return None
    return handle


# ----------------------------------------------------------------------------------- sync


class Session(NamedTuple):
    path: Path
    target: str


def spooled_sessions(root: Path | None = None) -> Iterator[Session]:
    """Every session folder under the spool root, with the server it was meant for."""
    base = root or spool_root()
    if not base.is_dir():
        return
    for server in sorted(base.iterdir()):
        if not server.is_dir():
            continue
        for session in sorted(server.iterdir()):
            try:
                target = json.loads((session / "target.json").read_text())["tracking_uri"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            yield Session(session, str(target))


def take_session(session: Path, target: str) -> Spool | None:
    """The spool of a session no running process holds (None: one does), locked for us."""
    handle = _lock(session)
    if handle is None:
        return None
    spool = Spool(target, session=session)
    spool._lock_file = handle
    return spool


#: called with (writes done, writes in all, values sent) as a sync goes on
Progress = Callable[[int, int, int], None]
