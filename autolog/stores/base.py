"""The ``Store`` protocol, and ``open_store`` that picks a backend from a tracking URI."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import urlsplit

from autolog.entities import (
    AccessToken,
    Experiment,
    Metric,
    MetricColumns,
    ModelVersion,
    Param,
    RegisteredModel,
    Run,
    RunPage,
    RunStatus,
    RunTag,
)
from autolog.errors import InvalidURIError
from autolog.stores.common import Lifecycle
from autolog.stores.uris import absolute_uri, sqlite_path
from autolog.stores.writes import RunCreation, RunWrites

if TYPE_CHECKING:
    from autolog.search import Comparison, OrderBy

# absolute_uri and sqlite_path live in stores.uris (the stores import them from there without
# importing this module, which imports every store); they are part of this module's face too
__all__ = [
    "Lifecycle",
    "RunCreation",
    "RunWrites",
    "Store",
    "absolute_uri",
    "check_uri",
    "open_store",
    "sqlite_path",
]


@runtime_checkable
class Store(Protocol):
    """What every tracking backend provides. All methods are safe to call from any thread.

    Run ids are made by the caller (a 32-character hex uuid). Raise ``NotFoundError`` for missing
    experiments, runs and model versions, ``ParamCollisionError`` when a param would change,
    ``InvalidInputError`` for text no store can hold (a NUL, a lone surrogate: see
    ``validation.text_problem``), ``RunStateError`` for a write the state of a run forbids,
    ``StoreUnavailableError`` for failures worth retrying, ``StoreError`` for the rest.

    The rules behind those errors are ``autolog.tracking``'s, written once: every local store
    is a ``Tracking`` over an engine, and a tracking server runs one, so the REST store gives
    the same answers. In short: a run that has ended takes no writes but tags and a new name,
    and its end does not change again (a run presumed killed takes its owner's); a deleted
    run takes no new name, nor tags once ended; a RUNNING run whose process is
    gone reads as KILLED; params do not change; a batch id is stored once; a model's files are
    ``record_model``'s, and a registered one is final; see ``docs/architecture.md``.
    """

    #: where experiments created by this store keep artifacts unless told otherwise
    artifact_root: str

    def get_or_create_experiment(
        self, name: str, *, creation_time: int | None = None
    ) -> Experiment:
        """The experiment called ``name``, created atomically (also across processes).
        ``creation_time`` is for imports only: the time another system created it, used where
        it is created here (default: now)."""
        ...

    def get_experiment(self, experiment_id: str) -> Experiment: ...

    def get_experiment_by_name(self, name: str) -> Experiment | None: ...

    def list_experiments(self, lifecycle: Lifecycle = "active") -> list[Experiment]:
        """Experiments in creation order: "active" ones, "deleted" ones, or "all"."""
        ...

    def rename_experiment(self, experiment_id: str, name: str) -> None:
        """Give the experiment a new name; a name another experiment has is an error."""
        ...

    def delete_experiment(self, experiment_id: str, *, deleted_time: int | None = None) -> None:
        """Soft-delete: the experiment and its runs are hidden (``list_experiments``,
        ``search_runs``) until restored or purged; its name stays taken, and
        ``get_or_create_experiment`` refuses it. Deleting it again changes nothing.
        ``deleted_time`` is for imports only: when another system deleted it (default: now)."""
        ...

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        """Set a tag of the experiment itself (keys and values as run tags'); a deleted
        experiment takes none (``InvalidInputError``)."""
        ...

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove the experiment's tag; one it does not have is no change."""
        ...

    def restore_experiment(self, experiment_id: str) -> None: ...

    def purge_experiment(self, experiment_id: str) -> None:
        """Remove a deleted experiment for good, with every run recorded in it (see
        ``purge_run``). An experiment that is not deleted is an error."""
        ...

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

    def update_run(self, run_id: str, status: RunStatus, end_time: int | None) -> None:
        """Set a RUNNING run's status (and end time); ``RunStateError`` once it has ended."""
        ...

    def rename_run(self, run_id: str, name: str) -> None:
        """Give the run another name (non-empty text), whatever its state; a deleted run is
        not renamed (``RunStateError``)."""
        ...

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove the run's tag ``key`` under the rules of setting one (an ended run's too,
        not a deleted ended run's); one it does not have is no change."""
        ...

    def get_run(self, run_id: str) -> Run: ...

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None,
        filters: Sequence[Comparison],
        order_by: Sequence[OrderBy],
        max_results: int,
        lifecycle: Lifecycle = "active",
    ) -> list[Run]:
        """Runs of the experiments (None: all) matching every filter, in order, newest first.

        ``lifecycle``: "active" runs (neither they nor their experiment deleted), "deleted"
        runs (deleted themselves), or "all".
        """
        ...

    def delete_run(self, run_id: str) -> None:
        """Soft-delete: the run is hidden from ``search_runs`` (``get_run`` still reads it,
        with ``deleted_time`` set) until restored or purged. Deleting it again changes
        nothing."""
        ...

    def restore_run(self, run_id: str) -> None:
        """Undo ``delete_run`` (a run that is not deleted stays as it is)."""
        ...

    def purge_run(self, run_id: str) -> None:
        """Remove a deleted run for good: its record, params, tags, metrics and artifact
        hashes (its artifact files are the caller's to remove). A run that is not deleted,
        or that a registered model version points at, is an error (``InvalidInputError``)."""
        ...

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        batch_id: str | None = None,
    ) -> None:
        """Store everything or nothing. Re-logging a param with its stored value is a no-op.

        ``batch_id``: a batch whose id this run has stored before is not stored again, so a
        sender that lost the answer to a write may send it again (the REST store does).
        """
        ...

    def write_run(self, run_id: str, writes: RunWrites) -> None:
        """Apply ``writes`` to the run all together or not at all, with the rules of the
        methods they stand for (``create_run``, ``log_batch``, ``record_artifact_hashes``,
        ``record_model``, ``update_run``): a short run queued whole is one transaction."""
        ...

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every value of ``key``, ordered by step, equal steps in the order they were logged."""
        ...

    def get_metric_columns(
        self, run_id: str, key: str, min_step: int | None = None, max_step: int | None = None
    ) -> MetricColumns:
        """The values of ``key`` with ``min_step <= step <= max_step`` (None: no bound), as
        columns in ``get_metric_history``'s order. Charts read long series this way."""
        ...

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
        """Matches ``offset`` to ``offset + limit`` in ``search_runs``' order (``lifecycle`` as
        there), how many match in all, and how many matching child runs each run of the page
        has. ``top_level``: only runs without a parent (their children are found with
        ``attributes.parent_run_id``)."""
        ...

    def record_artifact_hashes(self, run_id: str, hashes: Mapping[str, str]) -> None:
        """Record SHA-256 digests of artifact files (paths relative to the run's root).

        ``RunStateError`` for a run that has ended or a path inside a logged model's folder.
        """
        ...

    def get_artifact_hashes(self, run_id: str, prefix: str = "") -> dict[str, str]:
        """The recorded digests of files at or under ``prefix``."""
        ...

    def record_model(self, run_id: str, path: str, files: Mapping[str, str]) -> None:
        """Record that ``log_model`` logged a model at ``path`` of the run, made of ``files``
        (their paths relative to the run's root, under ``path``, and SHA-256 digests). The
        digests are also recorded as artifact hashes. Logging a model at ``path`` again
        replaces the record, unless a registered version points at it (``RunStateError``, as
        for a run that has ended)."""
        ...

    def get_model_files(self, run_id: str, path: str) -> dict[str, str] | None:
        """The files and digests of the model recorded at ``path``; None if there is none."""
        ...

    def create_model_version(self, name: str, source: str, run_id: str | None) -> ModelVersion:
        """Register ``source`` (``runs:/<run_id>/<path>`` of a recorded model) as the next
        version of model ``name`` (created if new); ``NotFoundError`` if no model was
        recorded there."""
        ...

    def get_model_version(self, name: str, version: int) -> ModelVersion: ...

    def set_model_alias(self, name: str, alias: str, version: int) -> None: ...

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...

    def create_token(self, token: AccessToken) -> None:
        """Keep a tracking server's access token; InvalidInputError if its name or id is taken."""
        ...

    def get_token(self, token_id: str) -> AccessToken | None: ...

    def list_tokens(self) -> list[AccessToken]:
        """Every token, oldest first."""
        ...

    def revoke_token(self, name: str) -> None:
        """Delete the token called ``name``; NotFoundError if there is none."""
        ...

    def list_model_versions(self, name: str | None = None) -> list[ModelVersion]:
        """Every version of model ``name`` (None: of every model) with its aliases, ordered by
        model name, then version; an unknown name has none."""
        ...

    def get_registered_model(self, name: str) -> RegisteredModel: ...

    def search_registered_models(
        self, filter_string: str = "", max_results: int = 100
    ) -> list[RegisteredModel]:
        """Registered models matching ``filter_string`` (``autolog.model_search``), by name."""
        ...

    def delete_model_version(self, name: str, version: int) -> None:
        """Remove the version with its aliases and tags; its number is not given again. A run
        none of whose versions remain may be purged again."""
        ...

    def delete_registered_model(self, name: str) -> None:
        """Remove the model with every version, alias and tag; its name is free again."""
        ...

    def delete_model_alias(self, name: str, alias: str) -> None: ...

    def rename_registered_model(self, name: str, new_name: str) -> None:
        """Versions, aliases and tags follow the model; a name another model has is an error."""
        ...

    def update_registered_model(self, name: str, description: str | None) -> None:
        """Set the model's description ('' or None: none)."""
        ...

    def update_model_version(self, name: str, version: int, description: str | None) -> None: ...

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None: ...

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """``NotFoundError`` if the model has no such tag."""
        ...

    def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None: ...

    def delete_model_version_tag(self, name: str, version: int, key: str) -> None: ...

    def close(self) -> None: ...


