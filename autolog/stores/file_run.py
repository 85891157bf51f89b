"""The unit of work of the file store: one run's reads and writes, kept together or not at all.

A unit holds the run's lock (see ``FileEngine.run_unit``). Its writes wait in memory until it
leaves; then they are written in the order that keeps a crash harmless, each step able to take
itself back should a later one fail:

1. the params and tags, with the run's creation, as one journal append (one fdatasync);
2. the metric values, one append per key;
3. artifact digests, then model records (a model's files always have their digests beside it);
4. the ids of the batches stored (after their data: a crash in between may store a retried
   batch twice, never lose one);
5. ``run.json``: created last (the run exists once it does, with its tags), or rewritten last
   (a run read as ended has everything that came before its end).

The files that show the journal (``params/``, ``tags/``) follow, outside the unit's promise: a
failure there is reported and caught up by the run's next write, as a crash would be. A unit
that raises before leaving writes nothing; one whose writes fail takes back what it wrote.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from autolog.entities import (
    Metric,
    ModelVersion,
    Param,
    RegisteredModel,
    RunInfo,
    RunStatus,
    RunTag,
)
from autolog.errors import StoreError
from autolog.stores.file_io import (
    O_BINARY,
    dump_json,
    encode_name,
    ensure_dir,
    fdatasync,
    fsync_dir,
    guarded,
    naming,
    publish_exclusive,
    read_bytes,
    read_json,
    read_text,
    unlink_quietly,
    write_all,
    write_atomic,
)
from autolog.stores.file_journal import (
    HEADER,
    Entry,
    Journal,
    JournalCache,
    append,
    encode,
    update_view,
)
from autolog.stores.file_metrics import append_metrics, merge_lines, metric_lines
from autolog.stores.file_records import (
    info_json,
    is_run_id,
    load_info,
    model_json,
    read_version,
    version_json,
    version_numbers,
)

__all__ = [
    "BATCHES",
    "DELETED",
    "HASHES",
    "INTEGRITY",
    "MODELS",
    "MODEL_RECORD",
    "REGISTERED",
    "REGISTRY",
    "FileRunUnit",
    "all_versions",
]

_log = logging.getLogger(__name__)

_RUN = "run.json"
BATCHES = "batches"
INTEGRITY = ".integrity"
HASHES = "hashes.json"
MODELS = "models.json"
REGISTERED = "registered"
REGISTRY = ".registry"
#: in a registered model's folder: its record (name, times, description, tags)
MODEL_RECORD = "model.json"
#: in a registered model's folder: <n>.json for each deleted version (numbers never reused)
DELETED = "deleted"
# Seconds a unit spends at most on the params/ and tags/ files that show the journal: a file
# costs 0.03-0.8 ms here, and the next batch (a second's values) waits for this one to end.
_VIEW_SECONDS = 0.05

#: what takes one written step back out
_Undo = Callable[[], None]


class FileRunUnit:
    """One run's unit of work (``autolog.stores.engine.RunUnit``) in a file store.

    Made by ``FileEngine.run_unit``, which holds the run's lock around it and calls ``commit``
    when the ``with`` block leaves normally, ``discard`` when it raises.
    """

    def __init__(
        self,
        root: Path,
        run_id: str,
        folder: Path | None,
        journals: JournalCache,
        lock: Callable[[Path], None],
    ) -> None:
        self._root = root
        self._run_id = run_id
        self._folder = folder  # None: no run (yet)
        self._journals = journals
        self._lock = lock  # takes the run's lock on its folder (for a run created here)
        self._journal: Journal | None = None
        self._info: RunInfo | None = None
        self._info_read = folder is None
        self._created: dict[str, str] | None = None  # the tags of a run created here
        self._info_changed = False
        self._ended = False
        self._params: dict[str, str] = {}
        self._tags: dict[str, str | None] = {}  # None: untag
        self._lines: dict[str, tuple[bytes, Metric]] = {}
        self._batches: list[str] = []
        self._hashes: dict[str, str] = {}
        self._models: dict[str, dict[str, str]] = {}
        # what takes back the writes made so far: registrations (made at once), then commit's
        self._undo: list[_Undo] = []

    @property
    def folder(self) -> Path | None:
        """The run's folder; None while there is no run."""
        return None if self.info() is None else self._folder

    # ------------------------------------------------------------------------------ reads

    @guarded
    def info(self) -> RunInfo | None:
        if not self._info_read and self._folder is not None:
            self._info = load_info(self._folder)
            self._info_read = True
        return self._info

    @guarded
    def tag(self, key: str) -> str | None:
        if key in self._tags:
            return self._tags[key]
        return self._stored_tag(key)

    @guarded
    def params(self, keys: Sequence[str]) -> dict[str, str]:
        found = {}
        for key in keys:
            value = self._params.get(key)
            if value is None and self._created is None and self._folder is not None:
                value = self._stored_journal().param(self._folder, key)
            if value is not None:
                found[key] = value
        return found

    @guarded
    def claim_batch(self, batch_id: str) -> bool:
        if "\n" in batch_id or "\r" in batch_id:
            raise StoreError(f"file store: batch ids are single lines, not {batch_id!r}")
        if batch_id in self._batches:
            return False
        if self._created is None and self._folder is not None:
            stored = read_text(self._folder / BATCHES)
            if stored is not None and batch_id in stored.split("\n"):
                return False
        self._batches.append(batch_id)
        return True

    @guarded
    def models(self) -> dict[str, dict[str, str]]:
        recorded = read_json(self._integrity() / MODELS) or {}
        models = {
            str(path): {str(k): str(v) for k, v in files.items()}
            for path, files in recorded.items()
            if isinstance(files, dict)
        }
        models.update(self._models)
        return models

    @guarded
    def registered_as(self, source: str) -> ModelVersion | None:
        mark = self._mark(source)
        if mark is not None and not mark.exists():
            return None  # the mark is written before any version: none was registered
        found = [
            version
            for version in all_versions(self._root / REGISTRY)
            if version.source == source and version.run_id == self._run_id
        ]
        return min(found, key=lambda v: (v.name, v.version), default=None)

    # ----------------------------------------------------------------------------- writes

    @guarded
    def create(self, info: RunInfo, tags: Mapping[str, str]) -> bool:
        if not is_run_id(info.run_id) or self.info() is not None:
            return False
        # The folder may exist already: the client writes artifacts under it while this
        # creation waits in its queue. A run is a folder with a run.json.
        folder = self._root / info.experiment_id / info.run_id
        ensure_dir(folder)
        self._lock(folder)
        if (folder / _RUN).exists():
            return False  # created by another process since this unit began
        self._folder = folder
        self._info, self._info_read = info, True
        self._created = dict(tags)
        return True

    @guarded
    def add(
        self, metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
    ) -> None:
        self._require_run()
        merge_lines(self._lines, metric_lines(metrics))
        for key, value in params:
            self._params.setdefault(key, value)  # a param keeps its first value
        for key, value in tags:
            self._tags[key] = value

    @guarded
    def untag(self, key: str) -> None:
        self._require_run()
        self._tags[key] = None

    @guarded
    def set_status(self, status: RunStatus, end_time: int | None) -> None:
        info = self._require_run()
        self._info = info._replace(status=RunStatus(status), end_time=end_time)
        self._info_changed = True
        self._ended = self._info.status is not RunStatus.RUNNING

    @guarded
    def set_name(self, run_name: str) -> None:
        info = self._require_run()
        self._info = info._replace(run_name=run_name)
        self._info_changed = True

    @guarded
    def set_deleted(self, deleted_time: int | None) -> None:
        info = self._require_run()
        self._info = info._replace(deleted_time=deleted_time)
        self._info_changed = True

    @guarded
    def add_hashes(self, hashes: Mapping[str, str]) -> None:
        self._require_run()
        self._hashes.update(hashes)

    @guarded
    def put_model(self, path: str, files: Mapping[str, str], creation_time: int) -> None:
        # models.json maps a path to its files, as every version of this store wrote it: the
        # creation time has no place there (readers of the record do not need it).
        self._require_run()
        self._models[path] = dict(files)

    @guarded
    def register(self, name: str, source: str, creation_time: int) -> ModelVersion:
        """Written at once (the number is claimed against other processes), taken back if the
        unit fails."""
        self._require_run()
        mark = self._mark(source)
        if mark is not None and not mark.exists():
            # Written first: with it, a model is never replaced once a version points at it.
            ensure_dir(mark.parent)
            write_atomic(mark, source.encode("utf-8", "surrogatepass"), sync_dir=True)
            self._undo.append(functools.partial(unlink_quietly, mark))
        model = self._root / REGISTRY / encode_name(name)
        folder = model / "versions"
        ensure_dir(folder)
        record = model / MODEL_RECORD
        numbers = [*version_numbers(folder), *version_numbers(model / DELETED)]
        if not record.exists():
            first = read_version(folder / f"{min(numbers)}.json") if numbers else None
            created = creation_time if first is None else first.creation_time
            new = RegisteredModel(name, created, created)
            if publish_exclusive(record, dump_json(model_json(new))):
                self._undo.append(functools.partial(unlink_quietly, record))
        # a deleted version's number is not given again
        number = max(numbers, default=0) + 1
        while True:
            version = ModelVersion(name, number, source, self._run_id, creation_time)
            path = folder / f"{number}.json"
            if publish_exclusive(path, dump_json(version_json(version))):
                self._undo.append(functools.partial(unlink_quietly, path))
                return version
            number += 1  # another process registered this number first

    # ------------------------------------------------------------------ leaving the unit

    @guarded
    def discard(self) -> None:
        """Take back what was written at once (registrations): the unit raised."""
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()

    @guarded
    def commit(self) -> None:
        """Write what the unit holds, in the order the module docstring gives."""
        folder = self._folder
        if folder is None or not self._changed():
            self._undo.clear()
            return
        try:
            self._write(folder)
        except BaseException:
            self.discard()
            self._journals.forget(folder)
            raise
        self._undo.clear()
        if self._created is not None or self._params or self._tags or self._lines or self._ended:
            self._show(folder)

    def _write(self, folder: Path) -> None:
        journal = self._journal_lines()
        if journal:
            self._undo.append(append(folder, journal))
        if self._lines:
            self._undo.append(append_metrics(folder, self._lines))
        if self._hashes or self._models:
            self._write_integrity()
        if self._batches:
            lines = "".join(f"{batch_id}\n" for batch_id in self._batches)
            self._undo.append(_append_durably(folder / BATCHES, lines.encode("utf-8")))
        info = self._info
        if self._created is not None and info is not None:
            if not publish_exclusive(folder / _RUN, dump_json(info_json(info))):
                raise StoreError(f"file store: run {self._run_id} was created meanwhile")
        elif self._info_changed and info is not None:
            write_atomic(folder / _RUN, dump_json(info_json(info)), sync_dir=True)

    def _journal_lines(self) -> bytes:
        entries: list[Entry] = []
        data = b""
        if self._created is not None:
            data = HEADER + encode(("tag", k, v) for k, v in self._created.items())
        entries += [("param", k, v) for k, v in self._params.items()]
        for key, value in self._tags.items():
            if value != self._stored_tag(key):  # the same value again changes nothing
                entries.append(("tag", key, value) if value is not None else ("untag", key, None))
        return data + encode(entries) if entries else data

    def _write_integrity(self) -> None:
        folder = self._integrity()
        ensure_dir(folder)
        hashes = read_json(folder / HASHES) or {}
        hashes.update(self._hashes)
        # hashes first: a model record always has its files' hashes beside it
        self._undo.append(_rewrite(folder / HASHES, dump_json(hashes)))
        if self._models:
            models = read_json(folder / MODELS) or {}
            models.update(self._models)
            self._undo.append(_rewrite(folder / MODELS, dump_json(models)))

    def _show(self, folder: Path) -> None:
        """Bring the files that show the journal up to date: all of it when the run ends, and
        for a tag changed on an ended run (no later write would catch the files up)."""
        info = self._info
        done = self._ended or (info is not None and info.status is not RunStatus.RUNNING)
        try:
            journal = self._journals.current(folder)
            update_view(folder, journal, None if done else _VIEW_SECONDS)
        except OSError as exc:
            # The unit is stored: failing it now would have its sender store it again. The
            # files are caught up by the run's next write or its end.
            _log.warning("file store: params/ and tags/ of run %s not shown yet: %s", folder, exc)

    # ------------------------------------------------------------------------------ helpers

    def _changed(self) -> bool:
        return bool(
            self._created is not None
            or self._info_changed
            or self._params
            or self._tags
            or self._lines
            or self._batches
            or self._hashes
            or self._models
        )

    def _require_run(self) -> RunInfo:
        info = self.info()
        if info is None:
            raise StoreError(f"file store: no run {self._run_id} to write to")
        return info

    def _stored_journal(self) -> Journal:
        assert self._folder is not None
        if self._journal is None:
            self._journal = self._journals.current(self._folder)
        return self._journal

    def _stored_tag(self, key: str) -> str | None:
        """The tag's value before this unit."""
        if self._created is not None:
            return self._created.get(key)
        if self._folder is None:
            return None
        return self._stored_journal().tag(self._folder, key)

    def _integrity(self) -> Path:
        # Beside the experiments, not in a run folder: no artifact path can reach it.
        return self._root / INTEGRITY / self._run_id

    def _mark(self, source: str) -> Path | None:
        """The file that marks the model of ``source`` registered (None: not a model of this
        run's, so not marked)."""
        prefix = f"runs:/{self._run_id}/"
        path = source[len(prefix) :].strip("/") if source.startswith(prefix) else ""
        return self._integrity() / REGISTERED / encode_name(path) if path else None


