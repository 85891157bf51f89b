"""A tracking store in plain files under one directory, to browse with ``ls``, ``cat`` and ``grep``.

Layout under the root directory of the tracking URI::

    .names/<name>                       experiment name -> id, claimed once (hard link)
    <experiment_id>/experiment.json     0, 1, 2, ... in creation order
    <experiment_id>/<run_id>/
        run.json                        run info; written last, the run exists once it does
        params/<key>                    one file per param, holding its value
        tags/<key>                      one file per tag, holding its value
        metrics/<key>                   history, one line per value (see below)
        latest.json                     cache: latest value of each metric and the history
                                        size it covers, so get_run need not read histories
        artifact_hashes.json            {artifact path: SHA-256}
        artifacts/                      not ours: where the client puts the run's artifacts
    .registry/<model>/versions/<n>.json model version n, claimed once (hard link)
    .registry/<model>/aliases/<alias>.json

Keys, names and aliases become file names through ``_encode``: ``[a-z0-9_.-]`` stay as they
are, an upper-case letter ``X`` is written ``^x`` (so that keys differing only in case stay
apart on case-insensitive file systems), any other byte of the UTF-8 text is ``%XX``. A key's
``/`` separates folders, and folders end in ``.d`` (``train/loss`` is ``train.d/loss``), so the
keys ``a`` and ``a/b`` can both exist. A segment whose encoding would be too long for a file
name is stored under ``~<sha256>``, with its text in a hidden file ``.~<sha256>`` beside it.

A metric line is ``<timestamp> <step> <repr(value)> <crc32>\\n``: the CRC-32 (8 hex digits) of
the text before it lets readers drop a line torn by a crash. Every other file is replaced
atomically (temporary file, fsync, rename), so readers never see half of one; names starting
with ``.`` are temporary or hidden files and never data.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import operator
import os
import secrets
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, ParamSpec, TypeVar

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
    InvalidInputError,
    InvalidValueError,
    NotFoundError,
    ParamCollisionError,
    StoreError,
    StoreUnavailableError,
)
from autolog.search import Comparison, OrderBy, matches, sort_runs
from autolog.stores.base import fork_safe_lock, local_path

# The prefix rule for artifact paths must be the reference store's, character for character.
from autolog.stores.memory import _under, is_newer

__all__ = ["FileStore"]

_P = ParamSpec("_P")
_T = TypeVar("_T")

_EXPERIMENT = "experiment.json"
_PENDING = ".experiment.json.pending"
_RUN = "run.json"
_LATEST = "latest.json"
_HASHES = "artifact_hashes.json"
_NAMES = ".names"
_REGISTRY = ".registry"

# File names stay well under the usual 255-byte limit, leaving room for ".d" and ".json".
_MAX_NAME = 200
_LITERAL = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_-.")
_HEX = frozenset("0123456789ABCDEF")
# Device names that Windows refuses as file names, whatever the extension.
_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"] + [f"{p}{i}" for p in ("com", "lpt") for i in range(1, 10)]
)
_RUN_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_MAX_RUN_ID = 128

_O_BINARY: int = getattr(os, "O_BINARY", 0)  # Windows would otherwise translate newlines
_fdatasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


def _errnos(names: str) -> frozenset[int]:
    return frozenset(getattr(errno, name) for name in names.split() if hasattr(errno, name))


# Failures that may go away on a retry: full disk, I/O trouble, permissions being fixed.
_TRANSIENT = _errnos(
    "ENOSPC EDQUOT EIO EACCES EPERM EROFS EAGAIN EBUSY EINTR EMFILE ENFILE ENOMEM ENOLCK "
    "ESTALE ETIMEDOUT"
)
# os.link fails with these where the file system has no hard links (FAT, some network mounts).
_NO_HARD_LINKS = _errnos("EPERM EXDEV EMLINK ENOTSUP EOPNOTSUPP ENOSYS EINVAL")


def _guarded(method: Callable[_P, _T]) -> Callable[_P, _T]:
    """Turn file-system failures into ``StoreError``s; autolog's own errors pass through."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return method(*args, **kwargs)
        except AutologError:
            raise
        except OSError as exc:
            raise _store_error(exc) from exc
        except ValueError as exc:  # undecodable text in a file someone edited
            raise StoreError(f"file store: unreadable data ({exc})") from exc

    return wrapper


