"""``autolog runs``: list, show and compare runs."""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any

import click

from autolog.cli._common import find_run, format_option, open_client, tracking_uri_option
from autolog.cli._output import FORMATS, Time, emit, emit_json, emit_sections
from autolog.cli._records import (
    DEFAULT_RUN_COLUMNS,
    HEADERS,
    duration,
    experiment_names,
    parse_columns,
    run_record,
    run_row,
)

if TYPE_CHECKING:
    from autolog.client import Client
    from autolog.entities import Run
    from autolog.stores.common import Lifecycle

__all__ = ["command"]


@click.group(
    epilog="""Examples:

\b
  autolog runs ls -e mnist --filter "metrics.acc > 0.9" --columns params.lr,metrics.acc
  autolog runs show 3fa2
  autolog runs compare 3fa2 91bc"""
)
def command() -> None:
    """List, show, compare, delete and restore runs."""


@command.command(
    "ls",
    epilog="""Examples:

\b
  autolog runs ls
  autolog runs ls -e mnist --filter "metrics.acc > 0.9 and params.model = 'rf'"
  autolog runs ls --order-by "metrics.acc DESC" --columns params.lr,metrics.acc --limit 5
  autolog runs ls --format json | jq '.[].run_id'""",
)
@click.option(
    "--experiment", "-e", "experiments", multiple=True, metavar="NAME", help="only this experiment"
)
@click.option(
    "--filter",
    "-f",
    "filter_string",
    default="",
    metavar="FILTER",
    help="e.g. \"metrics.acc > 0.9 and params.model = 'rf' and attributes.status = 'FINISHED'\"",
)
@click.option(
    "--order-by", "-o", multiple=True, metavar="CLAUSE", help="e.g. 'metrics.acc DESC' (repeat)"
)
@click.option(
    "--columns",
    "-c",
    multiple=True,
    metavar="LIST",
    help="extra columns, comma-separated: params.lr,metrics.acc,tags.team,end_time",
)
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="at most N runs",
)
@click.option("--deleted", is_flag=True, help="list deleted runs instead (to restore them)")
@format_option(*FORMATS)
@tracking_uri_option
def ls(
    experiments: tuple[str, ...],
    filter_string: str,
    order_by: tuple[str, ...],
    columns: tuple[str, ...],
    limit: int,
    deleted: bool,
    output_format: str | None,
    tracking_uri: str | None,
) -> None:
    """List runs, newest first (or in --order-by order).

    With --format json each run is a full record (params, metrics, tags, times in ms);
    --columns chooses what tables, tsv and csv show.
    """
    extra = parse_columns(columns)
    client = open_client(tracking_uri)
    lifecycle: Lifecycle = "deleted" if deleted else "active"
    runs = search(client, experiments, filter_string, list(order_by), limit, lifecycle)
    names = experiment_names(client)
    shown = [*DEFAULT_RUN_COLUMNS, *(c for c in extra if c not in DEFAULT_RUN_COLUMNS)]
    if deleted:
        shown.append("deleted_time")
    if not extra and len({r.info.experiment_id for r in runs}) <= 1 and experiments:
        shown.remove("experiment")
    emit(
        [run_row(run, names) for run in runs],
        shown,
        output_format,
        records=[run_record(run, names) for run in runs],
        headers=HEADERS,
    )
    if len(runs) == limit and sys.stderr.isatty():
        click.echo(f"(the first {limit} runs; --limit N shows more)", err=True)


def search(
    client: Client,
    experiments: tuple[str, ...] | list[str],
    filter_string: str,
    order_by: list[str],
    limit: int,
    lifecycle: Lifecycle = "active",
) -> list[Run]:
    """Runs of the named experiments (all when none is named); an unknown name is an error."""
    from autolog.errors import NotFoundError

    for name in experiments:
        if client.get_experiment_by_name(name) is None:
            raise NotFoundError("experiment", name)
    return client.search_runs(
        list(experiments) or None,
        filter_string,
        order_by or None,
        max_results=limit,
        lifecycle=lifecycle,
    )


@command.command(
    "show",
    epilog="""Examples:

\b
  autolog runs show 3fa2c1d0
  autolog runs show last --format json""",
)
@click.argument("run_id", metavar="RUN")
@click.option("--system-tags", is_flag=True, help="also list autolog's own autolog.* tags")
@format_option(*FORMATS)
@tracking_uri_option
def show(
    run_id: str, system_tags: bool, output_format: str | None, tracking_uri: str | None
) -> None:
    """Show a run: its attributes, params, latest metrics and tags.

    RUN is a run id, a unique prefix of one (4 characters at least), or "last" for the newest
    run.
    """
    client = open_client(tracking_uri)
    run = find_run(client, run_id)
    names = experiment_names(client)
    record = run_record(run, names)
    if output_format == "json":
        emit_json(record)
        return
    row = run_row(run, names)
    overview: list[tuple[str, Any]] = [
        ("run id", run.info.run_id),
        ("name", run.info.run_name),
        ("experiment", f"{row['experiment']} ({run.info.experiment_id})"),
        ("status", str(run.info.status)),
        ("started", row["start_time"]),
        ("ended", row["end_time"]),
        ("duration", row["duration"]),
        ("parent", run.info.parent_run_id),
        ("artifacts", run.info.artifact_uri),
        ("deleted", None if run.info.deleted_time is None else Time(run.info.deleted_time)),
    ]
    tags = run.data.tags
    for label, key in (
        ("source", "autolog.source.name"),
        ("command", "autolog.command"),
        ("git commit", "autolog.git.commit"),
        ("git dirty", "autolog.git.dirty"),
        ("user", "autolog.user"),
        ("host", "autolog.host"),
    ):
        if key in tags:
            overview.append((label, tags[key]))
    sections: list[tuple[str, list[tuple[str, Any]]]] = [
        ("run", [(k, v) for k, v in overview if v is not None]),
        ("params", sorted(run.data.params.items())),
        ("metrics", sorted(run.data.metrics.items())),
        (
            "tags",
            sorted((k, v) for k, v in tags.items() if system_tags or not k.startswith("autolog.")),
        ),
    ]
    emit_sections(sections, output_format)


