"""The ``Store`` protocol, and ``open_store`` that picks a backend from a tracking URI."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from autolog.entities import Experiment, Metric, ModelVersion, Param, Run, RunStatus, RunTag
from autolog.errors import InvalidURIError

if TYPE_CHECKING:
    from pathlib import Path

    from autolog.search import Comparison, OrderBy

__all__ = [
    "DEFAULT_DIR",
    "Store",
    "default_artifact_root",
    "fork_safe_lock",
    "local_path",
    "open_store",
]

DEFAULT_DIR = "autolog-runs"


@runtime_checkable
class Store(Protocol):
    """What every tracking backend provides. All methods are safe to call from any thread.

    Run ids are made by the caller (a 32-character hex uuid). Raise ``NotFoundError`` for missing
    experiments, runs and model versions, ``ParamCollisionError`` when a param would change,
    ``StoreUnavailableError`` for failures worth retrying, ``StoreError`` for the rest.
    """

    #: where experiments created by this store keep artifacts unless told otherwise
    artifact_root: str

    def get_or_create_experiment(self, name: str) -> Experiment:
        """The experiment called ``name``, created atomically (also across processes)."""
        ...

    def get_experiment(self, experiment_id: str) -> Experiment: ...

    def get_experiment_by_name(self, name: str) -> Experiment | None: ...

    def list_experiments(self) -> list[Experiment]: ...

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
        ...

    def update_run(self, run_id: str, status: RunStatus, end_time: int | None) -> None: ...

    def get_run(self, run_id: str) -> Run: ...

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None,
        filters: Sequence[Comparison],
        order_by: Sequence[OrderBy],
        max_results: int,
    ) -> list[Run]:
        """Runs of the experiments (None: all) matching every filter, in order, newest first."""
        ...

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Store everything or nothing. Re-logging a param with its stored value is a no-op."""
        ...

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every value of ``key``, ordered by step, equal steps in the order they were logged."""
        ...

    def record_artifact_hashes(self, run_id: str, hashes: Mapping[str, str]) -> None:
        """Record SHA-256 digests of artifact files (paths relative to the run's root)."""
        ...

    def get_artifact_hashes(self, run_id: str, prefix: str = "") -> dict[str, str]:
        """The recorded digests of files at or under ``prefix``."""
        ...

    def create_model_version(self, name: str, source: str, run_id: str | None) -> ModelVersion:
        """Register ``source`` as the next version of model ``name`` (created if new)."""
        ...

    def get_model_version(self, name: str, version: int) -> ModelVersion: ...

    def set_model_alias(self, name: str, alias: str, version: int) -> None: ...

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...

    def close(self) -> None: ...


_lock_owners: weakref.WeakSet[Any] = weakref.WeakSet()


def fork_safe_lock(owner: object) -> threading.RLock:
    """A lock for ``owner._lock`` that a forked child gets anew: the parent's writer or another
    thread may hold the old one at the moment of the fork, and never release it there."""
    _lock_owners.add(owner)
    return threading.RLock()


def _new_locks_after_fork() -> None:
    for owner in list(_lock_owners):
        owner._lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_locks_after_fork)


def local_path(uri: str) -> Path:
    """The filesystem path of a ``file:`` URI or a plain path."""
    from pathlib import Path

    parts = urlsplit(uri)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidURIError(uri, "file URIs must name a local path (file:///dir)")
        return Path(unquote(parts.path))
    if parts.scheme and len(parts.scheme) > 1:
        raise InvalidURIError(uri, f"expected a local path or file:// URI, not {parts.scheme}:")
    return Path(uri)


def default_artifact_root() -> str:
    """``$AUTOLOG_ARTIFACT_ROOT``, else ``./autolog-runs/artifacts``, as an absolute file URI."""
    from pathlib import Path

    configured = os.environ.get("AUTOLOG_ARTIFACT_ROOT")
    if configured:
        if "://" in configured:
            return configured.rstrip("/")
        return Path(configured).resolve().as_uri()
    return (Path.cwd() / DEFAULT_DIR / "artifacts").resolve().as_uri()


def open_store(uri: str) -> Store:
    """The store for a tracking URI.

    ``memory:`` (in-process, for tests), ``sqlite:///path.db``, ``file:///dir`` (or a plain
    directory path), ``postgresql://user:pw@host/db``; ``http(s)://`` once the server exists.
    """
    scheme = urlsplit(uri).scheme.lower()
    if scheme == "memory":
        from autolog.stores.memory import MemoryStore

        return MemoryStore()
    if scheme == "sqlite" or scheme.startswith(("postgresql", "postgres")):
        from autolog.stores.sql import SqlStore

        return SqlStore(uri)
    if scheme in ("file", "") or (len(scheme) == 1 and os.name == "nt"):
        from autolog.stores.file import FileStore

        return FileStore(uri)
    raise InvalidURIError(
        uri, "unsupported tracking URI scheme (use sqlite:///, file:///, postgresql://, memory:)"
    )
