"""``RunWrites``: writes to one run that a store applies in one unit of work (``write_run``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from autolog.entities import Metric, Param, RunStatus, RunTag

__all__ = ["RunCreation", "RunWrites"]


class RunCreation(NamedTuple):
    """The arguments of ``Store.create_run`` after the run id."""

    experiment_id: str
    run_name: str
    start_time: int
    artifact_uri: str
    parent_run_id: str | None
    tags: Mapping[str, str]


class RunWrites(NamedTuple):
    """Writes to one run, applied by ``Store.write_run`` in one unit of work and in this
    order: its creation, the batch (``log_batch``'s, with ``batch_id``), artifact hashes,
    models (path -> files, as ``record_model``), its end (status and end time)."""

    create: RunCreation | None = None
    metrics: Sequence[Metric] = ()
    params: Sequence[Param] = ()
    tags: Sequence[RunTag] = ()
    batch_id: str | None = None
    hashes: Mapping[str, str] | None = None
    models: Mapping[str, Mapping[str, str]] | None = None
    end: tuple[RunStatus, int | None] | None = None
