"""The storage engine protocol: what a backend must do to keep runs, and nothing more.

An engine stores and fetches. It knows no rule: which writes a run takes, which param may not
change, what a retried batch is, when a run is taken for dead, which model may not be replaced:
all of that is ``autolog.tracking.Tracking``, the one service over every engine. An engine
raises no domain error (``NotFoundError``, ``ParamCollisionError``, ``RunStateError``,
``InvalidInputError``): where the service needs to know, it answers with ``None`` or ``False``.
It raises ``StoreUnavailableError`` for a fault worth retrying (``errors.is_transient``) and
``StoreError`` for the rest.

Each engine offers one unit of work per run (``run_unit``): the service reads what its rules
need and writes, and either everything written in the unit is kept or nothing is. SQL: one
transaction with the run's row locked; files: the run's lock, the unit's writes made durable
together on leaving it; memory: a lock.

Texts reaching an engine have been checked by the service (``validation.text_problem``), ids are
the service's, experiment ids are made by the engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

from autolog.entities import (
    AccessToken,
    Experiment,
    Metric,
    MetricColumns,
    ModelVersion,
    Param,
    RegisteredModel,
    Run,
    RunInfo,
    RunPage,
    RunStatus,
    RunTag,
)

if TYPE_CHECKING:
    from autolog.search import Comparison, OrderBy
    from autolog.stores.common import Lifecycle

__all__ = ["Engine", "RunUnit"]


class RunUnit(Protocol):
    """One run's unit of work: what the service reads to apply its rules, and the writes it
    makes; kept all together when the ``with`` block leaves normally, none of them when it
    raises. Reads inside a unit see the unit's own writes."""

    def info(self) -> RunInfo | None:
        """The run's record; None if there is no such run."""
        ...

    def tag(self, key: str) -> str | None: ...

    def params(self, keys: Sequence[str]) -> dict[str, str]:
        """The stored values of those of ``keys`` the run has."""
        ...

    def claim_batch(self, batch_id: str) -> bool:
        """Remember ``batch_id`` for the run; False if it was remembered before."""
        ...

    def models(self) -> dict[str, dict[str, str]]:
        """The run's recorded models: path -> {file path: SHA-256}."""
        ...

    def registered_as(self, source: str) -> ModelVersion | None:
        """The first version (by name, then number) registered from ``source``; None if none."""
        ...

    def create(self, info: RunInfo, tags: Mapping[str, str]) -> bool:
        """Insert the run; False (and nothing written) if the run id is taken."""
        ...

    def add(
        self, metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
    ) -> None:
        """Append metric values; insert ``params`` (new keys only: the service checked them);
        set ``tags`` (a key repeated: the last value)."""
        ...

    def untag(self, key: str) -> None: ...

    def set_status(self, status: RunStatus, end_time: int | None) -> None: ...

    def set_name(self, run_name: str) -> None:
        """Give the run another name (the service checked it and the run's state)."""
        ...

    def set_deleted(self, deleted_time: int | None) -> None: ...

    def add_hashes(self, hashes: Mapping[str, str]) -> None:
        """Record (or replace) artifact digests by path."""
        ...

    def put_model(self, path: str, files: Mapping[str, str], creation_time: int) -> None:
        """Record (or replace) the model at ``path``: its files' digests by path (the service adds
        them to the run's artifact hashes itself)."""
        ...

    def register(self, name: str, source: str, creation_time: int) -> ModelVersion:
        """Register ``source`` (a model of this run) as the next version of ``name``, creating
        the model; numbers count from 1 per model, never reused while it exists (a deleted
        version's number neither)."""
        ...


