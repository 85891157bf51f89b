"""``autolog models show URI``, ``models predict`` and ``models export``: a logged model's
description, its predictions on a file, and the folder that takes it elsewhere.

``autolog models show`` takes a registered model's NAME (its versions) or a model URI
(``runs:/...``, ``models:/...``, a local folder: what the model takes, gives and needs).
Registered names hold no ``/`` and every URI does, so the two never mix: a folder here is
given as ``./NAME``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from autolog.cli._common import open_client, tracking_uri_option
from autolog.cli._output import Time, emit_json, emit_sections

if TYPE_CHECKING:
    from autolog.client import Client
    from autolog.entities import ModelInfo

__all__ = ["export", "is_model_uri", "predict", "show_model"]


def is_model_uri(reference: str) -> bool:
    """Whether ``reference`` names a model (a URI or a folder) rather than a registered
    model's name, which can hold no '/'."""
    return "/" in reference or reference in (".", "..")


def _client(model_uri: str, tracking_uri: str | None) -> Client:
    """A client for ``model_uri``: a local folder needs no store (none is opened or made)."""
    local = not model_uri.startswith(("runs:", "models:"))
    return open_client(tracking_uri, create=local)


def show_model(model_uri: str, output_format: str | None, tracking_uri: str | None) -> None:
    """Print what ``get_model_info`` says of the model at ``model_uri``."""
    with _client(model_uri, tracking_uri) as client:
        info = client.get_model_info(model_uri)
    if (output_format or "").lower() == "json":
        emit_json(info._asdict())
        return
    emit_sections(_sections(info), output_format)


def _sections(info: ModelInfo) -> list[tuple[str, list[tuple[str, Any]]]]:
    model: list[tuple[str, Any]] = [
        ("uri", info.uri),
        ("flavor", info.flavor),
        ("class", info.model_class),
        ("run id", info.run_id),
        ("path", info.path),
        ("registered", ", ".join(info.registered) or None),
        ("created", None if info.created_time is None else Time(info.created_time)),
        ("python", info.python_version),
        ("files", ", ".join(info.files)),
    ]
    if info.signature is None:
        model.append(("signature", "none recorded (log_model(..., input_example=X) records one)"))
    if info.input_example is not None:
        rows = info.input_example.get("data")
        model.append(("input example", f"{len(rows) if isinstance(rows, list) else 0} rows"))
    sections = [("model", [(k, v) for k, v in model if v not in (None, "")])]
    for part in ("inputs", "outputs"):
        schema = (info.signature or {}).get(part)
        if isinstance(schema, dict):
            kind = "columns" if schema.get("type") == "dataframe" else str(schema.get("type"))
            sections.append((f"{part.removesuffix('s')} {kind}", _schema_items(schema)))
    sections.append(("libraries", sorted(info.libraries.items())))
    pins = [requirement.partition("==") for requirement in info.requirements]
    sections.append(("requirements", [(name, version) for name, _, version in pins]))
    return sections


def _optional(column: dict[str, Any]) -> str:
    """ " (optional)" for a column a prediction may go without (imported from MLflow)."""
    return " (optional)" if column.get("required") is False else ""


def _schema_items(schema: dict[str, Any]) -> list[tuple[str, Any]]:
    """A signature's columns (name, dtype), or a tensor's dtype and shape."""
    if schema.get("type") == "dataframe":
        return [
            (str(c.get("name")), f"{c.get('dtype')}{_optional(c)}")
            for c in schema.get("columns", [])
            if isinstance(c, dict)
        ]
    items = [("dtype", schema.get("dtype")), ("shape", str(schema.get("shape")))]
    if "sparse_format" in schema:
        items.append(("sparse format", schema["sparse_format"]))
    return items


@click.command(
    epilog="""Examples:

\b
  autolog models predict models:/churn@prod -i customers.csv -o scores.csv
  autolog models predict runs:/3fa2c1d0/model -i big.parquet -o out.parquet --keep-columns
  autolog models predict ./exported -i rows.jsonl -o - --format jsonl | head""",
)
@click.argument("model_uri", metavar="URI")
@click.option(
    "--input",
    "-i",
    "source",
    required=True,
    metavar="FILE",
    help="rows to predict: .csv, .parquet or .jsonl (-: CSV on standard input)",
)
@click.option(
    "--output",
    "-o",
    "target",
    required=True,
    metavar="FILE",
    help="where the predictions go: .csv, .parquet or .jsonl (-: standard output)",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["csv", "parquet", "jsonl"], case_sensitive=False),
    help="the output's format (default: from its suffix)",
)
@click.option(
    "--input-format",
    type=click.Choice(["csv", "parquet", "jsonl"], case_sensitive=False),
    help="the input's format (default: from its suffix)",
)
@click.option(
    "--chunk-rows",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="rows read, predicted and written at once (default: 20000)",
)
@click.option(
    "--keep-columns", is_flag=True, help="write the input's columns before the predictions"
)
@tracking_uri_option
def predict(
    model_uri: str,
    source: str,
    target: str,
    output_format: str | None,
    input_format: str | None,
    chunk_rows: int | None,
    keep_columns: bool,
    tracking_uri: str | None,
) -> None:
    """Predict every row of a file with the model at URI (runs:/..., models:/NAME/N,
    models:/NAME@ALIAS, models:/NAME/latest, a local folder) into another file.

    The file is read in chunks, each checked against the model's signature, so memory stays
    flat however large it is. The output has one column `prediction` (one per output column
    where the model gives several), after the input's columns with --keep-columns, and
    appears whole or not at all. Rows that do not fit the model stop it with an error naming
    the rows (numbered from 1, the header aside) and the column. Parquet needs pyarrow.
    """
    from autolog import batch

    chunk = chunk_rows or batch.DEFAULT_CHUNK_ROWS
    with _client(model_uri, tracking_uri) as client:
        predictor = client.load_predictor(model_uri)
    with _progress_bar() as progress:
        report = batch.predict_file(
            predictor,
            source,
            target,
            input_format=input_format,
            output_format=output_format,
            chunk_rows=chunk,
            keep_columns=keep_columns,
            progress=progress,
        )
    where = "standard output" if target == "-" else target
    click.echo(
        f"predicted {report.rows} rows in {report.chunks} chunks into {where} "
        f"({', '.join(report.columns)})",
        err=True,
    )


class _progress_bar:
    """A ``batch.Progress`` that draws click's bar on stderr once the total is known (none
    for standard input), closed when the block ends."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.shown = 0

    def __enter__(self) -> _progress_bar:
        return self

    def __call__(self, done: int, total: int) -> None:
        if total <= 0:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="autolog predict", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.shown)
        self.shown = done

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@click.command(
    epilog="""Examples:

\b
  autolog models export models:/churn@prod ./churn-model
  docker build -t churn ./churn-model
  autolog models export runs:/3fa2c1d0/model ./churn-model --force""",
)
@click.argument("model_uri", metavar="URI")
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="replace what DIR holds (else it must be empty)")
@tracking_uri_option
def export(model_uri: str, folder: str, force: bool, tracking_uri: str | None) -> None:
    """Write the model at URI as a self-contained folder DIR: its files, autolog-model.json
    with their SHA-256, requirements.txt, a Dockerfile that serves it and a README.

    load_model(DIR), load_predictor(DIR) and `autolog models serve DIR` take the folder,
    checking every file before anything is unpickled. DIR appears complete or not at all.
    """
    from autolog.export import export_model

    with _client(model_uri, tracking_uri) as client:
        written = export_model(client, model_uri, folder, force=force)
    click.echo(f"exported {model_uri} to {written}", err=True)
    click.echo(str(written))