@command.command(
    "compare",
    epilog="""Examples:

\b
  autolog runs compare 3fa2 91bc
  autolog runs compare 3fa2 91bc 77d0 --format json""",
)
@click.argument("run_ids", nargs=-1, required=True, metavar="RUN RUN...")
@click.option("--all", "show_all", is_flag=True, help="also params that are equal in every run")
@format_option(*FORMATS)
@tracking_uri_option
def compare(
    run_ids: tuple[str, ...], show_all: bool, output_format: str | None, tracking_uri: str | None
) -> None:
    """Compare runs: params side by side (differences marked), and each metric's latest, min
    and max value.

    Params that are equal everywhere are left out of tables unless --all is given.
    """
    if len(run_ids) < 2:
        raise click.UsageError("compare needs two runs or more")
    client = open_client(tracking_uri)
    runs = [find_run(client, run_id) for run_id in run_ids]
    names = experiment_names(client)
    labels = _labels(runs)
    param_keys = sorted({k for run in runs for k in run.data.params})
    differs = {key: len({run.data.params.get(key) for run in runs}) > 1 for key in param_keys}
    metric_keys = sorted({k for run in runs for k in run.data.metrics})
    stats = {
        (run.info.run_id, key): _metric_stats(client, run, key)
        for run in runs
        for key in metric_keys
    }
    if output_format == "json":
        emit_json(
            {
                "runs": [run_record(run, names) for run in runs],
                "params": {
                    key: {run.info.run_id: run.data.params.get(key) for run in runs}
                    for key in param_keys
                },
                "differing_params": [key for key in param_keys if differs[key]],
                "metrics": {
                    key: {run.info.run_id: stats[run.info.run_id, key] for run in runs}
                    for key in metric_keys
                },
            }
        )
        return
    shown_params = [k for k in param_keys if show_all or differs[k]]
    rows: list[dict[str, Any]] = []
    marks: list[bool] = []
    for key, get in (("status", lambda r: str(r.info.status)), ("duration", duration)):
        rows.append(
            {
                "section": "run",
                "key": key,
                **{lb: get(r) for lb, r in zip(labels, runs, strict=True)},
            }
        )
        marks.append(False)
    for key in shown_params:
        row: dict[str, Any] = {"section": "params", "key": key}
        row.update(
            {label: run.data.params.get(key) for label, run in zip(labels, runs, strict=True)}
        )
        rows.append(row)
        marks.append(differs[key])
    for key in metric_keys:
        for stat in ("latest", "min", "max"):
            row = {"section": "metrics", "key": f"{key} ({stat})"}
            found = [stats[run.info.run_id, key] for run in runs]
            values = [None if each is None else each[stat] for each in found]
            row.update(dict(zip(labels, values, strict=True)))
            rows.append(row)
            present = [v for v in values if v is not None]
            marks.append(len(present) > 1 and len({_same(v) for v in present}) > 1)
    emit(rows, ["section", "key", *labels], output_format, highlight=marks)


def _labels(runs: list[Run]) -> list[str]:
    """Column titles: run names, made unique with the start of the run id where needed."""
    names = [run.info.run_name for run in runs]
    return [
        f"{name} ({run.info.run_id[:8]})" if names.count(name) > 1 or not name else name
        for name, run in zip(names, runs, strict=True)
    ]


def _same(value: Any) -> Any:
    return "nan" if isinstance(value, float) and math.isnan(value) else value


def _metric_stats(client: Client, run: Run, key: str) -> dict[str, Any] | None:
    if key not in run.data.metrics:
        return None
    values = [m.value for m in client.get_metric_history(run.info.run_id, key)]
    finite = [v for v in values if not math.isnan(v)]
    return {
        "latest": run.data.metrics[key],
        "min": min(finite) if finite else math.nan,
        "max": max(finite) if finite else math.nan,
        "steps": len(values),
    }


@command.command(
    "delete",
    epilog="""Examples:

\b
  autolog runs delete 3fa2 91bc
  autolog runs ls --deleted
  autolog runs restore 3fa2""",
)
@click.argument("run_ids", nargs=-1, required=True, metavar="RUN...")
@tracking_uri_option
def delete(run_ids: tuple[str, ...], tracking_uri: str | None) -> None:
    """Delete runs (softly): they are hidden from listings and the UI until restored, and
    removed for good, artifacts included, by `autolog gc`."""
    client = open_client(tracking_uri)
    runs = [find_run(client, run_id) for run_id in run_ids]  # all found before any changes
    for run in runs:
        client.delete_run(run.info.run_id)
        click.echo(f"deleted run {run.info.run_id} ({run.info.run_name})", err=True)


@command.command(
    "restore",
    epilog="""Examples:

\b
  autolog runs ls --deleted
  autolog runs restore 3fa2""",
)
@click.argument("run_ids", nargs=-1, required=True, metavar="RUN...")
@tracking_uri_option
def restore(run_ids: tuple[str, ...], tracking_uri: str | None) -> None:
    """Bring back deleted runs (until `autolog gc` has removed them)."""
    client = open_client(tracking_uri)
    runs = [find_run(client, run_id) for run_id in run_ids]
    for run in runs:
        client.restore_run(run.info.run_id)
        click.echo(f"restored run {run.info.run_id} ({run.info.run_name})", err=True)
