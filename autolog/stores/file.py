"""A tracking store in plain files under one directory, to browse with ``ls``, ``cat`` and ``grep``.

Layout under the root directory of the tracking URI::

    .names/<name>                       experiment name -> id, claimed once (hard link)
    <experiment_id>/experiment.json     0, 1, 2, ... in creation order
    <experiment_id>/<run_id>/
        run.json                        run info; written last, the run exists once it does
        journal                         params and tags, one line per value: each unit of
                                        work's are appended and synced at once (file_journal)
        params/<key>                    one file per param, holding its value } the journal,
        tags/<key>                      one file per tag, holding its value   } shown as files
        metrics/<key>                   history, one line per value (see file_metrics)
        latest.json                     cache: latest value of each metric and the history
                                        size it covers, so get_run need not read histories
        batches                         ids of the batches stored (retries store nothing twice)
        .lock                           flock'd by a unit of work on the run (file_run):
                                        other processes wait their turn
        artifacts/                      not ours: where the client puts the run's artifacts
    .integrity/<run_id>/                out of every artifact folder's reach:
        hashes.json                     {artifact path: SHA-256}
        models.json                     {model path: {file path: SHA-256}}, what log_model made
        registered/<model path>         the model at that path is registered (written before
                                        its first version)
    .registry/<model>/model.json        the model's name, times, description and tags
    .registry/<model>/versions/<n>.json model version n, claimed once (hard link)
    .registry/<model>/deleted/<n>.json  version n, deleted (its number is not given again)
    .registry/<model>/aliases/<alias>.json
    .tokens/<token_id>.json             a tracking server's access token (its secret's hash)
    .tokens/.names/<name>               token name -> token id, claimed once (hard link)

Keys, names and aliases become file names as ``file_io`` describes; metric histories and the
journal are append-only lines (``file_metrics``, ``file_journal``); records are ``file_records``.
Every other file is replaced atomically, so readers never see half of one; names starting with
``.`` are temporary or hidden files and never data.

``FileEngine`` stores and fetches (``autolog.stores.engine.Engine``); a run's unit of work is
``file_run.FileRunUnit``. ``FileStore`` is the tracking service over it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

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
    RegisteredModel,
    Run,
    RunData,
    RunPage,
)
from autolog.errors import StoreError, issue_warning
from autolog.search import Comparison, OrderBy, matches, page_runs, sort_runs
from autolog.stores.common import (
    Lifecycle,
    fork_safe_lock,
    history_columns,
    in_lifecycle,
    local_path,
    under,
)
from autolog.stores.file_io import (
    decode_name,
    dump_json,
    encode_name,
    ensure_dir,
    fsync_dir,
    guarded,
    key_path,
    publish_exclusive,
    read_json,
    read_text,
    store_error,
    store_errors,
    unlink_quietly,
    write_atomic,
)
from autolog.stores.file_journal import JournalCache, run_values
from autolog.stores.file_metrics import latest_values, parse_lines
from autolog.stores.file_records import (
    aliases,
    experiment_from,
    experiment_json,
    is_id,
    is_run_id,
    is_token_id,
    load_info,
    model_json,
    read_model,
    read_version,
    token_from,
    version_json,
    version_numbers,
)
from autolog.stores.file_run import (
    DELETED,
    HASHES,
    INTEGRITY,
    MODEL_RECORD,
    MODELS,
    REGISTRY,
    FileRunUnit,
    all_versions,
)
from autolog.tracking import Tracking

__all__ = ["FileEngine", "FileStore"]

_EXPERIMENT = "experiment.json"
_PENDING = ".experiment.json.pending"
_RUN = "run.json"
_LOCK = ".lock"
_NAMES = ".names"
_TOKENS = ".tokens"


class FileEngine:
    """Tracking data in files under one directory, shared safely by several processes.

    Experiments and model versions are created atomically across processes; each run is
    written by one unit of work at a time (this process's lock and a lock on the run's
    ``.lock`` file shared with other processes) while any number of processes read it.
    """

    def __init__(self, uri: str) -> None:
        root = local_path(uri).expanduser()
        try:
            root = root.resolve()
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise store_error(exc) from exc
        self._root = root
        self.artifact_root = root.as_uri()
        #: artifact locations under the root are kept relative to it (``stores.locations``)
        self.home = root
        # Orders this process's writes; other processes are kept apart by the file system.
        self._lock = fork_safe_lock(self)
        self._run_dirs: dict[str, Path] = {}  # runs never move, so where one lives is cached
        # The journals of the runs this process writes: a unit's reads of params and tags do
        # not read a whole journal each.
        self._journals = JournalCache()
        # The runs whose .lock this process holds (a unit in a unit of the same run would
        # otherwise wait for itself: flock locks are per open file)
        self._flocked: dict[Path, int] = {}
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"FileEngine({self._root.as_uri()!r})"

    @property
    def root(self) -> Path:
        """The folder holding everything (see the module docstring for its layout)."""
        return self._root

    # ------------------------------------------------------------------------- unit of work

    @contextlib.contextmanager
    def run_unit(self, run_id: str) -> Iterator[FileRunUnit]:
        """The run's unit of work, under this process's lock and the run's ``.lock`` (taken
        when the run is created in the unit, for a run that does not exist yet)."""
        with self._lock:
            taken: list[Path] = []
            try:
                with store_errors():
                    folder = self._find_run(run_id)
                    if folder is not None:
                        self._flock(folder, taken)
                unit = FileRunUnit(
                    self._root,
                    run_id,
                    folder,
                    self._journals,
                    functools.partial(self._flock, taken=taken),
                )
                try:
                    yield unit
                except BaseException:
                    unit.discard()
                    raise
                unit.commit()
                if unit.folder is not None:
                    self._run_dirs[run_id] = unit.folder
            finally:
                for locked in reversed(taken):
                    self._unflock(locked)

    def _flock(self, folder: Path, taken: list[Path]) -> None:
        """Lock the run in ``folder`` against other processes until the unit ends."""
        if self._pid != os.getpid():  # a forked child: the locks held are its parent's
            self._flocked, self._pid = {}, os.getpid()
        if folder in self._flocked or fcntl is None:
            return
        # in the run's folder (no key or artifact path reaches it), gone with the run
        fd = os.open(folder / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._flocked[folder] = fd
        taken.append(folder)

    def _unflock(self, folder: Path) -> None:
        fd = self._flocked.pop(folder, None)
        if fd is not None:
            os.close(fd)  # releases the lock

    # ---------------------------------------------------------------------------- experiments

    @guarded
    def experiment(self, experiment_id: str) -> Experiment | None:
        return self._experiment_or_its_trace(experiment_id) if is_id(experiment_id) else None

    @guarded
    def experiment_named(self, name: str) -> Experiment | None:
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

    @guarded
    def experiments(self) -> list[Experiment]:
        found = []
        for experiment_id in self._experiment_ids():
            try:
                experiment = self._load_experiment(experiment_id)
            except StoreError as exc:
                _report_damage(exc)  # skipped: the others stay listed
                continue
            if experiment is not None:
                found.append(experiment)
        return found

    @guarded
    def add_experiment(self, name: str, creation_time: int) -> Experiment:
        found = self.experiment_named(name)
        if found is not None:
            return found
        with self._lock:
            return self._create_experiment(name, creation_time)

    def _create_experiment(self, name: str, creation_time: int) -> Experiment:
        # The experiment exists once the name file points at its folder. Until then the record
        # waits in a hidden pending file, so a process that loses the race for the name leaves
        # nothing that looks like an experiment.
        names = self._root / _NAMES
        ensure_dir(names)
        experiment_id = self._allocate_experiment_id()
        folder = self._root / experiment_id
        location = f"{self.artifact_root}/{experiment_id}"
        experiment = Experiment(experiment_id, name, location, creation_time)
        pending = folder / _PENDING
        try:
            write_atomic(pending, dump_json(experiment_json(experiment)))
            claimed = publish_exclusive(names / encode_name(name), experiment_id.encode())
        except BaseException:
            _discard_experiment_folder(folder)
            raise
        if not claimed:
            _discard_experiment_folder(folder)
            found = self.experiment_named(name)
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
        candidate = max((int(n) for n in os.listdir(self._root) if is_id(n)), default=-1) + 1
        while True:
            try:
                os.mkdir(self._root / str(candidate))
            except FileExistsError:
                candidate += 1  # another process took it
                continue
            fsync_dir(self._root)
            return str(candidate)

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

    def _experiment_ids(self) -> list[str]:
        return sorted((n for n in os.listdir(self._root) if is_id(n)), key=int)

    def _load_experiment(self, experiment_id: str) -> Experiment | None:
        folder = self._root / experiment_id
        for _ in range(2):
            data = read_json(folder / _EXPERIMENT)
            if data is not None:
                return experiment_from(data, folder / _EXPERIMENT)
            pending = read_json(folder / _PENDING)
            if pending is None:
                continue  # the creator may have just renamed it: look once more
            experiment = experiment_from(pending, folder / _PENDING)
            if _read_claim(self._root / _NAMES / encode_name(experiment.name)) != experiment_id:
                return None  # a loser of a creation race, or a creation still under way
            # The claim commits the experiment: finish the move its creator did not get to.
            # Done meanwhile by the creator, or a read-only mount: either way the data is right.
            with contextlib.suppress(OSError):
                os.replace(folder / _PENDING, folder / _EXPERIMENT)
            return experiment
        return None

    @contextlib.contextmanager
    def _experiment_locked(self, experiment_id: str) -> Iterator[None]:
        """Hold this process's lock and the experiment folder's ``.lock`` (against other
        processes): its record is read, changed and written back whole."""
        with self._lock:
            taken: list[Path] = []
            try:
                if (self._root / experiment_id).is_dir():
                    self._flock(self._root / experiment_id, taken)
                yield
            finally:
                for locked in taken:
                    self._unflock(locked)

    @guarded
    def set_experiment(self, experiment: Experiment) -> bool:
        with self._experiment_locked(experiment.experiment_id):
            stored = self._load_experiment(experiment.experiment_id)
            if stored is None:
                return True  # purged meanwhile: nothing left to change
            names = self._root / _NAMES
            renamed = experiment.name != stored.name
            if renamed:
                claim = names / encode_name(experiment.name)
                claimed = publish_exclusive(claim, experiment.experiment_id.encode())
                if not claimed and _read_claim(claim) != experiment.experiment_id:
                    return False
            record = stored._replace(name=experiment.name, deleted_time=experiment.deleted_time)
            path = self._root / experiment.experiment_id / _EXPERIMENT
            write_atomic(path, dump_json(experiment_json(record)), sync_dir=True)
            if renamed:
                unlink_quietly(names / encode_name(stored.name))
            return True

    @guarded
    def set_experiment_tag(self, experiment_id: str, key: str, value: str | None) -> None:
        if not is_id(experiment_id):
            return
        with self._experiment_locked(experiment_id):
            stored = self._load_experiment(experiment_id)
            if stored is None:
                return
            tags = {k: v for k, v in stored.tags.items() if k != key}
            if value is not None:
                tags[key] = value
            path = self._root / experiment_id / _EXPERIMENT
            write_atomic(
                path, dump_json(experiment_json(stored._replace(tags=tags))), sync_dir=True
            )

    @guarded
    def drop_experiment(self, experiment_id: str) -> None:
        if not is_id(experiment_id):
            return
        with self._lock:
            folder = self._root / experiment_id
            experiment = self._experiment_or_its_trace(experiment_id)
            for run_folder in list(_run_folders(folder)):
                self._drop_run_folder(run_folder)
            # The experiment is gone once its record is; then its name is free again.
            unlink_quietly(folder / _EXPERIMENT)
            if experiment is not None:
                claim = self._root / _NAMES / encode_name(experiment.name)
                if _read_claim(claim) == experiment_id:
                    unlink_quietly(claim)
            _remove_tree(folder)

    # ----------------------------------------------------------------------------------- runs

    def _find_run(self, run_id: str) -> Path | None:
        if not is_run_id(run_id):
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

    @guarded
    def run(self, run_id: str) -> Run | None:
        folder = self._find_run(run_id)
        return None if folder is None else _load_run(folder)

    @guarded
    def find_runs(
        self,
        experiment_ids: Sequence[str] | None,
        filters: Sequence[Comparison],
        order_by: Sequence[OrderBy],
        max_results: int,
        lifecycle: Lifecycle,
    ) -> list[Run]:
        if experiment_ids is None:
            wanted = self._experiment_ids()
        else:
            wanted = [i for i in dict.fromkeys(experiment_ids) if is_id(i)]
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
                except StoreError as exc:
                    _report_damage(exc)  # one damaged run must not hide the others
                    continue
                if run is None:
                    continue  # a folder that is not a run
                self._run_dirs.setdefault(run.info.run_id, folder)
                deleted = run.info.deleted_time is not None
                if in_lifecycle(deleted, experiment_deleted, lifecycle) and matches(run, filters):
                    runs.append(run)
        return sort_runs(runs, order_by)[:max_results]

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
        matching = self.find_runs(experiment_ids, filters, order_by, sys.maxsize, lifecycle)
        return page_runs(matching, offset, limit, top_level=top_level)

    @guarded
    def drop_run(self, run_id: str) -> None:
        with self._lock:
            folder = self._find_run(run_id)
            if folder is not None:
                self._drop_run_folder(folder)

    def _drop_run_folder(self, folder: Path) -> None:
        self._run_dirs.pop(folder.name, None)
        self._journals.forget(folder)
        # the record first: a purge cut short leaves no half run, only files to sweep
        unlink_quietly(folder / _RUN)
        _remove_tree(folder)
        _remove_tree(self._integrity(folder.name))

    @guarded
    def metric_history(self, run_id: str, key: str) -> list[Metric] | None:
        folder = self._find_run(run_id)
        if folder is None:
            return None
        try:
            data = key_path(folder / "metrics", key).read_bytes()
        except FileNotFoundError:
            return []
        history = [Metric(key, v, s, t) for t, s, v in parse_lines(data)]
        history.sort(key=lambda m: m.step)  # stable: equal steps keep their logging order
        return history

    def metric_columns(
        self, run_id: str, key: str, min_step: int | None, max_step: int | None
    ) -> MetricColumns | None:
        history = self.metric_history(run_id, key)
        return None if history is None else history_columns(history, min_step, max_step)

    # ---------------------------------------------------------------------- artifact integrity

    def _integrity(self, run_id: str) -> Path:
        # Beside the experiments, not in a run folder: no artifact path can reach it.
        return self._root / INTEGRITY / run_id

    @guarded
    def artifact_hashes(self, run_id: str, prefix: str) -> dict[str, str]:
        # A run with nothing recorded, or no run, has no digests.
        recorded = read_json(self._integrity(run_id) / HASHES) if is_run_id(run_id) else None
        return {
            path: digest
            for path, digest in (recorded or {}).items()
            if isinstance(digest, str) and under(path, prefix)
        }

    @guarded
    def model_files(self, run_id: str, path: str) -> dict[str, str] | None:
        if not is_run_id(run_id):
            return None
        models = read_json(self._integrity(run_id) / MODELS) or {}
        found = models.get(path.strip("/"))
        if not isinstance(found, dict):
            return None
        return {str(k): str(v) for k, v in found.items()}

    # --------------------------------------------------------------------------- model registry

    def _model_dir(self, name: str) -> Path:
        return self._root / REGISTRY / encode_name(name)

    @guarded
    def model_version(self, name: str, version: int) -> ModelVersion | None:
        folder = self._model_dir(name)
        found = read_version(folder / "versions" / f"{version}.json") if version >= 1 else None
        if found is None:
            return None
        names = tuple(sorted(a for a, v in aliases(folder / "aliases") if v == found.version))
        return found._replace(name=name, aliases=names)

    def _model_names(self) -> list[str]:
        """The name of every registered model (a long one's folder is named by its hash)."""
        try:
            folders = [f for f in (self._root / REGISTRY).iterdir() if f.name[:1] != "."]
        except FileNotFoundError:
            return []
        names = []
        for folder in folders:
            record = read_model(folder / MODEL_RECORD)
            numbers = sorted(version_numbers(folder / "versions"))
            first = read_version(folder / "versions" / f"{numbers[0]}.json") if numbers else None
            name = record.name if record is not None else None if first is None else first.name
            if name is not None:
                names.append(name)
        return sorted(names)

    @guarded
    def model_versions(self, name: str | None) -> list[ModelVersion]:
        versions = []
        for model in self._model_names() if name is None else [name]:
            numbers = sorted(version_numbers(self._model_dir(model) / "versions"))
            found = (self.model_version(model, n) for n in numbers)
            versions += [v for v in found if v is not None]
        return sorted(versions, key=lambda v: (v.name, v.version))

    @guarded
    def versions_of_run(self, run_id: str) -> list[ModelVersion]:
        found = [v for v in all_versions(self._root / REGISTRY) if v.run_id == run_id]
        return sorted(found, key=lambda v: (v.name, v.version))

    @guarded
    def alias_version(self, name: str, alias: str) -> int | None:
        path = self._model_dir(name) / "aliases" / f"{encode_name(alias)}.json"
        data = read_json(path)
        if data is None or data.get("alias") != alias or not isinstance(data.get("version"), int):
            return None
        return int(data["version"])

    @guarded
    def set_alias(self, name: str, alias: str, version: int) -> None:
        with self._lock:
            folder = self._model_dir(name) / "aliases"
            ensure_dir(folder)
            record = {"alias": alias, "version": version}
            write_atomic(folder / f"{encode_name(alias)}.json", dump_json(record), sync_dir=True)

    @guarded
    def drop_alias(self, name: str, alias: str) -> bool:
        with self._lock:
            if self.alias_version(name, alias) is None:
                return False
            unlink_quietly(self._model_dir(name) / "aliases" / f"{encode_name(alias)}.json")
            return True

    @guarded
    def registered_model(self, name: str) -> RegisteredModel | None:
        folder = self._model_dir(name)
        numbers = sorted(version_numbers(folder / "versions"))
        versions = [read_version(folder / "versions" / f"{n}.json") for n in numbers]
        record = read_model(folder / MODEL_RECORD)
        if record is None:  # registered by a version that kept no record of its model
            first = next((v for v in versions if v is not None), None)
            if first is None:
                return None
            record = RegisteredModel(name, first.creation_time, first.creation_time)
        # a registration touches no model.json: the newest version's time is an update
        updated = max([record.last_updated_time, *(v.creation_time for v in versions if v)])
        pointed = {a: v for a, v in sorted(aliases(folder / "aliases")) if v in numbers}
        return record._replace(
            name=name,
            last_updated_time=updated,
            aliases=pointed,
            latest_version=numbers[-1] if numbers else None,
        )

    @guarded
    def registered_models(self) -> list[RegisteredModel]:
        found = (self.registered_model(name) for name in self._model_names())
        return [model for model in found if model is not None]

    def _save_model(self, model: RegisteredModel) -> None:
        path = self._model_dir(model.name) / MODEL_RECORD
        write_atomic(path, dump_json(model_json(model)), sync_dir=True)

    def _touch(
        self,
        name: str,
        update_time: int,
        change: Callable[[RegisteredModel], RegisteredModel] = lambda model: model,
    ) -> None:
        found = self.registered_model(name)
        if found is not None:
            self._save_model(change(found._replace(last_updated_time=update_time)))

    def _save_version(
        self, model: str, version: int, change: Callable[[ModelVersion], ModelVersion]
    ) -> None:
        path = self._model_dir(model) / "versions" / f"{version}.json"
        found = read_version(path)
        if found is not None:
            write_atomic(path, dump_json(version_json(change(found))), sync_dir=True)

    @guarded
    def drop_model_version(self, name: str, version: int, update_time: int) -> None:
        with self._lock:
            folder = self._model_dir(name)
            found = read_version(folder / "versions" / f"{version}.json")
            if found is None:
                return
            # its number is kept first (a registration counts it), then the version goes
            ensure_dir(folder / DELETED)
            publish_exclusive(folder / DELETED / f"{version}.json", dump_json(version_json(found)))
            for alias, number in list(aliases(folder / "aliases")):
                if number == version:
                    unlink_quietly(folder / "aliases" / f"{encode_name(alias)}.json")
            self._touch(name, update_time)
            unlink_quietly(folder / "versions" / f"{version}.json")
            fsync_dir(folder / "versions")

    @guarded
    def drop_registered_model(self, name: str) -> None:
        with self._lock:
            gone = self._root / REGISTRY / f".gone-{os.getpid()}-{time.time_ns()}"
            try:
                os.rename(self._model_dir(name), gone)  # one step: readers see it or nothing
            except FileNotFoundError:
                return
            _remove_tree(gone)

    @guarded
    def rename_model(self, name: str, new_name: str, update_time: int) -> bool:
        with self._lock:
            if self.registered_model(new_name) is not None:
                return False
            found = self.registered_model(name)
            if found is None:
                return True
            target = self._model_dir(new_name)
            _remove_tree(target)  # what a model of that name left (aliases), if anything
            os.rename(self._model_dir(name), target)
            self._save_model(found._replace(name=new_name, last_updated_time=update_time))
            for number in version_numbers(target / "versions"):
                self._save_version(new_name, number, lambda v: v._replace(name=new_name))
            return True

    @guarded
    def describe_model(
        self, name: str, version: int | None, description: str | None, update_time: int
    ) -> None:
        with self._lock:
            if version is None:
                self._touch(name, update_time, lambda m: m._replace(description=description))
                return
            self._save_version(name, version, lambda v: v._replace(description=description))
            self._touch(name, update_time)

    @guarded
    def tag_model(
        self, name: str, version: int | None, key: str, value: str | None, update_time: int
    ) -> None:
        def retag(tags: Mapping[str, str]) -> dict[str, str]:
            kept = {k: v for k, v in tags.items() if k != key}
            return kept if value is None else {**kept, key: value}

        with self._lock:
            if version is None:
                self._touch(name, update_time, lambda m: m._replace(tags=retag(m.tags)))
                return
            self._save_version(name, version, lambda v: v._replace(tags=retag(v.tags)))
            self._touch(name, update_time)

    # ---------------------------------------------------------------------------- access tokens

    def _token_path(self, token_id: str) -> Path:
        return self._root / _TOKENS / f"{token_id}.json"

    @guarded
    def add_token(self, token: AccessToken) -> bool:
        if not is_token_id(token.token_id):
            # the id names the token's file: the service makes hex ids
            raise StoreError(f"file store: token ids are 1-64 hex digits, not {token.token_id!r}")
        with self._lock:
            names = self._root / _TOKENS / _NAMES
            ensure_dir(names)
            claim = names / encode_name(token.name)
            if not publish_exclusive(claim, token.token_id.encode()):
                return False
            record = {**token._asdict(), "creation_time": token.creation_time}
            if not publish_exclusive(self._token_path(token.token_id), dump_json(record)):
                unlink_quietly(claim)
                return False
            return True

    @guarded
    def token(self, token_id: str) -> AccessToken | None:
        if not is_token_id(token_id):
            return None
        data = read_json(self._token_path(token_id), settle=True)
        return None if data is None else token_from(data, self._token_path(token_id))

    @guarded
    def tokens(self) -> list[AccessToken]:
        folder = self._root / _TOKENS
        if not folder.is_dir():
            return []
        tokens = []
        for path in folder.glob("*.json"):
            data = read_json(path, settle=True)
            if data is not None:
                tokens.append(token_from(data, path))
        return sorted(tokens, key=lambda t: (t.creation_time, t.name))

    @guarded
    def drop_token(self, name: str) -> bool:
        with self._lock:
            claim = self._root / _TOKENS / _NAMES / encode_name(name)
            token_id = read_text(claim)
            if token_id is None:
                return False
            if is_token_id(token_id.strip()):
                unlink_quietly(self._token_path(token_id.strip()))
            unlink_quietly(claim)
            fsync_dir(claim.parent.parent)
            return True

    def close(self) -> None:
        """Nothing to release: no file stays open between calls."""


class FileStore(Tracking):
    """The tracking service over plain files under one directory (``FileEngine``), shared
    safely by several processes.

    Example::

        store = FileStore("file:///home/me/runs")
        experiment = store.get_or_create_experiment("Default")
    """

    engine: FileEngine

    def __init__(self, uri: str) -> None:
        super().__init__(FileEngine(uri))


# ------------------------------------------------------------------------------------ helpers


def _remove_tree(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def _discard_experiment_folder(folder: Path) -> None:
    unlink_quietly(folder / _PENDING)
    # If it stays, it is never taken for an experiment: it holds no experiment.json.
    with contextlib.suppress(OSError):
        os.rmdir(folder)


def _report_damage(exc: StoreError) -> None:
    """A damaged file was skipped: say so (once per file and process)."""
    message = str(exc)
    with _damage_lock:
        if message in _damage_reported:
            return
        _damage_reported.add(message)
    issue_warning(f"autolog: skipped a damaged record: {message}", stacklevel=4)


_damage_reported: set[str] = set()
_damage_lock = threading.Lock()


def _read_claim(path: Path) -> str | None:
    """The experiment id a name file holds, None if the name is free."""
    for _ in range(100):
        text = read_text(path)
        if text is None:
            return None
        if is_id(text.strip()):
            return text.strip()
        time.sleep(0.01)  # created without hard links and not yet written (see file_io)
    raise StoreError(f"file store: {path} does not hold an experiment id")


def _load_run(folder: Path) -> Run | None:
    info = load_info(folder)
    if info is None:
        return None
    params, tags = run_values(folder)
    return Run(info, RunData(params, latest_values(folder), tags))


def _run_folders(experiment_folder: Path) -> Iterator[Path]:
    try:
        entries = list(os.scandir(experiment_folder))
    except FileNotFoundError:
        return
    for entry in entries:
        if is_run_id(entry.name) and entry.is_dir(follow_symlinks=False):
            yield Path(entry.path)
