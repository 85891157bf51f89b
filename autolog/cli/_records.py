"""Runs, experiments and model versions as rows for tables and records for ``--format json``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click

from autolog.cli._output import Duration, RunId, Time

if TYPE_CHECKING:
    from autolog.client import Client
    from autolog.entities import Experiment, ModelVersion, Run

__all__ = [
    "ATTRIBUTE_COLUMNS",
    "DEFAULT_RUN_COLUMNS",
    "duration",
    "experiment_names",
    "experiment_record",
    "model_version_record",
    "parse_columns",
    "run_record",
    "run_row",
]

#: run attributes a column may name (bare or as ``attributes.<name>``)
ATTRIBUTE_COLUMNS = (
    "run_id",
    "run_name",
    "experiment",
    "experiment_id",
    "status",
    "start_time",
    "end_time",
    "duration",
    "parent_run_id",
    "artifact_uri",
    "deleted_time",
)
DEFAULT_RUN_COLUMNS = ("run_id", "run_name", "experiment", "status", "start_time", "duration")
HEADERS = {
    "run_id": "run id",
    "run_name": "name",
    "start_time": "started",
    "end_time": "ended",
    "parent_run_id": "parent",
    "experiment_id": "experiment id",
    "artifact_uri": "artifacts",
    "deleted_time": "deleted",
}


def experiment_names(client: Client) -> dict[str, str]:
    return {e.experiment_id: e.name for e in client.list_experiments("all")}


def parse_columns(values: Sequence[str]) -> list[str]:
    """``--columns params.lr,metrics.acc`` (repeatable) as column names; a usage error names
    one that is not ``params.``, ``metrics.``, ``tags.`` or a run attribute."""
    columns: list[str] = []
    for value in values:
        for raw in value.split(","):
            name = raw.strip()
            if not name:
                continue
            prefix, dot, key = name.partition(".")
            if dot and prefix in ("param", "params", "metric", "metrics", "tag", "tags") and key:
                columns.append(f"{prefix.rstrip('s')}s.{key}")
            elif dot and prefix in ("attribute", "attributes", "attr") and key:
                columns.append(_attribute(key))
            elif not dot:
                columns.append(_attribute(name))
            else:
                raise click.BadParameter(
                    f"{name!r} is not params.<key>, metrics.<key>, tags.<key> or an attribute "
                    f"({', '.join(ATTRIBUTE_COLUMNS)})",
                    param_hint="--columns",
                )
    return columns


def _attribute(name: str) -> str:
    aliases = {"name": "run_name", "id": "run_id", "started": "start_time", "ended": "end_time"}
    name = aliases.get(name, name)
    if name not in ATTRIBUTE_COLUMNS:
        raise click.BadParameter(
            f"unknown column {name!r} (use params.<key>, metrics.<key>, tags.<key> or one of "
            f"{', '.join(ATTRIBUTE_COLUMNS)})",
            param_hint="--columns",
        )
    return name


def duration(run: Run) -> Duration | None:
    if run.info.end_time is None:
        return None
    # max: a run may end in the millisecond it started, and its start is made unique
    return Duration(max(0, run.info.end_time - run.info.start_time) / 1000)


def run_row(run: Run, names: Mapping[str, str]) -> dict[str, Any]:
    """Every column a run can show, keyed as ``parse_columns`` names them."""
    info, data = run.info, run.data
    row: dict[str, Any] = {
        "run_id": RunId(info.run_id),
        "run_name": info.run_name,
        "experiment": names.get(info.experiment_id, info.experiment_id),
        "experiment_id": info.experiment_id,
        "status": str(info.status),
        "start_time": Time(info.start_time),
        "end_time": None if info.end_time is None else Time(info.end_time),
        "duration": duration(run),
        "parent_run_id": None if info.parent_run_id is None else RunId(info.parent_run_id),
        "artifact_uri": info.artifact_uri,
        "deleted_time": None if info.deleted_time is None else Time(info.deleted_time),
    }
    row.update({f"params.{k}": v for k, v in data.params.items()})
    row.update({f"metrics.{k}": v for k, v in data.metrics.items()})
    row.update({f"tags.{k}": v for k, v in data.tags.items()})
    return row


def run_record(run: Run, names: Mapping[str, str]) -> dict[str, Any]:
    """A run for ``--format json``: stable keys, times in ms since the epoch."""
    info, data = run.info, run.data
    return {
        "run_id": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "experiment_name": names.get(info.experiment_id),
        "status": str(info.status),
        "start_time": info.start_time,
        "end_time": info.end_time,
        "parent_run_id": info.parent_run_id,
        "artifact_uri": info.artifact_uri,
        "deleted_time": info.deleted_time,
        "params": dict(sorted(data.params.items())),
        "metrics": dict(sorted(data.metrics.items())),
        "tags": dict(sorted(data.tags.items())),
    }


def experiment_record(experiment: Experiment) -> dict[str, Any]:
    return {
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
        "artifact_location": experiment.artifact_location,
        "creation_time": Time(experiment.creation_time),
        "deleted_time": None if experiment.deleted_time is None else Time(experiment.deleted_time),
    }


def model_version_record(version: ModelVersion) -> dict[str, Any]:
    return {
        "name": version.name,
        "version": version.version,
        "aliases": list(version.aliases),
        "source": version.source,
        "run_id": version.run_id,
        "creation_time": Time(version.creation_time),
    }