def all_versions(registry: Path) -> list[ModelVersion]:
    """Every version of every registered model (without aliases)."""
    try:
        models = [entry for entry in os.listdir(registry) if not entry.startswith(".")]
    except FileNotFoundError:
        return []
    found = []
    for model in models:
        folder = registry / model / "versions"
        for number in version_numbers(folder):
            version = read_version(folder / f"{number}.json")
            if version is not None:
                found.append(version)
    return found


def _rewrite(path: Path, data: bytes) -> _Undo:
    """Replace ``path`` atomically and durably; return what puts the old file back."""
    before = read_bytes(path)
    write_atomic(path, data, sync_dir=True)
    return functools.partial(_restore, path, before)


def _restore(path: Path, before: bytes | None) -> None:
    with contextlib.suppress(OSError):
        if before is None:
            os.unlink(path)
        else:
            write_atomic(path, before, sync_dir=True)


def _append_durably(path: Path, data: bytes) -> _Undo:
    """Append ``data`` with one write and one fdatasync; return what cuts it back off."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | O_BINARY, 0o666)
    size = 0
    try:
        with naming(path):
            size = os.fstat(fd).st_size
            write_all(fd, data)
            fdatasync(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise
    finally:
        os.close(fd)
    if not size:
        fsync_dir(path.parent)  # a new file: its name must last as long as its lines
    return functools.partial(_truncate, path, size)


def _truncate(path: Path, size: int) -> None:
    with contextlib.suppress(OSError):
        os.truncate(path, size)
