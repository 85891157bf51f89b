"""How commands print: a rich table on a terminal, tab-separated text when piped, and
``--format csv|json|tsv|table`` on request.

Commands hand over rows (one mapping per row, values as Python objects) and the columns to
show. Text formats get every value in a plain form (times as ISO 8601 UTC, numbers in full,
nothing for missing); ``json`` gets the command's records as they are, with times in
milliseconds since the epoch as everywhere in the API, and ``null`` for NaN and infinities
(which JSON cannot hold). Those shapes are stable for scripts.
"""

from __future__ import annotations

import io
import json
import math
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import click

__all__ = [
    "FORMATS",
    "Duration",
    "RunId",
    "Time",
    "emit",
    "emit_json",
    "emit_sections",
    "human",
    "plain",
    "to_json",
]

FORMATS = ("table", "tsv", "csv", "json")
_STATUS_STYLES = {
    "FINISHED": "green",
    "FAILED": "red",
    "KILLED": "yellow",
    "RUNNING": "cyan",
}


class Time(int):
    """Milliseconds since the epoch, shown as a date and time."""


class Duration(float):
    """Seconds, shown as ``1h 02m``, ``3m 05s`` or ``4.2s``."""


class RunId(str):
    """A run id: tables show its first 12 characters (any unique prefix names the run)."""


def human(value: Any) -> str:
    """A value as a person reads it in a table."""
    if value is None:
        return ""
    if isinstance(value, RunId):
        return value[:12]
    if isinstance(value, Time):
        return datetime.fromtimestamp(value / 1000).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, Duration):
        seconds = float(value)
        if seconds < 60:
            return f"{seconds:.1f}s"
        minutes, secs = divmod(int(seconds), 60)
        if minutes < 60:
            return f"{minutes}m {secs:02d}s"
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h {minutes:02d}m"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def plain(value: Any) -> str:
    """A value in tab-separated or CSV text: exact and easy to parse."""
    if value is None:
        return ""
    if isinstance(value, Time):
        moment = datetime.fromtimestamp(value / 1000, tz=timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value % 1000:03d}Z"
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_json(value: Any) -> Any:
    """``value`` with NaN and infinities as None, and tuples as lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, (Time, Duration)):
        return int(value) if isinstance(value, Time) else float(value)
    return value


def emit_json(value: Any) -> None:
    click.echo(json.dumps(to_json(value), indent=2, ensure_ascii=False, allow_nan=False))


def emit(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    output_format: str | None,
    *,
    records: Any = None,
    headers: Mapping[str, str] | None = None,
    highlight: Sequence[bool] | None = None,
    title: str | None = None,
) -> None:
    """Print ``rows`` as ``output_format`` (None: a table on a terminal, else tsv).

    ``records`` is what ``json`` prints (default: the rows); ``highlight`` marks rows to stand
    out (bold in a table; a leading ``*`` column in text formats when given).
    """
    fmt = (output_format or ("table" if sys.stdout.isatty() else "tsv")).lower()
    if fmt == "json":
        emit_json(rows if records is None else records)
        return
    names = [(headers or {}).get(c, c) for c in columns]
    if fmt == "table":
        _rich_table(rows, columns, names, highlight, title)
        return
    lines = [[plain(row.get(c)) for c in columns] for row in rows]
    if highlight is not None:
        names = ["changed", *names]
        lines = [["*" if mark else "", *line] for mark, line in zip(highlight, lines, strict=True)]
    buffer = io.StringIO()
    if fmt == "csv":
        import csv

        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(lines)
    else:
        for line in [names, *lines]:
            buffer.write("\t".join(_tsv_cell(cell) for cell in line) + "\n")
    click.echo(buffer.getvalue(), nl=False)


def emit_sections(
    sections: Sequence[tuple[str, Sequence[tuple[str, Any]]]], output_format: str | None
) -> None:
    """Key-value sections (a run's attributes, params, ...): a small table each on a
    terminal, ``section<TAB>key<TAB>value`` lines (or csv) otherwise."""
    fmt = (output_format or ("table" if sys.stdout.isatty() else "tsv")).lower()
    if fmt != "table":
        rows = [{"section": t, "key": k, "value": v} for t, items in sections for k, v in items]
        emit(rows, ["section", "key", "value"], fmt)
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(soft_wrap=False)
    for title, items in sections:
        if not items:
            continue
        table = Table(
            title=title, title_justify="left", title_style="bold", show_header=False, box=None
        )
        table.add_column(style="dim", no_wrap=True)
        table.add_column(overflow="fold")
        for key, value in items:
            text = Text(human(value))
            if key == "status" and isinstance(value, str):
                text.stylize(_STATUS_STYLES.get(value, ""))
            table.add_row(key, text)
        console.print(table)


def _tsv_cell(text: str) -> str:
    # One record per line, one field per tab: the few values holding either are escaped.
    if "\t" in text or "\n" in text or "\r" in text or "\\" in text:
        return (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return text


def _rich_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    names: Sequence[str],
    highlight: Sequence[bool] | None,
    title: str | None,
) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, header_style="bold", show_edge=False, pad_edge=False)
    for column, name in zip(columns, names, strict=True):
        present = [row.get(column) for row in rows if row.get(column) is not None]
        numeric = bool(present) and all(
            isinstance(v, (int, float)) and not isinstance(v, (bool, Time)) for v in present
        )
        table.add_column(
            name,
            justify="right" if numeric else "left",
            overflow="fold",
            no_wrap=any(isinstance(row.get(column), (RunId, Time)) for row in rows),
        )
    for index, row in enumerate(rows):
        cells = []
        for column in columns:
            value = row.get(column)
            text = Text(human(value))
            if column == "status" and isinstance(value, str):
                text.stylize(_STATUS_STYLES.get(value, ""))
            cells.append(text)
        marked = highlight is not None and highlight[index]
        table.add_row(*cells, style="bold yellow" if marked else None)
    console = Console(soft_wrap=False)
    if not console.is_terminal:
        console = Console(soft_wrap=False, width=10_000)  # a pipe has all the width it wants
    console.print(table)