def _store_error(exc: OSError) -> StoreError:
    path = exc.filename if exc.filename is not None else "?"
    reason = exc.strerror or str(exc)
    kind = StoreUnavailableError if exc.errno in _TRANSIENT else StoreError
    return kind(f"file store: {reason}: {path}")


class FileStore:
    """Tracking data in files under one directory, shared safely by several processes.

    Experiments and model versions are created atomically across processes; each run is
    written by one process at a time while any number of processes read it.

    Example::

        store = FileStore("file:///home/me/runs")
        experiment = store.get_or_create_experiment("Default")
    """

    def __init__(self, uri: str) -> None:
        root = local_path(uri).expanduser()
        try:
            root = root.resolve()
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _store_error(exc) from exc
        self._root = root
        self.artifact_root = root.as_uri()
        # Orders this process's writes; other processes are kept apart by the file system.
        self._lock = fork_safe_lock(self)
        self._run_dirs: dict[str, Path] = {}  # runs never move, so where one lives is cached

    # ---------------------------------------------------------------------------- experiments

    @_guarded
    def get_or_create_experiment(self, name: str) -> Experiment:
        """The experiment called ``name``, created atomically (also across processes)."""
        found = self.get_experiment_by_name(name)
        if found is not None:
            return found
        with self._lock:
            return self._create_experiment(name)

    def _create_experiment(self, name: str) -> Experiment:
        # The experiment exists once the name file points at its folder. Until then the record
        # waits in a hidden pending file, so a process that loses the race for the name leaves
        # nothing that looks like an experiment.
        names = self._root / _NAMES
        _ensure_dir(names)
        experiment_id = self._allocate_experiment_id()
        folder = self._root / experiment_id
        experiment = Experiment(
            experiment_id, name, f"{self.artifact_root}/{experiment_id}", _now()
        )
        pending = folder / _PENDING
        try:
            _write_atomic(pending, _dump(_experiment_json(experiment)))
            claimed = _publish_exclusive(names / _encode(name), experiment_id.encode())
        except BaseException:
            _discard_experiment_folder(folder)
            raise
        if not claimed:
            _discard_experiment_folder(folder)
            found = self.get_experiment_by_name(name)
            if found is None:
                raise StoreError(f"file store: {names / _encode(name)} vanished while read")
            return found
        try:
            os.replace(pending, folder / _EXPERIMENT)
        except FileNotFoundError:
            # A reader saw the claim first and finished the move for us.
            if not (folder / _EXPERIMENT).exists():
                raise
        _fsync_dir(folder)
        return experiment

    def _allocate_experiment_id(self) -> str:
        candidate = max((int(n) for n in os.listdir(self._root) if _is_id(n)), default=-1) + 1
        while True:
            try:
                os.mkdir(self._root / str(candidate))
            except FileExistsError:
                candidate += 1  # another process took it
                continue
            _fsync_dir(self._root)
            return str(candidate)

    @_guarded
    def get_experiment(self, experiment_id: str) -> Experiment:
        experiment = self._load_experiment(experiment_id) if _is_id(experiment_id) else None
        if experiment is None:
            raise NotFoundError("experiment", str(experiment_id))
        return experiment

    @_guarded
    def get_experiment_by_name(self, name: str) -> Experiment | None:
        claim = self._root / _NAMES / _encode(name)
        experiment_id = _read_claim(claim)
        if experiment_id is None:
            return None
        experiment = self._load_experiment(experiment_id)
        if experiment is None or experiment.name != name:
            raise StoreError(
                f"file store: {claim} names experiment {experiment_id}, "
                "which is missing or called otherwise"
            )
        return experiment

    @_guarded
    def list_experiments(self) -> list[Experiment]:
        found = (self._load_experiment(i) for i in self._experiment_ids())
        return [e for e in found if e is not None]

    def _experiment_ids(self) -> list[str]:
        return sorted((n for n in os.listdir(self._root) if _is_id(n)), key=int)

    def _load_experiment(self, experiment_id: str) -> Experiment | None:
        folder = self._root / experiment_id
        for _ in range(2):
            data = _read_json(folder / _EXPERIMENT)
            if data is not None:
                return _experiment_from(data, folder / _EXPERIMENT)
            pending = _read_json(folder / _PENDING)
            if pending is None:
                continue  # the creator may have just renamed it: look once more
            experiment = _experiment_from(pending, folder / _PENDING)
            if _read_claim(self._root / _NAMES / _encode(experiment.name)) != experiment_id:
                return None  # a loser of a creation race, or a creation still under way
            # The claim commits the experiment: finish the move its creator did not get to.
            # Done meanwhile by the creator, or a read-only mount: either way the data is right.
            with contextlib.suppress(OSError):
                os.replace(folder / _PENDING, folder / _EXPERIMENT)
            return experiment
        return None

    # ----------------------------------------------------------------------------------- runs

    @_guarded
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
        if not _is_run_id(run_id):
            raise InvalidInputError(
                f"run id {run_id!r} is not usable as a folder name: "
                f"use up to {_MAX_RUN_ID} letters, digits, '_' and '-'"
            )
        with self._lock:
            self.get_experiment(experiment_id)
            if self._find_run(run_id) is not None:
                raise InvalidInputError(f"run {run_id} already exists")
            folder = self._root / experiment_id / run_id
            info = RunInfo(
                run_id,
                experiment_id,
                run_name,
                RunStatus.RUNNING,
                start_time,
                None,
                artifact_uri,
                parent_run_id,
            )
            # The folder may exist already: the client writes artifacts under it while this
            # creation waits in its queue. The run exists once run.json does, so readers never
            # see it without its tags, and a failed attempt does not block a retry.
            _ensure_dir(folder)
            _write_files([(_prepare_key_path(folder / "tags", k), v) for k, v in tags.items()])
            if not _publish_exclusive(folder / _RUN, _dump(_info_json(info))):
                raise InvalidInputError(f"run {run_id} already exists")
            self._run_dirs[run_id] = folder

    def _find_run(self, run_id: str) -> Path | None:
        if not _is_run_id(run_id):
            return None
        cached = self._run_dirs.get(run_id)
        if cached is not None and (cached / _RUN).exists():
            return cached
        for experiment_id in self._experiment_ids():
            folder = self._root / experiment_id / run_id
            if (folder / _RUN).exists():
                self._run_dirs[run_id] = folder
                return folder
        return None

    def _run_dir(self, run_id: str) -> Path:
        folder = self._find_run(run_id)
        if folder is None:
            raise NotFoundError("run", str(run_id))
        return folder

    @_guarded
    def update_run(self, run_id: str, status: RunStatus, end_time: int | None) -> None:
        try:
            new_status = RunStatus(status)
        except ValueError:
            raise InvalidInputError(f"unknown run status {status!r}") from None
        with self._lock:
            folder = self._run_dir(run_id)
            record = _info_json(_load_info(folder))
            record.update(status=new_status.value, end_time=end_time)
            _write_atomic(folder / _RUN, _dump(record), sync_dir=True)

    @_guarded
    def get_run(self, run_id: str) -> Run:
        return _load_run(self._run_dir(run_id))

    @_guarded
    def search_runs(
        self,
        experiment_ids: Sequence[str] | None,
        filters: Sequence[Comparison],
        order_by: Sequence[OrderBy],
        max_results: int,
    ) -> list[Run]:
        """Runs of the experiments (None: all) matching every filter, in order, newest first."""
        if experiment_ids is None:
            wanted = self._experiment_ids()
        else:
            wanted = [i for i in dict.fromkeys(experiment_ids) if _is_id(i)]
        runs = []
        for experiment_id in wanted:
            for folder in _run_folders(self._root / experiment_id):
                try:
                    run = _load_run(folder)
                except NotFoundError:
                    continue  # a folder that is not a run
                self._run_dirs.setdefault(run.info.run_id, folder)
                if matches(run, filters):
                    runs.append(run)
        return sort_runs(runs, order_by)[:max_results]

    # ------------------------------------------------------------------- params, tags, metrics

    @_guarded
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Store everything or nothing. Re-logging a param with its stored value is a no-op."""
        lines = _metric_lines(metrics)  # bad values fail here, before anything is written
        with self._lock:
            folder = self._run_dir(run_id)
            fresh: dict[str, str] = {}
            for key, value in params:
                stored = _read_text(_key_path(folder / "params", key))
                if stored is None:
                    fresh[key] = value
                elif stored != value:
                    raise ParamCollisionError(run_id, key, stored, value)
            # Params and tags first: writing them again is harmless, so if the metrics then fail
            # (and are rolled back) a retry of the whole batch stores each value once.
            writes = [(_prepare_key_path(folder / "params", k), v) for k, v in fresh.items()]
            writes += [(_prepare_key_path(folder / "tags", k), v) for k, v in tags]
            _write_files(writes)
            if lines:
                _append_metrics(folder, lines)

    @_guarded
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every value of ``key``, ordered by step, equal steps in the order they were logged."""
        path = _key_path(self._run_dir(run_id) / "metrics", key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        history = [Metric(key, v, s, t) for t, s, v in _parse_lines(data)]
        history.sort(key=lambda m: m.step)  # stable: equal steps keep their logging order
        return history

    # ---------------------------------------------------------------------- artifact integrity

    @_guarded
    def record_artifact_hashes(self, run_id: str, hashes: Mapping[str, str]) -> None:
        """Record SHA-256 digests of artifact files (paths relative to the run's root)."""
        with self._lock:
            path = self._run_dir(run_id) / _HASHES
            recorded = _read_json(path) or {}
            recorded.update(hashes)
            _write_atomic(path, _dump(recorded), sync_dir=True)

    @_guarded
    def get_artifact_hashes(self, run_id: str, prefix: str = "") -> dict[str, str]:
        """The recorded digests of files at or under ``prefix``."""
        folder = self._find_run(run_id)
        # Like the reference store: a run with nothing recorded, or no run, has no digests.
        recorded = _read_json(folder / _HASHES) if folder is not None else None
        return {
            path: digest
            for path, digest in (recorded or {}).items()
            if isinstance(digest, str) and _under(path, prefix)
        }

    # --------------------------------------------------------------------------- model registry

    def _model_dir(self, name: str) -> Path:
        return self._root / _REGISTRY / _encode(name)

    @_guarded
    def create_model_version(self, name: str, source: str, run_id: str | None) -> ModelVersion:
        """Register ``source`` as the next version of model ``name`` (created if new)."""
        with self._lock:
            folder = self._model_dir(name) / "versions"
            _ensure_dir(folder)
            number = max(_version_numbers(folder), default=0) + 1
            while True:
                version = ModelVersion(name, number, source, run_id, _now())
                record = {
                    "name": name,
                    "version": number,
                    "source": source,
                    "run_id": run_id,
                    "creation_time": version.creation_time,
                }
                if _publish_exclusive(folder / f"{number}.json", _dump(record)):
                    return version
                number += 1  # another process registered this number first

    @_guarded
    def get_model_version(self, name: str, version: int) -> ModelVersion:
        try:
            number = operator.index(version)
        except TypeError:
            raise NotFoundError("model version", f"{name}/{version}") from None
        folder = self._model_dir(name)
        path = folder / "versions" / f"{number}.json"
        data = _read_json(path, settle=True) if number >= 1 else None
        if data is None:
            raise NotFoundError("model version", f"{name}/{version}")
        aliases = tuple(sorted(a for a, v in _aliases(folder / "aliases") if v == number))
        try:
            return ModelVersion(
                str(data["name"]),
                int(data["version"]),
                str(data["source"]),
                None if data["run_id"] is None else str(data["run_id"]),
                int(data["creation_time"]),
                aliases,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"file store: {path} is malformed ({exc!r})") from exc

    @_guarded
    def set_model_alias(self, name: str, alias: str, version: int) -> None:
        with self._lock:
            number = self.get_model_version(name, version).version
            folder = self._model_dir(name) / "aliases"
            _ensure_dir(folder)
            record = {"alias": alias, "version": number}
            _write_atomic(folder / f"{_encode(alias)}.json", _dump(record), sync_dir=True)

    @_guarded
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        path = self._model_dir(name) / "aliases" / f"{_encode(alias)}.json"
        data = _read_json(path)
        if data is None or data.get("alias") != alias or not isinstance(data.get("version"), int):
            raise NotFoundError("model alias", f"{name}@{alias}")
        return self.get_model_version(name, data["version"])

    def close(self) -> None:
        """Nothing to release: no file stays open between calls."""


# ------------------------------------------------------------------------------- file names


def _encode(text: str) -> str:
    """A file name for ``text``, unique even where the file system ignores case."""
    parts = []
    for byte in text.encode("utf-8", "surrogatepass"):
        if byte in _LITERAL:
            parts.append(chr(byte))
        elif 0x41 <= byte <= 0x5A:  # A-Z
            parts.append("^" + chr(byte + 0x20))
        else:
            parts.append(f"%{byte:02X}")
    if not parts:
        return "%%"
    # No leading dot (hidden, '.', '..'), no trailing dot (Windows drops it), never ending in
    # ".d", which marks a folder.
    if parts[0] == ".":
        parts[0] = "%2E"
    if parts[-1] == ".":
        parts[-1] = "%2E"
    if len(parts) >= 2 and parts[-2:] == [".", "d"]:
        parts[-2] = "%2E"
    if "".join(parts).split(".")[0] in _RESERVED:
        parts[0] = f"%{ord(parts[0]):02X}"
    name = "".join(parts)
    if len(name) > _MAX_NAME:
        return "~" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return name


def _decode(name: str) -> str | None:
    """The text ``_encode`` made ``name`` from; None for names it cannot have made."""
    if name == "%%":
        return ""
    out = bytearray()
    i = 0
    while i < len(name):
        char = name[i]
        if char == "%":
            digits = name[i + 1 : i + 3]
            if len(digits) != 2 or not _HEX.issuperset(digits):
                return None
            out.append(int(digits, 16))
            i += 3
        elif char == "^":
            letter = name[i + 1 : i + 2]
            if not ("a" <= letter <= "z"):
                return None
            out.append(ord(letter) - 0x20)
            i += 2
        elif ord(char) < 128 and ord(char) in _LITERAL:
            out.append(ord(char))
            i += 1
        else:
            return None
    try:
        return out.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None


def _key_path(base: Path, key: str) -> Path:
    """Where the value or history of ``key`` lives under ``base``."""
    segments = key.split("/")
    folders = [_encode(s) + ".d" for s in segments[:-1]]
    return base.joinpath(*folders, _encode(segments[-1]))


def _prepare_key_path(base: Path, key: str) -> Path:
    """``_key_path``, with its folders created and the text of hashed segments saved."""
    path = _key_path(base, key)
    _ensure_dir(path.parent)
    folder = base
    for segment, name in zip(key.split("/"), path.relative_to(base).parts, strict=True):
        if name.startswith("~"):
            plain = name.removesuffix(".d")
            side = folder / f".{plain}"
            if not side.exists():
                _write_atomic(side, segment.encode("utf-8", "surrogatepass"))
        folder = folder / name
    return path


def _walk_keys(base: Path) -> dict[str, str]:
    """Every key stored under ``base`` and its file."""
    # Plain strings rather than Path objects: searches walk every run, and pathlib's parsing
    # would cost more than the file system calls.
    found: dict[str, str] = {}

    def visit(folder: str, prefix: str) -> None:
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue  # temporary files and the text of hashed names
            is_dir = entry.is_dir(follow_symlinks=False)
            if is_dir:
                if not name.endswith(".d"):
                    continue
                name = name[:-2]
            hashed = name.startswith("~")
            segment = _read_text(os.path.join(folder, f".{name}")) if hashed else _decode(name)
            if segment is None:
                continue  # not written by this store
            if is_dir:
                visit(entry.path, f"{prefix}{segment}/")
            else:
                found[prefix + segment] = entry.path

    visit(str(base), "")
    return found


# ----------------------------------------------------------------------------- file writing


@contextlib.contextmanager
def _naming(path: str | Path) -> Iterator[None]:
    """Give errors of calls on a file descriptor the path they concern, for the message."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(path)
        raise


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
    try:
        with _naming(path):
            _write_all(fd, data)
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(path)
        raise
    os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _temp_beside(path: Path) -> Path:
    return path.with_name(f".tmp-{secrets.token_hex(8)}")


def _write_atomic(path: Path, data: bytes, *, sync_dir: bool = False) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never half."""
    _write_files([(path, data)], sync_dirs=sync_dir)


def _write_files(items: Sequence[tuple[Path, str | bytes]], *, sync_dirs: bool = True) -> None:
    """Replace several files atomically each, syncing every folder once at the end."""
    temps: list[tuple[Path, Path]] = []
    moved = 0
    try:
        for path, value in items:
            data = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
            temp = _temp_beside(path)
            _write_new(temp, data)
            temps.append((temp, path))
        for temp, path in temps:
            os.replace(temp, path)
            moved += 1
    finally:
        for temp, _ in temps[moved:]:
            _unlink_quietly(temp)
    if sync_dirs:
        for folder in dict.fromkeys(path.parent for path, _ in items):
            _fsync_dir(folder)


def _publish_exclusive(path: Path, data: bytes) -> bool:
    """Create ``path`` holding ``data`` unless it exists; True if this call created it.

    A hard link makes the file appear complete, in one step, only if the name is free.
    """
    temp = _temp_beside(path)
    _write_new(temp, data)
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        return _create_exclusive(path, data)
    finally:
        _unlink_quietly(temp)
    _fsync_dir(path.parent)
    return True


def _create_exclusive(path: Path, data: bytes) -> bool:
    # Without hard links the file exists, empty, for a moment before it holds its data;
    # readers wait that moment out (see _read_claim and _read_json's settle).
    try:
        _write_new(path, data)
    except FileExistsError:
        return False
    _fsync_dir(path.parent)
    return True


def _ensure_dir(path: Path) -> None:
    if path.is_dir():
        return
    _ensure_dir(path.parent)
    try:
        os.mkdir(path)
    except FileExistsError:
        return  # made meanwhile by another thread or process
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    """Make a rename or new entry in ``path`` durable (POSIX wants the folder synced)."""
    if os.name == "nt":
        return  # folders cannot be opened for syncing there; NTFS journals names itself
    fd = os.open(path, os.O_RDONLY)
    try:
        with _naming(path):
            os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise  # some file systems cannot sync folders at all: nothing more to do there
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _discard_experiment_folder(folder: Path) -> None:
    _unlink_quietly(folder / _PENDING)
    # If it stays, it is never taken for an experiment: it holds no experiment.json.
    with contextlib.suppress(OSError):
        os.rmdir(folder)


# ----------------------------------------------------------------------------- file reading


def _read_text(path: str | Path) -> str | None:
    try:
        with open(path, "rb") as stream:
            return stream.read().decode("utf-8", "surrogatepass")
    except FileNotFoundError:
        return None


def _read_json(path: Path, *, settle: bool = False) -> dict[str, Any] | None:
    """The JSON object in ``path``, None if there is no file.

    ``settle`` waits out a file that is being created without hard links (briefly empty).
    """
    for attempt in range(100 if settle else 1):
        text = _read_text(path)
        if text is None:
            return None
        try:
            value = json.loads(text)
        except ValueError as exc:
            if settle and attempt < 99:
                time.sleep(0.01)
                continue
            raise StoreError(f"file store: {path} is not valid JSON ({exc})") from exc
        if not isinstance(value, dict):
            raise StoreError(f"file store: {path} does not hold a JSON object")
        return value
    return None  # pragma: no cover - the loop always returns or raises


def _read_claim(path: Path) -> str | None:
    """The experiment id a name file holds, None if the name is free."""
    for _ in range(100):
        text = _read_text(path)
        if text is None:
            return None
        if _is_id(text.strip()):
            return text.strip()
        time.sleep(0.01)  # created without hard links and not yet written (see above)
    raise StoreError(f"file store: {path} does not hold an experiment id")


def _dump(value: Mapping[str, Any]) -> bytes:
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    return (text + "\n").encode("utf-8", "surrogatepass")


def _experiment_from(data: Mapping[str, Any], path: Path) -> Experiment:
    try:
        return Experiment(
            str(data["experiment_id"]),
            str(data["name"]),
            str(data["artifact_location"]),
            int(data["creation_time"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"file store: {path} is malformed ({exc!r})") from exc


def _experiment_json(experiment: Experiment) -> dict[str, Any]:
    return {
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
        "artifact_location": experiment.artifact_location,
        "creation_time": experiment.creation_time,
    }


def _info_json(info: RunInfo) -> dict[str, Any]:
    return {
        "run_id": info.run_id,
        "experiment_id": info.experiment_id,
        "run_name": info.run_name,
        "status": RunStatus(info.status).value,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "artifact_uri": info.artifact_uri,
        "parent_run_id": info.parent_run_id,
    }


def _load_info(folder: Path) -> RunInfo:
    path = folder / _RUN
    data = _read_json(path, settle=True)
    if data is None:
        raise NotFoundError("run", folder.name)
    try:
        end_time = data["end_time"]
        parent = data["parent_run_id"]
        return RunInfo(
            str(data["run_id"]),
            str(data["experiment_id"]),
            str(data["run_name"]),
            RunStatus(data["status"]),
            int(data["start_time"]),
            None if end_time is None else int(end_time),
            str(data["artifact_uri"]),
            None if parent is None else str(parent),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"file store: {path} is malformed ({exc!r})") from exc


def _load_run(folder: Path) -> Run:
    info = _load_info(folder)
    params = _read_values(folder / "params")
    tags = _read_values(folder / "tags")
    return Run(info, RunData(params, _latest_values(folder), tags))


def _read_values(base: Path) -> dict[str, str]:
    values = {}
    for key, path in sorted(_walk_keys(base).items()):
        text = _read_text(path)
        if text is not None:
            values[key] = text
    return values


def _run_folders(experiment_folder: Path) -> Iterator[Path]:
    try:
        entries = list(os.scandir(experiment_folder))
    except FileNotFoundError:
        return
    for entry in entries:
        if _is_run_id(entry.name) and entry.is_dir(follow_symlinks=False):
            yield Path(entry.path)


def _version_numbers(folder: Path) -> Iterator[int]:
    for name in os.listdir(folder):
        stem, dot, suffix = name.partition(".")
        if dot and suffix == "json" and _is_id(stem):
            yield int(stem)


def _aliases(folder: Path) -> Iterator[tuple[str, int]]:
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    for name in names:
        if name.startswith(".") or not name.endswith(".json"):
            continue
        data = _read_json(folder / name)
        if data is None:
            continue  # replaced between listing and reading
        alias, version = data.get("alias"), data.get("version")
        if isinstance(alias, str) and isinstance(version, int):
            yield alias, version


# ---------------------------------------------------------------------------------- metrics


def _metric_lines(metrics: Sequence[Metric]) -> dict[str, tuple[bytes, Metric]]:
    """History lines to append per key, and the batch's latest value of each key."""
    lines: dict[str, list[bytes]] = {}
    latest: dict[str, Metric] = {}
    for metric in metrics:
        try:
            # float.__repr__ gives the shortest text that reads back as the same float, also
            # for numpy scalars whose own repr would be "np.float64(...)".
            value = float(metric.value)
            step, timestamp = int(metric.step), int(metric.timestamp)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidValueError(metric.key, metric, f"not a metric value ({exc})") from None
        body = f"{timestamp} {step} {float.__repr__(value)}".encode("ascii")
        lines.setdefault(metric.key, []).append(b"%s %08x\n" % (body, zlib.crc32(body)))
        normal = Metric(metric.key, value, step, timestamp)
        if is_newer(normal, latest.get(metric.key)):
            latest[metric.key] = normal
    return {key: (b"".join(lines[key]), latest[key]) for key in lines}


def _parse_line(line: bytes) -> tuple[int, int, float] | None:
    body, space, crc = line.rpartition(b" ")
    if not space or len(crc) != 8:
        return None
    try:
        if int(crc, 16) != zlib.crc32(body):
            return None
        timestamp, step, value = body.split(b" ")
        return int(timestamp), int(step), float(value)
    except ValueError:
        return None


def _parse_lines(data: bytes) -> Iterator[tuple[int, int, float]]:
    """The intact lines of a history; a torn or damaged line is skipped, never guessed at."""
    lines = data.split(b"\n")
    for line in lines[:-1]:  # the last piece has no newline: empty, or cut short by a crash
        parsed = _parse_line(line)
        if parsed is not None:
            yield parsed


def _fold(data: bytes, key: str, current: Metric | None) -> Metric | None:
    for timestamp, step, value in _parse_lines(data):
        candidate = Metric(key, value, step, timestamp)
        if is_newer(candidate, current):
            current = candidate
    return current


class _Latest(NamedTuple):
    """A cached latest value (None: no intact line yet), and the history bytes it covers."""

    metric: Metric | None
    size: int


def _read_latest(path: Path) -> dict[str, _Latest]:
    # Only a cache: anything missing or odd in it is recomputed from the histories.
    try:
        data = _read_json(path) or {}
    except StoreError:
        return {}
    cache = {}
    for key, entry in data.items():
        try:
            size = int(entry["size"])
            metric = None
            if "value" in entry:
                value = float(entry["value"])
                metric = Metric(key, value, int(entry["step"]), int(entry["timestamp"]))
            cache[key] = _Latest(metric, size)
        except (KeyError, TypeError, ValueError):
            continue
    return cache


def _latest_json(cache: Mapping[str, _Latest]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, entry in cache.items():
        record: dict[str, Any] = {"size": entry.size}
        if entry.metric is not None:
            # Values as text: strict JSON has no NaN or infinities, and the text is exact.
            record["value"] = float.__repr__(entry.metric.value)
            record["step"] = entry.metric.step
            record["timestamp"] = entry.metric.timestamp
        out[key] = record
    return out


def _read_range(fd: int, start: int, end: int) -> bytes:
    os.lseek(fd, start, os.SEEK_SET)
    chunks = []
    remaining = end - start
    while remaining > 0:
        chunk = os.read(fd, remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _append_metrics(folder: Path, lines: Mapping[str, tuple[bytes, Metric]]) -> None:
    """Append each key's lines with one write, then record the new latest values.

    On any failure every history is cut back to its old size, so the batch is all or nothing
    and a retry does not duplicate points.
    """
    latest_path = folder / _LATEST
    cache = _read_latest(latest_path)
    opened: list[int] = []
    appended: list[tuple[int, int]] = []  # (fd, size before this batch)
    try:
        for key, (new_lines, batch_latest) in lines.items():
            path = _prepare_key_path(folder / "metrics", key)
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | _O_BINARY, 0o666)
            opened.append(fd)
            with _naming(path):
                size = os.fstat(fd).st_size
                appended.append((fd, size))
                entry = cache.get(key)
                if entry is None or entry.size > size:
                    entry = _Latest(None, 0)
                tail = _read_range(fd, entry.size, size) if entry.size < size else b""
                # Lines written after the cache was (by a process that then died) count too.
                current = _fold(tail, key, entry.metric)
                data = new_lines
                if size and _read_range(fd, size - 1, size) != b"\n":
                    data = b"\n" + data  # isolate a line torn by a crash: it stays one bad line
                _write_all(fd, data)
                _fdatasync(fd)
            if is_newer(batch_latest, current):
                current = batch_latest
            cache[key] = _Latest(current, size + len(data))
        # The cache need not reach the disk: a stale one is corrected from the histories.
        _write_atomic(latest_path, _dump(_latest_json(cache)))
    except BaseException:
        for fd, size in appended:
            # Should this fail too, readers drop whatever torn line it leaves.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
        raise
    finally:
        for fd in opened:
            os.close(fd)


def _latest_values(folder: Path) -> dict[str, float]:
    """The latest value of each metric: the cache, checked against each history's size."""
    cache = _read_latest(folder / _LATEST)
    values = {}
    for key, path in sorted(_walk_keys(folder / "metrics").items()):
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            continue
        entry = cache.get(key)
        if entry is None or entry.size > size:
            entry = _Latest(None, 0)
        current = entry.metric
        if entry.size < size:
            with open(path, "rb") as stream:
                stream.seek(entry.size)
                current = _fold(stream.read(size - entry.size), key, current)
        if current is not None:
            values[key] = current.value
    return values


# ------------------------------------------------------------------------------------ misc


def _is_id(text: object) -> bool:
    """A canonical experiment id or version number: ascii digits, no leading zero."""
    return (
        isinstance(text, str)
        and text.isascii()
        and text.isdigit()
        and (text == "0" or not text.startswith("0"))
    )


def _is_run_id(text: object) -> bool:
    return (
        isinstance(text, str)
        and 0 < len(text) <= _MAX_RUN_ID
        and _RUN_ID_CHARS.issuperset(text)
        and not text.startswith("-")
    )


def _now() -> int:
    return time.time_ns() // 1_000_000