def check_uri(uri: str) -> None:
    """Raise ``InvalidURIError`` unless ``open_store`` knows what to open for ``uri``; no I/O."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in ("memory", "http", "https") or scheme.startswith(("postgresql", "postgres")):
        return
    if scheme == "sqlite":
        sqlite_path(uri)
        return
    if scheme in ("file", "") or (len(scheme) == 1 and os.name == "nt"):
        if scheme == "file" and parts.netloc not in ("", "localhost"):
            raise InvalidURIError(uri, "file URIs must name a local path (file:///dir)")
        return
    raise InvalidURIError(
        uri,
        "unsupported tracking URI scheme"
        " (use sqlite:///, file:///, postgresql://, http(s)://, memory:)",
    )


def open_store(uri: str) -> Store:
    """The store for a tracking URI.

    ``memory:`` (in-process, for tests), ``sqlite:///relative.db`` or
    ``sqlite:////absolute.db`` (see ``sqlite_path``), ``file:///absolute/dir``,
    ``file:relative/dir`` or a plain directory path, ``postgresql://user:pw@host/db``,
    ``http(s)://host:port`` (a tracking server, see ``autolog server``). A relative path is
    taken against the working folder of this call (``stores.uris.absolute_uri`` fixes it
    first).
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
    if scheme in ("http", "https"):
        from autolog.stores.rest import RestStore

        return RestStore(uri)
    raise InvalidURIError(
        uri,
        "unsupported tracking URI scheme"
        " (use sqlite:///, file:///, postgresql://, http(s)://, memory:)",
    )
