"""``autolog export``: runs to a CSV, Parquet or JSON-lines file, one row per run."""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from autolog.cli._common import open_client, tracking_uri_option
from autolog.cli._output import plain

__all__ = ["command"]

_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl"}
# Every run matching the filter, however many: what a store's query takes as "no limit".
_ALL = 2**31 - 1


@click.command(
    epilog="""Examples:

\b
  autolog export -o runs.csv
  autolog export -e mnist --filter "metrics.acc > 0.9" -o best.parquet
  autolog export --format jsonl | jq -c '{run_id, acc: .["metrics.acc"]}'""",
)
@click.option(
    "--experiment", "-e", "experiments", multiple=True, metavar="NAME", help="only this experiment"
)
@click.option("--filter", "-f", "filter_string", default="", metavar="FILTER", help="which runs")
@click.option("--order-by", multiple=True, metavar="CLAUSE", help="e.g. 'metrics.acc DESC'")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=None, help="at most N runs")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path, allow_dash=True),
    default=None,
    help="file to write (.csv, .parquet, .jsonl); default: CSV on stdout",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["csv", "parquet", "jsonl"], case_sensitive=False),
    help="file format (default: from the file's suffix)",
)
@tracking_uri_option
def command(
    experiments: tuple[str, ...],
    filter_string: str,
    order_by: tuple[str, ...],
    limit: int | None,
    output: Path | None,
    output_format: str | None,
    tracking_uri: str | None,
) -> None:
    """Export runs, one row per run: run_id, run_name, experiment_id, experiment_name,
    status, start_time, end_time, parent_run_id, artifact_uri, then a params.<key>,
    metrics.<key> and tags.<key> column for every key.

    CSV has times in ISO 8601 (UTC); JSON lines in milliseconds since the epoch, with null
    for a missing value and for NaN; Parquet in typed columns (timestamps, float64 metrics,
    strings). The file appears whole or not at all. Parquet needs pyarrow installed.
    """
    from autolog import tabular
    from autolog.cli.runs import search

    fmt = (output_format or _format_of(output)).lower()
    if fmt == "parquet" and (output is None or str(output) == "-"):
        raise click.UsageError("Parquet goes to a file: give -o FILE.parquet")
    client = open_client(tracking_uri)
    runs = search(client, experiments, filter_string, list(order_by), limit or _ALL)
    names = {e.experiment_id: e.name for e in client.list_experiments()}
    if fmt == "parquet":
        table = tabular.to_arrow(runs, names)  # before the file is opened: pyarrow may be missing
        import pyarrow.parquet as pq

        assert output is not None
        with _atomic(output) as path:
            pq.write_table(table, path)
    else:
        columns = tabular.columns(runs)
        rows = [tabular.row(run, names) for run in runs]
        if output is None or str(output) == "-":
            _write_text(sys.stdout, fmt, columns, rows)
        else:
            with _atomic(output) as path, open(path, "w", encoding="utf-8", newline="") as f:
                _write_text(f, fmt, columns, rows)
    if output is not None and str(output) != "-":
        click.echo(f"exported {len(runs)} runs to {output}", err=True)


def _format_of(output: Path | None) -> str:
    if output is None or str(output) == "-":
        return "csv"
    fmt = _SUFFIXES.get(output.suffix.lower())
    if fmt is None:
        raise click.UsageError(
            f"cannot tell the format of {str(output)!r} from its suffix: "
            "use .csv, .parquet or .jsonl, or --format"
        )
    return fmt


def _write_text(out: Any, fmt: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
    if fmt == "jsonl":
        for row in rows:
            record = {c: _json_value(row.get(c)) for c in columns}
            out.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
        return
    import csv

    from autolog.cli._output import Time

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            if column in ("start_time", "end_time") and value is not None:
                value = Time(value)
            cells.append(plain(value))
        writer.writerow(cells)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class _atomic:
    """A temporary file beside ``target``, renamed over it once complete."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.tmp = ""

    def __enter__(self) -> str:
        folder = self.target.parent
        folder.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(dir=folder, prefix=f".{self.target.name}.", suffix=".tmp")
        os.close(fd)
        return self.tmp

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        if exc is None:
            os.replace(self.tmp, self.target)
        else:
            Path(self.tmp).unlink(missing_ok=True)
