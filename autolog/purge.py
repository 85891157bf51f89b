"""Removing deleted runs and experiments for good: ``Client.purge_deleted`` and ``autolog gc``.

A run deleted with ``delete_run`` (or one of an experiment deleted with ``delete_experiment``)
stays in the store, hidden, until it is purged here: its record and everything logged to it go
from the store first, then its artifact files, so a purge cut short leaves at worst files
without a run, never a run without its files. A tracking server removes the files of what it
purges itself; the bytes freed are counted through the run's artifact repository, whichever it
is. Runs that registered model versions point at are kept, and said so (a dry run says it
too); once their versions are deleted (``Client.delete_model_version``) they are purged.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from autolog.errors import AutologError, InvalidInputError
from autolog.stores.base import Store

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
    registered = _registered(store) if dry_run else {}
    for run in runs:
        if run.info.run_id in registered:
            kept.append(registered[run.info.run_id])
            continue
        size = _size(store, run.info.run_id, run.info.artifact_uri)
        if not dry_run:
            try:
                store.purge_run(run.info.run_id)
            except InvalidInputError as exc:
                kept.append(str(exc))
                continue
            _remove(store, run.info.artifact_uri)
        purged_runs.append(run.info.run_id)
        freed += size
    for experiment in experiments:
        inside = store.search_runs([experiment.experiment_id], [], [], _ALL, "all")
        size = sum(_size(store, r.info.run_id, r.info.artifact_uri) for r in inside)
        if not dry_run:
            try:
                store.purge_experiment(experiment.experiment_id)
            except InvalidInputError as exc:
                kept.append(f"experiment {experiment.name!r} kept: {exc}")
                continue
            for run in inside:
                _remove(store, run.info.artifact_uri)
        purged_experiments.append(experiment.experiment_id)
        purged_runs.extend(r.info.run_id for r in inside)
        freed += size
    return PurgeReport(tuple(purged_runs), tuple(purged_experiments), freed, tuple(kept))


def _registered(store: Store) -> dict[str, str]:
    """Run id -> why it is kept, for each run that registered versions point at (what the
    store's ``purge_run`` refuses, said before a dry run would count it)."""
    versions: dict[str, list[str]] = {}
    for version in store.list_model_versions():
        if version.run_id is not None:
            versions.setdefault(version.run_id, []).append(f"{version.name}/{version.version}")
    return {
        run_id: f"run {run_id} holds registered model versions ({', '.join(names)}); it is kept"
        for run_id, names in versions.items()
    }


def _size(store: Store, run_id: str, artifact_uri: str) -> int:
    """Bytes of the run's artifact files, counted through its repository (any kind)."""
    from autolog.artifacts import artifact_repository

    try:
        repository = artifact_repository(artifact_uri, store=store, run_id=run_id)
        return _tree_size(repository, "")
    except (AutologError, OSError):
        return 0  # files that cannot be listed (gone, or a backend that is down) count nothing


def _tree_size(repository: Any, path: str) -> int:
    total = 0
    for entry in repository.list(path or None):
        total += _tree_size(repository, entry.path) if entry.is_dir else entry.file_size or 0
    return total


def _remove(store: Store, artifact_uri: str) -> None:
    """Remove a purged run's files (a local folder or a bucket prefix); a store that serves
    artifacts (a tracking server) has removed them itself with the run."""
    from autolog.artifacts import local_or_remote, served_by_store

    if served_by_store(store):
        return
    try:
        local_or_remote(artifact_uri).remove_all()
    except InvalidInputError:
        return  # a location this process cannot reach