class Engine(Protocol):
    """Where runs are kept. Safe to call from any thread; a unit of work excludes other units
    of the same run, in this process and in others sharing the storage."""

    #: where experiments created by this engine keep artifacts unless told otherwise
    artifact_root: str

    def run_unit(self, run_id: str) -> AbstractContextManager[RunUnit]:
        """One unit of work on ``run_id`` (which may not exist yet: ``RunUnit.create``)."""
        ...

    # experiments
    def experiment(self, experiment_id: str) -> Experiment | None: ...

    def experiment_named(self, name: str) -> Experiment | None: ...

    def experiments(self) -> list[Experiment]:
        """Every experiment, deleted ones too, in creation order."""
        ...

    def add_experiment(self, name: str, creation_time: int) -> Experiment:
        """The experiment called ``name``: created with a new id and ``<artifact_root>/<id>`` as
        its artifact location, or the one that has the name already (deleted or not), atomically
        also across processes."""
        ...

    def set_experiment(self, experiment: Experiment) -> bool:
        """Store the experiment's name and deleted time (not its tags); False (and nothing
        changed) if another experiment has the name."""
        ...

    def set_experiment_tag(self, experiment_id: str, key: str, value: str | None) -> None:
        """Set the experiment's tag ``key`` to ``value`` (None: remove it), one key at a time
        so that writers of different keys never undo each other; nothing where there is no
        such experiment."""
        ...

    def drop_experiment(self, experiment_id: str) -> None:
        """Remove the experiment, its tags and every run in it, for good."""
        ...

    # runs
    def run(self, run_id: str) -> Run | None: ...

    def find_runs(
        self,
        experiment_ids: Sequence[str] | None,
        filters: Sequence[Comparison],
        order_by: Sequence[OrderBy],
        max_results: int,
        lifecycle: Lifecycle,
    ) -> list[Run]:
        """As ``Store.search_runs``, on the stored records."""
        ...

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
        """As ``Store.search_run_page``, on the stored records."""
        ...

    def drop_run(self, run_id: str) -> None:
        """Remove the run's record, params, tags, metrics, hashes and models for good."""
        ...

    def metric_history(self, run_id: str, key: str) -> list[Metric] | None:
        """Every value of ``key`` ordered by step (equal steps as logged); None: no such run."""
        ...

    def metric_columns(
        self, run_id: str, key: str, min_step: int | None, max_step: int | None
    ) -> MetricColumns | None:
        """The values within the step bounds, as columns; None: no such run."""
        ...

    def artifact_hashes(self, run_id: str, prefix: str) -> dict[str, str]: ...

    def model_files(self, run_id: str, path: str) -> dict[str, str] | None: ...

    # model registry
    def model_version(self, name: str, version: int) -> ModelVersion | None:
        """The version with its aliases; None if there is none."""
        ...

    def model_versions(self, name: str | None) -> list[ModelVersion]:
        """Every version of ``name`` (None: of every model) with aliases, by name then number."""
        ...

    def versions_of_run(self, run_id: str) -> list[ModelVersion]:
        """The versions registered from models of ``run_id``."""
        ...

    def alias_version(self, name: str, alias: str) -> int | None: ...

    def set_alias(self, name: str, alias: str, version: int) -> None: ...

    def drop_alias(self, name: str, alias: str) -> bool:
        """False if the model has no such alias."""
        ...

    def registered_model(self, name: str) -> RegisteredModel | None:
        """The model with its tags, aliases and latest version; None if there is none."""
        ...

    def registered_models(self) -> list[RegisteredModel]:
        """Every registered model (as ``registered_model``), by name."""
        ...

    def drop_model_version(self, name: str, version: int, update_time: int) -> None:
        """Remove the version with its aliases and tags; its number is never given again
        while the model exists."""
        ...

    def drop_registered_model(self, name: str) -> None:
        """Remove the model with every version, alias and tag; the name is free again."""
        ...

    def rename_model(self, name: str, new_name: str, update_time: int) -> bool:
        """Move the model, its versions, aliases and tags to ``new_name``; False (and nothing
        changed) if a model has that name already."""
        ...

    def describe_model(
        self, name: str, version: int | None, description: str | None, update_time: int
    ) -> None:
        """Set the description of the model (``version`` None) or of one of its versions."""
        ...

    def tag_model(
        self, name: str, version: int | None, key: str, value: str | None, update_time: int
    ) -> None:
        """Set (``value`` None: remove) a tag of the model or of one of its versions."""
        ...

    # access tokens
    def add_token(self, token: AccessToken) -> bool:
        """False (and nothing stored) if the token's id or name is taken."""
        ...

    def token(self, token_id: str) -> AccessToken | None: ...

    def tokens(self) -> list[AccessToken]:
        """Every token, oldest first."""
        ...

    def drop_token(self, name: str) -> bool:
        """False if no token has the name."""
        ...

    def close(self) -> None: ...
