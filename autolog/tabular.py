"""Runs as a table: one row per run, attributes first, then ``params.<key>``, ``metrics.<key>``
and ``tags.<key>`` columns. ``search_runs(output_format="pandas")`` and ``autolog export``
build on it; pandas and pyarrow are imported only here, and only when asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from autolog.entities import Run
from autolog.errors import InvalidInputError

__all__ = ["ATTRIBUTES", "columns", "row", "to_arrow", "to_dataframe"]

#: the attribute columns, in order; times are milliseconds since the epoch in ``row``
ATTRIBUTES = (
    "run_id",
    "run_name",
    "experiment_id",
    "experiment_name",
    "status",
    "start_time",
    "end_time",
    "parent_run_id",
    "artifact_uri",
)
_TIMES = ("start_time", "end_time")


def columns(runs: Iterable[Run]) -> list[str]:
    """Every column the runs need: the attributes, then each kind of key in sorted order."""
    params: set[str] = set()
    metrics: set[str] = set()
    tags: set[str] = set()
    for run in runs:
        params.update(run.data.params)
        metrics.update(run.data.metrics)
        tags.update(run.data.tags)
    return [
        *ATTRIBUTES,
        *(f"params.{k}" for k in sorted(params)),
        *(f"metrics.{k}" for k in sorted(metrics)),
        *(f"tags.{k}" for k in sorted(tags)),
    ]


def row(run: Run, experiment_names: Mapping[str, str]) -> dict[str, Any]:
    """One run's values by column (a key the run lacks is absent)."""
    info, data = run.info, run.data
    values: dict[str, Any] = {
        "run_id": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "experiment_name": experiment_names.get(info.experiment_id),
        "status": str(info.status),
        "start_time": info.start_time,
        "end_time": info.end_time,
        "parent_run_id": info.parent_run_id,
        "artifact_uri": info.artifact_uri,
    }
    values.update({f"params.{k}": v for k, v in data.params.items()})
    values.update({f"metrics.{k}": v for k, v in data.metrics.items()})
    values.update({f"tags.{k}": v for k, v in data.tags.items()})
    return values


def to_dataframe(runs: Sequence[Run], experiment_names: Mapping[str, str]) -> Any:
    """The runs as a pandas DataFrame: times as UTC datetimes, metrics as floats (NaN where a
    run lacks one), params and tags as strings (None where missing)."""
    try:
        import pandas as pd
    except ImportError:
        raise InvalidInputError(
            "output_format='pandas' needs pandas, which is not installed: pip install pandas"
        ) from None
    names = columns(runs)
    rows = [row(run, experiment_names) for run in runs]
    data: dict[str, Any] = {}
    for name in names:
        values = [r.get(name) for r in rows]
        if name in _TIMES:
            data[name] = pd.to_datetime(pd.Series(values, dtype="Int64"), unit="ms", utc=True)
        elif name.startswith("metrics."):
            data[name] = pd.Series(
                [float("nan") if v is None else v for v in values], dtype="float64"
            )
        else:
            data[name] = pd.Series(values, dtype="object")
    return pd.DataFrame(data, columns=names)


def to_arrow(runs: Sequence[Run], experiment_names: Mapping[str, str]) -> Any:
    """The runs as a pyarrow Table (for Parquet): typed columns as in ``to_dataframe``."""
    try:
        import pyarrow as pa
    except ImportError:
        raise InvalidInputError(
            "writing Parquet needs pyarrow, which is not installed: pip install pyarrow"
        ) from None
    names = columns(runs)
    rows = [row(run, experiment_names) for run in runs]
    fields = []
    for name in names:
        if name in _TIMES:
            fields.append(pa.field(name, pa.timestamp("ms", tz="UTC")))
        elif name.startswith("metrics."):
            fields.append(pa.field(name, pa.float64()))
        else:
            fields.append(pa.field(name, pa.string()))
    schema = pa.schema(fields)
    arrays = [
        pa.array([r.get(name) for r in rows], type=f.type)
        for name, f in zip(names, fields, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=schema)
