"""Removing deleted runs and experiments for good: ``Client.purge_deleted`` and ``autolog gc``.

A run deleted with ``delete_run`` (or one of an experiment deleted with ``delete_experiment``)
stays in the store, hidden, until it is purged here: its record and everything logged to it go
from the store first, then its artifact folder, so a purge cut short leaves at worst files
without a run, never a run without its files. Runs that registered model versions point at
are kept, and said so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import NamedTuple

from autolog.errors import InvalidInputError
from autolog.stores.base import Store
from autolog.stores.common import local_path

__all__ = ["PurgeReport", "purge"]

# every deleted run, however many
_ALL = 2**31 - 1


class PurgeReport(NamedTuple):
    """What a purge removed (or, in a dry run, would remove)."""

    runs: tuple[str, ...]
    experiments: tuple[str, ...]
    #: bytes of artifact files removed
    bytes_freed: int
    #: why some deleted runs or experiments were kept, one line each
    kept: tuple[str, ...]


def purge(store: Store, deleted_before: int, *, dry_run: bool = False) -> PurgeReport:
    """Purge what was deleted at or before ``deleted_before`` (ms since the epoch)."""
    experiments = [
        e
        for e in store.list_experiments("deleted")
        if e.deleted_time is not None and e.deleted_time <= deleted_before
    ]
    # A tracking server removes the files of what it purges itself; only a local store's
    # artifact folders are ours to remove (and to measure).
    from autolog.artifacts import served_by_store

    local = not served_by_store(store)
    doomed = {e.experiment_id for e in experiments}
    runs = [
        r
        for r in store.search_runs(None, [], [], _ALL, "deleted")
        if r.info.deleted_time is not None
        and r.info.deleted_time <= deleted_before
        and r.info.experiment_id not in doomed
    ]
    purged_runs: list[str] = []
    purged_experiments: list[str] = []
    kept: list[str] = []
    freed = 0
    for run in runs:
        size = _size(run.info.artifact_uri) if local else 0
        if not dry_run:
            try:
                store.purge_run(run.info.run_id)
            except InvalidInputError as exc:
                kept.append(str(exc))
                continue
            if local:
                _remove(run.info.artifact_uri)
        purged_runs.append(run.info.run_id)
        freed += size
    for experiment in experiments:
        inside = store.search_runs([experiment.experiment_id], [], [], _ALL, "all")
        size = sum(_size(r.info.artifact_uri) for r in inside) if local else 0
        if not dry_run:
            try:
                store.purge_experiment(experiment.experiment_id)
            except InvalidInputError as exc:
                kept.append(f"experiment {experiment.name!r} kept: {exc}")
                continue
            if local:
                for run in inside:
                    _remove(run.info.artifact_uri)
                _remove(experiment.artifact_location)
        purged_experiments.append(experiment.experiment_id)
        purged_runs.extend(r.info.run_id for r in inside)
        freed += size
    return PurgeReport(tuple(purged_runs), tuple(purged_experiments), freed, tuple(kept))


def _folder(artifact_uri: str) -> Path | None:
    """The local folder of an artifact URI; None for one that is not local (a server or a
    bucket removes its own)."""
    if "://" in artifact_uri and not artifact_uri.startswith("file:"):
        return None
    try:
        return local_path(artifact_uri)
    except InvalidInputError:
        return None


def _size(artifact_uri: str) -> int:
    folder = _folder(artifact_uri)
    if folder is None or not folder.is_dir():
        return 0
    total = 0
    for base, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except OSError:
                continue
    return total


def _remove(artifact_uri: str) -> None:
    folder = _folder(artifact_uri)
    if folder is None:
        return
    shutil.rmtree(folder, ignore_errors=True)
    # <root>/<experiment>/<run_id>/artifacts: the run's own folder goes too once empty
    parent = folder.parent
    if folder.name == "artifacts":
        with contextlib.suppress(OSError):
            parent.rmdir()
