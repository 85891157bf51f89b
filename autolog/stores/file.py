"""A tracking store in plain files under one directory, to browse with ``ls``, ``cat`` and ``grep``.

Layout under the root directory of the tracking URI::

    .names/<name>                       experiment name -> id, claimed once (hard link)
    <experiment_id>/experiment.json     0, 1, 2, ... in creation order
    <experiment_id>/<run_id>/
        run.json                        run info; written last, the run exists once it does
        journal                         params and tags, one line per value: each batch's
                                        are appended and synced at once (see file_journal)
        params/<key>                    one file per param, holding its value } the journal,
        tags/<key>                      one file per tag, holding its value   } shown as files
        metrics/<key>                   history, one line per value (see below)
        latest.json                     cache: latest value of each metric and the history
                                        size it covers, so get_run need not read histories
        batches                         ids of the batches stored (retries store nothing twice)
        .lock                           flock'd by a process ending, writing to or registering
                                        the run (other processes wait their turn)
        artifacts/                      not ours: where the client puts the run's artifacts
    .integrity/<run_id>/                out of every artifact folder's reach:
        hashes.json                     {artifact path: SHA-256}
        models.json                     {model path: {file path: SHA-256}}, what log_model made
        registered/<model path>         the model at that path is registered: it is final
    .registry/<model>/versions/<n>.json model version n, claimed once (hard link)
    .registry/<model>/aliases/<alias>.json
    .tokens/<token_id>.json             a tracking server's access token (its secret's hash)
    .tokens/.names/<name>               token name -> token id, claimed once (hard link)

Keys, names and aliases become file names as ``file_io`` describes; metric histories and the
journal are append-only lines (``file_metrics``, ``file_journal``). Every other file is replaced
atomically, so readers never see half of one; names starting with ``.`` are temporary or hidden
files and never data.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

try:
    import fcntl
except ImportError:  # Windows: one process per store folder
    fcntl = None  # type: ignore[assignment]

from autolog.entities import (
    AccessToken,
    Experiment,
    Metric,
    MetricColumns,
    ModelVersion,
    Param,
    Run,
    RunData,
    RunInfo,
    RunPage,
    RunStatus,
    RunTag,
)
from autolog.errors import (
    AutologError,
    InvalidInputError,
    NotFoundError,
    ParamCollisionError,
    RunStateError,
    StoreError,
    StoreUnavailableError,
    warn,
)
from autolog.search import Comparison, OrderBy, matches, page_runs, sort_runs
from autolog.stores.common import (
    PRESUMED_KILLED_TAG,
    Lifecycle,
    check_batch,
    check_lifecycle,
    check_model_files,
    check_storable,
    check_unregistered,
    check_update,
    ended,
    fork_safe_lock,
    history_columns,
    in_lifecycle,
    inside_models,
    local_path,
    model_path,
    now_ms,
    refuse_deleted,
    takes_writes,
    under,
)
from autolog.stores.file_io import (
    O_BINARY,
    decode_name,
    dump_json,
    encode_name,
    ensure_dir,
    errnos,
    fdatasync,
    fsync_dir,
    key_path,
    naming,
    publish_exclusive,
    read_json,
    read_text,
    unlink_quietly,
    write_all,
    write_atomic,
)
from autolog.stores.file_journal import (
    HEADER,
    Journal,
    JournalCache,
    append,
    encode,
    run_values,
    update_view,
)
from autolog.stores.file_metrics import (
    append_metrics,
    latest_values,
    metric_lines,
    parse_lines,
)

__all__ = ["FileStore"]

_P = ParamSpec("_P")
_T = TypeVar("_T")

_EXPERIMENT = "experiment.json"
_PENDING = ".experiment.json.pending"
_RUN = "run.json"
_INTEGRITY = ".integrity"
_HASHES = "hashes.json"
_MODELS = "models.json"
_LOCK = ".lock"
_REGISTERED = "registered"
_NAMES = ".names"
_REGISTRY = ".registry"
_TOKENS = ".tokens"
_BATCHES = "batches"
# Seconds a batch spends at most on the params/ and tags/ files that show the journal: a file
# costs 0.03-0.8 ms here, and the next batch (a second's values) waits for this one to end.
_VIEW_SECONDS = 0.05

_RUN_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_MAX_RUN_ID = 128

# Failures that may go away on a retry: full disk, I/O trouble, permissions being fixed.
_TRANSIENT = errnos(
    "ENOSPC EDQUOT EIO EACCES EPERM EROFS EAGAIN EBUSY EINTR EMFILE ENFILE ENOMEM ENOLCK "
    "ESTALE ETIMEDOUT"
)


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
        # The journals of the runs this process writes: a batch's params are checked against
        # them without reading a whole journal per batch.
        self._journals = JournalCache()

    # ---------------------------------------------------------------------------- experiments

    @_guarded
    def get_or_create_experiment(self, name: str) -> Experiment:
        """The experiment called ``name``, created atomically (also across processes)."""
        check_storable("experiment name", name)
        found = self.get_experiment_by_name(name)
        if found is not None:
            return refuse_deleted(found)
        with self._lock:
            return refuse_deleted(self._create_experiment(name))

    def _create_experiment(self, name: str) -> Experiment:
        # The experiment exists once the name file points at its folder. Until then the record
        # waits in a hidden pending file, so a process that loses the race for the name leaves
        # nothing that looks like an experiment.
        names = self._root / _NAMES
        ensure_dir(names)
        experiment_id = self._allocate_experiment_id()
        folder = self._root / experiment_id
        experiment = Experiment(
            experiment_id, name, f"{self.artifact_root}/{experiment_id}", now_ms()
        )
        pending = folder / _PENDING
        try:
            write_atomic(pending, dump_json(_experiment_json(experiment)))
            claimed = publish_exclusive(names / encode_name(name), experiment_id.encode())
        except BaseException:
            _discard_experiment_folder(folder)
            raise
        if not claimed:
            _discard_experiment_folder(folder)
            found = self.get_experiment_by_name(name)
            if found is None:
                raise StoreError(f"file store: {names / encode_name(name)} vanished while read")
            return found
        try:
            os.replace(pending, folder / _EXPERIMENT)
        except FileNotFoundError:
            # A reader saw the claim first and finished the move for us.
            if not (folder / _EXPERIMENT).exists():
                raise
        fsync_dir(folder)
        return experiment

    def _allocate_experiment_id(self) -> str:
        candidate = max((int(n) for n in os.listdir(self._root) if _is_id(n)), default=-1) + 1
        while True:
            try:
                os.mkdir(self._root / str(candidate))
            except FileExistsError:
                candidate += 1  # another process took it
                continue
            fsync_dir(self._root)
            return str(candidate)

    @_guarded
    def get_experiment(self, experiment_id: str) -> Experiment:
        experiment = self._experiment_or_its_trace(experiment_id) if _is_id(experiment_id) else None
        if experiment is None:
            raise NotFoundError("experiment", str(experiment_id))
        return experiment

    def _experiment_or_its_trace(
        self, experiment_id: str, name: str | None = None
    ) -> Experiment | None:
        """The experiment; where its record is damaged, what the layout still tells of it (its
        folder, its name's claim), reported once. Nothing is rewritten: the damaged file stays
        for a person to look at."""
        try:
            return self._load_experiment(experiment_id)
        except StoreError as exc:
            _report_damage(exc)
        folder = self._root / experiment_id
        if name is None:
            name = self._claimed_name(experiment_id) or f"damaged experiment {experiment_id}"
        created = int(os.stat(folder).st_mtime * 1000)
        return Experiment(experiment_id, name, f"{self.artifact_root}/{experiment_id}", created)

    def _claimed_name(self, experiment_id: str) -> str | None:
        names = self._root / _NAMES
        try:
            entries = os.listdir(names)
        except FileNotFoundError:
            return None
        for entry in entries:
            # a hashed (very long) name cannot be read back from its file name
            if entry.startswith((".", "~")) or _read_claim(names / entry) != experiment_id:
                continue
            return decode_name(entry)
        return None

    @_guarded
    def get_experiment_by_name(self, name: str) -> Experiment | None:
        claim = self._root / _NAMES / encode_name(name)
        experiment_id = _read_claim(claim)
        if experiment_id is None:
            return None
        experiment = self._experiment_or_its_trace(experiment_id, name)
        if experiment is None or experiment.name != name:
            raise StoreError(
                f"file store: {claim} names experiment {experiment_id}, "
                "which is missing or called otherwise"
            )
        return experiment

    @_guarded
    def list_experiments(self, lifecycle: Lifecycle = "active") -> list[Experiment]:
        check_lifecycle(lifecycle)
        found = []
        for experiment_id in self._experiment_ids():
            try:
                experiment = self._load_experiment(experiment_id)
            except StoreError as exc:
                _report_damage(exc)  # skipped: the others stay listed
                continue
            if experiment is not None and (
                lifecycle == "all" or (experiment.deleted_time is None) == (lifecycle == "active")
            ):
                found.append(experiment)
        return found

    def _save_experiment(self, experiment: Experiment) -> None:
        path = self._root / experiment.experiment_id / _EXPERIMENT
        write_atomic(path, dump_json(_experiment_json(experiment)), sync_dir=True)

    @_guarded
    def rename_experiment(self, experiment_id: str, name: str) -> None:
        with self._lock:
            experiment = self.get_experiment(experiment_id)
            if name == experiment.name:
                return
            names = self._root / _NAMES
            if not publish_exclusive(names / encode_name(name), experiment_id.encode()):
                taken = _read_claim(names / encode_name(name))
                raise InvalidInputError(f"experiment name {name!r} is taken (id {taken})")
            self._save_experiment(experiment._replace(name=name))
            unlink_quietly(names / encode_name(experiment.name))

    @_guarded
    def delete_experiment(self, experiment_id: str) -> None:
        with self._lock:
            experiment = self.get_experiment(experiment_id)
            if experiment.deleted_time is None:
                self._save_experiment(experiment._replace(deleted_time=now_ms()))

    @_guarded
    def restore_experiment(self, experiment_id: str) -> None:
        with self._lock:
            experiment = self.get_experiment(experiment_id)
            if experiment.deleted_time is not None:
                self._save_experiment(experiment._replace(deleted_time=None))

    @_guarded
    def purge_experiment(self, experiment_id: str) -> None:
        with self._lock:
            experiment = self.get_experiment(experiment_id)
            if experiment.deleted_time is None:
                raise InvalidInputError(
                    f"experiment {experiment.name!r} is not deleted; delete it before purging"
                )
            folder = self._root / experiment_id
            registered = self._registered_runs()
            runs = list(_run_folders(folder))
            for run_folder in runs:
                check_unregistered(run_folder.name, registered)
            for run_folder in runs:
                self._run_dirs.pop(run_folder.name, None)
                self._journals.forget(run_folder)
                _remove_tree(run_folder)
                _remove_tree(self._integrity(run_folder.name))
            # The experiment is gone once its record is; then its name is free again.
            unlink_quietly(folder / _EXPERIMENT)
            unlink_quietly(self._root / _NAMES / encode_name(experiment.name))
            _remove_tree(folder)

    def _registered_runs(self) -> dict[str, list[ModelVersion]]:
        found: dict[str, list[ModelVersion]] = {}
        registry = self._root / _REGISTRY
        names = os.listdir(registry) if registry.is_dir() else []
        for encoded in names:
            versions = registry / encoded / "versions"
            if not versions.is_dir():
                continue
            for number in _version_numbers(versions):
                data = read_json(versions / f"{number}.json")
                if data and data.get("run_id"):
                    version = ModelVersion(
                        str(data["name"]), number, str(data["source"]), str(data["run_id"]), 0
                    )
                    found.setdefault(str(data["run_id"]), []).append(version)
        return found

    def _experiment_ids(self) -> list[str]:
        return sorted((n for n in os.listdir(self._root) if _is_id(n)), key=int)

    def _load_experiment(self, experiment_id: str) -> Experiment | None:
        folder = self._root / experiment_id
        for _ in range(2):
            data = read_json(folder / _EXPERIMENT)
            if data is not None:
                return _experiment_from(data, folder / _EXPERIMENT)
            pending = read_json(folder / _PENDING)
            if pending is None:
                continue  # the creator may have just renamed it: look once more
            experiment = _experiment_from(pending, folder / _PENDING)
            if _read_claim(self._root / _NAMES / encode_name(experiment.name)) != experiment_id:
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
        check_storable("run", run_name, artifact_uri, *(parent_run_id or "",))
        check_batch((), (), [RunTag(k, v) for k, v in tags.items()])
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
            ensure_dir(folder)
            append(folder, HEADER + encode(("tag", k, v) for k, v in tags.items()))
            update_view(folder, self._journals.current(folder))
            if not publish_exclusive(folder / _RUN, dump_json(_info_json(info))):
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
        with self._run_locked(run_id):
            folder = self._run_dir(run_id)
            info = _load_info(folder)
            journal = self._journals.current(folder)
            presumed = info.status is RunStatus.KILLED and _presumed_killed(folder, journal)
            if not check_update(run_id, info.status, info.end_time, new_status, end_time, presumed):
                return
            record = _info_json(info)
            record.update(status=new_status.value, end_time=end_time)
            write_atomic(folder / _RUN, dump_json(record), sync_dir=True)
            if presumed:  # the owner's end replaces a reader's presumption
                append(folder, encode([("untag", PRESUMED_KILLED_TAG, None)]))
                journal = self._journals.current(folder)
            # Also shows what a writer that died between its journal and the files left out.
            update_view(folder, journal)

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
        lifecycle: Lifecycle = "active",
    ) -> list[Run]:
        """Runs of the experiments (None: all) matching every filter, in order, newest first."""
        check_lifecycle(lifecycle)
        if experiment_ids is None:
            wanted = self._experiment_ids()
        else:
            wanted = [i for i in dict.fromkeys(experiment_ids) if _is_id(i)]
        runs = []
        for experiment_id in wanted:
            experiment = self._experiment_or_its_trace(experiment_id)
            if experiment is None:
                continue
            experiment_deleted = experiment.deleted_time is not None
            if lifecycle == "active" and experiment_deleted:
                continue
            for folder in _run_folders(self._root / experiment_id):
                try:
                    run = _load_run(folder)
                except NotFoundError:
                    continue  # a folder that is not a run
                except StoreError as exc:
                    _report_damage(exc)  # one damaged run must not hide the others
                    continue
                self._run_dirs.setdefault(run.info.run_id, folder)
                deleted = run.info.deleted_time is not None
                if in_lifecycle(deleted, experiment_deleted, lifecycle) and matches(run, filters):
                    runs.append(run)
        return sort_runs(runs, order_by)[:max_results]

    def _set_deleted(self, run_id: str, deleted_time: int | None) -> None:
        with self._lock:
            folder = self._run_dir(run_id)
            info = _load_info(folder)
            if (info.deleted_time is None) == (deleted_time is None):
                return  # deleting a deleted run keeps the first time
            record = _info_json(info._replace(deleted_time=deleted_time))
            write_atomic(folder / _RUN, dump_json(record), sync_dir=True)

    @_guarded
    def delete_run(self, run_id: str) -> None:
        self._set_deleted(run_id, now_ms())

    @_guarded
    def restore_run(self, run_id: str) -> None:
        self._set_deleted(run_id, None)

    @_guarded
    def purge_run(self, run_id: str) -> None:
        with self._lock:
            folder = self._run_dir(run_id)
            if _load_info(folder).deleted_time is None:
                raise InvalidInputError(f"run {run_id} is not deleted; delete it before purging")
            check_unregistered(run_id, self._registered_runs())
            self._run_dirs.pop(run_id, None)
            self._journals.forget(folder)
            # the record first: a purge cut short leaves no half run, only files to sweep
            unlink_quietly(folder / _RUN)
            _remove_tree(folder)
            _remove_tree(self._integrity(run_id))

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
        matching = self.search_runs(experiment_ids, filters, order_by, sys.maxsize, lifecycle)
        return page_runs(matching, offset, limit, top_level=top_level)

    # ------------------------------------------------------------------- params, tags, metrics

    @_guarded
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
        lines = metric_lines(metrics)  # bad values fail here, before anything is written
        with self._run_locked(run_id):
            folder = self._run_dir(run_id)
            if batch_id is not None and _batch_stored(folder, batch_id):
                return  # stored before: a sender's retry
            folder = self._running_dir(run_id)
            journal = self._journals.current(folder)
            fresh: dict[str, str] = {}
            for key, value in params:
                stored = journal.param(folder, key)
                if stored is None:
                    fresh[key] = value
                elif stored != value:
                    raise ParamCollisionError(run_id, key, stored, value)
            # Params and tags first: storing them again is harmless, so if the metrics then fail
            # (and are rolled back) a retry of the whole batch stores each value once.
            # One line per key, whatever the batch holds: the last value of a tag wins.
            entries = [("param", k, v) for k, v in fresh.items()]
            entries += [("tag", k, v) for k, v in dict(tags).items() if journal.tag(folder, k) != v]
            if entries:
                append(folder, encode(entries))  # the batch's params and tags are durable here
                journal = self._journals.current(folder)
            update_view(folder, journal, _VIEW_SECONDS)
            if lines:
                append_metrics(folder, lines)
            if batch_id is not None:
                # After the data: a crash in between may store a retried batch twice, never
                # lose one.
                _append_line(folder / _BATCHES, batch_id)

    @_guarded
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every value of ``key``, ordered by step, equal steps in the order they were logged."""
        path = key_path(self._run_dir(run_id) / "metrics", key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        history = [Metric(key, v, s, t) for t, s, v in parse_lines(data)]
        history.sort(key=lambda m: m.step)  # stable: equal steps keep their logging order
        return history

    def get_metric_columns(
        self, run_id: str, key: str, min_step: int | None = None, max_step: int | None = None
    ) -> MetricColumns:
        """The values of ``key`` within the step bounds, as columns."""
        return history_columns(self.get_metric_history(run_id, key), min_step, max_step)

    # ---------------------------------------------------------------------- artifact integrity

    def _running_dir(self, run_id: str) -> Path:
        """The folder of a RUNNING run; ``RunStateError`` for one that has ended."""
        folder = self._run_dir(run_id)
        info = _load_info(folder)
        if info.status is RunStatus.RUNNING:
            return folder
        if not takes_writes(info.status, _presumed_killed(folder, self._journals.current(folder))):
            raise ended(run_id, info.status)
        return folder

    def _integrity(self, run_id: str) -> Path:
        # Beside the experiments, not in a run folder: no artifact path can reach it.
        return self._root / _INTEGRITY / run_id

    @contextlib.contextmanager
    def _run_locked(self, run_id: str) -> Iterator[None]:
        """This store's lock, and a lock on ``run_id`` shared with other processes: a run's
        end, the writes to it, its model records and their registration are ordered (each reads
        the run's state, then writes; ``hashes.json`` and ``models.json`` are rewritten)."""
        with self._lock:
            if fcntl is None or not _is_run_id(run_id):
                yield
                return
            # in the run's folder (no key or artifact path reaches it), gone with the run
            fd = os.open(self._run_dir(run_id) / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the lock

    @_guarded
    def record_artifact_hashes(self, run_id: str, hashes: Mapping[str, str]) -> None:
        """Record SHA-256 digests of artifact files (paths relative to the run's root)."""
        check_storable("artifact path", *hashes, *hashes.values())
        with self._run_locked(run_id):
            self._running_dir(run_id)
            folder = self._integrity(run_id)
            inside = inside_models(hashes, read_json(folder / _MODELS) or {})
            if inside:
                raise RunStateError(
                    f"{inside[0]!r} is a file of a model of run {run_id}: only log_model writes it"
                )
            self._add_hashes(folder, hashes)

    def _add_hashes(self, folder: Path, hashes: Mapping[str, str]) -> None:
        ensure_dir(folder)
        recorded = read_json(folder / _HASHES) or {}
        recorded.update(hashes)
        write_atomic(folder / _HASHES, dump_json(recorded), sync_dir=True)

    @_guarded
    def get_artifact_hashes(self, run_id: str, prefix: str = "") -> dict[str, str]:
        """The recorded digests of files at or under ``prefix``."""
        # Like the reference store: a run with nothing recorded, or no run, has no digests.
        recorded = read_json(self._integrity(run_id) / _HASHES) if _is_run_id(run_id) else None
        return {
            path: digest
            for path, digest in (recorded or {}).items()
            if isinstance(digest, str) and under(path, prefix)
        }

    @_guarded
    def record_model(self, run_id: str, path: str, files: Mapping[str, str]) -> None:
        """Record the model ``log_model`` logged at ``path``, and its files' hashes."""
        check_model_files(path, files)
        path = path.strip("/")
        with self._run_locked(run_id):
            self._running_dir(run_id)
            folder = self._integrity(run_id)
            if (folder / _REGISTERED / encode_name(path)).exists():
                raise RunStateError(
                    f"model {path!r} of run {run_id} is registered: it cannot be replaced"
                )
            ensure_dir(folder)
            models = read_json(folder / _MODELS) or {}
            models[path] = dict(files)
            # hashes first: a model record always has its files' hashes beside it
            self._add_hashes(folder, files)
            write_atomic(folder / _MODELS, dump_json(models), sync_dir=True)

    @_guarded
    def get_model_files(self, run_id: str, path: str) -> dict[str, str] | None:
        if not _is_run_id(run_id):
            return None
        models = read_json(self._integrity(run_id) / _MODELS) or {}
        found = models.get(path.strip("/"))
        if not isinstance(found, dict):
            return None
        return {str(k): str(v) for k, v in found.items()}

    # --------------------------------------------------------------------------- model registry

    def _model_dir(self, name: str) -> Path:
        return self._root / _REGISTRY / encode_name(name)

    @_guarded
    def create_model_version(self, name: str, source: str, run_id: str | None) -> ModelVersion:
        """Register ``source`` as the next version of model ``name`` (created if new)."""
        check_storable("registered model name", name)
        check_storable("model source", source)
        path = model_path(run_id or "", source)
        with self._run_locked(run_id or ""):
            if run_id is None or self.get_model_files(run_id, path) is None:
                raise NotFoundError("model", source)
            # The model is final from here on (record_model looks for this mark).
            marks = self._integrity(run_id) / _REGISTERED
            ensure_dir(marks)
            write_atomic(marks / encode_name(path), source.encode("utf-8"), sync_dir=True)
            folder = self._model_dir(name) / "versions"
            ensure_dir(folder)
            number = max(_version_numbers(folder), default=0) + 1
            while True:
                version = ModelVersion(name, number, source, run_id, now_ms())
                record = {
                    "name": name,
                    "version": number,
                    "source": source,
                    "run_id": run_id,
                    "creation_time": version.creation_time,
                }
                if publish_exclusive(folder / f"{number}.json", dump_json(record)):
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
        data = read_json(path, settle=True) if number >= 1 else None
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
        check_storable("model alias", name, alias)
        with self._lock:
            number = self.get_model_version(name, version).version
            folder = self._model_dir(name) / "aliases"
            ensure_dir(folder)
            record = {"alias": alias, "version": number}
            write_atomic(folder / f"{encode_name(alias)}.json", dump_json(record), sync_dir=True)

    @_guarded
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        path = self._model_dir(name) / "aliases" / f"{encode_name(alias)}.json"
        data = read_json(path)
        if data is None or data.get("alias") != alias or not isinstance(data.get("version"), int):
            raise NotFoundError("model alias", f"{name}@{alias}")
        return self.get_model_version(name, data["version"])

    # ---------------------------------------------------------------------------- access tokens

    @_guarded
    def create_token(self, token: AccessToken) -> None:
        if not _is_token_id(token.token_id):
            raise InvalidInputError(f"token ids are 1-64 hex digits, not {token.token_id!r}")
        with self._lock:
            names = self._root / _TOKENS / _NAMES
            ensure_dir(names)
            claim = names / encode_name(token.name)
            if not publish_exclusive(claim, token.token_id.encode()):
                raise InvalidInputError(f"a token named {token.name!r} exists already")
            record = {**token._asdict(), "creation_time": token.creation_time}
            if not publish_exclusive(self._token_path(token.token_id), dump_json(record)):
                unlink_quietly(claim)
                raise InvalidInputError(f"a token with id {token.token_id!r} exists already")

    def _token_path(self, token_id: str) -> Path:
        return self._root / _TOKENS / f"{token_id}.json"

    @_guarded
    def get_token(self, token_id: str) -> AccessToken | None:
        if not _is_token_id(token_id):
            return None
        data = read_json(self._token_path(token_id), settle=True)
        return None if data is None else _token_from(data, self._token_path(token_id))

    @_guarded
    def list_tokens(self) -> list[AccessToken]:
        folder = self._root / _TOKENS
        if not folder.is_dir():
            return []
        tokens = []
        for path in folder.glob("*.json"):
            data = read_json(path, settle=True)
            if data is not None:
                tokens.append(_token_from(data, path))
        return sorted(tokens, key=lambda t: (t.creation_time, t.name))

    @_guarded
    def revoke_token(self, name: str) -> None:
        with self._lock:
            claim = self._root / _TOKENS / _NAMES / encode_name(name)
            token_id = read_text(claim)
            if token_id is None:
                raise NotFoundError("token", name)
            if _is_token_id(token_id.strip()):
                unlink_quietly(self._token_path(token_id.strip()))
            unlink_quietly(claim)
            fsync_dir(claim.parent.parent)

    @_guarded
    def list_model_versions(self, name: str | None = None) -> list[ModelVersion]:
        """Every version of model ``name`` (None: of every model), by name then version."""
        if name is not None:
            folders = [self._model_dir(name)]
        else:
            try:
                folders = [f for f in (self._root / _REGISTRY).iterdir() if f.name[:1] != "."]
            except FileNotFoundError:
                return []
        versions = []
        for folder in folders:
            try:
                numbers = sorted(_version_numbers(folder / "versions"))
            except FileNotFoundError:
                continue
            if numbers:
                # the name as registered: a long one's folder is named by its hash
                first = read_json(folder / "versions" / f"{numbers[0]}.json", settle=True)
                model = str(first["name"]) if first else name
                if model is not None:
                    versions += [self.get_model_version(model, n) for n in numbers]
        return sorted(versions, key=lambda v: (v.name, v.version))

    def close(self) -> None:
        """Nothing to release: no file stays open between calls."""


def _remove_tree(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def _discard_experiment_folder(folder: Path) -> None:
    unlink_quietly(folder / _PENDING)
    # If it stays, it is never taken for an experiment: it holds no experiment.json.
    with contextlib.suppress(OSError):
        os.rmdir(folder)


def _report_damage(exc: StoreError) -> None:
    """A damaged file was skipped: say so (once per file and process)."""
    message = str(exc)
    if message not in _damage_reported:
        _damage_reported.add(message)
        warn(f"autolog: skipped a damaged record: {message}", stacklevel=4)


_damage_reported: set[str] = set()


# ----------------------------------------------------------------------------- records


def _read_claim(path: Path) -> str | None:
    """The experiment id a name file holds, None if the name is free."""
    for _ in range(100):
        text = read_text(path)
        if text is None:
            return None
        if _is_id(text.strip()):
            return text.strip()
        time.sleep(0.01)  # created without hard links and not yet written (see above)
    raise StoreError(f"file store: {path} does not hold an experiment id")


def _experiment_from(data: Mapping[str, Any], path: Path) -> Experiment:
    try:
        return Experiment(
            str(data["experiment_id"]),
            str(data["name"]),
            str(data["artifact_location"]),
            int(data["creation_time"]),
            _optional_int(data.get("deleted_time")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"file store: {path} is malformed ({exc!r})") from exc


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _experiment_json(experiment: Experiment) -> dict[str, Any]:
    record = {
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
        "artifact_location": experiment.artifact_location,
        "creation_time": experiment.creation_time,
    }
    if experiment.deleted_time is not None:
        record["deleted_time"] = experiment.deleted_time
    return record


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
        **({} if info.deleted_time is None else {"deleted_time": info.deleted_time}),
    }


def _load_info(folder: Path) -> RunInfo:
    path = folder / _RUN
    data = read_json(path, settle=True)
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
            _optional_int(data.get("deleted_time")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"file store: {path} is malformed ({exc!r})") from exc


def _load_run(folder: Path) -> Run:
    info = _load_info(folder)
    params, tags = run_values(folder)
    return Run(info, RunData(params, latest_values(folder), tags))


def _presumed_killed(folder: Path, journal: Journal) -> bool:
    return journal.tag(folder, PRESUMED_KILLED_TAG) is not None


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
        data = read_json(folder / name)
        if data is None:
            continue  # replaced between listing and reading
        alias, version = data.get("alias"), data.get("version")
        if isinstance(alias, str) and isinstance(version, int):
            yield alias, version


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


def _batch_stored(folder: Path, batch_id: str) -> bool:
    text = read_text(folder / _BATCHES)
    return text is not None and batch_id in text.split("\n")


def _append_line(path: Path, line: str) -> None:
    if "\n" in line:
        raise InvalidInputError(f"batch ids are single lines, not {line!r}")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | O_BINARY, 0o666)
    try:
        with naming(path):
            write_all(fd, f"{line}\n".encode("utf-8", "surrogatepass"))
            fdatasync(fd)
    finally:
        os.close(fd)


def _is_token_id(text: str) -> bool:
    return 0 < len(text) <= 64 and all(c in "0123456789abcdef" for c in text)


def _token_from(data: Mapping[str, Any], path: Path) -> AccessToken:
    try:
        return AccessToken(
            str(data["token_id"]),
            str(data["name"]),
            str(data["scope"]),
            int(data["creation_time"]),
            str(data["secret_hash"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"file store: {path} is malformed ({exc!r})") from exc


def _now() -> int:
    return time.time_ns() // 1_000_000
